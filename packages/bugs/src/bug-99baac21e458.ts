/**
 * The kernel before 99baac21e458 "mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem"
 * (Minchan Kim, Aug 2017, merged for v4.13-rc5; 56236a59556c "mm: refactor TLB gathering
 * API" came just before it in the same series). There tlb_gather_mmu did not count the
 * gather in mm->tlb_flush_pending (change_protection_range counted its own) and
 * tlb_finish_mmu flushed only what its own walk recorded: no mm_tlb_flush_nested, no
 * forced flush, no dec_tlb_flush_pending. madvise holds mmap_sem only for reading, so
 * two MADV_DONTNEED (or MADV_FREE) calls on one range run at once: the second finds the
 * PTEs the first already cleared (or cleaned), records nothing, flushes nothing and
 * returns while the first has not flushed yet. A CPU then still uses the removed
 * translation after madvise returned (class 7), or, after MADV_FREE, writes through its
 * stale dirty entry without setting D, and reclaim may discard the write (class 2).
 * Mel Gorman's 4647706ebeee ("mm: always flush VMA ranges affected by zap_page_range",
 * merged later, for v4.14, and reverted in 2018) is not part of this kernel.
 */
import { GATHER_NESTING, definePlugin, policy, type GatherNesting } from "@flushlab/core-mmu";

/** v4.13-rc4's tlb_gather_mmu / tlb_finish_mmu: no gather is counted, nothing is forced. */
export class UncountedGathers implements GatherNesting {
  gatherStarted(): void {}
  forceFullFlush(): boolean {
    return false;
  }
  gatherFinished(): void {}
}

export const bug99baac21e458 = definePlugin({
  name: "bug-99baac21e458",
  kind: "pre-fix",
  description: "tlb_finish_mmu without the nested-gather check: a madvise that finds PTEs a concurrent one cleared returns before that one's flush",
  package: "@flushlab/bugs",
  patch: { title: "mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem", commit: "99baac21e458", kernel: "v4.13", author: "Minchan Kim" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(GATHER_NESTING, () => new UncountedGathers())],
});
