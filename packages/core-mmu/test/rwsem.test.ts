import { describe, expect, it } from "vitest";
import { RwSemaphore, RWSEM_WAIT_TIMEOUT_NS, type RwsemEnv } from "../src/kernel/rwsem.js";
import { C } from "../src/kernel/counters.js";
import { Completion, type KGen } from "../src/sim/process.js";
import type { Cpu } from "../src/hw/cpu.js";

const cpu = (id: number) => ({ id }) as Cpu;

/** Runs `g` until it waits or ends; returns what it yielded last (a completion when it waits). */
function step(g: KGen): { done: boolean; waiting: Completion | null } {
  const r = g.next();
  if (r.done === true) return { done: true, waiting: null };
  return { done: false, waiting: r.value instanceof Completion ? r.value : null };
}

describe("mmap_lock's rwsem", () => {
  const clock = { now: 0 };
  it("readers share it; a writer waits for them and then has it alone", () => {
    const s = new RwSemaphore("mmap_lock", clock);
    expect(s.tryDownRead()).toBe(true);
    expect(s.tryDownRead()).toBe(true);
    expect(s.tryDownWrite(cpu(2))).toBe(false);
    const w = s.downWrite(cpu(2));
    const first = step(w);
    expect(first.waiting).not.toBeNull();
    s.upRead();
    expect(first.waiting!.pending).toBe(1);
    s.upRead();
    expect(first.waiting!.pending).toBe(0);
    expect(step(w).done).toBe(true);
    expect(s.tryDownRead()).toBe(false);
    s.upWrite(cpu(2));
    expect(s.tryDownRead()).toBe(true);
  });
  it("a waiting writer holds back readers that come after it; the readers behind it then go together", () => {
    const s = new RwSemaphore("mmap_lock", clock);
    expect(s.tryDownRead()).toBe(true);
    const w = s.downWrite(cpu(1));
    const ww = step(w).waiting!;
    expect(s.tryDownRead()).toBe(false);
    const r1 = s.downRead(cpu(2));
    const r2 = s.downRead(cpu(3));
    const w1 = step(r1).waiting!;
    const w2 = step(r2).waiting!;
    s.upRead();
    expect(ww.pending).toBe(0);
    expect(w1.pending).toBe(1);
    step(w);
    s.upWrite(cpu(1));
    expect(w1.pending).toBe(0);
    expect(w2.pending).toBe(0);
    expect(s.contended).toBe(3);
  });
  it("unlocking what is not held is a model error", () => {
    const s = new RwSemaphore("mmap_lock", clock);
    expect(() => s.upRead()).toThrow(/up_read with no reader/);
    expect(() => s.upWrite(cpu(0))).toThrow(/up_write by CPU 0, held by -1/);
  });
});

/** A kernel for one semaphore: a clock in ns (freqHz 1e9), timers run by hand, owner CPUs on or off their CPU. */
function fakeKernel(onCpu = true) {
  const clock = { now: 0 };
  const timers: { time: number; fn: () => void }[] = [];
  const values = new Float64Array(200);
  const wakes: { waker: number; target: number }[] = [];
  const env: RwsemEnv = {
    values,
    freqHz: 1e9,
    at: (time, fn) => void timers.push({ time, fn }),
    cacheLineLatency: () => 100,
    onCpu: () => onCpu,
    wakeUp: (waker, target, c) => {
      wakes.push({ waker, target });
      c.done(clock.now + 1000);
    },
  };
  const fire = () => {
    for (const t of timers.splice(0)) {
      clock.now = Math.max(clock.now, t.time);
      t.fn();
    }
  };
  return { clock, env, values, wakes, fire, sem: new RwSemaphore("mmap_lock", clock, env) };
}

