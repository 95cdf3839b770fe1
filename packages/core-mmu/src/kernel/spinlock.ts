/**
 * A contended spinlock, as qspinlock behaves under contention (kernel/locking/
 * qspinlock.c, v5.4): waiters queue in FIFO order (the MCS queue) and spin; the lock
 * passes to the next waiter when the holder releases it, after one cache-line transfer
 * (the head waiter spins on the lock word, which the holder's release store takes from
 * it and its own acquire takes back). Spinning is system time charged to the waiting
 * CPU, which is what perf shows as queued_spin_lock_slowpath.
 *
 * The lock word's cache line has an owner: the CPU that last wrote it (took or
 * released the lock). `lockLine` is spin_lock as the hardware sees it: a CPU that
 * takes a free lock whose line another CPU owns first pulls the line over, at the
 * machine's transfer latency between the two CPUs (same socket or not); a lock that
 * never left the CPU costs only the atomic. Every acquisition moves the line, so the
 * time a lock is unavailable per acquisition is the transfer plus the critical section:
 * a lock taken often from many CPUs approaches saturation by itself, and a long hold
 * then queues every CPU that needs it (the queue drains one transfer per waiter).
 * Hold time, wait time and contention are counted, per lock.
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
  /** The CPU whose cache holds the lock word's line (the last to write it); -1: memory. */
  private lineOwnerId = -1;

  constructor(
    name: string,
    private readonly m: Machine,
  ) {
    this.name = name;
  }

  get holder(): number {
    return this.owner;
  }

  /** The CPU whose cache holds the lock word's line (-1: none yet). */
  get lineOwner(): number {
    return this.lineOwnerId;
  }

  /**
   * spin_lock with the lock word's cache line: a free lock costs the atomic plus, when
   * another CPU wrote the line last, one line transfer from that CPU; a held one queues
   * (lockSlow) and is handed over one transfer after the release.
   */
  *lockLine(cpu: Cpu): KGen {
    const from = this.lineOwnerId;
    if (!this.tryLock(cpu)) {
      yield* this.lockSlow(cpu);
      return;
    }
    const transfer = from >= 0 && from !== cpu.id ? this.m.cacheLineLatency(this.m.cpus[from]!, cpu) : 0;
    // The line is in flight for `transfer` cycles: the lock is unavailable to others meanwhile.
    yield this.m.costs.spinLockUncontended + transfer;
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
    this.lineOwnerId = cpu.id;
    this.heldSince = this.m.now;
    return true;
  }

  /** queued_spin_lock_slowpath: wait in FIFO order; the spin is charged as system time. */
  *lockSlow(cpu: Cpu): KGen {
    this.acquisitions++;
    this.contended++;
    const done = new Completion();
    done.kind = "spin";
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
    this.lineOwnerId = next.cpu.id;
    // The lock is unavailable while its line travels to the next holder: counted as held.
    this.heldSince = now;
    this.waitCycles += at - next.since;
    next.done.done(at);
  }
}
