import { FlushlabInputError } from "@flushlab/core-mmu";
import type { RunResult } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals, parsePositiveInt } from "../args.js";
import { hazardCount } from "../hazards.js";
import type { CompareSummary, CounterComparison, MetricComparison } from "../reporters/types.js";
import { changePct, mean, sampleStddev, welchTTest } from "../stats.js";
import { NO_INTERRUPT, SIGINT_EXIT, installInterrupt, type Interrupt } from "../interrupt.js";
import { defineCommand } from "./command.js";
import { RUN_OPTIONS, resolveRunSetup, simulate, withPlugins } from "./context.js";
import type { CommandContext, RunSetup } from "./context.js";

export const DEFAULT_RUNS = 5;
export const MAX_RUNS = 1000;

/** Names in `preferred` order first (those present), then the rest in first-seen order. */
function orderedKeys(records: readonly Readonly<Record<string, number>>[], preferred: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) seen.add(k);
  const first = preferred.filter((k) => seen.has(k));
  return [...first, ...[...seen].filter((k) => !first.includes(k))];
}

function values(records: readonly Readonly<Record<string, number>>[], key: string): number[] {
  const out: number[] = [];
  for (const r of records) {
    const v = r[key];
    if (v !== undefined) out.push(v);
  }
  return out;
}

/**
 * Runs `setup.workload` `runs` times without plugins and `runs` times with `setup.plugins`,
 * on seeds seed, seed+1, …, and summarises metrics (mean, stddev, Welch's t-test),
 * counters (means) and hazards (sums). Each seed's baseline then patched run, so that a
 * SIGINT (`interrupt`, checked between runs) leaves pairs: the summary then covers the
 * runs that finished and says so (`partial`).
 */
export async function runCompare(ctx: CommandContext, setup: RunSetup, runs: number, label = `compare ${setup.workload.name}`, interrupt: Interrupt = NO_INTERRUPT): Promise<CompareSummary> {
  const first = setup.options.seed;
  if (!Number.isSafeInteger(first + runs - 1)) throw new FlushlabInputError(`--seed ${first} plus ${runs} runs overflows the seed range`);
  const allSeeds = Array.from({ length: runs }, (_, i) => first + i);
  const total = runs * 2;
  const baseline: RunResult[] = [];
  const patched: RunResult[] = [];
  for (const [i, seed] of allSeeds.entries()) {
    if (await interrupt.checkpoint()) break;
    baseline.push(simulate(ctx, withPlugins(setup, [], seed), { index: 2 * i, total, label: `${label}: baseline, seed ${seed}` }));
    if (await interrupt.checkpoint()) break;
    patched.push(simulate(ctx, withPlugins(setup, setup.plugins, seed), { index: 2 * i + 1, total, label: `${label}: patched, seed ${seed}` }));
  }
  const finished = baseline.length + patched.length;
  const seeds = allSeeds.slice(0, baseline.length);

  const bm = baseline.map((r) => r.metrics);
  const pm = patched.map((r) => r.metrics);
  const metrics: MetricComparison[] = orderedKeys([...bm, ...pm], setup.workload.metrics.map((m) => m.name)).map((name) => {
    const b = values(bm, name);
    const p = values(pm, name);
    const bMean = mean(b);
    const pMean = mean(p);
    const welch = welchTTest(b, p);
    return {
      name,
      spec: setup.workload.metrics.find((m) => m.name === name),
      baseline: bMean,
      patched: pMean,
      baselineStddev: sampleStddev(b),
      patchedStddev: sampleStddev(p),
      changePct: changePct(bMean, pMean),
      significant: welch.significant,
      p: welch.p,
    };
  });

  const bc = baseline.map((r) => r.counters);
  const pc = patched.map((r) => r.counters);
  // A counter missing from a run counts as 0 there.
  const counters: CounterComparison[] = orderedKeys([...bc, ...pc], []).map((name) => ({
    name,
    baseline: mean(bc.map((c) => c[name] ?? 0)),
    patched: mean(pc.map((c) => c[name] ?? 0)),
  }));

  const sum = (rs: readonly RunResult[]): number => rs.reduce((acc, r) => acc + hazardCount(r), 0);
  return {
    options: withPlugins(setup, [], first).options,
    workload: setup.workload,
    plugins: setup.plugins,
    runs,
    seeds,
    metrics,
    counters,
    hazards: { baseline: sum(baseline), patched: sum(patched) },
    notes: patched[0]?.notes ?? [],
    ...(finished < total ? { partial: { finished, total } } : {}),
  };
}

export const compareCommand = defineCommand({
  name: "compare",
  summary: "compare a workload without and with plugins over several seeds (mmtests-style)",
  usage: "flushlab compare <workload> --plugins a[,b] [--runs N] [run options] [--json]",
  details: [
    "Runs <workload> N times without plugins (baseline) and N times with --plugins (patched),",
    "on seeds seed, seed+1, ..., and prints per metric the baseline and patched mean ± sample",
    "stddev, the % change, and * where Welch's two-sided t-test finds p < 0.05; then counter",
    "means and hazard totals. Without --plugins the config's plugins are used; none is an error.",
  ],
  options: {
    ...RUN_OPTIONS,
    runs: { type: "string", valueName: "N", description: `runs per side, positive integer (default ${DEFAULT_RUNS})` },
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 1, "compare");
    const { runs: runsText, ...flags } = args.options;
    const runs = runsText === undefined ? DEFAULT_RUNS : parsePositiveInt(runsText, "--runs");
    if (runs > MAX_RUNS) throw new FlushlabInputError(`--runs must be at most ${MAX_RUNS} (got ${runs})`);
    const setup = resolveRunSetup(ctx, args.positionals[0], flags);
    if (setup.plugins.length === 0) {
      throw new FlushlabInputError("compare needs --plugins a[,b] (the plugins to compare against the baseline)");
    }
    ctx.bus.emit("cli:compare_start", { options: setup.options, runs });
    const interrupt = installInterrupt();
    try {
      const summary = await runCompare(ctx, setup, runs, undefined, interrupt);
      ctx.bus.emit("cli:compare_end", { summary });
      return summary.partial === undefined ? 0 : SIGINT_EXIT;
    } finally {
      interrupt.dispose();
    }
  },
});
