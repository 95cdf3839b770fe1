import { EventQueue } from "./event-queue.js";

/**
 * Priorities for events that fall on the same cycle; lower runs first.
 *
 * The order models the hardware: an interrupt (e.g. a TLB-shootdown IPI) delivered at
 * cycle `t` is taken before the target CPU resumes its instruction stream at `t`, and
 * kernel bookkeeping scheduled for `t` runs before ordinary CPU work. Events with equal
 * time and priority run in the order they were scheduled (FIFO).
 *
 * - `INTERRUPT` (0): interrupt / IPI delivery.
 * - `KERNEL` (1): kernel-side work triggered at this cycle (flush handlers, acks).
 * - `CPU` (2): CPU resumption, i.e. the next instruction-stream step.
 * - `LOW` (3): observation and housekeeping that must see the settled state of the cycle.
 */
export const Priority = Object.freeze({
  INTERRUPT: 0,
  KERNEL: 1,
  CPU: 2,
  LOW: 3,
} as const);

/** One of the values of {@link Priority}. `Engine` accepts any int32, these are the named tiers. */
export type Priority = (typeof Priority)[keyof typeof Priority];

/** Construction parameters for {@link Engine}. Every field is optional. */
export interface EngineParams {
  /** Virtual time the clock starts at, in cycles. Default `0`. */
  readonly initialTime?: number;
  /** Initial slot count of the event heap (it doubles when full). Default `64`. */
  readonly initialCapacity?: number;
}

/**
 * The discrete-event kernel, shaped like SimPy's `Environment` (`simpy/core.py`):
 * a clock (`now`), a heap of pending callbacks ordered by `(time, priority, seq)`,
 * `schedule`/`at` to add to it, `step` to run one event and `run(until)` to run many.
 *
 * Time is virtual (CPU cycles); nothing reads the wall clock or `Math.random`, so a run
 * is a pure function of what was scheduled. A callback that throws is not swallowed:
 * the exception propagates out of `step()`/`run()` (SimPy's "failed event crashes the
 * environment"), with `now` already at that event's time.
 *
 * @example
 * ```ts
 * const engine = new Engine();
 * engine.schedule(100, () => {
 *   engine.schedule(0, () => cpu.resume(), Priority.CPU);
 *   engine.schedule(0, () => apic.deliver(ipi), Priority.INTERRUPT); // runs first
 * });
 * engine.run(1_000); // engine.now === 1_000 afterwards
 * ```
 */
export class Engine {
  /**
   * Number of events dispatched so far. Counted just before the callback runs, so an
   * event whose callback throws is included.
   */
  eventsProcessed = 0;

  private readonly queue: EventQueue;
  private _now: number;
  private stopRequested = false;
  private running = false;

  constructor(params: EngineParams = {}) {
    const initialTime = params.initialTime ?? 0;
    if (!(initialTime >= 0 && initialTime < Infinity)) {
      throw new RangeError(
        `Engine: initialTime must be finite and >= 0, got ${String(initialTime)}`,
      );
    }
    this._now = initialTime;
    this.queue = new EventQueue(params.initialCapacity ?? 64);
  }

  /** Current virtual time in cycles. Never decreases. */
  get now(): number {
    return this._now;
  }

  /** Number of pending (not yet run, not cancelled) events. O(1). */
  get pending(): number {
    return this.queue.size;
  }

  /**
   * Schedules `callback` to run `delay` cycles from now. O(log n).
   *
   * @param delay - finite, `>= 0`; `0` means "later in this cycle", after events
   *   already scheduled for `now` with the same or a lower priority.
   * @param priority - tie-breaker at equal time, lower first; see {@link Priority}. Default `0`.
   * @returns a handle for {@link Engine.cancel}.
   * @throws RangeError if `delay` is negative, NaN or infinite, or `priority` is not an int32.
   */
  schedule(delay: number, callback: () => void, priority = 0): number {
    if (!(delay >= 0 && delay < Infinity)) {
      throw new RangeError(
        `Engine.schedule: delay must be a finite number >= 0, got ${String(delay)}`,
      );
    }
    return this.queue.push(this._now + delay, priority, callback);
  }

