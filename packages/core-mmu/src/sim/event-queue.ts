/**
 * The pending-event set of the discrete-event engine.
 *
 * A binary min-heap ordered by `(time, priority, seq)`:
 *
 * - `time` is virtual time in CPU cycles (finite, non-negative, may be fractional);
 * - `priority` is a small int32, lower runs first at equal time (see `Priority` in `engine.ts`);
 * - `seq` is a monotonically increasing insertion counter, so equal `(time, priority)`
 *   pairs pop in FIFO order and every run is deterministic.
 *
 * The keys live in parallel typed arrays (`Float64Array` for time and seq, `Int32Array`
 * for priority) and the callbacks in a parallel plain array. The arrays grow by doubling,
 * so a push allocates nothing per entry beyond storing the callback reference.
 *
 * Cancellation is lazy: a cancelled entry stays in the heap as a tombstone and is
 * discarded when it reaches the top. `size` counts live entries only.
 *
 * Ordering model: SimPy's `Environment` heap of `(time, priority, eid, event)` tuples
 * (`simpy/core.py`); numeric `seq` rather than string ids, as discrete-sim's
 * `EventQueue.compare` learned the hard way ("event-10" < "event-9").
 *
 * @example
 * ```ts
 * const q = new EventQueue();
 * q.push(10, 2, () => console.log("cpu resumes"));
 * q.push(10, 0, () => console.log("interrupt delivered"));
 * q.pop()?.(); // "interrupt delivered" (same time, lower priority first)
 * ```
 */
export class EventQueue {
  /** Time of the entry last returned by {@link EventQueue.pop}; 0 before the first pop. */
  lastTime = 0;
  /** Priority of the entry last returned by {@link EventQueue.pop}; 0 before the first pop. */
  lastPriority = 0;

  private times: Float64Array;
  private priorities: Int32Array;
  private seqs: Float64Array;
  private callbacks: ((() => void) | undefined)[];
  /** Number of heap slots in use, tombstones included. */
  private count = 0;
  /** Next sequence number to hand out; also the handle returned by `push`. */
  private nextSeq = 0;
  /**
   * Cancelled entries still physically in the heap. A tombstone is an entry whose
   * callback slot is `undefined` (a live entry's is always a function): no set of
   * cancelled seqs to look up at every pop while some tombstone waits in the heap.
   */
  private tombstones = 0;

