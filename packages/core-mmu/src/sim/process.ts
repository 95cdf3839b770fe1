/**
 * Simulated processes, SimPy style: a process is a generator that yields how long it
 * works (cycles) or a Completion to wait for. The executor that runs them on CPUs is
 * the kernel's scheduler (kernel/sched.ts); these types know no machine.
 */

/** What a process yields: cycles to spend, or a completion to wait for. */
export type KYield = number | Completion;
/** A kernel path that can take time and wait (e.g. for IPI acknowledgements). */
export type KGen<T = void> = Generator<KYield, T, void>;

/**
 * Counts outstanding pieces of work (e.g. the csds of one smp_call_function_many) and
 * wakes the one waiting process when the last is done, at the latest completion time
 * (SimPy's Event, with a count).
 */
export class Completion {
  pending = 0;
  doneAt = 0;
  onDone: ((time: number) => void) | null = null;
  /**
   * How a CPU waits for it, for the lockup detectors (kernel/watchdog.ts): spinning in
   * csd_lock_wait (the default: a flush's wait for its IPIs, and any wait a policy makes),
   * spinning on a spinlock, or sleeping, scheduling away (an rwsem, a mutex). A sleeping
   * wait breaks a soft-lockup stretch; a csd wait longer than CSD_LOCK_TIMEOUT is reported.
   */
  kind: "csd" | "spin" | "sleep" = "csd";

  /**
   * The task waiting for it leaves its CPU (schedule()) and is woken when it is done, with
   * the waker's try_to_wake_up: set by whoever makes it and wakes it (rwsem's wait list).
   * Other waits of kind "sleep" (a mutex) are sleeping waits for the lockup detectors only:
   * their schedule() and wake-up are not modelled, so the CPU waits as a spin would.
   */
  readonly sleeps: boolean;
  /** The CPU whose done() woke a sleeping waiter (try_to_wake_up's caller); -1: none. */
  waker = -1;

  constructor(sleeps = false) {
    this.sleeps = sleeps;
    if (sleeps) this.kind = "sleep";
  }

  add(n = 1): void {
    this.pending += n;
  }

  /** Marks one piece done at `time`; the last one fires onDone (set by the executor). */
  done(time: number): void {
    if (time > this.doneAt) this.doneAt = time;
    if (--this.pending === 0 && this.onDone) this.onDone(this.doneAt);
  }
}
