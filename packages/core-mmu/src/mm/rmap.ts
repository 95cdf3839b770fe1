/**
 * Reverse mappings of page-cache pages (mm/rmap.c, file pages: the i_mmap tree
 * walked by rmap_walk_file), as per-frame linked lists in typed arrays: which
 * (mm, address) pairs map each frame. Added by the fault path
 * (page_add_file_rmap), removed by zap and by try_to_unmap (page_remove_rmap).
 */
import type { MmStruct } from "./mm-types.js";

export class Rmap {
  private readonly head: Int32Array;
  private mmOf: Int32Array;
  private vaOf: Float64Array;
  private next: Int32Array;
  private freeNode = -1;
  private used = 0;
  private readonly mmsById = new Map<number, MmStruct>();

  constructor(nframes: number) {
    this.head = new Int32Array(nframes).fill(-1);
    this.mmOf = new Int32Array(1024);
    this.vaOf = new Float64Array(1024);
    this.next = new Int32Array(1024);
  }

  private newNode(): number {
    if (this.freeNode >= 0) {
      const n = this.freeNode;
      this.freeNode = this.next[n]!;
      return n;
    }
    if (this.used === this.next.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.mmOf = grow(this.mmOf);
      this.vaOf = grow(this.vaOf);
      this.next = grow(this.next);
    }
    return this.used++;
  }

  /** page_add_file_rmap */
  add(pfn: number, mm: MmStruct, va: number): void {
    const n = this.newNode();
    this.mmOf[n] = mm.id;
    this.vaOf[n] = va;
    this.next[n] = this.head[pfn]!;
    this.head[pfn] = n;
    this.mmsById.set(mm.id, mm);
  }

  /** page_remove_rmap */
  remove(pfn: number, mm: MmStruct, va: number): void {
    let prev = -1;
    for (let n = this.head[pfn]!; n >= 0; prev = n, n = this.next[n]!) {
      if (this.mmOf[n] === mm.id && this.vaOf[n] === va) {
        if (prev < 0) this.head[pfn] = this.next[n]!;
        else this.next[prev] = this.next[n]!;
        this.next[n] = this.freeNode;
        this.freeNode = n;
        return;
      }
    }
  }

  /** rmap_walk: calls `fn(mm, va)` for each mapping (the callback must not change this frame's list). */
  forEach(pfn: number, fn: (mm: MmStruct, va: number) => void): void {
    for (let n = this.head[pfn]!; n >= 0; n = this.next[n]!) fn(this.mmsById.get(this.mmOf[n]!)!, this.vaOf[n]!);
  }

  /** The mappings of `pfn`, as a list (for walks that change them). */
  list(pfn: number): { mm: MmStruct; va: number }[] {
    const out: { mm: MmStruct; va: number }[] = [];
    this.forEach(pfn, (mm, va) => out.push({ mm, va }));
    return out;
  }

  mapped(pfn: number): boolean {
    return this.head[pfn]! >= 0;
  }

  forgetMm(mm: MmStruct): void {
    this.mmsById.delete(mm.id);
  }
}

/**
 * The LRU lists of one node (struct lruvec, file pages only: the workloads' anon
 * pages are never reclaimed because swap is not modelled): doubly linked lists in
 * typed arrays, head = most recently added. Page flags PG_lru, PG_active,
 * PG_referenced live here too.
 */
export const LRU_INACTIVE_FILE = 0;
export const LRU_ACTIVE_FILE = 1;

export class Lru {
  readonly prev: Int32Array;
  readonly next: Int32Array;
  /** Which list a frame is on: -1 none, else LRU_* (PG_lru and PG_active). */
  readonly on: Int8Array;
  readonly referenced: Uint8Array;
  /** [node * 2 + list]: head and tail frame, and size. */
  private readonly heads: Int32Array;
  private readonly tails: Int32Array;
  readonly sizes: Int32Array;

  constructor(nframes: number, nodes: number) {
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
}
