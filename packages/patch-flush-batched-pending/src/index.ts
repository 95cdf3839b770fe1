/**
 * "mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale
 * TLB entries" (Mel Gorman, upstream 3ea277194daa, v4.13), on top of seed 003's batched
 * unmap flush (v4.3). From v4.3 to v4.12 reclaim could clear a PTE and leave its flush
 * to the end of the batch while a parallel mprotect, munmap or madvise of the same mm
 * found the PTE already gone, decided it had nothing to flush and returned: another CPU
 * kept using the translation until reclaim's try_to_unmap_flush. The fix:
 * - set_tlb_ubc_flush_pending marks the mm (mm->tlb_flush_batched = true) whenever
 *   try_to_unmap_one leaves a PTE's flush to the batch;
 * - flush_tlb_batched_pending(mm), called under the PTE lock by change_pte_range,
 *   zap_pte_range, madvise_free_pte_range and move_ptes before they look at the PTEs,
 *   flushes the whole mm if the mark is set (flush_tlb_mm) and clears it.
 */
import {
  BATCHED_PENDING_FLUSH,
  UNMAP_FLUSH,
  definePlugin,
  policy,
  type BatchedPendingFlush,
  type Cpu,
  type KGen,
  type Kernel,
  type MmStruct,
  type TlbUbc,
  type UnmapFlush,
} from "@flushlab/core-mmu";

/**
 * The batched-unmap policy it is given, with v4.13's set_tlb_ubc_flush_pending marking
 * the mm: `mm->tlb_flush_batched = true` after the PTE's flush was left to the batch.
 * Whether it was is what the batch itself shows: the policy it wraps sets
 * `flush_required` when it records the mm in the batch (and flushes at once otherwise,
 * as the seed does for a dirty PTE), so `deferredUnmap` looks at that flag alone,
 * cleared for the call and restored after it.
 */
export class MarkTlbFlushBatched implements UnmapFlush {
  constructor(private readonly batched: UnmapFlush) {}

  shouldDeferFlush(cpu: Cpu, mm: MmStruct, batch: boolean): boolean {
    return this.batched.shouldDeferFlush(cpu, mm, batch);
  }

  *deferredUnmap(cpu: Cpu, mm: MmStruct, va: number, dirty: boolean, ubc: TlbUbc): KGen {
    const pending = ubc.flushRequired;
    ubc.flushRequired = false;
    try {
      yield* this.batched.deferredUnmap(cpu, mm, va, dirty, ubc);
    } finally {
      // set_tlb_ubc_flush_pending: barrier(); mm->tlb_flush_batched = true;
      if (ubc.flushRequired) mm.tlbFlushBatched = true;
      else ubc.flushRequired = pending;
    }
  }

  tryToUnmapFlush(cpu: Cpu, ubc: TlbUbc): KGen {
    return this.batched.tryToUnmapFlush(cpu, ubc);
  }

  tryToUnmapFlushDirty(cpu: Cpu, ubc: TlbUbc): KGen {
    return this.batched.tryToUnmapFlushDirty(cpu, ubc);
  }
}

/**
 * flush_tlb_batched_pending (mm/rmap.c, v4.13): if reclaim left a flush of this mm to
 * its batch, flush the whole mm now (flush_tlb_mm: flush_tlb_mm_range(mm, 0,
 * TLB_FLUSH_ALL), which reaches every CPU in mm_cpumask, lazy ones too, as v4.13 did),
 * then clear the mark. Each such flush is counted as `flush_tlb_batched_pending`.
 */
export class FlushTlbBatchedPending implements BatchedPendingFlush {
  constructor(private readonly kernel: Kernel) {}

  *flushTlbBatchedPending(cpu: Cpu, mm: MmStruct): KGen {
    if (!mm.tlbFlushBatched) return;
    this.kernel.counters.add("flush_tlb_batched_pending");
    yield* this.kernel.policies.archTlb.flushTlbMmRange(cpu, mm, 0, Infinity, 0, true);
    // barrier(): the mark is cleared only after the flush.
    mm.tlbFlushBatched = false;
  }
}

export const flushBatchedPending = definePlugin({
  name: "flush-batched-pending",
  description: "paths that change PTEs flush first if reclaim left a flush of the mm to its batch (flush_tlb_batched_pending)",
  package: "@flushlab/patch-flush-batched-pending",
  patch: {
    title: "mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries",
    commit: "3ea277194daa",
    kernel: "v4.13",
    author: "Mel Gorman",
  },
  appliesTo: ["x86-64", "x86-32-pae"],
  requires: ["batched-unmap"],
  policies: [
    policy(UNMAP_FLUSH, (_kernel, replaced) => new MarkTlbFlushBatched(replaced)),
    policy(BATCHED_PENDING_FLUSH, (kernel) => new FlushTlbBatchedPending(kernel)),
  ],
});

export default flushBatchedPending;
