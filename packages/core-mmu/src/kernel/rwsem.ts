/**
 * A read-write semaphore as mmap_lock uses it, after kernel/locking/rwsem.c of v5.17:
 *
 * - down_read's fast path takes it while no writer holds it and nobody waits
 *   (RWSEM_READ_FAILED_MASK); rwsem_down_read_slowpath steals it when no writer holds it
 *   and no handoff is pending (reader optimistic lock stealing, v5.11+; but not from
 *   other readers), else queues and sleeps. Readers do not spin (removed in v5.11).
 * - down_write's fast path takes a free lock with nobody waiting; rwsem_down_write_slowpath
 *   first spins optimistically (rwsem_optimistic_spin) while the owner is a writer on a
 *   CPU, or for rwsem_rspin_threshold while readers own it (then RWSEM_NONSPINNABLE),
 *   and takes the lock when it frees; failing that it queues and sleeps, retrying
 *   rwsem_try_write_lock each time it is woken. The first waiting writer that waited
 *   longer than RWSEM_WAIT_TIMEOUT sets RWSEM_FLAG_HANDOFF: no spinner or stealer may
 *   take the lock before it.
 * - up_read (last reader) and up_write wake through rwsem_mark_wake(RWSEM_WAKE_ANY): a
 *   writer at the head of the queue is only woken (it takes the lock itself, and a
 *   spinner may have taken it first); readers are granted the lock together, every
 *   reader in the queue up to MAX_READERS_WAKEUP, writers between them skipped; a
 *   reader that finds a writer stole it sets the handoff bit after its timeout.
 * - downgrade_write (munmap's __do_munmap) wakes the queued readers.
 *
 * Sleeping is the scheduler's: a sleeping wait yields a Completion with `sleeps` set,
 * the task leaves its CPU, and the waker's try_to_wake_up (RwsemEnv.wakeUp) brings it
 * back. A spin is an ordinary wait (system time). Taking it uncontended costs nothing
 * here (the atomic is part of the syscall's and the fault's costs). The same v5.17
 * algorithm serves every kernel release a run models (earlier releases spun readers and
 * had no handoff: not modelled); per-VMA locks (v6.4) are not in v5.17 and not modelled.
 */
import type { Cpu } from "../hw/cpu.js";
import { Completion, type KGen } from "../sim/process.js";
import { C } from "./counters.js";

/** What the semaphore needs from the kernel it runs in; a semaphore without one never spins and wakes waiters at once. */
export interface RwsemEnv {
  /** The kernel's counters (kernel/counters.ts values). */
  readonly values: Float64Array;
  readonly freqHz: number;
  /** A timer at `time` (cycles). */
  at(time: number, fn: () => void): void;
  /** Cycles for the lock word's cache line to move from CPU `from` to CPU `to`. */
  cacheLineLatency(from: number, to: number): number;
  /** owner_on_cpu(): the task on CPU `cpu` is running, not asleep. */
  onCpu(cpu: number): boolean;
  /** wake_up_q → try_to_wake_up, on CPU `waker`, of the task of CPU `target` sleeping on `c`. */
  wakeUp(waker: number, target: number, c: Completion): void;
}

/** enum writer_wait_state */
const WRITER_NOT_FIRST = 0;
const WRITER_FIRST = 1;
const WRITER_HANDOFF = 2;
/** enum rwsem_wake_type */
const RWSEM_WAKE_ANY = 0;
const RWSEM_WAKE_READERS = 1;
const RWSEM_WAKE_READ_OWNED = 2;
/** rwsem.c: at most this many readers are woken by one rwsem_mark_wake. */
const MAX_READERS_WAKEUP = 0x100;
/**
 * RWSEM_WAIT_TIMEOUT = DIV_ROUND_UP(HZ, 250) jiffies: 4 ms at any HZ that divides by
 * 250 (4 jiffies at the HZ=1000 of the kernel test robot's x86_64-rhel-8.3 config);
 * time_after(jiffies, timeout) adds up to one jiffy, not modelled.
 */
export const RWSEM_WAIT_TIMEOUT_NS = 4_000_000;

