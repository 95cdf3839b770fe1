/**
 * A read-write semaphore (kernel/locking/rwsem.c, v5.17), as mmap_lock uses it: readers
 * share it, a writer has it alone, and waiters are served in FIFO order, a run of
 * readers together; a waiting writer holds back readers that arrive after it (no writer
 * starvation). Taking it uncontended costs nothing in the model. A waiter spins (its
 * time is system time) until the holder releases it; optimistic spinning, sleeping and
 * handoff are not modelled.
 */
import type { Cpu } from "../hw/cpu.js";
import { Completion, type KGen } from "../sim/process.js";

interface Waiter {
  readonly cpu: number;
  readonly write: boolean;
  readonly done: Completion;
}

export class RwSemaphore {
  private readers = 0;
  private writer = -1;
  private readonly waiters: Waiter[] = [];
  /** Acquisitions that had to wait, and the cycles spent waiting. */
  contended = 0;
  waitCycles = 0;

  constructor(
    readonly name: string,
    private readonly m: { readonly now: number },
  ) {}

  /** down_read_trylock */
  tryDownRead(): boolean {
    if (this.writer >= 0 || this.waiters.length > 0) return false;
    this.readers++;
    return true;
  }

  /** down_read: returns once `cpu` holds it for reading. */
  *downRead(cpu: Cpu): KGen {
    if (this.tryDownRead()) return;
    yield* this.wait(cpu, false);
  }

  /** up_read */
  upRead(): void {
    if (this.readers <= 0) throw new Error(`${this.name}: up_read with no reader`);
    if (--this.readers === 0) this.grant();
  }

  /** down_write_trylock */
  tryDownWrite(cpu: Cpu): boolean {
    if (this.writer >= 0 || this.readers > 0 || this.waiters.length > 0) return false;
    this.writer = cpu.id;
    return true;
  }

  /** down_write: returns once `cpu` holds it alone. */
  *downWrite(cpu: Cpu): KGen {
    if (this.tryDownWrite(cpu)) return;
    yield* this.wait(cpu, true);
  }

  /** up_write */
  upWrite(cpu: Cpu): void {
    if (this.writer !== cpu.id) throw new Error(`${this.name}: up_write by CPU ${cpu.id}, held by ${this.writer}`);
    this.writer = -1;
    this.grant();
  }

  private *wait(cpu: Cpu, write: boolean): KGen {
    const done = new Completion();
    done.kind = "sleep";
    done.add();
    this.waiters.push({ cpu: cpu.id, write, done });
    this.contended++;
    const since = this.m.now;
    yield done;
    this.waitCycles += this.m.now - since;
  }

  /** Hands the lock to the first waiter, and to the readers queued right behind a reader. */
  private grant(): void {
    const now = this.m.now;
    while (this.waiters.length > 0 && this.writer < 0) {
      const w = this.waiters[0]!;
      if (w.write) {
        if (this.readers > 0) return;
        this.waiters.shift();
        this.writer = w.cpu;
        w.done.done(now);
        return;
      }
      this.waiters.shift();
      this.readers++;
      w.done.done(now);
    }
  }
}
