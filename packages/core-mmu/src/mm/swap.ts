/**
 * The LRU lists and the per-CPU LRU-add pagevecs (mm/swap.c and include/linux/mm_inline.h,
 * v4.2): a page reaches its node's inactive file list through the pagevec of the CPU
 * that faulted it in, PAGEVEC_SIZE at a time, so the lists hold runs of pages faulted
 * on one CPU. MADV_FREE's lazyfree pages (v4.12+, mark_page_lazyfree and the per-CPU
 * lru_lazyfree_pvecs of v4.13) reach the inactive file list the same way.
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState, type PhysMem } from "../hw/memory.js";
import type { Counters } from "../kernel/counters.js";

/** PAGEVEC_SIZE (v4.2). */
export const PAGEVEC_SIZE = 14;

/**
 * The LRU lists of one node (struct lruvec, the file lists only: anonymous pages are
 * never reclaimed because swap is not modelled, except MADV_FREE's lazyfree pages, which
 * v4.12+ keeps on the file lists): doubly linked lists in
 * typed arrays, head = most recently added. Page flags PG_lru, PG_active,
 * PG_referenced live here too.
 */
export const LRU_INACTIVE_FILE = 0;
export const LRU_ACTIVE_FILE = 1;

/**
 * Reclaim's hold on a page it isolated (isolate_lru_page takes a reference; the page's
 * refcount decides who frees it). Only lazyfree pages can lose their other references
 * while isolated (a zap or a COW drops the last mapping), so only they need the detail:
 * NOT_ISOLATED, ISOLATED; ISOLATED_GATHERED when a zap moved the last mapping's
 * reference into its mmu_gather (which will drop it after its flush); ISOLATED_RELEASED
 * when every reference but reclaim's is gone, so that reclaim frees the page.
 */
export const NOT_ISOLATED = 0;
export const ISOLATED = 1;
export const ISOLATED_GATHERED = 2;
export const ISOLATED_RELEASED = 3;

export class Lru {
  /** Per-CPU lru_add_pvec. */
  private readonly lruAddPagevec: number[][];
  /** Per-CPU lru_lazyfree_pvecs (v4.13), and whether a frame sits in one of them. */
  private readonly lazyfreePagevec: number[][];
  private readonly inLazyfreePagevec: Uint8Array;
  /** Reclaim's hold on each frame: NOT_ISOLATED, ISOLATED, ISOLATED_GATHERED or ISOLATED_RELEASED. */
  readonly isolated: Uint8Array;
  /**
   * References mmu_gathers hold on a frame (__tlb_remove_page's, dropped after the gather's
   * flush). Reclaim can free no page that has one: page_ref_freeze fails.
   */
  readonly gatherRefs: Uint16Array;
  readonly prev: Int32Array;
  readonly next: Int32Array;
  /** Which list a frame is on: -1 none, else LRU_* (PG_lru and PG_active). */
  readonly on: Int8Array;
  readonly referenced: Uint8Array;
  /** [node * 2 + list]: head and tail frame, and size. */
  private readonly heads: Int32Array;
  private readonly tails: Int32Array;
  readonly sizes: Int32Array;

  constructor(
    private readonly mem: PhysMem,
    ncpus: number,
    private readonly counters: Counters,
  ) {
    const nframes = mem.nframes;
    const nodes = mem.nodes;
    this.lruAddPagevec = Array.from({ length: ncpus }, () => []);
    this.lazyfreePagevec = Array.from({ length: ncpus }, () => []);
    this.inLazyfreePagevec = new Uint8Array(nframes);
    this.isolated = new Uint8Array(nframes);
    this.gatherRefs = new Uint16Array(nframes);
    this.prev = new Int32Array(nframes).fill(-1);
    this.next = new Int32Array(nframes).fill(-1);
    this.on = new Int8Array(nframes).fill(-1);
    this.referenced = new Uint8Array(nframes);
    this.heads = new Int32Array(nodes * 2).fill(-1);
    this.tails = new Int32Array(nodes * 2).fill(-1);
    this.sizes = new Int32Array(nodes * 2);
  }

  size(node: number, list: number): number {
    return this.sizes[node * 2 + list]!;
  }

  /** add_page_to_lru_list (at the head); a page reclaim isolated is put back (putback_inactive_pages). */
  add(pfn: number, node: number, list: number): void {
    this.isolated[pfn] = NOT_ISOLATED;
    const l = node * 2 + list;
    const h = this.heads[l]!;
    this.prev[pfn] = -1;
    this.next[pfn] = h;
    if (h >= 0) this.prev[h] = pfn;
    else this.tails[l] = pfn;
    this.heads[l] = pfn;
    this.on[pfn] = list;
    this.sizes[l]!++;
  }

  /** del_page_from_lru_list */
  del(pfn: number, node: number): void {
    const list = this.on[pfn]!;
    if (list < 0) return;
    const l = node * 2 + list;
    const p = this.prev[pfn]!;
    const n = this.next[pfn]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[l] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[l] = p;
    this.on[pfn] = -1;
    this.sizes[l]!--;
  }

