/**
 * The LRU lists and the per-CPU LRU-add pagevecs (mm/swap.c and include/linux/mm_inline.h,
 * v4.2): a page reaches its node's inactive file list through the pagevec of the CPU
 * that faulted it in, PAGEVEC_SIZE at a time, so the lists hold runs of pages faulted
 * on one CPU.
 */
import type { Cpu } from "../hw/cpu.js";
import type { PhysMem } from "../hw/memory.js";

/** PAGEVEC_SIZE (v4.2). */
export const PAGEVEC_SIZE = 14;

/**
 * The LRU lists of one node (struct lruvec, file pages only: the workloads' anon
 * pages are never reclaimed because swap is not modelled): doubly linked lists in
 * typed arrays, head = most recently added. Page flags PG_lru, PG_active,
 * PG_referenced live here too.
 */
export const LRU_INACTIVE_FILE = 0;
export const LRU_ACTIVE_FILE = 1;

export class Lru {
  /** Per-CPU lru_add_pvec. */
  private readonly lruAddPagevec: number[][];
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
  ) {
    const nframes = mem.nframes;
    const nodes = mem.nodes;
    this.lruAddPagevec = Array.from({ length: ncpus }, () => []);
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

  /** add_page_to_lru_list (at the head). */
  add(pfn: number, node: number, list: number): void {
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

  /** lru_add_drain: this CPU's pending pages onto their nodes' inactive lists. */
  lruAddDrain(cpu: Cpu): void {
    const pv = this.lruAddPagevec[cpu.id]!;
    for (const pfn of pv) this.add(pfn, this.mem.nodeOf(pfn), LRU_INACTIVE_FILE);
    pv.length = 0;
  }

  /** Pages waiting in the CPUs' LRU-add pagevecs. */
  pendingLruAdds(): number {
    let n = 0;
    for (const pv of this.lruAddPagevec) n += pv.length;
    return n;
  }
}
