/**
 * Transparent huge pages, anonymous only, after mm/huge_memory.c of v5.17 (the fault,
 * zap and mprotect paths) with the mmu_notifier calls and the COW of v4.15 (seed 004's
 * era):
 * - do_huge_pmd_anonymous_page: a fault in a 2 MiB-aligned range wholly inside an
 *   anonymous VMA, with transparent_hugepage=always, maps a compound page of 512
 *   contiguous frames with one huge PMD and deposits a PTE page for a later split
 *   (pgtable_trans_huge_deposit). use_zero_page is not modelled: a read fault maps a
 *   new huge page too;
 * - zap_huge_pmd (v5.17): the PMD is cleared into the mmu_gather (tlb_remove_pmd_tlb_entry
 *   → tlb_flush_pmd_range), the deposited table is freed, the compound page is gathered
 *   and freed, all 512 frames, only after the flush;
 * - change_huge_pmd (v5.17): pmdp_invalidate, then pmd_modify and set_pmd_at; the
 *   flush is the ProtectionChange's (`hugePmdChanged`): pre-patch pmdp_invalidate flushes
 *   the 2 MiB range at once and change_protection_range flushes the VMA's range again;
 * - __split_huge_pmd (v4.15 notifier calls: range_start, then range_end or, with seed
 *   004, range_only_end; the split itself, pmdp_invalidate then PTEs to the same frames,
 *   calls no invalidate_range): the deposited PTE page gets 512 PTEs and replaces the
 *   huge PMD. The compound page is split at once when this was its only mapping (the
 *   kernel's deferred split would do so later); a THP mapped by two mms cannot be split
 *   in the model (a one-line error says so);
 * - do_huge_pmd_wp_page (v4.15): reuse when the page is mapped once; otherwise copy into
 *   a new huge page (pmdp_huge_clear_flush_notify, range_only_end with seed 004), or, when
 *   no huge page can be had, do_huge_pmd_wp_page_fallback (512 small copies under one
 *   notifier range). v5.8 (3917c80280c9) replaced the copy with a split; the model keeps
 *   v4.15's because its notifier sites are v4.15's;
 * - copy_huge_pmd (fork, v4.15/v5.17 alike): the PMD is write-protected in both mms and
 *   the compound page shared.
 * Not modelled: the PMD lock (a fault that finds a PMD another path made invalid spins
 * until it is valid again), khugepaged, THP migration, MADV_FREE and mremap of a huge
 * PMD (mremap splits first), reclaim of huge pages (they are never on the LRU).
 */
