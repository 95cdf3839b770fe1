import { FlushlabInputError, checkKernelFeatures, resolveParams, validateKernelVersion, validatePlugins } from "@flushlab/core-mmu";
import type { FlushlabPlugin, PublishedFigure } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals, nameList } from "../args.js";
import type { CompareSummary, FigureOutcome, ReproductionOutcome, RunReport } from "../reporters/types.js";
import { HTML_OPTION, attachHtml } from "../reporters/html.js";
import { defineCommand } from "./command.js";
import { changePct } from "../stats.js";
import { NO_INTERRUPT, SIGINT_EXIT, installInterrupt, type Interrupt } from "../interrupt.js";
import { DEFAULT_RUNS, MAX_RUNS, compareJobs, summarizeCompare } from "./compare.js";
import {
  DEFAULT_SEED,
  JOBS_OPTION,
  checkMachine,
  withDefaultMemory,
  defaultProfile,
  findCliPreset,
  findPlugin,
  findProfile,
  paramDefaults,
  withFeatures,
  findWorkload,
  resolveRunSetup,
  simulate,
  simulateAll,
} from "./context.js";
import type { CommandContext, RunSetup } from "./context.js";

/** The model's value of a published figure, from a compare; null when it cannot be computed. */
export function figureValue(compare: CompareSummary, figure: PublishedFigure): number | null {
  const m = compare.metrics.find((x) => x.name === figure.metric) ?? compare.counters.find((x) => x.name === figure.metric);
  if (m === undefined) return null;
  switch (figure.kind) {
    case "baseline":
      return m.baseline;
    case "patched":
      return m.patched;
    case "change_pct":
      return changePct(m.baseline, m.patched);
    case "ratio":
      return m.patched === 0 ? null : m.baseline / m.patched;
    case "patched_ratio":
      return m.baseline === 0 ? null : m.patched / m.baseline;
  }
}

/** Builds the compare a plugin's reproduction declares: registry default machine + its overrides, seed 1. */
export function reproductionSetup(ctx: CommandContext, plugin: FlushlabPlugin): { setup: RunSetup; runs: number } {
  const r = plugin.reproduction;
  if (r === undefined) throw new Error(`plugin "${plugin.name}" declares no reproduction`);
  const where = `plugin "${plugin.name}" reproduction`;
  const workload = findWorkload(ctx, r.workload, where);
  const preset = r.preset === undefined ? undefined : findCliPreset(ctx.registry, r.preset, where);
  const profile =
    r.profile !== undefined
      ? findProfile(ctx.registry, r.profile, where)
      : preset !== undefined
        ? findProfile(ctx.registry, preset.profile, where)
        : defaultProfile(ctx.registry);
  const machine = withFeatures(ctx.registry, checkMachine(withDefaultMemory({ ...ctx.registry.defaultMachine, ...preset?.machine, ...r.machine }, r.machine?.memoryMiB ?? preset?.machine.memoryMiB), where), profile);
  validatePlugins([plugin], machine.arch);
  const params = resolveParams(workload, r.params ?? {}, where, paramDefaults(ctx.registry, profile, machine));
  const kernel = validateKernelVersion(r.kernel, where);
  checkKernelFeatures(machine, kernel);
  const runs = r.runs ?? DEFAULT_RUNS;
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > MAX_RUNS) {
    throw new FlushlabInputError(`${where}: runs must be an integer from 1 to ${MAX_RUNS} (got ${runs})`);
  }
  return {
    runs,
    setup: {
      workload,
      plugins: [plugin],
      options: { workload: workload.name, machine, profile, seed: DEFAULT_SEED, plugins: [plugin.name], params, kernel, ...(preset ? { preset: preset.name } : {}) },
    },
  };
}

/** Judges a reproduction's compare against its published figures. */
function outcome(plugin: FlushlabPlugin, compare: CompareSummary): ReproductionOutcome {
  const r = plugin.reproduction;
  if (r === undefined) throw new Error(`plugin "${plugin.name}" declares no reproduction`);
  const figures: FigureOutcome[] = r.figures.map((figure) => {
    const model = figureValue(compare, figure);
    return { figure, model, ok: model !== null && model >= figure.accept.min && model <= figure.accept.max };
  });
  const hazardsOk = !r.requireNoHazards || (compare.hazards.baseline === 0 && compare.hazards.patched === 0);
  const predictions = figures.filter((f) => (f.figure.role ?? "prediction") === "prediction");
  return { plugin, compare, figures, requireNoHazards: r.requireNoHazards, ok: hazardsOk && predictions.length > 0 && predictions.every((f) => f.ok) };
}

