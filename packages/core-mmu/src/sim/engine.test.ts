import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Engine, Priority } from "./engine.js";

/** An event to schedule, and the events its callback schedules when it runs. */
interface Node {
  readonly delay: number;
  readonly priority: number;
  readonly children: readonly Node[];
}

const delayArb = fc.constantFrom(0, 0, 0.5, 1, 3, 10);
const priorityArb = fc.constantFrom(
  Priority.INTERRUPT,
  Priority.KERNEL,
  Priority.CPU,
  Priority.LOW,
);
/** A node whose subtree is at most `depth` levels deep (bounded, so generation terminates). */
function nodeArb(depth: number): fc.Arbitrary<Node> {
  return fc.record({
    delay: delayArb,
    priority: priorityArb,
    children: depth === 0 ? fc.constant([]) : fc.array(nodeArb(depth - 1), { maxLength: 3 }),
  });
}
const forestArb = fc.array(nodeArb(3), { maxLength: 8 });

interface Trace {
  readonly id: number;
  readonly time: number;
}

/** Runs the forest on the real engine; ids are assigned in scheduling order. */
function runEngine(forest: readonly Node[]): Trace[] {
  const engine = new Engine();
  const trace: Trace[] = [];
  let nextId = 0;
  const add = (node: Node): void => {
    const id = nextId++;
    const due = engine.now + node.delay;
    engine.schedule(
      node.delay,
      () => {
        expect(engine.now).toBe(due);
        trace.push({ id, time: engine.now });
        node.children.forEach(add);
      },
      node.priority,
    );
  };
  forest.forEach(add);
  engine.run();
  expect(engine.eventsProcessed).toBe(trace.length);
  return trace;
}

/** The same, on a naive reference: linear scan for the min (time, priority, id). */
function runReference(forest: readonly Node[]): Trace[] {
  const pending: { id: number; time: number; priority: number; node: Node }[] = [];
  const trace: Trace[] = [];
  let now = 0;
  let nextId = 0;
  const add = (node: Node): void => {
    pending.push({ id: nextId++, time: now + node.delay, priority: node.priority, node });
  };
  forest.forEach(add);
  while (pending.length > 0) {
    let best = 0;
    for (let i = 1; i < pending.length; i++) {
      const a = pending[i]!;
      const b = pending[best]!;
      if (a.time < b.time || (a.time === b.time && a.priority < b.priority)) best = i;
    }
    const [event] = pending.splice(best, 1);
    now = event!.time;
    trace.push({ id: event!.id, time: now });
    event!.node.children.forEach(add);
  }
  return trace;
}

function countNodes(forest: readonly Node[]): number {
  return forest.reduce((n, node) => n + 1 + countNodes(node.children), 0);
}

describe("Engine ordering (property)", () => {
  it("runs nested schedules in (time, priority, scheduling) order; now never decreases", () => {
    fc.assert(
      fc.property(forestArb, (forest) => {
        const trace = runEngine(forest);
        expect(trace).toEqual(runReference(forest));
        expect(trace.length).toBe(countNodes(forest));
        for (let i = 1; i < trace.length; i++) {
          expect(trace[i]!.time).toBeGreaterThanOrEqual(trace[i - 1]!.time);
        }
      }),
    );
  });

  it("run(until) runs exactly the events due by until, then sets now = until", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(0, 1, 2.5, 4, 7, 7, 9), fc.integer({ min: 0, max: 3 })), {
          maxLength: 50,
        }),
        fc.constantFrom(0, 1, 2, 2.5, 7, 8, 100),
        (events, until) => {
          const engine = new Engine();
          const ran: number[] = [];
          for (const [delay, priority] of events) {
            engine.schedule(delay, () => ran.push(engine.now), priority);
          }
          engine.run(until);
          expect(ran.every((t) => t <= until)).toBe(true);
          expect(ran.length).toBe(events.filter(([d]) => d <= until).length);
          expect(engine.now).toBe(until);
          expect(engine.peekTime() > until).toBe(true);
          engine.run();
          expect(ran.length).toBe(events.length);
          expect(engine.peekTime()).toBe(Infinity);
        },
      ),
    );
  });
});

