/**
 * SIGINT in-process: a registry that raises SIGINT after its third run; the command stops
 * at the next checkpoint, reports what finished as partial, and returns 130. (The child
 * process test, test/interrupt.test.ts, sends a real signal to the built CLI.)
 */
import { describe, expect, it } from "vitest";
import type { CliRegistry } from "./registry-types.js";
import { runCli } from "../test/support/test-io.js";
import { createTestRegistry } from "../test/support/test-registry.js";

/** The test registry's plugins, each declaring a reproduction of 2 runs a side. */
function withReproductions(): CliRegistry {
  const base = createTestRegistry();
  const plugins = base.plugins.map((p) => ({
    ...p,
    reproduction: { workload: "tlb-flush2", runs: 2, requireNoHazards: false, figures: [{ metric: "ops_per_sec", kind: "change_pct" as const, published: 25, accept: { min: 20, max: 30 }, source: "test" }] },
  }));
  return createTestRegistry({ plugins });
}

/** The test registry, raising SIGINT in the process once its `after`-th simulation is done. */
function sigintAfter(after: number, registry: CliRegistry = createTestRegistry()): { registry: CliRegistry; runs: () => number } {
  let runs = 0;
  return {
    runs: () => runs,
    registry: {
      ...registry,
      simulate: (options, onEvents, plugins) => {
        const r = registry.simulate(options, onEvents, plugins);
        if (++runs === after) process.emit("SIGINT", "SIGINT");
        return r;
      },
    },
  };
}

describe("SIGINT keeps what finished", () => {
  it("compare: the finished runs, headed partial, exit 130", async () => {
    const { registry, runs } = sigintAfter(3);
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "5"], { registry });
    expect(r.code).toBe(130);
    expect(runs()).toBe(3);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("interrupted: 3 of 10 runs finished — partial results");
    expect(r.stdout).toContain("flushlab compare tlb-flush2");
    expect(process.listenerCount("SIGINT")).toBe(0);
  });

  it("compare --json: \"partial\": true; the means are those of the runs that finished", async () => {
    const { registry } = sigintAfter(4);
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "5", "--json"], { registry });
    expect(r.code).toBe(130);
    const j = JSON.parse(r.stdout) as { partial: boolean; finished: number; total: number; metrics: Record<string, { baseline: number }> };
    expect([j.partial, j.finished, j.total]).toEqual([true, 4, 10]);
    // The first two seeds' pairs, the same as a full compare of two runs.
    const two = JSON.parse((await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2", "--json"], { registry: createTestRegistry() })).stdout) as { metrics: unknown; partial?: boolean };
    expect(two.partial).toBeUndefined();
    expect(j.metrics).toEqual(two.metrics);
  });

  it("reproduce: the reproductions that ran, the last one partial, exit 130", async () => {
    // Two reproductions of 2 × 2 runs; SIGINT after the first's third run.
    const { registry } = sigintAfter(3, withReproductions());
    const r = await runCli(["reproduce", "--plugins", "lazy-flush,batch-ipi", "--json"], { registry });
    expect(r.code).toBe(130);
    const j = JSON.parse(r.stdout) as { partial: boolean; finished: number; total: number; reproductions: { plugin: string }[] };
    expect([j.partial, j.finished, j.total]).toEqual([true, 3, 8]);
    expect(j.reproductions.map((x) => x.plugin)).toEqual(["lazy-flush"]);
    const human = await runCli(["reproduce", "--plugins", "lazy-flush,batch-ipi"], { registry: sigintAfter(5, withReproductions()).registry });
    expect(human.code).toBe(130);
    expect(human.stdout.split("\n")[0]).toBe("interrupted: 5 of 8 runs finished — partial results");
  });

  it("a run that is not interrupted says nothing of it", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2"], { registry: createTestRegistry() });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("interrupted");
  });
});
