/**
 * The unsafe variant of the 3f8fd02b1bf1 fix that src/vmalloc-sync-unmappings.test.ts
 * runs (class 5 on x86-32 PAE), in a module of its own so that `@flushlab/check`'s tests
 * can search with the same plugin (packages/check/test/unsafe-policies.test.ts). A
 * fixture, not a test: neither the build (tsconfig includes src only) nor vitest
 * (`*.test.ts`) picks it up.
 */
import { VMALLOC_SYNC, definePlugin, policy, type Cpu } from "@flushlab/core-mmu";
import { PreFixVmallocSync } from "../src/vmalloc-sync-unmappings.js";

/** Unsafe: 3f8fd02b1bf1's call in __purge_vmap_area_lazy without 8e998fc24de4, so the call runs the v5.2 vmalloc_sync_all, which never copies a cleared PMD. */
export const purgeCallsOldSyncAll = definePlugin({
  name: "test-purge-calls-old-sync-all",
  description: "__purge_vmap_area_lazy calls the v5.2 vmalloc_sync_all",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-32-pae"],
  policies: [
    policy(VMALLOC_SYNC, (kernel) => {
      const old = new PreFixVmallocSync(kernel);
      return { vmallocSyncMappings: (cpu: Cpu) => old.vmallocSyncAll(cpu), vmallocSyncUnmappings: (cpu: Cpu) => old.vmallocSyncAll(cpu) };
    }),
  ],
});