describe("mmap_lock's rwsem as v5.17 (optimistic spinning, sleeping, handoff)", () => {
  it("a waiting reader or writer sleeps (the scheduler takes its CPU away)", () => {
    const clock = { now: 0 };
    const s = new RwSemaphore("mmap_lock", clock);
    expect(s.tryDownWrite(cpu(0))).toBe(true);
    const r = step(s.downRead(cpu(1))).waiting!;
    expect(r.sleeps).toBe(true);
  });

  it("a writer spins while the writer owning it runs, and takes it when it is released", () => {
    const k = fakeKernel(true);
    expect(k.sem.tryDownWrite(cpu(0))).toBe(true);
    const w = k.sem.downWrite(cpu(1));
    const spin = step(w).waiting!;
    expect(spin.sleeps).toBe(false);
    k.sem.upWrite(cpu(0));
    expect(spin.pending).toBe(0);
    expect(spin.doneAt).toBe(100); // one cache-line transfer
    expect(step(w).done).toBe(true);
    expect(k.sem.state.writer).toBe(1);
    expect(k.values[C.rwsem_opt_lock]).toBe(1);
    expect(k.values[C.rwsem_sleep_writer]).toBe(0);
  });

  it("no spinning on a writer that is off its CPU: the writer sleeps at once", () => {
    const k = fakeKernel(false);
    expect(k.sem.tryDownWrite(cpu(0))).toBe(true);
    expect(step(k.sem.downWrite(cpu(1))).waiting!.sleeps).toBe(true);
    expect(k.values[C.rwsem_opt_nospin]).toBe(1);
  });

  it("a writer spinning on readers gives up after rwsem_rspin_threshold, marks it non-spinnable and sleeps", () => {
    const k = fakeKernel(true);
    expect(k.sem.tryDownRead()).toBe(true);
    const w = k.sem.downWrite(cpu(1));
    const spin = step(w).waiting!;
    expect(spin.sleeps).toBe(false);
    k.fire(); // (1 reader + 1) × 0.5 µs
    expect(k.clock.now).toBe(1000);
    expect(spin.pending).toBe(0);
    const sleep = step(w).waiting!;
    expect(sleep.sleeps).toBe(true);
    expect(k.values[C.rwsem_opt_fail]).toBe(1);
    // Non-spinnable: the next writer sleeps without spinning.
    expect(step(k.sem.downWrite(cpu(2))).waiting!.sleeps).toBe(true);
    expect(k.values[C.rwsem_opt_nospin]).toBe(1);
    // The last reader wakes the first writer, which takes the lock itself.
    k.sem.upRead(cpu(0));
    expect(k.wakes).toEqual([{ waker: 0, target: 1 }]);
    expect(step(w).done).toBe(true);
    expect(k.sem.state.writer).toBe(1);
  });

  it("readers steal the lock from a woken writer until its RWSEM_WAIT_TIMEOUT; then the handoff bit gives it to the writer", () => {
    const k = fakeKernel(true);
    const s = k.sem;
    expect(s.tryDownRead()).toBe(true);
    const w = s.downWrite(cpu(1));
    step(w);
    k.fire(); // gives up spinning
    step(w); // asleep, first in the queue
    s.upRead(cpu(0)); // wakes the writer; before it runs, a reader steals the lock
    expect(s.tryDownRead()).toBe(false); // the fast path fails while anyone waits
    expect(step(s.downRead(cpu(2))).done).toBe(true);
    expect(k.values[C.rwsem_rlock_steal]).toBe(1);
    expect(step(w).waiting!.sleeps).toBe(true); // the writer found it held: asleep again
    // The timeout passes; the reader leaves and another steals it before the writer runs.
    k.clock.now += RWSEM_WAIT_TIMEOUT_NS + 1;
    s.upRead(cpu(2));
    expect(step(s.downRead(cpu(3))).done).toBe(true);
    expect(step(w).waiting!.sleeps).toBe(true); // sets RWSEM_FLAG_HANDOFF and sleeps
    expect(s.state.handoff).toBe(true);
    expect(k.values[C.rwsem_wlock_handoff]).toBe(1);
    // No reader may steal it now, and no writer may take it by spinning.
    const late = s.downRead(cpu(4));
    expect(step(late).waiting!.sleeps).toBe(true);
    s.upRead(cpu(3));
    expect(step(w).done).toBe(true);
    expect(s.state).toMatchObject({ writer: 1, handoff: false });
    // up_write grants the queued reader.
    s.upWrite(cpu(1));
    expect(step(late).done).toBe(true);
    expect(s.state.readers).toBe(1);
  });

  it("downgrade_write: the writer becomes a reader and the queued readers join it", () => {
    const k = fakeKernel(false);
    expect(k.sem.tryDownWrite(cpu(0))).toBe(true);
    const r1 = k.sem.downRead(cpu(1));
    const r2 = k.sem.downRead(cpu(2));
    step(r1);
    step(r2);
    k.sem.downgradeWrite(cpu(0));
    expect(k.sem.state).toMatchObject({ readers: 3, writer: -1, waiters: 0 });
    expect(step(r1).done).toBe(true);
    expect(step(r2).done).toBe(true);
  });
});