interface Waiter {
  readonly cpu: number;
  readonly write: boolean;
  readonly since: number;
  /** waiter.timeout, in cycles. */
  readonly timeout: number;
  /** What the sleeping task waits on (a new one per sleep). */
  c: Completion;
  /** A reader was given the lock (waiter.task = NULL). */
  granted: boolean;
  /** A wake-up is on its way (wake_q_add on a task already woken does nothing). */
  woken: boolean;
}

interface Spinner {
  readonly cpu: number;
  readonly c: Completion;
  acquired: boolean;
}

export class RwSemaphore {
  private readers = 0;
  private writer = -1;
  /** RWSEM_FLAG_HANDOFF */
  private handoff = false;
  /** RWSEM_NONSPINNABLE (in sem->owner) */
  private nonspinnable = false;
  private readonly waiters: Waiter[] = [];
  /** Optimistic spinners (the OSQ's order: the head takes the lock when it frees). */
  private readonly spinners: Spinner[] = [];
  private rspinArmed = false;
  /** Acquisitions that had to wait (spin or sleep), and the cycles spent waiting. */
  contended = 0;
  waitCycles = 0;

  constructor(
    readonly name: string,
    private readonly m: { readonly now: number },
    private readonly env: RwsemEnv | null = null,
  ) {}

  /** Readers holding it, and the writer's CPU (-1: none): for tests and traces. */
  get state(): { readers: number; writer: number; waiters: number; spinners: number; handoff: boolean } {
    return { readers: this.readers, writer: this.writer, waiters: this.waiters.length, spinners: this.spinners.length, handoff: this.handoff };
  }

  private count(i: number): void {
    if (this.env !== null) this.env.values[i]!++;
  }

  private get timeoutCycles(): number {
    return this.env === null ? Infinity : (RWSEM_WAIT_TIMEOUT_NS * this.env.freqHz) / 1e9;
  }

  /** down_read_trylock (and down_read's fast path: no writer, nobody waiting, no handoff). */
  tryDownRead(): boolean {
    if (this.writer >= 0 || this.waiters.length > 0 || this.handoff) return false;
    this.readers++;
    this.armRspin();
    return true;
  }

  /** down_read: returns once `cpu` holds it for reading. */
  *downRead(cpu: Cpu): KGen {
    if (this.tryDownRead()) return;
    yield* this.downReadSlowpath(cpu);
  }

  /** rwsem_down_read_slowpath (v5.17). */
  private *downReadSlowpath(cpu: Cpu): KGen {
    // Do not steal from readers: a stream of readers would starve a sleeping waiter.
    if (!(this.readers > 0 && this.writer < 0) && this.writer < 0 && !this.handoff) {
      // Reader optimistic lock stealing; the first reader wakes the queued readers.
      this.readers++;
      this.count(C.rwsem_rlock_steal);
      if (this.readers === 1 && this.waiters.length > 0) this.markWake(RWSEM_WAKE_READ_OWNED, cpu.id);
      this.armRspin();
      return;
    }
    const first = this.waiters.length === 0;
    if (first && this.writer < 0 && !this.handoff) {
      this.readers++;
      this.armRspin();
      return;
    }
    const now = this.m.now;
    const w: Waiter = { cpu: cpu.id, write: false, since: now, timeout: now + this.timeoutCycles, c: new Completion(true), granted: false, woken: false };
    w.c.add();
    this.waiters.push(w);
    this.contended++;
    // No active lock: wake the front of the queue; no writer and we are first: join the readers.
    let wake = false;
    if (this.readers === 0 && this.writer < 0) {
      this.nonspinnable = false;
      wake = true;
    }
    if (wake || (this.writer < 0 && first)) this.markWake(RWSEM_WAKE_ANY, cpu.id);
    if (!w.granted) {
      this.count(C.rwsem_sleep_reader);
      yield w.c;
    }
    this.waitCycles += this.m.now - now;
  }

  /** up_read */
  upRead(cpu?: Cpu): void {
    if (this.readers <= 0) throw new Error(`${this.name}: up_read with no reader`);
    if (--this.readers === 0) this.released(cpu?.id ?? -1, true);
  }