/**
 * Runs the reproductions of `plugins`: all their runs in one batch (so a pool of `jobs`
 * workers stays busy across plugins), then each compare and its figures.
 */
export async function reproduceAll(ctx: CommandContext, plugins: readonly FlushlabPlugin[], jobs?: number, interrupt: Interrupt = NO_INTERRUPT): Promise<ReproductionOutcome[]> {
  const planned = plugins.map((plugin) => {
    const { setup, runs } = reproductionSetup(ctx, plugin);
    return { plugin, setup, ...compareJobs(setup, runs, `reproduce ${plugin.name}`) };
  });
  const results = await simulateAll(ctx, planned.flatMap((p) => p.jobs), jobs, `reproduce: ${planned.length} reproductions`, undefined, interrupt);
  // After a SIGINT, the reproductions whose runs all finished, then the one in progress (partial).
  const out: ReproductionOutcome[] = [];
  let at = 0;
  for (const p of planned) {
    if (at >= results.length) break;
    const mine = results.slice(at, at + p.jobs.length);
    at += p.jobs.length;
    out.push(outcome(p.plugin, summarizeCompare(p.setup, p.seeds, mine)));
  }
  return out;
}

/** One plugin's reproduction. */
export async function reproduce(ctx: CommandContext, plugin: FlushlabPlugin, jobs?: number): Promise<ReproductionOutcome> {
  const [one] = await reproduceAll(ctx, [plugin], jobs);
  return one!;
}

export const reproduceCommand = defineCommand({
  name: "reproduce",
  summary: "rerun each plugin's declared reproduction beside the published figures",
  usage: "[options]",
  details: [
    "For every selected plugin (--plugins, default: all installed and configured plugins) that",
    "declares a reproduction, runs its compare (workload, machine, profile, params, runs; seeds",
    "from 1) and prints the model's figures beside the published ones, with ok/OUT against each",
    "figure's accept band, and the hazards found without and with the plugin. When no plugin",
    "declares a reproduction, prints a demo run of the first workload with defaults.",
    "A figure is a calibration (a parameter was fitted to it) or a prediction; a reproduction is",
    "reproduced only from its predictions. With --strict the exit status is 1 when a prediction",
    "is outside its band.",
  ],
  options: {
    plugins: nameList("a,b", "plugins whose reproductions to run (default: all)"),
    json: { type: "boolean", description: "print one JSON object instead of the report" },
    strict: { type: "boolean", description: "exit 1 when any prediction is outside its band" },
    ...JOBS_OPTION,
    ...HTML_OPTION,
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 0, "reproduce");
    const selected =
      args.options.plugins !== undefined
        ? args.options.plugins.map((name) => findPlugin(ctx, name))
        : ctx.catalog.map((e) => e.plugin);
    const declaring = selected.filter((p) => p.reproduction !== undefined);
    const html = attachHtml(ctx.bus, args.options.html);
    ctx.bus.emit("cli:reproduce_start", { plugins: declaring.map((p) => p.name) });
    // Every reproduction's setup is checked before the first runs; a SIGINT stops after the
    // runs in progress and keeps the reproductions that finished and those in progress, marked partial.
    const interrupt = installInterrupt();
    let reproductions: ReproductionOutcome[];
    try {
      reproductions = await reproduceAll(ctx, declaring, args.options.jobs, interrupt);
    } finally {
      interrupt.dispose();
    }
    if (interrupt.requested) {
      const total = declaring.reduce((n, p) => n + 2 * reproductionSetup(ctx, p).runs, 0);
      const finished = reproductions.reduce((n, r) => n + (r.compare.partial?.finished ?? 2 * r.compare.runs), 0);
      ctx.bus.emit("cli:reproduce_end", { summary: { reproductions, demo: undefined, partial: { finished, total } } });
      html?.finish();
      return SIGINT_EXIT;
    }
    let demo: RunReport | undefined;
    if (reproductions.length === 0) {
      const first = ctx.workloads[0];
      if (first === undefined) throw new FlushlabInputError("no plugin declares a reproduction and no workload is installed");
      const setup = resolveRunSetup(ctx, first.name, {});
      demo = { options: setup.options, workload: setup.workload, plugins: setup.plugins, result: simulate(ctx, setup, { index: 0, total: 1, label: `run ${first.name}` }) };
    }
    ctx.bus.emit("cli:reproduce_end", { summary: { reproductions, demo } });
    html?.finish();
    const missed = reproductions.some((r) => r.figures.some((f) => (f.figure.role ?? "prediction") === "prediction" && !f.ok));
    return args.options.strict === true && missed ? 1 : 0;
  },
});
