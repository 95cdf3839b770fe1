/**
 * A contended spinlock, as qspinlock behaves under contention (kernel/locking/
 * qspinlock.c): waiters queue in FIFO order and spin; the lock passes to the next
 * waiter when the holder releases it, after one cache-line transfer. Spinning is
 * system time charged to the waiting CPU, which is what perf shows as
 * queued_spin_lock_slowpath.
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { Completion, type KGen } from "../sim/process.js";

export class SpinLock {
  readonly name: string;
  private owner = -1;
  private readonly waiters: { cpu: Cpu; done: Completion; since: number }[] = [];
  /** Acquisitions, contended acquisitions, and cycles spent waiting (all CPUs). */
  acquisitions = 0;
  contended = 0;
  waitCycles = 0;
  holdCycles = 0;
  private heldSince = 0;

  constructor(
    name: string,
    private readonly m: Machine,
  ) {
    this.name = name;
  }

  get holder(): number {
    return this.owner;
  }

  /**
   * The uncontended fast path: takes the lock if it is free and returns true. The
   * caller charges spinLockUncontended with its next step. Hot callers write
   * `if (!l.tryLock(cpu)) yield* l.lockSlow(cpu);` to allocate nothing when free.
   */
  tryLock(cpu: Cpu): boolean {
    if (this.owner === cpu.id) throw new Error(`${this.name}: recursive lock on CPU ${cpu.id}`);
    if (this.owner >= 0) return false;
    this.acquisitions++;
    this.owner = cpu.id;
    this.heldSince = this.m.now;
    return true;
  }

  /** queued_spin_lock_slowpath: wait in FIFO order; the spin is charged as system time. */
  *lockSlow(cpu: Cpu): KGen {
    this.acquisitions++;
    this.contended++;
    const done = new Completion();
    done.add();
    this.waiters.push({ cpu, done, since: this.m.now });
    yield done;
  }

  /** spin_lock: returns when `cpu` holds the lock. */
  *lock(cpu: Cpu): KGen {
    const fast = this.tryLock(cpu);
    yield this.m.costs.spinLockUncontended;
    if (!fast) yield* this.lockSlow(cpu);
  }

  /** spin_unlock: hands the lock to the first waiter, one cache-line transfer later. */
  unlock(cpu: Cpu): void {
    if (this.owner !== cpu.id) throw new Error(`${this.name}: unlock by CPU ${cpu.id}, held by ${this.owner}`);
    const now = this.m.now;
    this.holdCycles += now - this.heldSince;
    const next = this.waiters.shift();
    if (next === undefined) {
      this.owner = -1;
      return;
    }
    const at = now + this.m.cacheLineLatency(cpu, next.cpu);
    this.owner = next.cpu.id;
    this.heldSince = at;
    this.waitCycles += at - next.since;
    next.done.done(at);
  }
}
