/**
 * "mm/mmu_notifier: avoid call to invalidate_range() in range_end()" (Jérôme Glisse,
 * patch 2/2, v4.15): the call sites that already called invalidate_range under the
 * page-table lock, through a *_clear_flush_notify helper, end their notifier range
 * with mmu_notifier_invalidate_range_only_end, which calls invalidate_range_end but
 * not invalidate_range a second time.
 *
 * Converted sites (exactly the patch's): wp_page_copy, do_huge_pmd_wp_page,
 * do_huge_pmd_wp_page_fallback, __split_huge_pmd, __split_huge_pud,
 * migrate_misplaced_transhuge_page, migrate_vma_pages. copy_page_range (fork) and
 * zap_page_range keep range_end.
 */
import { SECONDARY_TLB_NOTIFY, definePlugin, policy, type NotifierSite, type SecondaryTlbNotify } from "@flushlab/core-mmu";

/** The call sites patch 2/2 converts to mmu_notifier_invalidate_range_only_end. */
export const ONLY_END_SITES: ReadonlySet<NotifierSite> = new Set<NotifierSite>([
  "wp_page_copy",
  "do_huge_pmd_wp_page",
  "do_huge_pmd_wp_page_fallback",
  "__split_huge_pmd",
  "__split_huge_pud",
  "migrate_misplaced_transhuge_page",
  "migrate_vma_pages",
]);

/** v4.15 with the patch: the same *_notify helpers as before it, range_only_end at the converted sites. */
export class RangeOnlyEnd implements SecondaryTlbNotify {
  constructor(private readonly before: SecondaryTlbNotify) {}
  clearNotifies(site: NotifierSite): boolean {
    return this.before.clearNotifies(site);
  }
  onlyEnd(site: NotifierSite): boolean {
    return ONLY_END_SITES.has(site);
  }
}

export const mmuNotifierOnlyEnd = definePlugin({
  name: "mmu-notifier",
  description: "sites that notified under the PTL end with mmu_notifier_invalidate_range_only_end (no second invalidate_range)",
  package: "@flushlab/patch-mmu-notifier",
  patch: {
    title: "mm/mmu_notifier: avoid call to invalidate_range() in range_end()",
    commit: "4645b9fe84bf",
    kernel: "v4.15",
    author: "Jérôme Glisse",
  },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(SECONDARY_TLB_NOTIFY, (_kernel, before) => new RangeOnlyEnd(before))],
  reproduction: {
    workload: "notifier-device",
    kernel: "v4.15",
    params: { mix: "cow" },
    runs: 3,
    requireNoHazards: true,
    figures: [
      {
        metric: "invalidate_range_calls",
        kind: "patched_ratio",
        published: null,
        accept: { min: 0.45, max: 0.55 },
        source: "none published (seed 004 gives no benchmark); band from issue 7: one invalidate_range per COW fault instead of two, plus fork's range_end",
      },
    ],
  },
});

export default mmuNotifierOnlyEnd;
