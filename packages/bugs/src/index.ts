/**
 * Real TLB-flush bugs, as plugins: each restores the code as it was before its fix
 * (`kind: "pre-fix"`, with the fix's commit, title and kernel version as `patch`), so
 * that `flushlab check` can be shown to find them from the generic scenario grammar.
 */
import type { FlushlabPlugin } from "@flushlab/core-mmu";
import { bug3f8fd02b1bf1 } from "./vmalloc-sync-unmappings.js";
import { bug99baac21e458 } from "./bug-99baac21e458.js";
import { bugEb66ae030829 } from "./eb66ae030829.js";

export { bug3f8fd02b1bf1, PreFixVmallocSync } from "./vmalloc-sync-unmappings.js";
export { bug99baac21e458, UncountedGathers } from "./bug-99baac21e458.js";
export { bugEb66ae030829, FlushDirtyOrAtTheEnd } from "./eb66ae030829.js";

/** Every pre-fix plugin of this package. */
export const bugPlugins: readonly FlushlabPlugin[] = [
  bug3f8fd02b1bf1,
  bug99baac21e458,
  bugEb66ae030829,
];
