/**
 * Pre-patch defaults of core-mmu's extension points (the arch point, ARCH_TLB, is
 * registered by the arch package).
 */
import { inject, injectable, type DependencyContainer } from "tsyringe";
import type { Cpu, KGen } from "../hw/cpu.js";
import type { MmStruct } from "../mm/mm-types.js";
import type { Machine } from "../hw/machine.js";
import type { Kernel } from "../mm/kernel.js";
import type { GatherKernel, MmuGather } from "../mm/mmu-gather.js";
import type { NotifierSite } from "../mm/mmu-notifier.js";
import { ARCH_TLB, CONTEXT_TRACKING_ENTRY, KERNEL_RANGE_FLUSH, MACHINE, MMU_GATHER_FLUSH, PROTECTION_CHANGE_FLUSH, SECONDARY_TLB_NOTIFY, UNMAP_FLUSH, type ArchTlb, type SecondaryTlbNotify, type ContextTrackingEntry, type KernelRangeFlush, type MmuGatherFlush, type ProtectionChange, type ProtectionChangeFlush, type UnmapFlush } from "./tokens.js";

/** tlb_flush_mmu (mm/mmu_gather.c, v5.17): tlb_flush_mmu_tlbonly, then tlb_flush_mmu_free. */
@injectable()
export class TlbFlushMmu implements MmuGatherFlush {
  *tlbFlushMmu(cpu: Cpu, tlb: MmuGather, k: GatherKernel): KGen {
    yield* k.tlbFlush(cpu, tlb);
    yield* k.tlbFlushMmuFree(cpu, tlb);
  }
}

/**
 * change_protection_range's flush (mm/mprotect.c, v5.17): if any present PTE was
 * rewritten, flush_tlb_range(vma, start, end) over the whole sub-range. On x86 v5.17
 * flush_tlb_range passes freed_tables = false (arch/x86/include/asm/tlbflush.h), so
 * lazy CPUs are skipped; it became true only with the 2025 fix for zapped PMDs.
 */
@injectable()
export class FlushTlbRangeAfterChange implements ProtectionChangeFlush {
  private readonly arch: ArchTlb;
  constructor(@inject(ARCH_TLB) arch: ArchTlb) {
    this.arch = arch;
  }
  begin(_cpu: Cpu, mm: MmStruct): ProtectionChange {
    const arch = this.arch;
    let pages = 0;
    return {
      beginVma() {
        mm.tlbFlushPending++;
      },
      pteChanged() {
        pages++;
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

/** Pre-patch: flush_tlb_kernel_range, every online CPU. */
@injectable()
export class FlushTlbKernelRange implements KernelRangeFlush {
  private readonly arch: ArchTlb;
  constructor(@inject(ARCH_TLB) arch: ArchTlb) {
    this.arch = arch;
  }
  flushKernelRange(cpu: Cpu, start: number, end: number, freedTables = false): KGen {
    return this.arch.flushTlbKernelRange(cpu, start, end, undefined, freedTables);
  }
}

/** ct_kernel_enter: the deferred work runs before anything else in the kernel. */
@injectable()
export class RunWorkFirst implements ContextTrackingEntry {
  private readonly m: Machine;
  constructor(@inject(MACHINE) m: Machine) {
    this.m = m;
  }
  kernelEntry(cpu: Cpu): number {
    return (this.m.kernel as Kernel).runCtWork(cpu);
  }
}

/**
 * v4.15 before seed 004: the sites that replace a page clear it with the *_notify
 * helper; every site ends with mmu_notifier_invalidate_range_end, which calls
 * invalidate_range again for every notifier.
 */
export class RangeEndInvalidatesAgain implements SecondaryTlbNotify {
  clearNotifies(site: NotifierSite): boolean {
    return site !== "copy_page_range" && site !== "zap_page_range";
  }
  onlyEnd(_site: NotifierSite): boolean {
    return false;
  }
}

/** Registers core-mmu's pre-patch defaults in a run container. */
export function registerCoreDefaults(container: DependencyContainer): void {
  container.register(KERNEL_RANGE_FLUSH, { useClass: FlushTlbKernelRange });
  container.register(CONTEXT_TRACKING_ENTRY, { useClass: RunWorkFirst });
  container.register(UNMAP_FLUSH, { useClass: NoBatchedUnmapFlush });
  container.register(MMU_GATHER_FLUSH, { useClass: TlbFlushMmu });
  container.register(PROTECTION_CHANGE_FLUSH, { useClass: FlushTlbRangeAfterChange });
  container.register(SECONDARY_TLB_NOTIFY, { useClass: RangeEndInvalidatesAgain });
}
