/**
 * Page faults, zapping and fork's page-table copy, after mm/memory.c: handle_mm_fault →
 * handle_pte_fault → do_anonymous_page / do_fault / do_wp_page (wp_page_reuse,
 * wp_page_shared, wp_page_copy) / spurious (v5.17); zap_pte_range, which clears PTEs
 * into an mmu_gather (v5.17); wp_page_copy's and copy_page_range's mmu_notifier
 * calls (v4.15).
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_SOFTW1, pteDirty, pteHuge, pteHi, pteLo, pteNone, ptePfn, ptePresent, pteProtNone, pteMapped, pteWrite } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import { SegmentationFault, type PageCache } from "./filemap.js";
import { VM_READ, VM_SHARED, VM_WRITE, type MmStruct, type MmuGather, type Vma } from "./mm-types.js";
import type { MmuGatherOps } from "./mmu-gather.js";
import { mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { PageAlloc } from "./page-alloc.js";
import type { PteLocks } from "./ptlock.js";
import type { Rmap } from "./rmap.js";
import { HPAGE_PMD_SIZE, HugeMemory } from "./huge-memory.js";
import type { Lru } from "./swap.js";
import type { Reclaim } from "./vmscan.js";

/** _PAGE_SPECIAL (_PAGE_SOFTW1): a PTE with no struct page behind it (the zero page). */
export const _PAGE_SPECIAL = _PAGE_SOFTW1;

export class Memory {
  /** The shared zero page (ZERO_PAGE(0)). */
  readonly zeroPfn: number;
  /** Transparent huge pages (mm/huge_memory.c). */
  readonly huge: HugeMemory;

  constructor(
    private readonly k: KernelCore,
    private readonly pageAlloc: PageAlloc,
    private readonly reclaim: Reclaim,
    private readonly pageCache: PageCache,
    private readonly rmap: Rmap,
    private readonly gather: MmuGatherOps,
    /** The split PTE locks (one per PTE page). */
    readonly ptl: PteLocks,
    private readonly lru: Lru,
  ) {
    this.zeroPfn = k.machine.mem.allocKernel();
    this.huge = new HugeMemory(k, pageAlloc, rmap, lru);
  }

  /**
   * handle_mm_fault for a user fault at `va` on `cpu`, from the exception to iret, under
   * mmap_read_lock. The TLB entry for `va` was already dropped by the fault (SDM §4.10.4.1).
   */
  handleMmFault(cpu: Cpu, va: number, write: boolean): number | KGen<unknown> {
    const mm = this.k.currentMm(cpu);
    if (mm === null) throw new SegmentationFault(`CPU ${cpu.id}: user fault at ${this.k.fmtVa(va)} with no mm`);
    return this.underReadLock(cpu, mm, () => this.userFault(cpu, mm, va, write));
  }

  private userFault(cpu: Cpu, mm: MmStruct, va: number, write: boolean): number | KGen {
    const k = this.k;
    const costs = k.machine.costs;
    const vma = mm.findVma(va);
    if (vma === undefined || (write && (vma.flags & VM_WRITE) === 0) || (vma.flags & (VM_READ | VM_WRITE)) === 0) {
      // bad_area: SIGSEGV. The model's tasks handle it by skipping the access.
      k.counters.values[C.sigsegv]!++;
      k.sched.skipAccess(cpu);
      return costs.pageFaultHw + costs.faultHandler;
    }
    // A fault from user mode is a kernel entry: deferred context-tracking work runs first.
    const entry = k.kernelEntry(cpu);
    return this.handleMmFaultVma(cpu, mm, vma, va, write, entry + costs.pageFaultHw);
  }

  /**
   * handle_mm_fault(vma, address, FAULT_FLAG_REMOTE …) for another agent's fault on
   * `mm` (amd_iommu_v2's do_fault for a device page request), run by a kernel thread on
   * `cpu` under mmap_read_lock. Returns -1 for an address the device may not access.
   */
  handleMmFaultRemote(cpu: Cpu, mm: MmStruct, va: number, write: boolean): number | KGen<number | void> {
    return this.underReadLock(cpu, mm, () => {
      const vma = mm.findVma(va);
      if (vma === undefined || (write && (vma.flags & VM_WRITE) === 0) || (vma.flags & (VM_READ | VM_WRITE)) === 0) return -1;
      return this.handleMmFaultVma(cpu, mm, vma, va, write, 0);
    });
  }

