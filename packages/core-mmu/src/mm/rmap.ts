/**
 * Reverse mappings, after mm/rmap.c (v4.2; file pages: the i_mmap tree walked by
 * rmap_walk_file; anonymous pages: the anon_vma walked by rmap_walk_anon), as per-frame
 * linked lists in typed arrays: which (mm, address) pairs map each frame. Added by the
 * fault path (page_add_file_rmap, page_add_new_anon_rmap) and fork (page_dup_rmap),
 * removed by zap, COW and try_to_unmap (page_remove_rmap). page_referenced and
 * try_to_unmap_one walk them; try_to_unmap_one's flush goes through the UnmapFlush point,
 * it discards or keeps MADV_FREE's lazyfree pages as v4.13 does, and its mmu_notifier
 * calls (range_start/range_end around the walk, invalidate_range under the PTL for an
 * anonymous page) are v4.15's.
 */
import type { Cpu } from "../hw/cpu.js";
import { _PAGE_ACCESSED, pteDirty, ptePfn, pteMapped, pteYoung } from "../hw/pte.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import { storeDense } from "./dense-array.js";
import type { MmStruct, TlbUbc } from "./mm-types.js";
import { mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { PteLocks } from "./ptlock.js";

export class Rmap {
  private readonly head: Int32Array;
  private mmOf: Int32Array;
  private vaOf: Float64Array;
  private next: Int32Array;
  private freeNode = -1;
  private used = 0;
  /** Every mm that ever mapped a page, by id (ids are dense, from KernelCore.mmAlloc): an array (storeDense), not a Map, as `mmOf` is read on every rmap walk. */
  private readonly mmsById: (MmStruct | undefined)[] = [];

  constructor(
    private readonly k: KernelCore,
    private readonly ptl: PteLocks,
  ) {
    const nframes = k.machine.mem.nframes;
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

  /** page_add_file_rmap, page_add_new_anon_rmap, page_dup_rmap */
  add(pfn: number, mm: MmStruct, va: number): void {
    const n = this.newNode();
    this.mmOf[n] = mm.id;
    this.vaOf[n] = va;
    this.next[n] = this.head[pfn]!;
    this.head[pfn] = n;
    if (this.mmsById[mm.id] !== mm) storeDense(this.mmsById, mm.id, mm);
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
    for (let n = this.head[pfn]!; n >= 0; n = this.next[n]!) fn(this.mmsById[this.mmOf[n]!]!, this.vaOf[n]!);
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

  /** page_referenced: walk the rmap, test-and-clear each young PTE (no flush on x86). Returns how many were young. */
  pageReferenced(pfn: number): number {
    const w = this.k.machine.mem.words;
    const pgtables = this.k.pgtables;
    let refs = 0;
    for (let n = this.head[pfn]!; n >= 0; n = this.next[n]!) {
      const off = pgtables.pteOffset(this.mmsById[this.mmOf[n]!]!.pgd, this.vaOf[n]!);
      if (off < 0) continue;
      const lo = w[off]!;
      if (pteMapped(lo, 0) && pteYoung(lo, 0)) {
        w[off] = (lo & ~_PAGE_ACCESSED) >>> 0;
        refs++;
      }
    }
    return refs;
  }

  /**
   * try_to_unmap → try_to_unmap_one for every mapping of the page (TTU_BATCH_FLUSH).
   * Returns false when a mapping had to stay (a lazyfree page written since MADV_FREE):
   * the walk stops there, as rmap_walk does when try_to_unmap_one returns false.
   */
  *tryToUnmap(cpu: Cpu, pfn: number, ubc: TlbUbc): KGen<boolean> {
    const first = this.head[pfn]!;
    if (first >= 0 && this.next[first]! < 0) {
      // One mapping (a file page read by one process): no list to copy.
      return yield* this.tryToUnmapOne(cpu, pfn, this.mmsById[this.mmOf[first]!]!, this.vaOf[first]!, ubc);
    }
    for (const { mm, va } of this.list(pfn)) {
      if (!(yield* this.tryToUnmapOne(cpu, pfn, mm, va, ubc))) return false;
    }
    return true;
  }

  /**
   * try_to_unmap_one (v4.15 mm/rmap.c, the flush through the UnmapFlush point): the
   * notifier range end = min(vma->vm_end, start + (PAGE_SIZE << compound_order(page)))
   * opens before page_vma_mapped_walk (mmu_notifier_invalidate_range_start) and closes
   * after it, the PTL dropped (mmu_notifier_invalidate_range_end). In between, under the
   * PTE page's lock (page_vma_mapped_walk), clear the PTE; without deferral,
   * ptep_clear_flush (an immediate flush_tlb_page); move D to the page; drop the rmap.
   * Returns false when the mapping stays.
   */
  private *tryToUnmapOne(cpu: Cpu, pfn: number, mm: MmStruct, va: number, ubc: TlbUbc): KGen<boolean> {
    const k = this.k;
    // The model reclaims 4 KiB pages only: compound_order(page) is 0.
    const start = va;
    const end = va + 4096;
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, start, end);
    if (ns > 0) yield ns;
    let ret = true;
    const off = k.pgtables.pteOffset(mm.pgd, va);
    // A missing table or a PTE changed while this CPU spun: page_vma_mapped_walk finds nothing.
    let locked = off >= 0;
    if (locked && !this.ptl.tryLock(cpu, off)) {
      yield* this.ptl.lock(cpu, off);
      if (k.pgtables.pteOffset(mm.pgd, va) !== off) {
        this.ptl.unlock(cpu, off);
        locked = false;
      }
    }
    if (locked) {
      try {
        ret = yield* this.unmapLocked(cpu, pfn, mm, va, off, ubc);
      } finally {
        this.ptl.unlock(cpu, off);
      }
    }
    // Not converted by seed 004: range_end calls invalidate_range again (unless a policy says only_end).
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, start, end, k.policies.secondaryTlbNotify.onlyEnd("try_to_unmap_one"));
    if (ne > 0) yield ne;
    return ret;
  }

  private *unmapLocked(cpu: Cpu, pfn: number, mm: MmStruct, va: number, off: number, ubc: TlbUbc): KGen<boolean> {
    const k = this.k;
    const mem = k.machine.mem;
    const w = mem.words;
    const lo = w[off]!;
    const hi = w[off + 1]!;
    if (!pteMapped(lo, hi) || ptePfn(lo, hi) !== pfn) return true;
    w[off] = 0;
    w[off + 1] = 0;
    const dirty = pteDirty(lo, hi);
    yield k.machine.costs.zapPte;
    const policy = k.policies.unmapFlush;
    if (policy.shouldDeferFlush(cpu, mm, true)) {
      yield* policy.deferredUnmap(cpu, mm, va, dirty, ubc);
    } else {
      // ptep_clear_flush → flush_tlb_page
      yield* k.flushTlbPage(cpu, mm, va);
    }
    // Move the dirty bit to the page (set_page_dirty).
    if (dirty) mem.pageDirty[pfn] = 1;
    if (mem.lazyfree[pfn] === 1) {
      // PageAnon && !PageSwapBacked: the MADV_FREE page check (v4.13).
      if (mem.pageDirty[pfn] === 1) {
        // The page was written since MADV_FREE cleaned it. It cannot be discarded: put
        // the PTE back (set_pte_at(pteval)) and make the page swap-backed again
        // (SetPageSwapBacked); the walk stops (ret = false).
        w[off] = lo;
        w[off + 1] = hi;
        mem.lazyfree[pfn] = 0;
        return false;
      }
      // A clean lazyfree page is discarded: "Invalidate as we cleared the pte" under the
      // PTL, before the page can be freed (0f10851ea475, v4.15); dec_mm_counter; goto discard.
      if (mm.notifiers.length > 0 && k.policies.secondaryTlbNotify.clearNotifies("try_to_unmap_one")) {
        const c = mmuNotifierInvalidateRange(k.counters, cpu, mm, va, va + 4096);
        if (c > 0) yield c;
      }
    }
    // Otherwise a file page (dec_mm_counter(mm_counter_file)): no invalidate_range under
    // the PTL. The page is locked and stays in the page cache until range_end has called
    // invalidate_range, so no thread can map a new page there meanwhile (v4.15).
    // discard: page_remove_rmap, put_page.
    this.remove(pfn, mm, va);
    mem.mapcount[pfn]!--;
    mm.rss--;
    return true;
  }
}
