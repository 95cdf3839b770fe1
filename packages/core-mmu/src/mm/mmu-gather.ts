/**
 * The life cycle of an mmu_gather, after mm/mmu_gather.c and arch/x86/include/asm/tlb.h
 * (v5.17): zap paths clear PTEs and gather the pages and page tables (mm-types.ts
 * MmuGather); tlb_finish_mmu flushes the gathered range through the MmuGatherFlush
 * point and only then frees them. The secondary-TLB call in tlb_flush is v4.15's.
 */
import type { Cpu } from "../hw/cpu.js";
import { COMPOUND_HEAD, HPAGE_NR } from "../hw/memory.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import { MmuGather, type MmStruct } from "./mm-types.js";
import { mmuNotifierInvalidateRange } from "./mmu-notifier.js";
import type { Lru } from "./swap.js";

export class MmuGatherOps {
  constructor(
    private readonly k: KernelCore,
    private readonly lru: Lru,
  ) {}

  /** tlb_gather_mmu: opens a gather; the GatherNesting point counts it on the mm (v4.13: inc_tlb_flush_pending). */
  tlbGatherMmu(mm: MmStruct, site: string, fullmm = false): MmuGather {
    const tlb = new MmuGather(mm, site, fullmm);
    this.k.policies.gatherNesting.gatherStarted(tlb);
    return tlb;
  }

  /** tlb_flush_mmu, through the MmuGatherFlush extension point. */
  tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
    return this.k.policies.mmuGatherFlush.tlbFlushMmu(cpu, tlb);
  }

  /**
   * tlb_finish_mmu: when the GatherNesting point says another gather of the same mm is in
   * flight (v4.13 with 99baac21e458: mm_tlb_flush_nested), flush the whole mm (fullmm,
   * __tlb_reset_range, freed_tables, as v5.2+ does it); then flush and free, and close the
   * gather (dec_tlb_flush_pending).
   */
  *tlbFinishMmu(cpu: Cpu, tlb: MmuGather): KGen {
    const nesting = this.k.policies.gatherNesting;
    if (nesting.forceFullFlush(tlb)) {
      tlb.fullmm = true;
      tlb.resetRange();
      tlb.freedTables = true;
    }
    yield* this.tlbFlushMmu(cpu, tlb);
    nesting.gatherFinished(tlb);
  }

  /**
   * tlb_flush_mmu_tlbonly → x86 tlb_flush(tlb): flush_tlb_mm_range with the gathered
   * range, stride and freed_tables; then (v4.15) the secondary TLBs, before
   * tlb_flush_mmu_free frees the gathered pages.
   */
  *tlbFlush(cpu: Cpu, tlb: MmuGather): KGen {
    if (!tlb.needsFlush) return;
    const full = tlb.fullmm || tlb.needFlushAll;
    yield* this.k.policies.archTlb.flushTlbMmRange(cpu, tlb.mm, full ? 0 : tlb.start, full ? Infinity : tlb.end, tlb.unmapShift(), tlb.freedTables);
    if (tlb.mm.notifiers.length > 0) {
      const c = mmuNotifierInvalidateRange(this.k.counters, cpu, tlb.mm, full ? 0 : tlb.start, full ? -1 : tlb.end);
      if (c > 0) yield c;
    }
    tlb.resetRange();
  }

  /**
   * tlb_flush_mmu_free: free the gathered pages (free_pages_and_swap_cache →
   * release_pages; a page reclaim holds isolated is left for reclaim to free) and
   * page-table pages.
   */
  *tlbFlushMmuFree(_cpu: Cpu, tlb: MmuGather): KGen {
    const m = this.k.machine;
    const values = this.k.counters.values;
    let cost = 0;
    let freed = 0;
    const refs = this.lru.gatherRefs;
    for (const pfn of tlb.pages) {
      refs[pfn]!--;
      if (!this.lru.releasePage(pfn)) continue;
      // A transparent huge page goes whole: its 512 frames (free_compound_page).
      const n = m.mem.compound[pfn] === COMPOUND_HEAD ? HPAGE_NR : 1;
      m.mem.free(pfn, tlb.site, m.now);
      cost += m.costs.freePage;
      freed += n;
    }
    values[C.pages_freed]! += freed;
    for (const pfn of tlb.tables) {
      m.mem.free(pfn, `${tlb.site} (page table)`, m.now);
      cost += m.costs.freePage;
    }
    values[C.pgtables_freed]! += tlb.tables.length;
    // put_page of the page-cache pages: the cache keeps them.
    for (const pfn of tlb.cachePages) refs[pfn]!--;
    tlb.pages.length = 0;
    tlb.tables.length = 0;
    tlb.cachePages.length = 0;
    if (cost > 0) yield cost;
  }
}