  /** down_write_trylock (and down_write's fast path: the count is 0). */
  tryDownWrite(cpu: Cpu): boolean {
    if (this.writer >= 0 || this.readers > 0 || this.waiters.length > 0 || this.handoff) return false;
    this.setOwner(cpu.id);
    return true;
  }

  /** down_write: returns once `cpu` holds it alone. */
  *downWrite(cpu: Cpu): KGen {
    if (this.tryDownWrite(cpu)) return;
    yield* this.downWriteSlowpath(cpu);
  }

  /** rwsem_set_owner: the owner is this writer (RWSEM_NONSPINNABLE goes with the old owner). */
  private setOwner(cpu: number): void {
    this.writer = cpu;
    this.nonspinnable = false;
  }

  /** rwsem_try_write_lock_unqueued: a spinner takes a free lock unless a handoff is pending. */
  private tryWriteLockUnqueued(cpu: number): boolean {
    if (this.readers > 0 || this.writer >= 0 || this.handoff) return false;
    this.setOwner(cpu);
    return true;
  }

  /** rwsem_can_spin_on_owner: not when marked non-spinnable, nor while a writer owner is off its CPU. */
  private canSpinOnOwner(): boolean {
    if (this.env === null || this.nonspinnable) return false;
    return this.writer < 0 || this.env.onCpu(this.writer);
  }

  /** rwsem_down_write_slowpath (v5.17). */
  private *downWriteSlowpath(cpu: Cpu): KGen {
    const since = this.m.now;
    this.contended++;
    if (this.canSpinOnOwner()) {
      if (this.tryWriteLockUnqueued(cpu.id)) {
        this.count(C.rwsem_opt_lock);
        return;
      }
      const s: Spinner = { cpu: cpu.id, c: new Completion(), acquired: false };
      s.c.add();
      this.spinners.push(s);
      this.armRspin();
      yield s.c;
      if (s.acquired) {
        this.count(C.rwsem_opt_lock);
        this.waitCycles += this.m.now - since;
        return;
      }
      this.count(C.rwsem_opt_fail);
    } else if (this.env !== null) this.count(C.rwsem_opt_nospin);
    const now = this.m.now;
    const w: Waiter = { cpu: cpu.id, write: true, since: now, timeout: now + this.timeoutCycles, c: new Completion(true), granted: false, woken: false };
    let wstate = this.waiters.length === 0 ? WRITER_FIRST : WRITER_NOT_FIRST;
    this.waiters.push(w);
    // Threads queued before us and no writer: wake readers queued ahead (or anyone).
    if (wstate === WRITER_NOT_FIRST && this.writer < 0) this.markWake(this.readers > 0 ? RWSEM_WAKE_READERS : RWSEM_WAKE_ANY, cpu.id);
    for (;;) {
      if (this.tryWriteLock(cpu.id, wstate)) break;
      // Block until there are no active lockers.
      for (;;) {
        w.c = new Completion(true);
        w.c.add();
        w.woken = false;
        this.count(C.rwsem_sleep_writer);
        yield w.c;
        if (wstate === WRITER_HANDOFF) break;
        if (wstate === WRITER_NOT_FIRST && this.waiters[0] === w) wstate = WRITER_FIRST;
        if (this.readers === 0 && this.writer < 0) break;
        if (wstate === WRITER_FIRST && this.m.now > w.timeout) {
          wstate = WRITER_HANDOFF;
          this.count(C.rwsem_wlock_handoff);
          break;
        }
      }
    }
    this.waiters.splice(this.waiters.indexOf(w), 1);
    this.waitCycles += this.m.now - since;
  }

  /** rwsem_try_write_lock: under wait_lock, for a queued writer in state `wstate`. */
  private tryWriteLock(cpu: number, wstate: number): boolean {
    if (this.handoff && wstate === WRITER_NOT_FIRST) return false;
    if (this.readers > 0 || this.writer >= 0) {
      if (this.handoff || wstate !== WRITER_HANDOFF) return false;
      this.handoff = true;
      return false;
    }
    this.handoff = false;
    this.setOwner(cpu);
    return true;
  }

