import { defineConfig } from "vitest/config";

/** Shared vitest settings: tests run from sources through the `@flushlab/source` condition. */
export default defineConfig({
  resolve: { conditions: ["@flushlab/source"] },
  ssr: { resolve: { conditions: ["@flushlab/source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "threads",
    // Simulations are deterministic and some take seconds; on a loaded 2-core CI machine
    // the default 5 s would fail tests for slowness. Speed is measured by npm run bench.
    testTimeout: 120_000,
  },
});
