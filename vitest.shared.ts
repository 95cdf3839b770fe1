import { defineConfig } from "vitest/config";

/** Shared vitest settings: tests run from sources through the `@flushlab/source` condition. */
export default defineConfig({
  resolve: { conditions: ["@flushlab/source"] },
  ssr: { resolve: { conditions: ["@flushlab/source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "threads",
    // Simulation runs take seconds each; under `turbo run test` every package's runner
    // shares the machine's cores, and vitest's 5 s default failed runs that pass alone.
    testTimeout: 30_000,
  },
});
