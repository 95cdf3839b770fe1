/**
 * The life cycle of an mmu_gather, after mm/mmu_gather.c and arch/x86/include/asm/tlb.h
 * (v5.17): zap paths clear PTEs and gather the pages and page tables (mm-types.ts
 * MmuGather); tlb_finish_mmu flushes the gathered range through the MmuGatherFlush
 * point and only then frees them. The secondary-TLB call in tlb_flush is v4.15's.
 */
import type { Cpu } from "../hw/cpu.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import type { PageCache } from "./filemap.js";
import { MmuGather, type MmStruct } from "./mm-types.js";
import { mmuNotifierInvalidateRange } from "./mmu-notifier.js";

export class MmuGatherOps {
  constructor(
    private readonly k: KernelCore,
    private readonly pageCache: PageCache,
  ) {}

  /** tlb_gather_mmu: opens a gather and marks a flush pending on the mm (inc_tlb_flush_pending). */
  tlbGatherMmu(mm: MmStruct, site: string, fullmm = false): MmuGather {
    mm.tlbFlushPending++;
    return new MmuGather(mm, site, fullmm);
  }

  /** tlb_flush_mmu, through the MmuGatherFlush extension point. */
  tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
    return this.k.policies.mmuGatherFlush.tlbFlushMmu(cpu, tlb);
  }

  /**
   * tlb_finish_mmu: when another gather of the same mm is in flight (tlb_flush_pending
   * above one), flush the whole mm (the 2017 fix, 99baac21e458); then flush and free.
   */
  *tlbFinishMmu(cpu: Cpu, tlb: MmuGather): KGen {
    if (tlb.mm.tlbFlushPending > 1) {
      tlb.fullmm = true;
      tlb.resetRange();
      tlb.freedTables = true;
    }
    yield* this.tlbFlushMmu(cpu, tlb);
    tlb.mm.tlbFlushPending--;
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

  /** tlb_flush_mmu_free: free the gathered pages and page-table pages. */
  *tlbFlushMmuFree(_cpu: Cpu, tlb: MmuGather): KGen {
    const m = this.k.machine;
    const values = this.k.counters.values;
    let cost = 0;
    for (const pfn of tlb.pages) {
      m.mem.free(pfn, tlb.site, m.now);
      cost += m.costs.freePage;
    }
    values[C.pages_freed]! += tlb.pages.length;
    for (const pfn of tlb.tables) {
      m.mem.free(pfn, `${tlb.site} (page table)`, m.now);
      cost += m.costs.freePage;
    }
    values[C.pgtables_freed]! += tlb.tables.length;
    // put_page of the page-cache pages: the cache keeps them.
    const refs = this.pageCache.refs;
    for (const pfn of tlb.cachePages) refs[pfn]!--;
    tlb.pages.length = 0;
    tlb.tables.length = 0;
    tlb.cachePages.length = 0;
    if (cost > 0) yield cost;
  }
}