  /**
   * Runs `fault` under mmap_read_lock(mm). Uncontended, a fault that waits for nothing
   * stays a plain number of cycles; otherwise it becomes a path that waits for the lock
   * and releases it at its end.
   */
  private underReadLock(cpu: Cpu, mm: MmStruct, fault: () => number | KGen): number | KGen<number | void> {
    const lock = mm.mmapLock;
    if (!lock.tryDownRead()) return this.waitForReadLock(cpu, mm, fault);
    let r: number | KGen;
    try {
      r = fault();
    } catch (e) {
      lock.upRead(cpu);
      throw e;
    }
    if (typeof r === "number") {
      lock.upRead(cpu);
      return r;
    }
    return this.releasingAfter(cpu, mm, r);
  }

  private *releasingAfter(cpu: Cpu, mm: MmStruct, path: KGen): KGen {
    try {
      yield* path;
    } finally {
      mm.mmapLock.upRead(cpu);
    }
  }

  /** The contended case: waits for the lock; returns the fault's cycles when it waited for nothing else (-1: refused). */
  private *waitForReadLock(cpu: Cpu, mm: MmStruct, fault: () => number | KGen): KGen<number | void> {
    yield* mm.mmapLock.downRead(cpu);
    try {
      const r = fault();
      if (typeof r !== "number") return yield* r;
      if (r > 0) yield r;
      return r;
    } finally {
      mm.mmapLock.upRead(cpu);
    }
  }

  /** handle_mm_fault below the VMA lookup: __handle_mm_fault → handle_pte_fault. */
  private handleMmFaultVma(cpu: Cpu, mm: MmStruct, vma: Vma, va: number, write: boolean, cost0: number, ptlHeld = false): number | KGen {
    const k = this.k;
    const m = k.machine;
    const costs = m.costs;
    const values = k.counters.values;
    const addr = va - (va % 4096);
    const huge = this.huge;
    if (huge.active) {
      // __handle_mm_fault (v5.17): a huge PMD is handled at its level; a none PMD in a
      // suitable VMA gets a huge page (create_huge_pmd → do_huge_pmd_anonymous_page).
      const pmdOff = k.pgtables.pmdOffset(mm.pgd, addr);
      const pw = m.mem.words;
      if (pmdOff >= 0 && pteHuge(pw[pmdOff]!, 0)) return huge.hugePmdFault(cpu, mm, vma, addr, pmdOff, write, cost0 + costs.faultHandler);
      if ((pmdOff < 0 || (pw[pmdOff] === 0 && pw[pmdOff + 1] === 0)) && huge.vmaSuitable(vma, addr - (addr % HPAGE_PMD_SIZE))) {
        const hoff = k.pgtables.pmdOffsetAlloc(mm, addr);
        cost0 += k.pgtables.lastAllocated * costs.ptAlloc;
        const r = huge.doHugePmdAnonymousPage(cpu, mm, vma, addr, hoff);
        if (r >= 0) return cost0 + costs.faultHandler + r;
      }
    }
    const off = k.pgtables.pteOffsetAlloc(mm, addr);
    let cost = cost0 + costs.faultHandler + k.pgtables.lastAllocated * costs.ptAlloc;
    // pte_offset_map_lock: another path holds this PTE page's lock (a COW between its
    // clear and its new PTE, reclaim unmapping a page): spin until it is released; the
    // access then faults again and sees what that path left.
    if (!ptlHeld && this.ptl.held(off)) return this.spinOnPtl(cpu, mm, vma, va, write, off, cost);
    const words = m.mem.words;
    const lo = words[off]!;
    const hi = words[off + 1]!;
    if (pteNone(lo, hi) && vma.file !== null) {
      const r = this.doFault(cpu, mm, vma, addr, off, write, cost);
      // No page without reclaim: reclaim directly, and the access faults again.
      return r >= 0 ? r : this.reclaim.directReclaimForFault(cpu, cost);
    }
    if (pteNone(lo, hi)) {
      // do_anonymous_page
      values[C.pgfault_anon]!++;
      if (!write) {
        // Read fault: map the shared zero page read-only (my_zero_pfn, pte_mkspecial).
        values[C.pgfault_zero_page]!++;
        words[off] = pteLo(this.zeroPfn, (vma.protLo & ~_PAGE_RW) | _PAGE_SPECIAL);
        words[off + 1] = pteHi(this.zeroPfn, vma.protHi);
        return cost;
      }
      const page = this.pageAlloc.tryAllocPage(cpu, FrameState.USER);
      if (page < 0) return this.reclaim.directReclaimForFault(cpu, cost);
      values[C.pages_allocated]!++;
      m.mem.mapcount[page] = 1;
      this.rmap.add(page, mm, addr); // page_add_new_anon_rmap
      mm.rss++;
      // mk_pte(page, vm_page_prot); pte_mkwrite(pte_mkdirty()) when VM_WRITE.
      words[off] = pteLo(page, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
      words[off + 1] = pteHi(page, vma.protHi);
      return cost + costs.allocZeroPage;
    }
    if (!ptePresent(lo, hi)) {
      throw new SegmentationFault(`${pteProtNone(lo, hi) ? "faults on PROT_NONE entries" : "swap entries"} are not modelled (${k.fmtVa(va)})`);
    }
    if (write && !pteWrite(lo, hi)) return this.doWpPage(cpu, mm, vma, addr, off, cost);
    // The PTE already allows the access: a stale TLB entry after a promotion. x86's
    // flush_tlb_fix_spurious_fault is empty: the #PF itself dropped the entry.
    values[C.pgfault_spurious]!++;
    words[off] = (lo | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0)) >>> 0;
    return cost;
  }

