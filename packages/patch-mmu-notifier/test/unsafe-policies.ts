/**
 * The deliberately unsafe notifier policy that src/index.test.ts runs (class 6), in a
 * module of its own so that `@flushlab/check`'s tests can search with the same plugin
 * (packages/check/test/unsafe-policies.test.ts). A fixture, not a test: neither the
 * build (tsconfig includes src only) nor vitest (`*.test.ts`) picks it up.
 */
import { SECONDARY_TLB_NOTIFY, definePlugin, policy, type NotifierSite } from "@flushlab/core-mmu";

/** Unsafe: wp_page_copy clears with plain ptep_clear_flush (no invalidate_range) and ends with only_end. */
export const plainClearOnlyEnd = definePlugin({
  name: "test-plain-clear-only-end",
  description: "wp_page_copy with ptep_clear_flush (no notify) and mmu_notifier_invalidate_range_only_end",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(SECONDARY_TLB_NOTIFY, (_kernel, before) => ({
      clearNotifies: (site: NotifierSite) => site !== "wp_page_copy" && before.clearNotifies(site),
      onlyEnd: (site: NotifierSite) => site === "wp_page_copy",
    })),
  ],
});