  /** The oldest page of a list (its tail), or -1. */
  tail(node: number, list: number): number {
    return this.tails[node * 2 + list]!;
  }

  /** lru_cache_add: `pfn` goes to this CPU's LRU-add pagevec; a full pagevec is drained. */
  lruCacheAdd(cpu: Cpu, pfn: number): void {
    const pv = this.lruAddPagevec[cpu.id]!;
    pv.push(pfn);
    if (pv.length >= PAGEVEC_SIZE) this.lruAddDrain(cpu);
  }

  /**
   * lru_add_drain (lru_add_drain_cpu): this CPU's pending pages onto their nodes'
   * inactive lists, the LRU-add pagevec first, then (v4.13) the lazyfree one.
   */
  lruAddDrain(cpu: Cpu): void {
    const pv = this.lruAddPagevec[cpu.id]!;
    for (const pfn of pv) this.add(pfn, this.mem.nodeOf(pfn), LRU_INACTIVE_FILE);
    pv.length = 0;
    const lz = this.lazyfreePagevec[cpu.id]!;
    if (lz.length > 0) this.lazyfreeDrain(lz);
  }

  /**
   * mark_page_lazyfree (mm/swap.c, v4.13): an anonymous page MADV_FREE cleaned waits in
   * this CPU's lazyfree pagevec; a full one (PAGEVEC_SIZE) is drained at once. The
   * kernel takes only pages on the anon LRU (PageLRU, PageSwapBacked, not in the swap
   * cache); the model keeps no anon LRU (swap is not modelled), so every swap-backed
   * anonymous page qualifies.
   */
  markPageLazyfree(cpu: Cpu, pfn: number): void {
    const mem = this.mem;
    if (mem.state[pfn] !== FrameState.USER || mem.lazyfree[pfn] === 1 || this.inLazyfreePagevec[pfn] === 1) return;
    const pv = this.lazyfreePagevec[cpu.id]!;
    pv.push(pfn);
    this.inLazyfreePagevec[pfn] = 1;
    if (pv.length >= PAGEVEC_SIZE) this.lazyfreeDrain(pv);
  }

  /**
   * pagevec_lru_move_fn(pvec, lru_lazyfree_fn): each page leaves the anon LRU,
   * ClearPageActive, ClearPageReferenced, ClearPageSwapBacked (it is now lazyfree:
   * reclaim may discard it while its PTEs stay clean), and goes to the head of its
   * node's inactive file list; PGLAZYFREE counts it.
   */
  private lazyfreeDrain(pv: number[]): void {
    const mem = this.mem;
    let n = 0;
    for (const pfn of pv) {
      this.inLazyfreePagevec[pfn] = 0;
      if (mem.state[pfn] !== FrameState.USER || mem.lazyfree[pfn] === 1) continue;
      this.referenced[pfn] = 0;
      mem.lazyfree[pfn] = 1;
      this.add(pfn, mem.nodeOf(pfn), LRU_INACTIVE_FILE);
      n++;
    }
    pv.length = 0;
    if (n > 0) this.counters.add("pglazyfree", n);
  }

  /**
   * A zap removed the last mapping of an anonymous page and gathered it (its reference
   * now sits in the mmu_gather, dropped after the flush): a lazyfree page reclaim holds
   * isolated can no longer be frozen by reclaim (page_ref_freeze fails).
   */
  pageGathered(pfn: number): void {
    this.gatherRefs[pfn]!++;
    if (this.isolated[pfn] === ISOLATED) this.isolated[pfn] = ISOLATED_GATHERED;
  }

  /**
   * The last reference other than reclaim's to an anonymous page is dropped (put_page,
   * release_pages): returns whether the caller frees the frame now. A lazyfree page
   * leaves its LRU list first (__page_cache_release); one that waits in a lazyfree
   * pagevec leaves it (the kernel frees it when the pagevec drains; the model at once).
   * Returns false when reclaim holds the page isolated: its reference is the last, and
   * shrink_page_list frees the page.
   */
  releasePage(pfn: number): boolean {
    if (this.mem.lazyfree[pfn] === 0 && this.inLazyfreePagevec[pfn] === 0) return true;
    if (this.isolated[pfn] !== NOT_ISOLATED) {
      this.isolated[pfn] = ISOLATED_RELEASED;
      return false;
    }
    if (this.inLazyfreePagevec[pfn] === 1) {
      for (const pv of this.lazyfreePagevec) {
        const i = pv.indexOf(pfn);
        if (i >= 0) pv.splice(i, 1);
      }
      this.inLazyfreePagevec[pfn] = 0;
    }
    this.del(pfn, this.mem.nodeOf(pfn));
    return true;
  }

  /** Pages waiting in the CPUs' LRU-add and lazyfree pagevecs. */
  pendingLruAdds(): number {
    let n = 0;
    for (const pv of this.lruAddPagevec) n += pv.length;
    for (const pv of this.lazyfreePagevec) n += pv.length;
    return n;
  }
}