  /**
   * Schedules `callback` at absolute virtual time `time`. O(log n).
   *
   * @param time - finite, `>= now`.
   * @param priority - tie-breaker at equal time, lower first; see {@link Priority}. Default `0`.
   * @returns a handle for {@link Engine.cancel}.
   * @throws RangeError if `time` is before `now`, NaN or infinite, or `priority` is not an int32.
   */
  at(time: number, callback: () => void, priority = 0): number {
    if (!(time >= this._now && time < Infinity)) {
      throw new RangeError(
        `Engine.at: time must be finite and >= now (${String(this._now)}), got ${String(time)}`,
      );
    }
    return this.queue.push(time, priority, callback);
  }

  /**
   * Cancels a pending event. O(n) worst case (see {@link EventQueue.cancel}).
   *
   * @returns `true` if the event was pending; `false` if it already ran, was already
   *   cancelled, or the handle is unknown.
   */
  cancel(handle: number): boolean {
    return this.queue.cancel(handle);
  }

  /** Time of the next pending event, or `Infinity` when there is none. Amortised O(1). */
  peekTime(): number {
    return this.queue.peekTime();
  }

  /**
   * Runs the next event: advances `now` to its time, then calls its callback. O(log n).
   *
   * @returns `false` (doing nothing) when no event is pending, `true` otherwise.
   * @throws whatever the callback throws; `Error` if called from inside a callback.
   */
  step(): boolean {
    this.enter("step");
    try {
      return this.dispatchNext();
    } finally {
      this.running = false;
    }
  }

  /**
   * Runs events in order.
   *
   * - `run()`: until no event is pending (or {@link Engine.stop} is called).
   * - `run(until)`: every event with time `<= until`, then sets `now = until`
   *   (events at exactly `until` do run). If {@link Engine.stop} ended the run early,
   *   `now` stays at the time of the last event run.
   *
   * `stop()` requests made before `run` is entered are discarded.
   *
   * @param until - absolute virtual time, `>= now`; `Infinity` is the same as no argument.
   * @throws RangeError if `until` is NaN or before `now`; `Error` if called from inside a
   *   callback; and whatever a callback throws (the run ends there, the event is consumed).
   */
  run(until = Infinity): void {
    if (!(until >= this._now)) {
      throw new RangeError(
        `Engine.run: until must be >= now (${String(this._now)}), got ${String(until)}`,
      );
    }
    this.enter("run");
    this.stopRequested = false;
    const queue = this.queue;
    try {
      while (!this.stopRequested) {
        const next = queue.peekTime();
        if (next > until || next === Infinity) break;
        this.dispatchNext();
      }
      if (!this.stopRequested && until !== Infinity && until > this._now) this._now = until;
    } finally {
      this.running = false;
      this.stopRequested = false;
    }
  }

  /**
   * Makes the current {@link Engine.run} return once the event now executing finishes.
   * Events still pending stay queued; a later `run` resumes them. No effect outside `run`.
   */
  stop(): void {
    if (this.running) this.stopRequested = true;
  }

  /** Pops and runs one event; `false` when the queue is empty. */
  private dispatchNext(): boolean {
    const queue = this.queue;
    const callback = queue.pop();
    if (callback === undefined) return false;
    this._now = queue.lastTime;
    this.eventsProcessed++;
    callback();
    return true;
  }

  /** Guards against re-entrant `step`/`run` from inside a callback. */
  private enter(method: "step" | "run"): void {
    if (this.running) {
      throw new Error(
        `Engine.${method}: called from inside an event callback; schedule work instead`,
      );
    }
    this.running = true;
  }
}
