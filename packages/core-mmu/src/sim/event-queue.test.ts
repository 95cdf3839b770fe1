import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { EventQueue } from "./event-queue.js";

/** Few distinct values, so generated inputs are full of ties. */
const timeArb = fc.constantFrom(0, 0.5, 1, 1.25, 2, 3, 1e9);
const priorityArb = fc.integer({ min: -1, max: 3 });
const entriesArb = fc.array(fc.tuple(timeArb, priorityArb), { maxLength: 200 });

type Entry = readonly [time: number, priority: number];

/** Reference order: a stable sort of insertion indices by (time, priority). */
function referenceOrder(entries: readonly Entry[]): number[] {
  return entries
    .map((_, i) => i)
    .sort((a, b) => {
      const [ta, pa] = entries[a]!;
      const [tb, pb] = entries[b]!;
      return ta - tb || pa - pb;
    });
}

/** Pushes every entry with a callback that records its index; returns the handles and the log. */
function fill(
  queue: EventQueue,
  entries: readonly Entry[],
): { handles: number[]; log: number[] } {
  const log: number[] = [];
  const handles = entries.map(([time, priority], i) =>
    queue.push(time, priority, () => log.push(i)),
  );
  return { handles, log };
}

/** Pops until empty, running each callback. */
function drain(queue: EventQueue): void {
  for (let cb = queue.pop(); cb !== undefined; cb = queue.pop()) cb();
}

describe("EventQueue ordering (property)", () => {
  it("pops in the order of a stable sort by (time, priority, insertion)", () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const queue = new EventQueue(2); // small, so growth is exercised too
        const { log } = fill(queue, entries);
        const popped: Entry[] = [];
        for (let cb = queue.pop(); cb !== undefined; cb = queue.pop()) {
          cb();
          popped.push([queue.lastTime, queue.lastPriority]);
        }
        const expected = referenceOrder(entries);
        expect(log).toEqual(expected);
        expect(popped).toEqual(expected.map((i) => entries[i]));
        expect(queue.size).toBe(0);
        expect(queue.isEmpty).toBe(true);
      }),
    );
  });

  it("cancelling any subset removes exactly that subset and keeps the order of the rest", () => {
    const arb = entriesArb.chain((entries) =>
      fc.tuple(
        fc.constant(entries),
        fc.array(fc.boolean(), { minLength: entries.length, maxLength: entries.length }),
      ),
    );
    fc.assert(
      fc.property(arb, ([entries, mask]) => {
        const queue = new EventQueue();
        const { handles, log } = fill(queue, entries);
        let cancelled = 0;
        handles.forEach((h, i) => {
          if (mask[i]) {
            expect(queue.cancel(h)).toBe(true);
            expect(queue.cancel(h)).toBe(false); // already cancelled
            cancelled++;
          }
        });
        expect(queue.size).toBe(entries.length - cancelled);
        drain(queue);
        expect(log).toEqual(referenceOrder(entries).filter((i) => !mask[i]));
        expect(queue.size).toBe(0);
        for (const h of handles) expect(queue.cancel(h)).toBe(false); // all gone
      }),
    );
  });
});

type Op =
  | { readonly kind: "push"; readonly time: number; readonly priority: number }
  | { readonly kind: "pop" }
  | { readonly kind: "peek" }
  | { readonly kind: "cancel"; readonly pick: number }
  | { readonly kind: "clear" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("push" as const),
      time: timeArb,
      priority: priorityArb,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("pop" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("peek" as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("cancel" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const) }) },
);

interface ModelEntry {
  readonly time: number;
  readonly priority: number;
  readonly seq: number;
}

