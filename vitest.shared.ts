import { defineConfig } from "vitest/config";

/** Shared vitest settings: tests run from sources through the `@flushlab/source` condition. */
export default defineConfig({
  resolve: { conditions: ["@flushlab/source"] },
  ssr: { resolve: { conditions: ["@flushlab/source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "threads",
    // Scenario tests simulate whole workloads: about a second each alone, but turbo runs
    // every package's tests at once, and on a 2-core machine one takes over vitest's
    // default 5 s.
    testTimeout: 30_000,
  },
});
