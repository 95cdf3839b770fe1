import { describe, expect, it } from "vitest";
import { RwSemaphore } from "../src/kernel/rwsem.js";
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
