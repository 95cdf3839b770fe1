/**
 * Split page-table locks (USE_SPLIT_PTE_PTLOCKS, mm/memory.c and include/linux/mm.h of
 * v4.x): one spinlock per PTE page, taken by pte_offset_map_lock around every change of
 * the PTEs in that page. The model keys a lock by the PTE page's frame. Taking a free
 * lock costs nothing beyond the path's own PTE costs (the paths already charge them);
 * a CPU that finds it held spins (system time) until it is handed over, FIFO, one cache
 * line transfer later (kernel/spinlock.ts). Paths that never wait inside the lock (a
 * fault that finds nothing to wait for) test `held` and retry, as before.
 *
 * The walks that change many PTEs (zap_pte_range, change_pte_range,
 * madvise_free_pte_range) take the lock once per PTE page, as pte_offset_map_lock does,
 * and run flush_tlb_batched_pending under it. Their PTE work is done at the instant
 * they hold the lock and its cycles are charged as before, in one step after the walk:
 * a walk holds a lock across simulated time only when it has to wait inside it (a
 * pending batched flush), so an uncontended walk costs and orders exactly as it did.
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { SpinLock } from "../kernel/spinlock.js";
import type { BatchedPendingFlush } from "../plugin/tokens.js";
import type { KGen } from "../sim/process.js";
import { storeDense } from "./dense-array.js";
import type { MmStruct } from "./mm-types.js";

/** PTEs per PTE page: what one split lock covers. */
export const PTRS_PER_PTE = 512;

export class PteLocks {
  /**
   * By key (the PTE page's slot in the page-table words, or its scaled share): small
   * integers, but sparse (a few per cent of the keys below the largest have a lock).
   * Stored with storeDense, so that V8 keeps it a packed array.
   */
  private readonly locks: (SpinLock | undefined)[] = [];
  private taken = 0;
  private words = 2 * PTRS_PER_PTE;
  private spanPtes = PTRS_PER_PTE;

  constructor(private readonly m: Machine) {}

  /**
   * PTEs one lock covers: 512 (a PTE page), unless a workload that scales RAM down
   * scales it with RAM (so that a task's working set spans as many locks as at full
   * size) and says so in its notes. A power of two from 1 to 512.
   */
  get span(): number {
    return this.spanPtes;
  }

  set span(ptes: number) {
    if (!Number.isInteger(ptes) || ptes < 1 || ptes > PTRS_PER_PTE || (ptes & (ptes - 1)) !== 0) throw new RangeError(`PTE lock span must be a power of two from 1 to ${PTRS_PER_PTE} (got ${ptes})`);
    if (this.taken > 0) throw new Error("PTE lock span set after a lock was taken");
    this.spanPtes = ptes;
    this.words = 2 * ptes;
  }

  /** The lock's key for the PTE at word offset `off`: its PTE page (or its share of one, scaled). */
  private keyOf(off: number): number {
    return Math.floor(off / this.words);
  }

  private lockOf(table: number): SpinLock {
    let l = table < this.locks.length ? this.locks[table] : undefined;
    if (l === undefined) {
      l = new SpinLock(`ptl(${table})`, this.m);
      storeDense(this.locks, table, l);
      this.taken++;
    }
    return l;
  }

  /** Whether the PTEs at word offsets `a` and `b` are under one lock (one PTE page, or one scaled share of it). */
  sameLock(a: number, b: number): boolean {
    return this.keyOf(a) === this.keyOf(b);
  }

  /** Whether some CPU holds the lock of the PTE page holding word offset `off`. */
  held(off: number): boolean {
    const key = this.keyOf(off);
    const l = key < this.locks.length ? this.locks[key] : undefined;
    return l !== undefined && l.holder >= 0;
  }

  /** spin_trylock on the PTE page of `off`. */
  tryLock(cpu: Cpu, off: number): boolean {
    return this.lockOf(this.keyOf(off)).tryLock(cpu);
  }

  /** pte_offset_map_lock's spin_lock: returns holding the PTE page's lock (waits only when it is held). */
  *lock(cpu: Cpu, off: number): KGen {
    const l = this.lockOf(this.keyOf(off));
    if (!l.tryLock(cpu)) yield* l.lockSlow(cpu);
  }

  /**
   * pte_offset_map_lock as a walk that changes many PTEs takes it at each PTE page
   * (zap_pte_range, change_pte_range, madvise_free_pte_range): it drops the lock of the
   * page it leaves (`held`, a word offset in that page, or -1), takes the lock of `off`'s
   * page and runs flush_tlb_batched_pending(mm) under it (3ea277194daa, v4.13). Such a
   * walk charges its PTE work in one step at its end; `pending` is what it has not charged
   * yet, charged here before it waits for a held lock. Returns true when it charged it.
   */
  *walkEnter(cpu: Cpu, held: number, off: number, pending: number, mm: MmStruct, batched: BatchedPendingFlush): KGen<boolean> {
    if (held >= 0) this.unlock(cpu, held);
    const l = this.lockOf(this.keyOf(off));
    let charged = false;
    if (!l.tryLock(cpu)) {
      if (pending > 0) yield pending;
      charged = true;
      yield* l.lockSlow(cpu);
    }
    yield* batched.flushTlbBatchedPending(cpu, mm);
    return charged;
  }

  /** How many times a CPU had to wait for a PTE lock, over all of them. */
  contentions(): number {
    let n = 0;
    for (const l of this.locks) if (l !== undefined) n += l.contended;
    return n;
  }

  /** pte_unmap_unlock */
  unlock(cpu: Cpu, off: number): void {
    this.lockOf(this.keyOf(off)).unlock(cpu);
  }
}