  /**
   * A fault that found the PTE page's lock held: spin until this CPU gets it, then go on
   * with the fault from there, on the page tables as the holder left them.
   */
  private *spinOnPtl(cpu: Cpu, mm: MmStruct, vma: Vma, va: number, write: boolean, off: number, cost: number): KGen {
    yield cost;
    yield* this.ptl.lock(cpu, off);
    // The fault's PTE work under the lock; a path that waits (a COW copy, reclaim) takes
    // the lock again itself and rechecks the PTE (pte_same), so it runs after the unlock.
    let r: number | KGen;
    try {
      r = this.handleMmFaultVma(cpu, mm, vma, va, write, 0, true);
    } finally {
      this.ptl.unlock(cpu, off);
    }
    if (typeof r === "number") {
      if (r > 0) yield r;
    } else yield* r;
  }

  /** do_fault: do_read_fault, do_cow_fault or do_shared_fault. Returns -1 when no page could be had. */
  private doFault(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, write: boolean, cost: number): number {
    const k = this.k;
    const m = k.machine;
    const values = k.counters.values;
    const [page, fill] = this.pageCache.filemapFault(cpu, vma.file!, vma.pageIndex(addr));
    if (page < 0) return -1;
    cost += fill;
    values[C.pgfault_file]!++;
    const shared = (vma.flags & VM_SHARED) !== 0;
    if (write && !shared) {
      // do_cow_fault: a private copy of the file page.
      const anon = this.pageAlloc.tryAllocPage(cpu, FrameState.USER);
      if (anon < 0) return -1;
      values[C.pgfault_cow]!++;
      values[C.pages_allocated]!++;
      m.mem.mapcount[anon] = 1;
      this.rmap.add(anon, mm, addr); // page_add_new_anon_rmap
      mm.rss++;
      const w = m.mem.words;
      w[off] = pteLo(anon, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
      w[off + 1] = pteHi(anon, vma.protHi);
      return cost + m.costs.copyPage;
    }
    // do_read_fault / do_shared_fault: map the page-cache page itself (page_add_file_rmap).
    m.mem.mapcount[page]!++;
    this.rmap.add(page, mm, addr);
    mm.rss++;
    const w = m.mem.words;
    const flags = write ? vma.protLo | _PAGE_DIRTY | _PAGE_ACCESSED : vma.protLo;
    w[off] = pteLo(page, flags);
    w[off + 1] = pteHi(page, vma.protHi);
    if (write) m.mem.pageDirty[page] = 1;
    return cost;
  }

  /** do_wp_page: reuse an exclusive anonymous page, make a shared file page writable, or copy (COW). */
  private doWpPage(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, cost: number): number | KGen {
    const k = this.k;
    const mem = k.machine.mem;
    const words = mem.words;
    const lo = words[off]!;
    const hi = words[off + 1]!;
    const old = ptePfn(lo, hi);
    const special = (lo & _PAGE_SPECIAL) !== 0;
    if (!special && mem.state[old] === FrameState.PAGECACHE && (vma.flags & VM_SHARED) !== 0) {
      // wp_page_shared: the shared file page becomes writable and dirty, no flush.
      k.counters.values[C.pgfault_wp_reuse]!++;
      words[off] = (lo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
      mem.pageDirty[old] = 1;
      return cost;
    }
    if (!special && mem.state[old] === FrameState.USER && mem.mapcount[old] === 1) {
      // wp_page_reuse: promotion, no flush needed on x86 (ptep_set_access_flags).
      k.counters.values[C.pgfault_wp_reuse]!++;
      words[off] = (lo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
      return cost;
    }
    return this.wpPageCopy(cpu, mm, vma, addr, off, cost, old, special);
  }

  /**
   * wp_page_copy (v4.15): copy into a new page; mmu_notifier_invalidate_range_start; under
   * the PTL, ptep_clear_flush_notify (clear, flush the CPUs, invalidate_range), the new
   * PTE (set_pte_at_notify), page_remove_rmap of the old page; unlock; range_end, or
   * range_only_end with seed 004; then the old page's reference is dropped.
   */
  private *wpPageCopy(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, cost: number, old: number, special: boolean): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const values = k.counters.values;
    const notify = k.policies.secondaryTlbNotify;
    values[C.pgfault_cow]!++;
    const page = mem.alloc(FrameState.USER);
    values[C.pages_allocated]!++;
    mem.mapcount[page] = 1;
    cost += special ? m.costs.allocZeroPage : m.costs.copyPage;
    const origLo = mem.words[off]!;
    const origHi = mem.words[off + 1]!;
    cost += mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, addr, addr + 4096);
    yield cost;
    // pte_offset_map_lock, then pte_same(*vmf->pte, vmf->orig_pte): another fault on this
    // PTE got there first; drop the copy (the access faults again if it must).
    const w1 = mem.words;
    if (this.ptl.held(off) || w1[off] !== origLo || w1[off + 1] !== origHi) {
      mem.mapcount[page] = 0;
      mem.free(page, "wp_page_copy (PTE changed meanwhile)", m.now);
      values[C.pages_freed]!++;
      const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, addr, addr + 4096, notify.onlyEnd("wp_page_copy"));
      if (e > 0) yield e;
      return;
    }
    this.ptl.tryLock(cpu, off);
    // ptep_clear_flush_notify (or plain ptep_clear_flush): clear, flush the old translation everywhere.
    const w2 = mem.words;
    w2[off] = 0;
    w2[off + 1] = 0;
    yield* k.flushTlbPage(cpu, mm, addr);
    if (notify.clearNotifies("wp_page_copy")) {
      const c = mmuNotifierInvalidateRange(k.counters, cpu, mm, addr, addr + 4096);
      if (c > 0) yield c;
    }
    const w3 = mem.words;
    w3[off] = pteLo(page, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
    w3[off + 1] = pteHi(page, vma.protHi);
    this.rmap.add(page, mm, addr); // page_add_new_anon_rmap
    if (mm.notifiers.length > 0) m.watch.pageReplaced(mm.pgd, addr, "wp_page_copy");
    if (!special) this.rmap.remove(old, mm, addr); // page_remove_rmap(old_page)
    this.ptl.unlock(cpu, off);
    const lastMap = !special && --mem.mapcount[old]! === 0;
    if (special) mm.rss++;
    const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, addr, addr + 4096, notify.onlyEnd("wp_page_copy"));
    if (e > 0) yield e;
    // put_page(old_page) after range_end: freed if that was its last mapping (and reclaim
    // does not hold it isolated: then reclaim frees it).
    if (lastMap && mem.state[old] === FrameState.USER && mem.mapcount[old] === 0 && this.lru.releasePage(old)) {
      mem.free(old, "wp_page_copy (COW)", m.now);
      values[C.pages_freed]!++;
    }
  }

