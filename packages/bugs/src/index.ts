/**
 * Real TLB-flush bugs, as plugins: each restores the code as it was before its fix
 * (`kind: "pre-fix"`, with the fix's commit, title and kernel version as `patch`), so
 * that `flushlab check` can be shown to find them from the generic scenario grammar.
 */
import type { FlushlabPlugin } from "@flushlab/core-mmu";
import { bug99baac21e458 } from "./bug-99baac21e458.js";

export { bug99baac21e458, UncountedGathers } from "./bug-99baac21e458.js";

/** Every pre-fix plugin of this package. */
export const bugPlugins: readonly FlushlabPlugin[] = [bug99baac21e458];