  /** up_write */
  upWrite(cpu: Cpu): void {
    if (this.writer !== cpu.id) throw new Error(`${this.name}: up_write by CPU ${cpu.id}, held by ${this.writer}`);
    this.writer = -1;
    this.released(cpu.id, false);
  }

  /** downgrade_write: the writer becomes a reader; the queued readers may join it. */
  downgradeWrite(cpu: Cpu): void {
    if (this.writer !== cpu.id) throw new Error(`${this.name}: downgrade_write by CPU ${cpu.id}, held by ${this.writer}`);
    this.writer = -1;
    this.readers = 1;
    if (this.waiters.length > 0) this.markWake(RWSEM_WAKE_READ_OWNED, cpu.id);
    this.armRspin();
  }

  /** The lock is free: the head spinner takes it (it polls the count), then rwsem_wake if anyone waits. */
  private released(cpu: number, fromRead: boolean): void {
    const waiting = this.waiters.length > 0;
    if (fromRead && waiting) this.nonspinnable = false; // clear_nonspinnable in __up_read
    if (this.spinners.length > 0 && this.tryWriteLockUnqueued(this.spinners[0]!.cpu)) {
      const s = this.spinners.shift()!;
      s.acquired = true;
      const env = this.env!;
      s.c.done(this.m.now + (cpu >= 0 ? env.cacheLineLatency(cpu, s.cpu) : 0));
    }
    if (waiting) this.markWake(RWSEM_WAKE_ANY, cpu);
  }

  /** rwsem_mark_wake (v5.17). */
  private markWake(type: number, waker: number): void {
    const first = this.waiters[0];
    if (first === undefined) return;
    if (first.write) {
      // The writer takes the lock itself once it runs.
      if (type === RWSEM_WAKE_ANY && !first.woken) {
        first.woken = true;
        this.count(C.rwsem_wake_writer);
        this.wake(first, waker);
      }
      return;
    }
    if (type !== RWSEM_WAKE_READ_OWNED && this.writer >= 0) {
      // A writer stole the lock: the readers stay; after their timeout they force a handoff.
      if (!this.handoff && this.m.now > first.timeout) {
        this.handoff = true;
        this.count(C.rwsem_rlock_handoff);
      }
      return;
    }
    const woken: Waiter[] = [];
    for (let i = 0; i < this.waiters.length && woken.length < MAX_READERS_WAKEUP; ) {
      const w = this.waiters[i]!;
      if (w.write) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      w.granted = true;
      this.readers++;
      woken.push(w);
    }
    // A reader woken: writers need not be forced to give up the lock.
    if (woken.length > 0) this.handoff = false;
    for (const w of woken) {
      this.count(C.rwsem_wake_reader);
      this.wake(w, waker);
    }
    this.armRspin();
  }

  private wake(w: Waiter, waker: number): void {
    if (this.env === null || waker === w.cpu || waker < 0) {
      // wake_up_q of current (the reader that granted itself): nothing to switch.
      w.c.waker = waker;
      w.c.done(this.m.now);
    } else this.env.wakeUp(waker, w.cpu, w.c);
  }

  /**
   * rwsem_rspin_threshold: a writer spinning on a reader-owned lock gives up after
   * (readers + 1) × 0.5 µs (readers capped at 30) and marks it non-spinnable; the
   * spinners then queue and sleep.
   */
  private armRspin(): void {
    const env = this.env;
    if (env === null || this.rspinArmed || this.spinners.length === 0 || this.readers === 0 || this.writer >= 0) return;
    this.rspinArmed = true;
    const ns = (Math.min(this.readers, 30) + 1) * 500;
    env.at(this.m.now + (ns * env.freqHz) / 1e9, () => {
      this.rspinArmed = false;
      if (this.readers > 0 && this.writer < 0 && this.spinners.length > 0) {
        this.nonspinnable = true;
        const now = this.m.now;
        for (const s of this.spinners.splice(0)) s.c.done(now);
      }
    });
  }
}
