import { defineConfig } from "vitest/config";

/** Shared vitest settings: tests run from sources through the `@flushlab/source` condition. */
export default defineConfig({
  resolve: { conditions: ["@flushlab/source"] },
  ssr: { resolve: { conditions: ["@flushlab/source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    pool: "threads",
  },
});