  /**
   * unmap_page_range → zap_pte_range over [start, end) of `vma`: per PTE page, under its
   * lock (pte_offset_map_lock), flush_tlb_batched_pending (3ea277194daa, v4.13), then
   * clear each PTE (ptep_get_and_clear_full), record it in the gather
   * (tlb_remove_tlb_entry), move D to a file page (set_page_dirty: an anonymous page
   * being freed needs none), drop the mapping (page_remove_rmap), and gather the page if
   * it was the last.
   * Returns how many PTEs were zapped; when the gather batch is full it flushes under the
   * PTE lock, frees, and takes the lock again (force_flush, `goto again`).
   */
  *zapPageRange(cpu: Cpu, tlb: MmuGather, vma: Vma, start: number, end: number): KGen<number> {
    if (vma.start > start || vma.end < end) throw new Error("zapPageRange: range outside the VMA");
    const k = this.k;
    let zapped = 0;
    // zap_pmd_range: one PTE page (2 MiB of addresses) at a time.
    for (let addr = start; addr < end; ) {
      const next = Math.min(end, addr - (addr % 2097152) + 2097152);
      let off = k.pgtables.pteOffset(tlb.mm.pgd, addr);
      if (off < 0 && this.huge.active && this.huge.hugePmdOffset(tlb.mm, addr) >= 0) {
        // zap_pmd_range (v5.17): a huge PMD wholly in the range is zap_huge_pmd; one the
        // range covers in part is split first.
        if (next - addr === HPAGE_PMD_SIZE) {
          yield k.machine.costs.zapPte;
          if (this.huge.zapHugePmd(tlb, addr, this.huge.hugePmdOffset(tlb.mm, addr))) yield* this.gather.tlbFlushMmu(cpu, tlb);
          zapped += 512;
          addr = next;
          continue;
        }
        yield* this.huge.splitHugePmd(cpu, tlb.mm, vma, addr - (addr % HPAGE_PMD_SIZE));
        off = k.pgtables.pteOffset(tlb.mm.pgd, addr);
      }
      if (off >= 0) zapped += yield* this.zapPteRange(cpu, tlb, addr, next, off);
      addr = next;
    }
    return zapped;
  }