describe("Engine", () => {
  it("starts at 0 (or initialTime) with nothing pending", () => {
    const engine = new Engine();
    expect(engine.now).toBe(0);
    expect(engine.peekTime()).toBe(Infinity);
    expect(engine.pending).toBe(0);
    expect(engine.step()).toBe(false);
    engine.run();
    expect(engine.now).toBe(0);
    expect(new Engine({ initialTime: 50 }).now).toBe(50);
    expect(() => new Engine({ initialTime: -1 })).toThrow(RangeError);
  });

  it("step runs one event and advances now to its time", () => {
    const engine = new Engine();
    const log: string[] = [];
    engine.schedule(5, () => log.push("b"));
    engine.schedule(2, () => log.push("a"));
    expect(engine.step()).toBe(true);
    expect(engine.now).toBe(2);
    expect(log).toEqual(["a"]);
    expect(engine.step()).toBe(true);
    expect(engine.now).toBe(5);
    expect(engine.step()).toBe(false);
    expect(engine.eventsProcessed).toBe(2);
  });

  it("delivers an interrupt before CPU resumption at the same cycle", () => {
    const engine = new Engine();
    const log: string[] = [];
    engine.schedule(10, () => log.push("cpu"), Priority.CPU);
    engine.schedule(10, () => log.push("low"), Priority.LOW);
    engine.schedule(10, () => log.push("irq"), Priority.INTERRUPT);
    engine.schedule(10, () => log.push("kernel"), Priority.KERNEL);
    engine.run();
    expect(log).toEqual(["irq", "kernel", "cpu", "low"]);
  });

  it("exports Priority as a frozen object", () => {
    expect(Object.isFrozen(Priority)).toBe(true);
    expect(Priority).toEqual({ INTERRUPT: 0, KERNEL: 1, CPU: 2, LOW: 3 });
  });

  it("at schedules at an absolute time and rejects the past", () => {
    const engine = new Engine();
    let seen = -1;
    engine.at(7.5, () => {
      seen = engine.now;
    });
    engine.run(5);
    expect(() => engine.at(4, () => {})).toThrow(/4/);
    expect(() => engine.at(Number.NaN, () => {})).toThrow(RangeError);
    engine.run();
    expect(seen).toBe(7.5);
  });

  it("rejects negative, NaN and infinite delays with a RangeError naming the value", () => {
    const engine = new Engine();
    expect(() => engine.schedule(-1, () => {})).toThrow(RangeError);
    expect(() => engine.schedule(-1, () => {})).toThrow(/-1/);
    expect(() => engine.schedule(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => engine.schedule(Number.NaN, () => {})).toThrow(/NaN/);
    expect(() => engine.schedule(Infinity, () => {})).toThrow(/Infinity/);
    expect(() => engine.schedule(1, () => {}, 1.5)).toThrow(RangeError);
    expect(engine.pending).toBe(0);
  });

  it("rejects run(until) before now or NaN", () => {
    const engine = new Engine({ initialTime: 10 });
    expect(() => engine.run(5)).toThrow(RangeError);
    expect(() => engine.run(Number.NaN)).toThrow(RangeError);
  });

  it("propagates an exception thrown by a callback, and stays usable", () => {
    const engine = new Engine();
    const log: number[] = [];
    engine.schedule(1, () => log.push(1));
    engine.schedule(2, () => {
      throw new Error("boom");
    });
    engine.schedule(3, () => log.push(3));
    expect(() => engine.run()).toThrow("boom");
    expect(engine.now).toBe(2);
    expect(log).toEqual([1]);
    engine.schedule(0, () => {
      throw new TypeError("step boom");
    });
    expect(() => engine.step()).toThrow(TypeError);
    engine.run();
    expect(log).toEqual([1, 3]);
    expect(engine.eventsProcessed).toBe(4);
  });

  it("stop makes run return after the current event, and a later run resumes", () => {
    const engine = new Engine();
    const log: number[] = [];
    engine.schedule(1, () => log.push(1));
    engine.schedule(2, () => {
      log.push(2);
      engine.stop();
    });
    engine.schedule(3, () => log.push(3));
    engine.run(10);
    expect(log).toEqual([1, 2]);
    expect(engine.now).toBe(2); // a stopped run does not jump to until
    engine.stop(); // outside run: no effect
    engine.run(10);
    expect(log).toEqual([1, 2, 3]);
    expect(engine.now).toBe(10);
  });

  it("cancel removes a pending event", () => {
    const engine = new Engine();
    const log: string[] = [];
    const timeout = engine.schedule(100, () => log.push("timeout"));
    engine.schedule(5, () => {
      log.push("ack");
      expect(engine.cancel(timeout)).toBe(true);
    });
    engine.run();
    expect(log).toEqual(["ack"]);
    expect(engine.now).toBe(5);
    expect(engine.cancel(timeout)).toBe(false);
  });

  it("refuses re-entrant run and step from inside a callback", () => {
    const engine = new Engine();
    engine.schedule(1, () => engine.run());
    expect(() => engine.run()).toThrow(/inside an event callback/);
    engine.schedule(1, () => engine.step());
    expect(() => engine.step()).toThrow(/inside an event callback/);
  });
});