import type { Cpu } from "../hw/cpu.js";
import { COMPOUND_HEAD, FrameState, HPAGE_NR } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PAT_LARGE, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_RW, PTE_PFN_MASK_HI, PTE_PFN_MASK_LO, _PAGE_PCD, _PAGE_PWT, pmdLeafLo, pmdLeafPfn, pteHi, pteHuge, pteLo, pteWrite } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { ProtectionChange } from "../plugin/tokens.js";
import type { KGen } from "../sim/process.js";
import { SegmentationFault } from "./filemap.js";
import { VM_WRITE, type MmStruct, type MmuGather, type NotifierSite, type Vma } from "./mm-types.js";
import { mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { PageAlloc } from "./page-alloc.js";
import { _PAGE_TABLE } from "./pgtable.js";
import type { Rmap } from "./rmap.js";
import type { Lru } from "./swap.js";

/** HPAGE_PMD_SIZE */
export const HPAGE_PMD_SIZE = 2097152;
/** _HPAGE_CHG_MASK (low word): what pmd_modify keeps: the PFN, cache bits, A, D, PSE (v5.17). */
const _HPAGE_CHG_MASK_LO = (PTE_PFN_MASK_LO | _PAGE_PCD | _PAGE_PWT | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_PSE) >>> 0;
/** Cycles a CPU spins between two looks at a PMD another path holds invalid (spin_lock(pmd_lock)). */
const PMD_SPIN_CYCLES = 100;

/** The transparent_hugepage setting (/sys/kernel/mm/transparent_hugepage/enabled; "madvise" is not modelled). */
export type ThpSetting = "always" | "never";

export class HugeMemory {
  /** The setting now (the boot parameter, or what was written to sysfs since). */
  enabled: ThpSetting = "never";
  /** transparent_hugepage= at boot. */
  boot: ThpSetting = "never";
  /**
   * Whether a huge PMD may exist: set with "always" and never cleared, so that paths that
   * never meet a huge PMD (THP never enabled) pay no PMD look-up.
   */
  active = false;
  /** pgtable_trans_huge_deposit: the PTE page kept for each huge PMD, by the PMD's word offset. */
  private readonly deposited = new Map<number, number>();

  constructor(
    private readonly k: KernelCore,
    private readonly pageAlloc: PageAlloc,
    private readonly rmap: Rmap,
    private readonly lru: Lru,
  ) {}

  /** transparent_hugepage= at boot (run option `thp`). */
  setBoot(setting: ThpSetting): void {
    this.boot = setting;
    this.setEnabled(setting);
  }

  /** echo <setting> > /sys/kernel/mm/transparent_hugepage/enabled */
  setEnabled(setting: ThpSetting): void {
    this.enabled = setting;
    if (setting === "always") this.active = true;
  }

  /** What the run's notes say about THP. */
  note(): string {
    const now = this.enabled === this.boot ? "" : `; ${this.enabled} written to /sys/kernel/mm/transparent_hugepage/enabled by the workload`;
    return `transparent_hugepage=${this.boot}${now}; THP (anonymous, 2 MiB) mirrors mm/huge_memory.c v5.17, its COW and mmu_notifier calls v4.15`;
  }

  /** Word offset of the huge PMD mapping `addr` in `mm`, or -1 (none, or a PTE page). */
  hugePmdOffset(mm: MmStruct, addr: number): number {
    if (!this.active) return -1;
    const off = this.k.pgtables.pmdOffset(mm.pgd, addr);
    return off >= 0 && pteHuge(this.k.machine.mem.words[off]!, 0) ? off : -1;
  }

  /** transhuge_vma_suitable and the "always" test of transparent_hugepage_active: may a fault at `haddr` map a huge page? */
  vmaSuitable(vma: Vma, haddr: number): boolean {
    return this.enabled === "always" && vma.anonymous && vma.file === null && haddr >= vma.start && haddr + HPAGE_PMD_SIZE <= vma.end;
  }

  /**
   * do_huge_pmd_anonymous_page → __do_huge_pmd_anonymous_page (v5.17) for a fault at `addr`
   * whose PMD (`pmdOff`) is none: a compound page, a deposited PTE page, the huge PMD
   * (mk_huge_pmd, pmd_mkdirty, maybe_pmd_mkwrite). Returns the cycles, or -1 to fall back
   * to a 4 KiB fault (no huge page to be had: THP_FAULT_FALLBACK).
   */
  doHugePmdAnonymousPage(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, pmdOff: number): number {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const haddr = addr - (addr % HPAGE_PMD_SIZE);
    const head = this.pageAlloc.tryAllocHugePage(cpu, FrameState.USER);
    if (head < 0) {
      k.counters.add("thp_fault_fallback");
      return -1;
    }
    // pte_alloc_one, deposited for a later split.
    const pgtable = mem.alloc(FrameState.PAGETABLE);
    this.deposited.set(pmdOff, pgtable);
    k.counters.add("thp_fault_alloc");
    k.counters.values[C.pgfault_anon]!++;
    k.counters.values[C.pages_allocated]! += HPAGE_NR;
    mem.mapcount[head] = 1; // compound_mapcount
    this.rmap.add(head, mm, haddr); // page_add_new_anon_rmap(page, vma, haddr, true)
    mm.rss += HPAGE_NR;
    const w = mem.words;
    w[pmdOff] = pmdLeafLo(head, vma.protLo | _PAGE_DIRTY | _PAGE_ACCESSED | ((vma.flags & VM_WRITE) !== 0 ? _PAGE_RW : 0));
    w[pmdOff + 1] = pteHi(head, vma.protHi);
    // clear_huge_page: 512 pages zeroed.
    return HPAGE_NR * m.costs.allocZeroPage + m.costs.ptAlloc;
  }

  /**
   * A fault on a huge PMD (__handle_mm_fault, v5.17): a write to a read-only one is
   * do_huge_pmd_wp_page; otherwise huge_pmd_set_accessed (A, and D on a write; a
   * spurious fault). A PMD another path holds invalid (pmdp_invalidate) is waited for.
   */
  hugePmdFault(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, pmdOff: number, write: boolean, cost: number): number | KGen {
    const k = this.k;
    const w = k.machine.mem.words;
    const lo = w[pmdOff]!;
    if ((lo & _PAGE_PRESENT) === 0) {
      if ((lo & _PAGE_PROTNONE) !== 0) throw new SegmentationFault(`faults on PROT_NONE entries are not modelled (${k.fmtVa(addr)})`);
      return this.waitPmdValid(pmdOff, lo, cost);
    }
    if (write && !pteWrite(lo, 0)) return this.doHugePmdWpPage(cpu, mm, vma, addr, pmdOff, cost);
    k.counters.values[C.pgfault_spurious]!++;
    w[pmdOff] = (lo | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0)) >>> 0;
    return cost;
  }

  /** spin_lock(pmd_lock) while the path that made the PMD invalid holds it; the access then faults again if it must. */
  private *waitPmdValid(pmdOff: number, lo: number, cost: number): KGen {
    yield cost;
    while (this.k.machine.mem.words[pmdOff] === lo && (lo & _PAGE_PRESENT) === 0) yield PMD_SPIN_CYCLES;
  }

  /**
   * do_huge_pmd_wp_page (v4.15): a page mapped once is reused (pmdp_set_access_flags: a
   * promotion, no flush); a shared one is copied into a new huge page, or by
   * do_huge_pmd_wp_page_fallback into 512 small ones.
   */
  private doHugePmdWpPage(cpu: Cpu, mm: MmStruct, vma: Vma, addr: number, pmdOff: number, cost: number): number | KGen {
    const k = this.k;
    const mem = k.machine.mem;
    const w = mem.words;
    const lo = w[pmdOff]!;
    const old = pmdLeafPfn(lo, w[pmdOff + 1]!);
    if (mem.mapcount[old] === 1) {
      k.counters.values[C.pgfault_wp_reuse]!++;
      w[pmdOff] = (lo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
      return cost;
    }
    const haddr = addr - (addr % HPAGE_PMD_SIZE);
    const page = this.pageAlloc.tryAllocHugePage(cpu, FrameState.USER);
    if (page < 0) {
      k.counters.add("thp_fault_fallback");
      return this.doHugePmdWpPageFallback(cpu, mm, vma, haddr, pmdOff, cost, old);
    }
    k.counters.add("thp_fault_alloc");
    return this.hugeCopy(cpu, mm, vma, haddr, pmdOff, cost, old, page);
  }

  /**
   * pmdp_huge_clear_flush_notify (v4.15): clear the PMD, flush_pmd_tlb_range
   * (flush_tlb_range on x86: PAGE_SHIFT stride), then invalidate_range unless the call
   * site's notifier policy leaves it to range_end.
   */
  private *pmdpHugeClearFlushNotify(cpu: Cpu, mm: MmStruct, haddr: number, pmdOff: number, site: NotifierSite): KGen {
    const k = this.k;
    const w = k.machine.mem.words;
    w[pmdOff] = 0;
    w[pmdOff + 1] = 0;
    yield* k.policies.archTlb.flushTlbMmRange(cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, 12, false);
    if (k.policies.secondaryTlbNotify.clearNotifies(site)) {
      const c = mmuNotifierInvalidateRange(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE);
      if (c > 0) yield c;
    }
  }

  /** do_huge_pmd_wp_page's copy (v4.15): copy_user_huge_page, then the PMD replaced under one notifier range. */
  private *hugeCopy(cpu: Cpu, mm: MmStruct, vma: Vma, haddr: number, pmdOff: number, cost: number, old: number, page: number): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const values = k.counters.values;
    const notify = k.policies.secondaryTlbNotify;
    values[C.pgfault_cow]!++;
    values[C.pages_allocated]! += HPAGE_NR;
    mem.mapcount[page] = 1;
    const origLo = mem.words[pmdOff]!;
    const origHi = mem.words[pmdOff + 1]!;
    cost += HPAGE_NR * m.costs.copyPage;
    cost += mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE);
    yield cost;
    const w1 = mem.words;
    if (w1[pmdOff] !== origLo || w1[pmdOff + 1] !== origHi) {
      // !pmd_same: another fault got there first.
      mem.mapcount[page] = 0;
      mem.free(page, "do_huge_pmd_wp_page (PMD changed meanwhile)", m.now);
      values[C.pages_freed]! += HPAGE_NR;
      const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, notify.onlyEnd("do_huge_pmd_wp_page"));
      if (e > 0) yield e;
      return;
    }
    yield* this.pmdpHugeClearFlushNotify(cpu, mm, haddr, pmdOff, "do_huge_pmd_wp_page");
    const w2 = mem.words;
    w2[pmdOff] = pmdLeafLo(page, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
    w2[pmdOff + 1] = pteHi(page, vma.protHi);
    this.rmap.add(page, mm, haddr);
    if (mm.notifiers.length > 0) for (let i = 0; i < HPAGE_NR; i++) m.watch.pageReplaced(mm.pgd, haddr + i * 4096, "do_huge_pmd_wp_page");
    this.rmap.remove(old, mm, haddr); // page_remove_rmap(page, true)
    const last = --mem.mapcount[old]! === 0;
    const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, notify.onlyEnd("do_huge_pmd_wp_page"));
    if (e > 0) yield e;
    if (last && mem.state[old] === FrameState.USER && mem.mapcount[old] === 0) {
      mem.free(old, "do_huge_pmd_wp_page (COW)", m.now);
      values[C.pages_freed]! += HPAGE_NR;
    }
  }

  /**
   * do_huge_pmd_wp_page_fallback (v4.15): 512 small pages, copied; under one notifier
   * range the huge PMD is cleared and flushed with pmdp_huge_clear_flush_notify, the
   * deposited PTE page gets the new PTEs and replaces it; range_only_end with seed 004.
   * With fewer than 512 free pages the PMD is split instead and the access faults again.
   */
  private *doHugePmdWpPageFallback(cpu: Cpu, mm: MmStruct, vma: Vma, haddr: number, pmdOff: number, cost: number, old: number): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const values = k.counters.values;
    const notify = k.policies.secondaryTlbNotify;
    yield cost;
    if (mem.freeFrames < HPAGE_NR + 64) {
      yield* this.splitHugePmd(cpu, mm, vma, haddr);
      return;
    }
    values[C.pgfault_cow]!++;
    const origLo = mem.words[pmdOff]!;
    const origHi = mem.words[pmdOff + 1]!;
    const pages = new Int32Array(HPAGE_NR);
    for (let i = 0; i < HPAGE_NR; i++) {
      pages[i] = mem.alloc(FrameState.USER, cpu.socket);
      mem.mapcount[pages[i]!] = 1;
    }
    values[C.pages_allocated]! += HPAGE_NR;
    let c = HPAGE_NR * m.costs.copyPage + mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE);
    yield c;
    const w1 = mem.words;
    if (w1[pmdOff] !== origLo || w1[pmdOff + 1] !== origHi) {
      for (let i = 0; i < HPAGE_NR; i++) {
        mem.mapcount[pages[i]!] = 0;
        mem.free(pages[i]!, "do_huge_pmd_wp_page_fallback (PMD changed meanwhile)", m.now);
      }
      values[C.pages_freed]! += HPAGE_NR;
      const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, notify.onlyEnd("do_huge_pmd_wp_page_fallback"));
      if (e > 0) yield e;
      return;
    }
    yield* this.pmdpHugeClearFlushNotify(cpu, mm, haddr, pmdOff, "do_huge_pmd_wp_page_fallback");
    const pgtable = this.withdraw(pmdOff);
    const w = mem.words;
    for (let i = 0; i < HPAGE_NR; i++) {
      const off = mem.entryOffset(pgtable, i);
      w[off] = pteLo(pages[i]!, vma.protLo | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
      w[off + 1] = pteHi(pages[i]!, vma.protHi);
      this.rmap.add(pages[i]!, mm, haddr + i * 4096);
    }
    // pmd_populate
    w[pmdOff] = pteLo(pgtable, _PAGE_TABLE);
    w[pmdOff + 1] = pteHi(pgtable, 0);
    if (mm.notifiers.length > 0) for (let i = 0; i < HPAGE_NR; i++) m.watch.pageReplaced(mm.pgd, haddr + i * 4096, "do_huge_pmd_wp_page_fallback");
    this.rmap.remove(old, mm, haddr);
    const last = --mem.mapcount[old]! === 0;
    const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, notify.onlyEnd("do_huge_pmd_wp_page_fallback"));
    if (e > 0) yield e;
    if (last && mem.state[old] === FrameState.USER && mem.mapcount[old] === 0) {
      mem.free(old, "do_huge_pmd_wp_page_fallback (COW)", m.now);
      values[C.pages_freed]! += HPAGE_NR;
    }
  }

  /** pgtable_trans_huge_withdraw */
  private withdraw(pmdOff: number): number {
    const t = this.deposited.get(pmdOff);
    if (t === undefined) throw new Error("huge PMD without a deposited page table");
    this.deposited.delete(pmdOff);
    return t;
  }

  /**
   * __split_huge_pmd (v4.15's notifier calls): range_start over the 2 MiB; under the PMD
   * lock __split_huge_pmd_locked: pmdp_invalidate (flush_pmd_tlb_range now: no 4 KiB and
   * 2 MiB entry for one address may be cached at once, AMD erratum 383), the deposited
   * PTE page filled with 512 PTEs to the same frames (write, dirty and young from the
   * PMD), pmd_populate; then range_end, or range_only_end with seed 004 (nothing a
   * secondary TLB caches changed: the split calls no invalidate_range itself).
   */
  *splitHugePmd(cpu: Cpu, mm: MmStruct, vma: Vma, haddr: number): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const notify = k.policies.secondaryTlbNotify;
    const s = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE);
    if (s > 0) yield s;
    const pmdOff = this.hugePmdOffset(mm, haddr);
    if (pmdOff >= 0 && (mem.words[pmdOff]! & _PAGE_PRESENT) !== 0) {
      const lo = mem.words[pmdOff]!;
      const hi = mem.words[pmdOff + 1]!;
      const head = pmdLeafPfn(lo, hi);
      if (mem.mapcount[head]! > 1) throw new SegmentationFault(`splitting a huge page mapped by ${mem.mapcount[head]} processes is not modelled (${k.fmtVa(haddr)})`);
      // pmdp_invalidate: pmd_mkinvalid, then flush_pmd_tlb_range (flush_tlb_range on x86).
      mem.words[pmdOff] = (lo & ~(_PAGE_PRESENT | _PAGE_PROTNONE)) >>> 0;
      yield* k.policies.archTlb.flushTlbMmRange(cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, 12, false);
      const pgtable = this.withdraw(pmdOff);
      const w = mem.words;
      const keep = (lo & (_PAGE_ACCESSED | _PAGE_DIRTY)) | (pteWrite(lo, hi) && (vma.flags & VM_WRITE) !== 0 ? _PAGE_RW : 0);
      const flags = ((vma.protLo & ~(_PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)) | keep) & ~_PAGE_PAT_LARGE;
      for (let i = 0; i < HPAGE_NR; i++) {
        const off = mem.entryOffset(pgtable, i);
        w[off] = pteLo(head + i, flags);
        w[off + 1] = ((hi & ~PTE_PFN_MASK_HI) | (pteHi(head + i, 0) & PTE_PFN_MASK_HI)) >>> 0;
      }
      // smp_wmb(); pmd_populate(mm, pmd, pgtable)
      w[pmdOff] = pteLo(pgtable, _PAGE_TABLE);
      w[pmdOff + 1] = pteHi(pgtable, 0);
      // The page had this mapping only: split_huge_page now (deferred_split_scan later, in the kernel).
      this.rmap.remove(head, mm, haddr);
      mem.splitCompound(head);
      for (let i = 0; i < HPAGE_NR; i++) {
        mem.mapcount[head + i] = 1;
        this.rmap.add(head + i, mm, haddr + i * 4096);
      }
      k.counters.add("thp_split_pmd");
      yield HPAGE_NR * m.costs.changePte;
    }
    const e = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, haddr, haddr + HPAGE_PMD_SIZE, notify.onlyEnd("__split_huge_pmd"));
    if (e > 0) yield e;
  }

  /**
   * zap_huge_pmd (v5.17): pmdp_huge_get_and_clear_full, tlb_remove_pmd_tlb_entry
   * (tlb_flush_pmd_range), page_remove_rmap(page, true), zap_deposited_table (that page
   * was never in the page tables: freed now), tlb_remove_page_size: the compound page is
   * freed with the gather, after its flush. Returns whether the gather's batch is full.
   */
  zapHugePmd(tlb: MmuGather, haddr: number, pmdOff: number): boolean {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const mm = tlb.mm;
    const w = mem.words;
    const lo = w[pmdOff]!;
    const hi = w[pmdOff + 1]!;
    w[pmdOff] = 0;
    w[pmdOff + 1] = 0;
    tlb.flushPmdRange(haddr, HPAGE_PMD_SIZE);
    const head = pmdLeafPfn(lo, hi);
    this.rmap.remove(head, mm, haddr);
    mem.free(this.withdraw(pmdOff), "zap_deposited_table", m.now);
    mm.rss -= HPAGE_NR;
    if (--mem.mapcount[head]! !== 0) return false;
    this.lru.pageGathered(head);
    return tlb.removePage(head);
  }

  /**
   * change_huge_pmd (v5.17) for a huge PMD wholly inside the VMA: the PMD made invalid
   * (pmdp_invalidate / pmdp_invalidate_ad: `change.hugePmdChanged` flushes, or records
   * the flush, as the policy does), pmd_modify with the new protection, set_pmd_at. A
   * write-protected page is pushed to `protectedPages`.
   */
  *changeHugePmd(cpu: Cpu, pmdOff: number, haddr: number, protLo: number, protHi: number, change: ProtectionChange, protectedPages: number[]): KGen {
    const mem = this.k.machine.mem;
    const w = mem.words;
    const lo = w[pmdOff]!;
    const hi = w[pmdOff + 1]!;
    // pmd_mkinvalid: P and PROTNONE cleared, PSE kept (pmd_trans_huge stays true).
    w[pmdOff] = (lo & ~(_PAGE_PRESENT | _PAGE_PROTNONE)) >>> 0;
    const newLo = ((lo & _HPAGE_CHG_MASK_LO) | (protLo & ~(_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_PSE)) | _PAGE_PSE) >>> 0;
    const newHi = ((hi & PTE_PFN_MASK_HI) | protHi) >>> 0;
    if (pteWrite(lo, hi) && !pteWrite(newLo, newHi)) protectedPages.push(pmdLeafPfn(lo, hi));
    yield* change.hugePmdChanged(cpu, haddr, lo, hi, newLo, newHi);
    const w2 = mem.words;
    w2[pmdOff] = newLo;
    w2[pmdOff + 1] = newHi;
    yield this.k.machine.costs.changePte;
  }

  /**
   * copy_huge_pmd (fork): a PTE page deposited for the child, the compound page shared
   * (page_dup_rmap), the PMD write-protected in the parent for COW (pmdp_set_wrprotect)
   * and copied old and read-only into the child. Returns the cycles.
   */
  copyHugePmd(dst: MmStruct, haddr: number, srcOff: number, isCow: boolean, protectedPages: number[]): number {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const pgtable = mem.alloc(FrameState.PAGETABLE);
    const dstOff = k.pgtables.pmdOffsetAlloc(dst, haddr);
    const cost = (k.pgtables.lastAllocated + 1) * m.costs.ptAlloc + m.costs.copyPte;
    this.deposited.set(dstOff, pgtable);
    const w = mem.words;
    let lo = w[srcOff]!;
    const hi = w[srcOff + 1]!;
    const head = pmdLeafPfn(lo, hi);
    if (isCow && pteWrite(lo, hi)) {
      lo = (lo & ~_PAGE_RW) >>> 0;
      w[srcOff] = lo;
      protectedPages.push(head);
    }
    w[dstOff] = (lo & ~_PAGE_ACCESSED) >>> 0;
    w[dstOff + 1] = hi;
    mem.mapcount[head]!++;
    this.rmap.add(head, dst, haddr);
    dst.rss += HPAGE_NR;
    return cost;
  }

  /** Whether `pfn` is the head of a compound page. */
  isHead(pfn: number): boolean {
    return this.k.machine.mem.compound[pfn] === COMPOUND_HEAD;
  }
}
