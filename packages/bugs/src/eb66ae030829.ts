/**
 * CVE-2018-18281: mremap as it was in v4.18, before eb66ae030829 ("mremap: properly
 * flush TLB before releasing the page", Linus Torvalds, v4.19).
 *
 * move_ptes set force_flush only for a present dirty PTE (5d1904204c99, for
 * page_mkclean); it dropped the new PTE page's lock, then flushed the extent's old range
 * if forced, else set need_flush, then dropped the old PTE page's lock.
 * move_page_tables flushed the whole old range at its end, after every lock was dropped,
 * when any move_ptes had set need_flush. In between, the page is mapped only at its new
 * address, under a lock nobody holds: reclaim (try_to_unmap_one's flush covers the new
 * address only) or truncation can unmap and free it while another CPU still reaches it
 * through a TLB entry for the old address.
 */
import { MOVE_PTES_FLUSH, definePlugin, policy, pteDirty, ptePresent, pteProtNone, type Cpu, type Kernel, type KGen, type MmStruct, type MovePtesFlush, type MovePtesLocks, type PageTableMove } from "@flushlab/core-mmu";

/** move_ptes and move_page_tables' flush as in v4.18. */
export class FlushDirtyOrAtTheEnd implements MovePtesFlush {
  constructor(private readonly kernel: Kernel) {}
  begin(_cpu: Cpu, mm: MmStruct): PageTableMove {
    const arch = this.kernel.policies.archTlb;
    let forceFlush = false;
    let needFlush = false;
    return {
      pteMoved(_oldAddr: number, lo: number, hi: number): void {
        // pte_present (_PAGE_PRESENT or _PAGE_PROTNONE) && pte_dirty, after ptep_get_and_clear.
        if ((ptePresent(lo, hi) || pteProtNone(lo, hi)) && pteDirty(lo, hi)) forceFlush = true;
      },
      *endMovePtes(cpu: Cpu, start: number, end: number, ptl: MovePtesLocks): KGen {
        ptl.unlockNew();
        if (forceFlush) yield* arch.flushTlbMmRange(cpu, mm, start, end, 12, false);
        else needFlush = true;
        forceFlush = false;
        ptl.unlockOld();
      },
      *finish(cpu: Cpu, start: number, end: number): KGen {
        // if (need_flush) flush_tlb_range(vma, old_end - len, old_addr)
        if (needFlush) yield* arch.flushTlbMmRange(cpu, mm, start, end, 12, false);
      },
    };
  }
}

export const bugEb66ae030829 = definePlugin({
  name: "bug-eb66ae030829",
  kind: "pre-fix",
  description: "mremap before its CVE-2018-18281 fix (v4.18): move_ptes flushes the old range under the old PTE lock only for dirty PTEs, after dropping the new one; otherwise the flush waits for the end of move_page_tables",
  package: "@flushlab/bugs",
  patch: { title: "mremap: properly flush TLB before releasing the page", commit: "eb66ae030829", kernel: "v4.19", author: "Linus Torvalds" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(MOVE_PTES_FLUSH, (kernel) => new FlushDirtyOrAtTheEnd(kernel))],
});