describe("EventQueue against a reference model (property)", () => {
  it("size, isEmpty, peekTime, pop and cancel agree under random interleavings", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const queue = new EventQueue(1);
        let model: ModelEntry[] = [];
        const issued: number[] = [];
        let popped = -1;
        for (const op of ops) {
          switch (op.kind) {
            case "push": {
              const seq = queue.push(op.time, op.priority, () => {
                popped = seq;
              });
              issued.push(seq);
              model.push({ time: op.time, priority: op.priority, seq });
              break;
            }
            case "pop": {
              const cb = queue.pop();
              if (model.length === 0) {
                expect(cb).toBeUndefined();
                break;
              }
              let best = 0;
              for (let i = 1; i < model.length; i++) {
                const a = model[i]!;
                const b = model[best]!;
                if (a.time < b.time || (a.time === b.time && a.priority < b.priority)) best = i;
              }
              const [expected] = model.splice(best, 1);
              expect(cb).toBeDefined();
              cb?.();
              expect(popped).toBe(expected!.seq);
              expect(queue.lastTime).toBe(expected!.time);
              expect(queue.lastPriority).toBe(expected!.priority);
              break;
            }
            case "peek": {
              const min = model.reduce((m, e) => Math.min(m, e.time), Infinity);
              expect(queue.peekTime()).toBe(min);
              break;
            }
            case "cancel": {
              // Any handle ever issued (live, popped, cancelled or cleared), or one never issued.
              const handle = issued[op.pick % (issued.length + 1)] ?? issued.length + op.pick;
              const live = model.some((e) => e.seq === handle);
              expect(queue.cancel(handle)).toBe(live);
              model = model.filter((e) => e.seq !== handle);
              break;
            }
            case "clear":
              queue.clear();
              model = [];
              break;
          }
          expect(queue.size).toBe(model.length);
          expect(queue.isEmpty).toBe(model.length === 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("EventQueue", () => {
  it("is empty when new: pop is undefined and peekTime is Infinity", () => {
    const queue = new EventQueue();
    expect(queue.pop()).toBeUndefined();
    expect(queue.peekTime()).toBe(Infinity);
    expect(queue.size).toBe(0);
    expect(queue.isEmpty).toBe(true);
  });

  it("returns increasing handles and records the key of the last pop", () => {
    const queue = new EventQueue();
    const a = queue.push(5, 1, () => {});
    const b = queue.push(2.5, 3, () => {});
    expect(b).toBeGreaterThan(a);
    expect(queue.peekTime()).toBe(2.5);
    queue.pop();
    expect([queue.lastTime, queue.lastPriority]).toEqual([2.5, 3]);
  });

  it("grows past its initial capacity", () => {
    const queue = new EventQueue(1);
    const log: number[] = [];
    for (let i = 999; i >= 0; i--) queue.push(i, 0, () => log.push(i));
    expect(queue.size).toBe(1000);
    drain(queue);
    expect(log).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it("skips a cancelled entry at the top in peekTime and pop", () => {
    const queue = new EventQueue();
    const first = queue.push(1, 0, () => {});
    queue.push(2, 0, () => {});
    expect(queue.cancel(first)).toBe(true);
    expect(queue.peekTime()).toBe(2);
    expect(queue.size).toBe(1);
    expect(queue.pop()).toBeDefined();
    expect(queue.lastTime).toBe(2);
    expect(queue.pop()).toBeUndefined();
  });

  it("cancel is false for popped, unknown and non-integer handles", () => {
    const queue = new EventQueue();
    const h = queue.push(1, 0, () => {});
    queue.pop();
    expect(queue.cancel(h)).toBe(false);
    expect(queue.cancel(42)).toBe(false);
    expect(queue.cancel(-1)).toBe(false);
    expect(queue.cancel(Number.NaN)).toBe(false);
    expect(queue.cancel(0.5)).toBe(false);
  });

  it("clear drops everything and old handles never match new entries", () => {
    const queue = new EventQueue();
    const old = queue.push(1, 0, () => {});
    queue.push(2, 0, () => {});
    queue.clear();
    expect(queue.size).toBe(0);
    expect(queue.peekTime()).toBe(Infinity);
    const fresh = queue.push(3, 0, () => {});
    expect(fresh).not.toBe(old);
    expect(queue.cancel(old)).toBe(false);
    expect(queue.size).toBe(1);
  });

  it("rejects invalid times and priorities with a RangeError naming the value", () => {
    const queue = new EventQueue();
    expect(() => queue.push(-1, 0, () => {})).toThrow(/-1/);
    expect(() => queue.push(Number.NaN, 0, () => {})).toThrow(RangeError);
    expect(() => queue.push(Infinity, 0, () => {})).toThrow(/Infinity/);
    expect(() => queue.push(0, 0.5, () => {})).toThrow(/0\.5/);
    expect(() => queue.push(0, 2 ** 31, () => {})).toThrow(RangeError);
    expect(() => new EventQueue(0)).toThrow(RangeError);
    expect(queue.size).toBe(0);
  });
});