  /**
   * zap_pte_range over [start, end) of one PTE page (`off0`: the first PTE's word
   * offset), under that page's lock. force_flush (1cf35d47712d, v3.15; still in v5.17):
   * a dirty PTE of a file page is flushed before the lock is dropped, so that writeback
   * (page_mkclean, which takes this lock) never starts while a CPU can still write
   * through the old entry; the pages are freed later, with the gather.
   */
  private *zapPteRange(cpu: Cpu, tlb: MmuGather, start: number, end: number, off0: number): KGen<number> {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const mm = tlb.mm;
    const ptl = this.ptl;
    let zapped = 0;
    let cost = 0;
    let forceFlush = false;
    // A word offset in the PTE page whose lock this walk holds, or -1.
    let locked = -1;
    try {
      // pte_offset_map_lock, then flush_tlb_batched_pending under it (3ea277194daa).
      if (yield* ptl.walkEnter(cpu, -1, off0, 0, mm, k.policies.batchedPendingFlush)) cost = 0;
      locked = off0;
      for (let addr = start, off = off0; addr < end; addr += 4096, off += 2) {
        const words = mem.words;
        const lo = words[off]!;
        const hi = words[off + 1]!;
        if (pteNone(lo, hi)) continue;
        words[off] = 0;
        words[off + 1] = 0;
        zapped++;
        cost += m.costs.zapPte;
        tlb.flushPteRange(addr, 4096);
        if ((lo & _PAGE_SPECIAL) !== 0) continue; // vm_normal_page() == NULL
        const pfn = ptePfn(lo, hi);
        const anon = mem.state[pfn] === FrameState.USER;
        if (!anon && pteDirty(lo, hi)) {
          mem.pageDirty[pfn] = 1; // if (!PageAnon(page)) set_page_dirty
          forceFlush = true;
        }
        mm.rss--;
        this.rmap.remove(pfn, mm, addr); // page_remove_rmap
        let full = false;
        if (!anon) {
          // __tlb_remove_page: the gather keeps a reference to the page-cache page until
          // its flush, so reclaim cannot free it while a CPU may still reach it.
          this.lru.gatherRefs[pfn]!++;
          full = tlb.removeCachePage(pfn);
        }
        // A page-cache page stays cached when its last mapping goes; an anonymous page is
        // gathered, and freed after the flush.
        if (--mem.mapcount[pfn]! === 0 && anon) {
          this.lru.pageGathered(pfn);
          full = tlb.removePage(pfn);
        }
        if (full) {
          yield cost;
          cost = 0;
          yield* this.gather.tlbFlushMmu(cpu, tlb);
        }
      }
      if (cost > 0) yield cost;
      if (forceFlush) yield* this.gather.tlbFlush(cpu, tlb);
    } finally {
      if (locked >= 0) ptl.unlock(cpu, locked);
    }
    return zapped;
  }

