import { FlushlabInputError } from "@flushlab/core-mmu";
import type { RunResult } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals, positiveInt } from "../args.js";
import { hazardCount } from "../hazards.js";
import type { CompareSummary, CounterComparison, CpuInterrupts, MetricComparison } from "../reporters/types.js";
import { changePct, mean, sampleStddev, welchTTest } from "../stats.js";
import { HTML_OPTION, attachHtml } from "../reporters/html.js";
import { TRACE_OPTIONS, parseTraceOptions, recordTrace, sideTraceFile, type TraceRequest } from "../reporters/trace.js";
import { COMPARE_FORMATS, parseCompareFormat } from "../reporters/compare-formats.js";
import { NO_INTERRUPT, SIGINT_EXIT, installInterrupt, type Interrupt } from "../interrupt.js";
import { defineCommand } from "./command.js";
import { JOBS_OPTION, RUN_OPTIONS, resolveRunSetup, simulate, simulateAll, withPlugins } from "./context.js";
import type { CommandContext, RunJob, RunSetup } from "./context.js";

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

/** The /proc/interrupts rows per CPU, mean over `runs` (all of one machine, so of one width). */
function meanInterrupts(runs: readonly Pick<RunResult, "interrupts">[]): CpuInterrupts {
  const row = (pick: (r: Pick<RunResult, "interrupts">) => readonly number[]): number[] => {
    const width = Math.max(0, ...runs.map((r) => pick(r).length));
    return Array.from({ length: width }, (_, cpu) => mean(runs.map((r) => pick(r)[cpu] ?? 0)));
  };
  return { TLB: row((r) => r.interrupts.TLB), CAL: row((r) => r.interrupts.CAL) };
}

/**
 * The runs of a compare: `runs` seeds from `setup.options.seed`, each seed's baseline then
 * patched run, so that a SIGINT (which stops after the runs in progress) leaves pairs.
 */
export function compareJobs(setup: RunSetup, runs: number, label: string): { seeds: number[]; jobs: RunJob[] } {
  const first = setup.options.seed;
  if (!Number.isSafeInteger(first + runs - 1)) throw new FlushlabInputError(`--seed ${first} plus ${runs} runs overflows the seed range`);
  const seeds = Array.from({ length: runs }, (_, i) => first + i);
  return {
    seeds,
    jobs: seeds.flatMap((seed) => [
      { setup: withPlugins(setup, [], seed), label: `${label}: baseline, seed ${seed}` },
      { setup: withPlugins(setup, setup.plugins, seed), label: `${label}: patched, seed ${seed}` },
    ]),
  };
}

/**
 * Runs `setup.workload` `runs` times without plugins and `runs` times with `setup.plugins`,
 * on seeds seed, seed+1, …, and summarises metrics (mean, stddev, Welch's t-test),
 * counters (means) and hazards (sums). `jobs` is the --jobs value.
 */
