/**
 * Variants of the mprotect-gather policy that src/index.test.ts runs, one unsafe (class
 * 2) and one that costs spurious faults only, in one module so that `@flushlab/check`'s
 * tests can search with the same plugins (packages/check/test/unsafe-policies.test.ts).
 * A fixture, not a test: neither the build (tsconfig includes src only) nor vitest
 * (`*.test.ts`) picks it up.
 */
import { PROTECTION_CHANGE_FLUSH, _PAGE_RW, definePlugin, policy } from "@flushlab/core-mmu";
import { MprotectGather } from "../src/index.js";

/** MprotectGather whose needsFlush is `needsFlush` (given what the real one says, `base`). */
const variant = (name: string, needsFlush: (oldLo: number, oldHi: number, newLo: number, newHi: number, base: boolean) => boolean) =>
  definePlugin({
    name,
    description: name,
    patch: { title: "test", commit: "none", kernel: "none" },
    appliesTo: ["x86-64", "x86-32-pae"],
    policies: [
      policy(PROTECTION_CHANGE_FLUSH, (kernel) => {
        const g = new MprotectGather(kernel);
        const base = g.needsFlush.bind(g);
        g.needsFlush = (a, b, c2, d) => needsFlush(a, b, c2, d, base(a, b, c2, d));
        return g;
      }),
    ],
  });
/** Unsafe (class 2, 7): change_huge_pmd records no flush when RW is cleared from a huge PMD. */
export const skipHugeDemotion = definePlugin({
  name: "test-skip-huge-demotion",
  description: "test-skip-huge-demotion",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(PROTECTION_CHANGE_FLUSH, (kernel) => {
      const g = new MprotectGather(kernel);
      const base = g.hugePmdNeedsFlush.bind(g);
      g.hugePmdNeedsFlush = (o, oh, n, nh) => ((o & _PAGE_RW) !== 0 && (n & _PAGE_RW) === 0 ? false : base(o, oh, n, nh));
      return g;
    }),
  ],
});
/** Unsafe: no flush when RW is cleared (a demotion). */
export const skipDemotion = variant("test-skip-demotion", (o, _oh, n, _nh, base) => ((o & _PAGE_RW) !== 0 && (n & _PAGE_RW) === 0 ? false : base));
/** Cost only: no flush when RW is set (a promotion). */
export const skipPromotion = variant("test-skip-promotion", (o, _oh, n, _nh, base) => ((o & _PAGE_RW) === 0 && (n & _PAGE_RW) !== 0 ? false : base));
