/**
 * Pre-patch defaults of core-mmu's extension points (the arch's own points, ArchTlb,
 * ArchMm and VmallocSync, come from the arch layer). Each class names the kernel
 * code it mirrors.
 */
import type { Cpu } from "../hw/cpu.js";
import { ptePresent, pteProtNone } from "../hw/pte.js";
import type { Kernel } from "../kernel/kernel.js";
import type { MmStruct, MmuGather, NotifierSite } from "../mm/mm-types.js";
import type { KGen } from "../sim/process.js";
import { defaultPolicy, type AnyDefaultPolicy } from "./define.js";
import {
  BATCHED_PENDING_FLUSH,
  CONTEXT_TRACKING_ENTRY,
  GATHER_NESTING,
  KERNEL_RANGE_FLUSH,
  MMU_GATHER_FLUSH,
  MOVE_PTES_FLUSH,
  PROTECTION_CHANGE_FLUSH,
  SECONDARY_TLB_NOTIFY,
  UNMAP_FLUSH,
  type BatchedPendingFlush,
  type ContextTrackingEntry,
  type GatherNesting,
  type KernelRangeFlush,
  type MmuGatherFlush,
  type MovePtesFlush,
  type MovePtesLocks,
  type PageTableMove,
  type ProtectionChange,
  type ProtectionChangeFlush,
  type SecondaryTlbNotify,
  type UnmapFlush,
} from "./tokens.js";

/** tlb_flush_mmu (mm/mmu_gather.c, v5.17): tlb_flush_mmu_tlbonly, then tlb_flush_mmu_free. */
export class TlbFlushMmu implements MmuGatherFlush {
  constructor(private readonly kernel: Kernel) {}
  *tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
    yield* this.kernel.mmuGather.tlbFlush(cpu, tlb);
    yield* this.kernel.mmuGather.tlbFlushMmuFree(cpu, tlb);
  }
}

/**
 * v4.13 with 99baac21e458 (mm/memory.c): tlb_gather_mmu does inc_tlb_flush_pending,
 * tlb_finish_mmu asks mm_tlb_flush_nested (atomic_read(&mm->tlb_flush_pending) > 1) and
 * then does dec_tlb_flush_pending.
 */
export class MmTlbFlushNested implements GatherNesting {
  gatherStarted(tlb: MmuGather): void {
    tlb.mm.tlbFlushPending++;
  }
  forceFullFlush(tlb: MmuGather): boolean {
    return tlb.mm.tlbFlushPending > 1;
  }
  gatherFinished(tlb: MmuGather): void {
    tlb.mm.tlbFlushPending--;
  }
}

/**
 * change_protection_range's flush (mm/mprotect.c, v5.17): if any present PTE was
 * rewritten, flush_tlb_range(vma, start, end) over the whole sub-range. On x86 v5.17
 * flush_tlb_range passes freed_tables = false (arch/x86/include/asm/tlbflush.h), so
 * lazy CPUs are skipped; it became true only with the 2025 fix for zapped PMDs.
 */
export class FlushTlbRangeAfterChange implements ProtectionChangeFlush {
  constructor(private readonly kernel: Kernel) {}
  begin(_cpu: Cpu, mm: MmStruct): ProtectionChange {
    const arch = this.kernel.policies.archTlb;
    let pages = 0;
    return {
      beginVma() {
        mm.tlbFlushPending++;
      },
      pteChanged() {
        pages++;
      },
      // change_huge_pmd (v5.17): pmdp_invalidate flushes the 2 MiB at once with
      // flush_pmd_tlb_range, which x86 leaves to flush_tlb_range (PAGE_SHIFT stride); the
      // PMD counts HPAGE_PMD_NR pages, so the VMA's flush_tlb_range follows too.
      *hugePmdChanged(cpu: Cpu, addr: number): KGen {
        yield* arch.flushTlbMmRange(cpu, mm, addr, addr + 2097152, 12, false);
        pages += 512;
      },
      *endVma(cpu: Cpu, start: number, end: number): KGen {
        if (pages > 0) yield* arch.flushTlbMmRange(cpu, mm, start, end, 12, false);
        pages = 0;
        mm.tlbFlushPending--;
      },
      *finish(): KGen {},
    };
  }
}

/** v4.2 reclaim: never defer; try_to_unmap_one flushes each mapping at once (ptep_clear_flush). */
export class NoBatchedUnmapFlush implements UnmapFlush {
  shouldDeferFlush(): boolean {
    return false;
  }
  *deferredUnmap(): KGen {
    throw new Error("deferredUnmap called although shouldDeferFlush is false");
  }
  *tryToUnmapFlush(): KGen {}
  *tryToUnmapFlushDirty(): KGen {}
}