  /**
   * @param initialCapacity - number of slots allocated up front (default 64); the heap
   *   doubles when full, so this only avoids early regrowth.
   */
  constructor(initialCapacity = 64) {
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1) {
      throw new RangeError(
        `EventQueue: initialCapacity must be a positive integer, got ${String(initialCapacity)}`,
      );
    }
    this.times = new Float64Array(initialCapacity);
    this.priorities = new Int32Array(initialCapacity);
    this.seqs = new Float64Array(initialCapacity);
    this.callbacks = new Array<(() => void) | undefined>(initialCapacity).fill(undefined);
  }

  /**
   * Number of live (pushed, not yet popped, not cancelled) entries. O(1).
   */
  get size(): number {
    return this.count - this.tombstones;
  }

  /** `true` when there are no live entries. O(1). */
  get isEmpty(): boolean {
    return this.count === this.tombstones;
  }

  /**
   * Inserts an entry. O(log n); amortised O(1) extra for the occasional doubling.
   *
   * @param time - virtual time; must be finite and `>= 0`.
   * @param priority - int32; lower runs first among entries with equal `time`.
   * @param callback - what to run when the entry is popped.
   * @returns a handle (the entry's `seq`) for {@link EventQueue.cancel}.
   * @throws RangeError if `time` is negative, NaN or infinite, or `priority` is not an int32.
   */
  push(time: number, priority: number, callback: () => void): number {
    if (!(time >= 0 && time < Infinity)) {
      throw new RangeError(`EventQueue.push: time must be finite and >= 0, got ${String(time)}`);
    }
    if ((priority | 0) !== priority) {
      throw new RangeError(`EventQueue.push: priority must be an int32, got ${String(priority)}`);
    }
    if (typeof callback !== "function") throw new TypeError(`EventQueue.push: callback must be a function, got ${typeof callback}`);
    if (this.count === this.times.length) this.grow();
    const seq = this.nextSeq++;
    this.siftUp(this.count++, time, priority, seq, callback);
    return seq;
  }

  /**
   * Removes the earliest live entry and returns its callback, recording its key in
   * {@link EventQueue.lastTime} and {@link EventQueue.lastPriority}.
   * O(log n), plus O(log n) for each tombstone discarded on the way (each is paid once).
   *
   * @returns the callback, or `undefined` when the queue has no live entries.
   */
  pop(): (() => void) | undefined {
    this.discardCancelledTop();
    if (this.count === 0) return undefined;
    const callback = this.callbacks[0];
    this.lastTime = this.times[0]!;
    this.lastPriority = this.priorities[0]!;
    this.removeTop();
    return callback;
  }

  /**
   * Time of the earliest live entry, or `Infinity` when there is none (as SimPy's `peek`).
   * Amortised O(1): it may discard tombstones sitting at the top.
   */
  peekTime(): number {
    this.discardCancelledTop();
    return this.count === 0 ? Infinity : this.times[0]!;
  }

  /**
   * Cancels a pending entry so it is never returned by {@link EventQueue.pop}.
   * O(n) worst case: confirming the handle is still pending is a scan of a `Float64Array`
   * (typed, allocation-free); the removal itself is lazy (a tombstone) and costs nothing
   * here. Keeping no per-entry index makes `push`/`pop` cheaper, and those dominate.
   *
   * @param handle - a value returned by {@link EventQueue.push}.
   * @returns `true` if the entry was pending and is now cancelled; `false` if it was
   *   already popped, already cancelled, cleared, or never issued.
   */
  cancel(handle: number): boolean {
    if (!(handle >= 0 && handle < this.nextSeq)) return false;
    const seqs = this.seqs;
    for (let i = 0, n = this.count; i < n; i++) {
      if (seqs[i] === handle) {
        if (this.callbacks[i] === undefined) return false; // already a tombstone
        this.callbacks[i] = undefined; // the tombstone mark; releases the closure now
        this.tombstones++;
        return true;
      }
    }
    return false;
  }

  /**
   * Drops every entry, live or cancelled. O(n) to release the callback references.
   * Sequence numbers keep increasing, so handles issued before `clear` never match
   * entries pushed after it.
   */
  clear(): void {
    this.callbacks.fill(undefined, 0, this.count);
    this.count = 0;
    this.tombstones = 0;
  }

  /** Pops tombstones off the top until the top is live or the heap is empty. */
  private discardCancelledTop(): void {
    while (this.tombstones !== 0 && this.count !== 0 && this.callbacks[0] === undefined) {
      this.tombstones--;
      this.removeTop();
    }
  }

  /** Removes slot 0 by moving the last slot into it and sifting down. Requires `count > 0`. */
  private removeTop(): void {
    const last = --this.count;
    const time = this.times[last]!;
    const priority = this.priorities[last]!;
    const seq = this.seqs[last]!;
    const callback = this.callbacks[last];
    this.callbacks[last] = undefined;
    if (last !== 0) this.siftDown(0, time, priority, seq, callback);
  }

  /** Places the given entry at hole `pos` and moves it towards the root (hole technique). */
  private siftUp(
    pos: number,
    time: number,
    priority: number,
    seq: number,
    callback: (() => void) | undefined,
  ): void {
    const times = this.times;
    const priorities = this.priorities;
    const seqs = this.seqs;
    const callbacks = this.callbacks;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const pt = times[parent]!;
      if (pt < time) break;
      if (pt === time) {
        const pp = priorities[parent]!;
        if (pp < priority || (pp === priority && seqs[parent]! < seq)) break;
      }
      times[pos] = pt;
      priorities[pos] = priorities[parent]!;
      seqs[pos] = seqs[parent]!;
      callbacks[pos] = callbacks[parent];
      pos = parent;
    }
    times[pos] = time;
    priorities[pos] = priority;
    seqs[pos] = seq;
    callbacks[pos] = callback;
  }

  /** Places the given entry at hole `pos` and moves it towards the leaves (hole technique). */
  private siftDown(
    pos: number,
    time: number,
    priority: number,
    seq: number,
    callback: (() => void) | undefined,
  ): void {
    const times = this.times;
    const priorities = this.priorities;
    const seqs = this.seqs;
    const callbacks = this.callbacks;
    const n = this.count;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && this.less(right, child)) child = right;
      const ct = times[child]!;
      if (ct > time) break;
      if (ct === time) {
        const cp = priorities[child]!;
        if (cp > priority || (cp === priority && seqs[child]! > seq)) break;
      }
      times[pos] = ct;
      priorities[pos] = priorities[child]!;
      seqs[pos] = seqs[child]!;
      callbacks[pos] = callbacks[child];
      pos = child;
    }
    times[pos] = time;
    priorities[pos] = priority;
    seqs[pos] = seq;
    callbacks[pos] = callback;
  }

  /** Whether slot `a` orders strictly before slot `b`. Keys are unique (seq), so never a tie. */
  private less(a: number, b: number): boolean {
    const ta = this.times[a]!;
    const tb = this.times[b]!;
    if (ta !== tb) return ta < tb;
    const pa = this.priorities[a]!;
    const pb = this.priorities[b]!;
    if (pa !== pb) return pa < pb;
    return this.seqs[a]! < this.seqs[b]!;
  }

  /** Doubles every parallel array. Amortised O(1) per push. */
  private grow(): void {
    const capacity = this.times.length * 2;
    const times = new Float64Array(capacity);
    times.set(this.times);
    this.times = times;
    const priorities = new Int32Array(capacity);
    priorities.set(this.priorities);
    this.priorities = priorities;
    const seqs = new Float64Array(capacity);
    seqs.set(this.seqs);
    this.seqs = seqs;
    const callbacks = this.callbacks;
    for (let i = callbacks.length; i < capacity; i++) callbacks.push(undefined);
  }
}
