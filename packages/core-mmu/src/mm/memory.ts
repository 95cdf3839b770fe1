/**
 * Page faults and zapping, after mm/memory.c (v5.17): handle_mm_fault →
 * handle_pte_fault → do_anonymous_page / do_wp_page (wp_page_reuse, wp_page_copy) /
 * spurious; and zap_pte_range / unmap_page_range, which clear PTEs into an mmu_gather.
 */
import { CpuMode, type Cpu, type KGen } from "../hw/cpu.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_SOFTW1, ptePfn, pteHi, pteLo } from "../hw/pte.js";
import { C } from "../oracle/counters.js";
import type { Kernel } from "./kernel.js";
import { VM_READ, VM_SHARED, VM_WRITE, type FileMapping, type MmStruct, type Vma } from "./mm-types.js";
import type { MmuGather } from "./mmu-gather.js";
import { mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";

/** _PAGE_SPECIAL (_PAGE_SOFTW1): a PTE with no struct page behind it (the zero page). */
export const _PAGE_SPECIAL = _PAGE_SOFTW1;

/** A fault the model cannot serve: the workload touched memory it has not mapped. */
export class SegmentationFault extends Error {
  override readonly name = "SegmentationFault";
}

/**
 * handle_mm_fault for a user fault at `va` on `cpu`, from the exception to iret.
 * The TLB entry for `va` was already dropped by the fault (SDM §4.10.4.1).
 */
export function handleMmFault(k: Kernel, cpu: Cpu, va: number, write: boolean): number | KGen {
  const m = k.m;
  const costs = m.costs;
  const mm = cpu.currentMm;
  if (mm === null) throw new SegmentationFault(`CPU ${cpu.id}: user fault at ${k.fmtVa(va)} with no mm`);
  const vma = mm.findVma(va);
  if (vma === undefined || (write && (vma.flags & VM_WRITE) === 0) || (vma.flags & (VM_READ | VM_WRITE)) === 0) {
    // bad_area: SIGSEGV. The model's tasks handle it by skipping the access.
    m.counters.values[C.sigsegv]!++;
    m.skipAccess(cpu);
    return costs.pageFaultHw + costs.faultHandler;
  }
  // A fault from user mode is a kernel entry: deferred context-tracking work runs first.
  const entry = k.kernelEntry(cpu);
  return handleMmFaultVma(k, cpu, mm, vma, va, write, entry + costs.pageFaultHw);
}

/**
 * handle_mm_fault(vma, address, FAULT_FLAG_REMOTE …) for another agent's fault on
 * `mm` (amd_iommu_v2's do_fault for a device page request), run by a kernel thread on
 * `cpu`. Returns -1 for an address the device may not access (the request fails).
 */
export function handleMmFaultRemote(k: Kernel, cpu: Cpu, mm: MmStruct, va: number, write: boolean): number | KGen {
  const vma = mm.findVma(va);
  if (vma === undefined || (write && (vma.flags & VM_WRITE) === 0) || (vma.flags & (VM_READ | VM_WRITE)) === 0) return -1;
  return handleMmFaultVma(k, cpu, mm, vma, va, write, 0);
}

/** handle_mm_fault below the VMA lookup: __handle_mm_fault → handle_pte_fault. */
function handleMmFaultVma(k: Kernel, cpu: Cpu, mm: MmStruct, vma: Vma, va: number, write: boolean, cost0: number): number | KGen {
  const m = k.m;
  const costs = m.costs;
  const addr = va - (va % 4096);
  const off = k.pgtables.pteOffsetAlloc(mm, addr);
  let cost = cost0 + costs.faultHandler + k.pgtables.lastAllocated * costs.ptAlloc;
  // pte_offset_map_lock: another path holds this PTE's lock (a COW between its clear
  // and its new PTE): spin, and the access faults again once it is released.
  if (k.ptlHeld.has(off)) return cost + costs.spinLockUncontended;
  const words = m.mem.words;
  const lo = words[off]!;
  const hi = words[off + 1]!;
  if (lo === 0 && hi === 0 && vma.file !== null) {
    const r = doFault(k, cpu, mm, vma, addr, off, write, cost);
    // No page without reclaim: reclaim directly, and the access faults again.
    return r >= 0 ? r : k.reclaim.directReclaimForFault(cpu, cost);
  }
  if (lo === 0 && hi === 0) {
    // do_anonymous_page
    m.counters.values[C.pgfault_anon]!++;
    if (!write) {
      // Read fault: map the shared zero page read-only (my_zero_pfn, pte_mkspecial).
      m.counters.values[C.pgfault_zero_page]!++;
      words[off] = pteLo(k.zeroPfn, (vma.protLo & ~_PAGE_RW) | _PAGE_SPECIAL);
      words[off + 1] = pteHi(k.zeroPfn, vma.protHi);
      return cost;
    }
    const page = k.reclaim.tryAllocPage(cpu, FrameState.USER);
    if (page < 0) return k.reclaim.directReclaimForFault(cpu, cost);
    m.counters.values[C.pages_allocated]!++;
    m.mem.mapcount[page] = 1;
    mm.rss++;
    // mk_pte(page, vm_page_prot); pte_mkwrite(pte_mkdirty()) when VM_WRITE.
    words[off] = pteLo(page, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
    words[off + 1] = pteHi(page, vma.protHi);
    return cost + costs.allocZeroPage;
  }
  if ((lo & _PAGE_PRESENT) === 0) throw new SegmentationFault(`swap entries are not modelled (${k.fmtVa(va)})`);
  if (write && (lo & _PAGE_RW) === 0) return doWpPage(k, cpu, mm, vma, addr, off, cost);
  // The PTE already allows the access: a stale TLB entry after a promotion. x86's
  // flush_tlb_fix_spurious_fault is empty: the #PF itself dropped the entry.
  m.counters.values[C.pgfault_spurious]!++;
  words[off] = (lo | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0)) >>> 0;
  return cost;
}

/**
 * filemap_fault: the page-cache page for `index`, filled (zeroes: a sparse file) if it
 * was not cached. Returns the frame and the cycles it took.
 */
export function filemapFault(k: Kernel, cpu: Cpu, file: FileMapping, index: number): [pfn: number, cycles: number] {
  const m = k.m;
  if (index >= file.sizePages) throw new SegmentationFault(`access beyond the end of file ${file.id} (page ${index})`);
  const cached = file.pages[index]!;
  if (cached >= 0) return [cached, 0];
  const pfn = k.reclaim.tryAllocPage(cpu, FrameState.PAGECACHE);
  if (pfn < 0) return [-1, 0];
  m.counters.values[C.pgcache_fill]!++;
  k.addToPageCacheLru(cpu, file, index, pfn);
  return [pfn, m.costs.allocZeroPage];
}

/** do_fault: do_read_fault, do_cow_fault or do_shared_fault (mm/memory.c). */
function doFault(k: Kernel, cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, write: boolean, cost: number): number {
  const m = k.m;
  const [page, fill] = filemapFault(k, cpu, vma.file!, vma.pageIndex(addr));
  if (page < 0) return -1;
  cost += fill;
  m.counters.values[C.pgfault_file]!++;
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (write && !shared) {
    // do_cow_fault: a private copy of the file page.
    const anon = k.reclaim.tryAllocPage(cpu, FrameState.USER);
    if (anon < 0) return -1;
    m.counters.values[C.pgfault_cow]!++;
    m.counters.values[C.pages_allocated]!++;
    m.mem.mapcount[anon] = 1;
    mm.rss++;
    const w = m.mem.words;
    w[off] = pteLo(anon, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
    w[off + 1] = pteHi(anon, vma.protHi);
    return cost + m.costs.copyPage;
  }
  // do_read_fault / do_shared_fault: map the page-cache page itself (page_add_file_rmap).
  m.mem.mapcount[page]!++;
  k.reclaim.rmap.add(page, mm, addr);
  mm.rss++;
  const w = m.mem.words;
  const flags = write ? vma.protLo | _PAGE_DIRTY | _PAGE_ACCESSED : vma.protLo;
  w[off] = pteLo(page, flags);
  w[off + 1] = pteHi(page, vma.protHi);
  if (write) m.mem.pageDirty[page] = 1;
  return cost;
}

/** do_wp_page: reuse an exclusive anonymous page, make a shared file page writable, or copy (COW). */
function doWpPage(k: Kernel, cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, cost: number): number | KGen {
  const m = k.m;
  const words = m.mem.words;
  const lo = words[off]!;
  const hi = words[off + 1]!;
  const old = ptePfn(lo, hi);
  const special = (lo & _PAGE_SPECIAL) !== 0;
  if (!special && m.mem.state[old] === FrameState.PAGECACHE && (vma.flags & VM_SHARED) !== 0) {
    // wp_page_shared: the shared file page becomes writable and dirty, no flush.
    m.counters.values[C.pgfault_wp_reuse]!++;
    words[off] = (lo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
    m.mem.pageDirty[old] = 1;
    return cost;
  }
  if (!special && m.mem.state[old] === FrameState.USER && m.mem.mapcount[old] === 1) {
    // wp_page_reuse: promotion, no flush needed on x86 (ptep_set_access_flags).
    m.counters.values[C.pgfault_wp_reuse]!++;
    words[off] = (lo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
    return cost;
  }
  return wpPageCopy(k, cpu, mm, vma, addr, off, cost, old, special);
}

/**
 * wp_page_copy (v4.15): copy into a new page; mmu_notifier_invalidate_range_start; under
 * the PTL, ptep_clear_flush_notify (clear, flush the CPUs, invalidate_range), the new
 * PTE (set_pte_at_notify), page_remove_rmap of the old page; unlock; range_end, or
 * range_only_end with seed 004; then the old page's reference is dropped.
 */
function* wpPageCopy(k: Kernel, cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, off: number, cost: number, old: number, special: boolean): KGen {
  const m = k.m;
  m.counters.values[C.pgfault_cow]!++;
  const page = m.mem.alloc(FrameState.USER);
  m.counters.values[C.pages_allocated]!++;
  m.mem.mapcount[page] = 1;
  cost += special ? m.costs.allocZeroPage : m.costs.copyPage;
  const origLo = m.mem.words[off]!;
  const origHi = m.mem.words[off + 1]!;
  cost += mmuNotifierInvalidateRangeStart(k, cpu, mm, addr, addr + 4096);
  yield cost;
  // pte_offset_map_lock, then pte_same(*vmf->pte, vmf->orig_pte): another fault on this
  // PTE got there first; drop the copy (the access faults again if it must).
  const w1 = m.mem.words;
  if (k.ptlHeld.has(off) || w1[off] !== origLo || w1[off + 1] !== origHi) {
    m.mem.mapcount[page] = 0;
    m.mem.free(page, "wp_page_copy (PTE changed meanwhile)", m.now);
    m.counters.values[C.pages_freed]!++;
    const e = mmuNotifierInvalidateRangeEnd(k, cpu, mm, addr, addr + 4096, k.notify.onlyEnd("wp_page_copy"));
    if (e > 0) yield e;
    return;
  }
  k.ptlHeld.add(off);
  // ptep_clear_flush_notify (or plain ptep_clear_flush): clear, flush the old translation everywhere.
  const w2 = m.mem.words;
  w2[off] = 0;
  w2[off + 1] = 0;
  yield* k.flushTlbPage(cpu, mm, addr);
  if (k.notify.clearNotifies("wp_page_copy")) {
    const c = mmuNotifierInvalidateRange(k, cpu, mm, addr, addr + 4096);
    if (c > 0) yield c;
  }
  const w3 = m.mem.words;
  w3[off] = pteLo(page, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
  w3[off + 1] = pteHi(page, vma.protHi);
  if (mm.notifiers.length > 0) k.notePageReplaced(mm, addr, "wp_page_copy");
  k.ptlHeld.delete(off);
  const lastMap = !special && --m.mem.mapcount[old]! === 0;
  if (special) mm.rss++;
  const e = mmuNotifierInvalidateRangeEnd(k, cpu, mm, addr, addr + 4096, k.notify.onlyEnd("wp_page_copy"));
  if (e > 0) yield e;
  // put_page(old_page) after range_end: freed if that was its last mapping.
  if (lastMap && m.mem.state[old] === FrameState.USER && m.mem.mapcount[old] === 0) {
    m.mem.free(old, "wp_page_copy (COW)", m.now);
    m.counters.values[C.pages_freed]!++;
  }
}

/**
 * unmap_page_range → zap_pte_range over [start, end) of `vma`: clear each PTE
 * (ptep_get_and_clear_full), record it in the gather (tlb_remove_tlb_entry), move D to
 * the page (set_page_dirty), drop the mapping, and gather the page if it was the last.
 * Returns how many PTEs were zapped; flushes mid-way when the gather batch is full.
 */
export function* zapPageRange(k: Kernel, cpu: Cpu, tlb: MmuGather, vma: Vma, start: number, end: number): KGen<number> {
  const m = k.m;
  const mm = tlb.mm;
  let zapped = 0;
  let cost = 0;
  for (let addr = start; addr < end; addr += 4096) {
    const off = k.pgtables.pteOffset(mm.pgd, addr);
    if (off < 0) {
      // No PTE page here: skip to the next 2 MiB.
      const next = addr - (addr % 2097152) + 2097152 - 4096;
      if (next > addr) addr = next;
      continue;
    }
    const words = m.mem.words;
    const lo = words[off]!;
    const hi = words[off + 1]!;
    if (lo === 0 && hi === 0) continue;
    words[off] = 0;
    words[off + 1] = 0;
    zapped++;
    cost += m.costs.zapPte;
    tlb.flushPteRange(addr, 4096);
    if ((lo & _PAGE_SPECIAL) !== 0) continue; // vm_normal_page() == NULL
    const pfn = ptePfn(lo, hi);
    if ((lo & _PAGE_DIRTY) !== 0) m.mem.pageDirty[pfn] = 1;
    mm.rss--;
    if (m.mem.state[pfn] === FrameState.PAGECACHE) k.reclaim.rmap.remove(pfn, mm, addr);
    // A page-cache page stays cached when its last mapping goes; an anonymous page is freed.
    if (--m.mem.mapcount[pfn]! === 0 && m.mem.state[pfn] === FrameState.USER && tlb.removePage(pfn)) {
      yield cost;
      cost = 0;
      yield* k.tlbFlushMmu(cpu, tlb);
    }
  }
  if (vma.start > start || vma.end < end) throw new Error("zapPageRange: range outside the VMA");
  if (cost > 0) yield cost;
  return zapped;
}

/** The executor's mode helper: run `body` as a system call. */
export function* syscall<T>(k: Kernel, cpu: Cpu, body: KGen<T>): KGen<T> {
  const prev = cpu.mode;
  yield k.syscallEnter(cpu);
  const r = yield* body;
  cpu.mode = prev;
  return r;
}