/** v4.3 to v4.12: no flush_tlb_batched_pending; a path that finds a PTE reclaim cleared does not flush for it. */
export class NoBatchedPendingFlush implements BatchedPendingFlush {
  *flushTlbBatchedPending(): KGen {}
}

/** Pre-patch: flush_tlb_kernel_range, every online CPU. */
export class FlushTlbKernelRange implements KernelRangeFlush {
  constructor(private readonly kernel: Kernel) {}
  flushKernelRange(cpu: Cpu, start: number, end: number, freedTables = false): KGen {
    return this.kernel.policies.archTlb.flushTlbKernelRange(cpu, start, end, undefined, freedTables);
  }
}

/** ct_kernel_enter: the deferred work runs before anything else in the kernel. */
export class RunWorkFirst implements ContextTrackingEntry {
  constructor(private readonly kernel: Kernel) {}
  kernelEntry(cpu: Cpu): number {
    return this.kernel.ct.runCtWork(cpu);
  }
}

/**
 * v4.15 before seed 004: the sites that replace a page clear it with the *_notify
 * helper, and try_to_unmap_one calls invalidate_range under the PTL for an anonymous
 * page it discards ("mm/mmu_notifier: avoid double notification when it is useless",
 * 0f10851ea475, v4.15); every site ends with mmu_notifier_invalidate_range_end, which
 * calls invalidate_range again for every notifier. copy_page_range, zap_page_range,
 * move_page_tables and change_pmd_range do not notify under the PTL.
 */
export class RangeEndInvalidatesAgain implements SecondaryTlbNotify {
  clearNotifies(site: NotifierSite): boolean {
    return site !== "copy_page_range" && site !== "zap_page_range" && site !== "move_page_tables" && site !== "change_pmd_range";
  }
  onlyEnd(_site: NotifierSite): boolean {
    return false;
  }
}

/**
 * move_ptes after eb66ae030829 ("mremap: properly flush TLB before releasing the page",
 * v4.19): a present PTE moved (pte_present: _PAGE_PRESENT or _PAGE_PROTNONE) forces
 * flush_tlb_range over the extent's old range while both page-table locks are held,
 * then the new PTE page's lock is dropped, then the old one's. move_page_tables has no
 * flush of its own any more (need_flush is gone).
 */
export class FlushTlbRangeBeforePtlRelease implements MovePtesFlush {
  constructor(private readonly kernel: Kernel) {}
  begin(_cpu: Cpu, mm: MmStruct): PageTableMove {
    const arch = this.kernel.policies.archTlb;
    let forceFlush = false;
    return {
      pteMoved(_oldAddr: number, lo: number, hi: number): void {
        if (ptePresent(lo, hi) || pteProtNone(lo, hi)) forceFlush = true;
      },
      *endMovePtes(cpu: Cpu, start: number, end: number, ptl: MovePtesLocks): KGen {
        // flush_tlb_range(vma, old_end - len, old_end): freed_tables false on x86 v5.17.
        if (forceFlush) yield* arch.flushTlbMmRange(cpu, mm, start, end, 12, false);
        forceFlush = false;
        ptl.unlockNew();
        ptl.unlockOld();
      },
      *finish(): KGen {},
    };
  }
}

/** core-mmu's pre-patch defaults. */
export const CORE_DEFAULTS: readonly AnyDefaultPolicy[] = [
  defaultPolicy(MMU_GATHER_FLUSH, (k) => new TlbFlushMmu(k)),
  defaultPolicy(GATHER_NESTING, () => new MmTlbFlushNested()),
  defaultPolicy(PROTECTION_CHANGE_FLUSH, (k) => new FlushTlbRangeAfterChange(k)),
  defaultPolicy(UNMAP_FLUSH, () => new NoBatchedUnmapFlush()),
  defaultPolicy(BATCHED_PENDING_FLUSH, () => new NoBatchedPendingFlush()),
  defaultPolicy(KERNEL_RANGE_FLUSH, (k) => new FlushTlbKernelRange(k)),
  defaultPolicy(CONTEXT_TRACKING_ENTRY, (k) => new RunWorkFirst(k)),
  defaultPolicy(SECONDARY_TLB_NOTIFY, () => new RangeEndInvalidatesAgain()),
  defaultPolicy(MOVE_PTES_FLUSH, (k) => new FlushTlbRangeBeforePtlRelease(k)),
];