export async function runCompare(
  ctx: CommandContext,
  setup: RunSetup,
  runs: number,
  jobs?: number,
  label = `compare ${setup.workload.name}`,
  trace?: TraceRequest,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<CompareSummary> {
  const { seeds, jobs: list } = compareJobs(setup, runs, label);
  if (trace === undefined) return summarizeCompare(setup, seeds, await simulateAll(ctx, list, jobs, label, undefined, interrupt));
  // --trace: the runs stay in this thread (the model's events do not cross to workers),
  // one file per side and seed (t.json → t.baseline.seed1.json, t.patched.seed1.json).
  const results: RunResult[] = [];
  for (const [index, job] of list.entries()) {
    if (await interrupt.checkpoint()) break;
    const which = { index, total: list.length, label: job.label };
    const side = index % 2 === 0 ? "baseline" : "patched";
    results.push(recordTrace(ctx.bus, trace, sideTraceFile(trace.file, side, seeds[Math.floor(index / 2)]!), which.label, () => simulate(ctx, job.setup, which)));
  }
  return summarizeCompare(setup, seeds, results);
}

/**
 * The compare of `setup` from its runs' results, in compareJobs' order (each seed's
 * baseline, then its patched run). Fewer results than 2 × seeds (a SIGINT stopped the
 * command) give the compare of those that finished, marked `partial`.
 */
export function summarizeCompare(setup: RunSetup, allSeeds: readonly number[], results: readonly Pick<RunResult, "metrics" | "counters" | "hazards" | "notes" | "interrupts">[]): CompareSummary {
  const baseline = results.filter((_, i) => i % 2 === 0);
  const patched = results.filter((_, i) => i % 2 === 1);
  const seeds = allSeeds.slice(0, baseline.length);
  const runs = seeds.length;
  const first = allSeeds[0] ?? setup.options.seed;
  const finished = results.length;
  const total = 2 * allSeeds.length;
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
      baselineRuns: b,
      patchedRuns: p,
      changePct: changePct(bMean, pMean),
      significant: welch.significant,
      p: welch.p,
      baselineValues: b,
      patchedValues: p,
    };
  });

  const bc = baseline.map((r) => r.counters);
  const pc = patched.map((r) => r.counters);
  // A counter missing from a run counts as 0 there.
  const counters: CounterComparison[] = orderedKeys([...bc, ...pc], []).map((name) => {
    const baselineValues = bc.map((c) => c[name] ?? 0);
    const patchedValues = pc.map((c) => c[name] ?? 0);
    return { name, baseline: mean(baselineValues), patched: mean(patchedValues), baselineValues, patchedValues };
  });

  const sum = (rs: readonly Pick<RunResult, "counters" | "hazards">[]): number => rs.reduce((acc, r) => acc + hazardCount(r), 0);
  return {
    options: withPlugins(setup, [], first).options,
    workload: setup.workload,
    plugins: setup.plugins,
    runs,
    seeds: [...seeds],
    metrics,
    counters,
    hazards: { baseline: sum(baseline), patched: sum(patched) },
    interrupts: { baseline: meanInterrupts(baseline), patched: meanInterrupts(patched) },
    notes: patched[0]?.notes ?? [],
    ...(finished < total ? { partial: { finished, total } } : {}),
  };
}

export const compareCommand = defineCommand({
  name: "compare",
  summary: "compare a workload without and with plugins over several seeds (mmtests-style)",
  usage: "<workload> --plugins a[,b] [options]",
  details: [
    "Runs <workload> N times without plugins (baseline) and N times with --plugins (patched),",
    "on seeds seed, seed+1, ..., and prints per metric the baseline and patched mean ± sample",
    "stddev, the % change, and * where Welch's two-sided t-test finds p < 0.05; then counter",
    "means and hazard totals. Without --plugins the config's plugins are used; none is an error.",
  ],
  options: {
    ...RUN_OPTIONS,
    runs: positiveInt("N", `runs per side, positive integer (default ${DEFAULT_RUNS})`),
    ...JOBS_OPTION,
    ...HTML_OPTION,
    ...TRACE_OPTIONS,
    format: { type: "string", valueName: COMPARE_FORMATS.join("|"), description: "table layout: flushlab's (default), mmtests' compare-kernels, or the 0-day robot's" },
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 1, "compare");
    const { runs: runsText, jobs, html: htmlFile, trace: traceFile, "trace-max-events": traceMax, format: formatText, ...flags } = args.options;
    const trace = parseTraceOptions({ ...(traceFile !== undefined ? { trace: traceFile } : {}), ...(traceMax !== undefined ? { "trace-max-events": traceMax } : {}) });
    const format = formatText === undefined ? undefined : parseCompareFormat(formatText);
    if (format !== undefined && flags.json === true) throw new FlushlabInputError("--format and --json do not go together (--json prints every figure)");
    const runs = runsText ?? DEFAULT_RUNS;
    if (runs > MAX_RUNS) throw new FlushlabInputError(`--runs must be at most ${MAX_RUNS} (got ${runs})`);
    const setup = resolveRunSetup(ctx, args.positionals[0], flags);
    if (setup.plugins.length === 0) {
      throw new FlushlabInputError("compare needs --plugins a[,b] (the plugins to compare against the baseline)");
    }
    const html = attachHtml(ctx.bus, htmlFile);
    ctx.bus.emit("cli:compare_start", { options: setup.options, runs });
    const interrupt = installInterrupt();
    try {
      const summary = await runCompare(ctx, setup, runs, jobs, undefined, trace, interrupt);
      ctx.bus.emit("cli:compare_end", { summary, ...(format ? { format } : {}) });
      html?.finish();
      return summary.partial === undefined ? 0 : SIGINT_EXIT;
    } finally {
      interrupt.dispose();
    }
  },
});