  /**
   * copy_page_range → copy_pte_range → copy_one_pte over one VMA of fork (v4.15):
   * private writable PTEs are write-protected in both mms (COW) inside a notifier
   * range on the parent. The pages write-protected are pushed to `protectedPages`.
   */
  *copyPageRange(cpu: Cpu, dst: MmStruct, src: MmStruct, vma: Vma, protectedPages: number[]): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const isCow = (vma.flags & VM_SHARED) === 0; // is_cow_mapping: private and may be written
    let cost = isCow ? mmuNotifierInvalidateRangeStart(k.counters, cpu, src, vma.start, vma.end) : 0;
    for (let addr = vma.start; addr < vma.end; addr += 4096) {
      const soff = k.pgtables.pteOffset(src.pgd, addr);
      if (soff < 0) {
        // copy_pmd_range: a huge PMD is copy_huge_pmd.
        const hoff = this.huge.hugePmdOffset(src, addr);
        if (hoff >= 0) cost += this.huge.copyHugePmd(dst, addr - (addr % HPAGE_PMD_SIZE), hoff, isCow, protectedPages);
        const next = addr - (addr % 2097152) + 2097152 - 4096;
        if (next > addr) addr = next;
        continue;
      }
      const words = mem.words;
      let lo = words[soff]!;
      const hi = words[soff + 1]!;
      if (!pteMapped(lo, hi)) continue; // pte_present (PROT_NONE included); swap entries are not modelled
      cost += m.costs.copyPte;
      if (isCow && pteWrite(lo, hi)) {
        // ptep_set_wrprotect(src_mm, addr, src_pte); pte = pte_wrprotect(pte)
        lo = (lo & ~_PAGE_RW) >>> 0;
        words[soff] = lo;
        protectedPages.push(ptePfn(lo, hi));
      }
      let clo = (lo & ~_PAGE_ACCESSED) >>> 0; // pte_mkold
      if ((vma.flags & VM_SHARED) !== 0) clo = (clo & ~_PAGE_DIRTY) >>> 0; // pte_mkclean
      const doff = k.pgtables.pteOffsetAlloc(dst, addr);
      cost += k.pgtables.lastAllocated * m.costs.ptAlloc;
      const w = mem.words;
      w[doff] = clo;
      w[doff + 1] = hi;
      if ((lo & _PAGE_SPECIAL) !== 0) continue; // vm_normal_page() == NULL: the zero page
      const pfn = ptePfn(lo, hi);
      mem.mapcount[pfn]!++; // page_dup_rmap
      dst.rss++;
      this.rmap.add(pfn, dst, addr);
    }
    if (isCow) cost += mmuNotifierInvalidateRangeEnd(k.counters, cpu, src, vma.start, vma.end, k.policies.secondaryTlbNotify.onlyEnd("copy_page_range"));
    if (cost > 0) yield cost;
  }
}
