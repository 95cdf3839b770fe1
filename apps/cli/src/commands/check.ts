import { SIGINT_EXIT, installInterrupt } from "../interrupt.js";
import { readFileSync, writeFileSync } from "node:fs";
import { ARCH_NAMES, DEFAULT_KERNEL_VERSION, FlushlabInputError, KERNEL_VERSIONS, checkKernelFeatures, validateKernelVersion, type ArchName, type FlushlabPlugin, type KernelVersion } from "@flushlab/core-mmu";
import { CaseSchema, OP_NAMES, check, checkCase, headline, runCase, type Case, type CheckTarget, type OpName } from "@flushlab/check";
import { HELP_OPTION, expectAtMostPositionals, knownList, nameList, nonNegativeInt, positiveInt, type OptionSpecs } from "../args.js";
import { z } from "zod";
import { archText, nameListText, onOffText, type TextSchema } from "../schemas.js";
import type { CheckReport } from "../reporters/types.js";
import { HTML_OPTION, attachHtml } from "../reporters/html.js";
import { TRACE_OPTIONS, parseTraceOptions, recordTrace } from "../reporters/trace.js";
import { defineCommand } from "./command.js";
import { createScenarioPool, defaultJobs } from "../pool/pool.js";
import { DEFAULT_SEED, JOBS_OPTION, onOff, pluginsKernel, resolvePlugins, type CommandContext } from "./context.js";

/** The default search budget, in schedules: about 40 s on a 2-core machine when nothing is found. */
export const DEFAULT_BUDGET = 50_000;

/** --cpus N or M..N, 1 <= M <= N <= 4. */
const cpuRangeText: TextSchema<{ min: number; max: number }> = z.string().transform((text, ctx) => {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 4 || min > max) {
    ctx.addIssue({ code: "custom", message: "must be N or M..N with 1 <= M <= N <= 4" });
    return z.NEVER;
  }
  return { min, max };
});

const CHECK_OPTIONS = {
  plugins: nameList("a,b", "plugins to enable, comma-separated (default: the config's; \"\" for none)"),
  arch: { type: "string", valueName: ARCH_NAMES.join("|"), description: "arch mode of the simulated machine", schema: archText },
  cpus: { type: "string", valueName: "N|M..N", description: "CPUs per scenario, 1 to 4 (default 2..4)", schema: cpuRangeText },
  budget: positiveInt("N", `schedules to run in all (default ${DEFAULT_BUDGET.toLocaleString("en-US")}; shrinking comes on top)`),
  seed: nonNegativeInt("N", `seed of the search (default ${DEFAULT_SEED}); the same seed explores the same cases`),
  ops: { type: "string", valueName: "a,b", schema: nameListText, description: `operation kinds scenarios may use (default all: ${OP_NAMES.join(", ")})` },
  save: { type: "string", valueName: "FILE", description: "write the counterexample (if any) to FILE, for --replay" },
  replay: { type: "string", valueName: "FILE", description: "run a saved counterexample (from --save or --json) again, exactly" },
  pcid: { type: "string", valueName: "on|off", description: "the machine has PCID (x86-64; default off)", schema: onOffText },
  invpcid: { type: "string", valueName: "on|off", description: "the machine has INVPCID (default off)", schema: onOffText },
  pti: { type: "string", valueName: "on|off", description: "page-table isolation (x86-64; default off)", schema: onOffText },
  kernel: { type: "string", valueName: KERNEL_VERSIONS.join("|"), description: `kernel release the cases run (default: the one the plugins were written for, else ${DEFAULT_KERNEL_VERSION})` },
  ...JOBS_OPTION,
  json: { type: "boolean", description: "print one JSON object instead of the report" },
  ...HTML_OPTION,
  ...TRACE_OPTIONS,
} as const satisfies OptionSpecs;

/** What --save writes and --replay reads. */
export interface SavedCounterexample {
  readonly flushlab: "check-counterexample";
  readonly arch: ArchName;
  readonly plugins: readonly string[];
  /** The machine's TLB features the case ran with (absent: none). */
  readonly features?: Features;
  /** The kernel release the case ran (absent: v5.17). */
  readonly kernel?: KernelVersion;
  readonly case: Case;
}

type Features = { pcid?: boolean; invpcid?: boolean; pti?: boolean };

function parseFeatures(flags: Partial<Record<"pcid" | "invpcid" | "pti", boolean>>, arch: ArchName): Features | undefined {
  const out = onOff(flags);
  for (const f of ["pcid", "pti"] as const) if (out[f] === true && arch !== "x86-64") throw new FlushlabInputError(`--${f} on needs arch x86-64`);
  return Object.keys(out).length === 0 ? undefined : out;
}

function archOf(ctx: CommandContext, flag: ArchName | undefined): ArchName {
  return flag ?? ctx.config?.config.machine?.arch ?? ctx.registry.defaultMachine.arch;
}

function targetOf(ctx: CommandContext, arch: ArchName, plugins: readonly FlushlabPlugin[], features?: Features, kernel?: KernelVersion): CheckTarget {
  const layer = ctx.registry.arch;
  if (layer === undefined) throw new FlushlabInputError("this flushlab has no arch layer to run check on");
  if (kernel !== undefined) checkKernelFeatures(features ?? {}, kernel);
  return { arch: layer, archName: arch, plugins, ...(features ? { features } : {}), ...(kernel ? { kernel } : {}) };
}

/** Reads a counterexample: a --save file, or a whole --json report that carries one. */
function readSaved(file: string): SavedCounterexample {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new FlushlabInputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FlushlabInputError(`${file} is not JSON (a counterexample from "flushlab check --save" or --json)`);
  }
  const inner = (json as { counterexample?: { replay?: unknown } } | null)?.counterexample?.replay;
  const saved = (inner ?? json) as Partial<SavedCounterexample> | null;
  if (saved === null || typeof saved !== "object" || saved.flushlab !== "check-counterexample") {
    throw new FlushlabInputError(`${file} holds no counterexample (expected "flushlab": "check-counterexample", from "flushlab check --save" or --json)`);
  }
  if (!ARCH_NAMES.includes(saved.arch as ArchName)) throw new FlushlabInputError(`${file}: arch must be one of ${ARCH_NAMES.join(", ")}`);
  if (!Array.isArray(saved.plugins) || saved.plugins.some((p) => typeof p !== "string")) throw new FlushlabInputError(`${file}: plugins must be a list of names`);
  const parsed = CaseSchema.safeParse(saved.case);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new FlushlabInputError(`${file}: case.${issue.path.join(".")}: ${issue.message}`);
  }
  const bad = checkCase(parsed.data);
  if (bad !== null) throw new FlushlabInputError(`${file}: ${bad}`);
  const features = saved.features as Features | undefined;
  if (features !== undefined && (typeof features !== "object" || features === null || Object.entries(features).some(([k, v]) => !["pcid", "invpcid", "pti"].includes(k) || typeof v !== "boolean"))) {
    throw new FlushlabInputError(`${file}: features must be an object of pcid, invpcid, pti: true or false`);
  }
  const kernel = saved.kernel === undefined ? undefined : validateKernelVersion(saved.kernel, file);
  return { flushlab: "check-counterexample", arch: saved.arch as ArchName, plugins: saved.plugins, ...(features ? { features } : {}), ...(kernel ? { kernel } : {}), case: parsed.data };
}

function writeSaved(file: string, saved: SavedCounterexample): void {
  try {
    writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
  } catch (e) {
    throw new FlushlabInputError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export const checkCommand = defineCommand({
  name: "check",
  summary: "search small scenarios and their interleavings for hazards; print a shrunk counterexample",
  usage: "[options]  |  flushlab check --replay FILE [--trace FILE] [--json] [--html FILE]",
  details: [
    "Generates small scenarios (one process's threads on 2 to 4 CPUs over a page or two: accesses,",
    "munmap, mprotect, madvise DONTNEED/FREE, mremap, fork, context switches, reclaim, vmalloc and",
    "huge ioremap with their frees, kernel accesses, device DMA, idle and nohz_full user time), runs",
    "each under its natural schedule and under delays at scheduling points (every single delay for",
    "small scenarios, random delays beyond), and stops at the first hazard the oracle reports. The",
    "hazard is shrunk (fewer CPUs, operations, delays) and printed as a per-CPU timeline with the",
    "flush that was missing. Deterministic: the same seed and budget explore the same cases.",
    "It cannot prove a policy safe: it covers the grammar's scenarios it reaches within the budget.",
    "Exit status: 0 nothing found, 1 a hazard found, 2 bad input.",
  ],
  options: { ...CHECK_OPTIONS, ...HELP_OPTION },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 0, "check");
    const flags = args.options;
    if (flags.replay === undefined && flags.trace !== undefined) throw new FlushlabInputError("--trace traces one simulation: give it with --replay FILE");
    const trace = parseTraceOptions(flags);
    if (flags.replay !== undefined) {
      for (const f of ["plugins", "arch", "cpus", "budget", "seed", "ops", "save", "pcid", "invpcid", "pti", "kernel", "jobs"] as const) {
        if (flags[f] !== undefined) throw new FlushlabInputError(`--replay runs the saved case as it was: --${f} cannot be given with it`);
      }
      const replayFile = flags.replay;
      const saved = readSaved(replayFile);
      const html = attachHtml(ctx.bus, flags.html);
      const plugins = resolvePlugins(ctx, saved.plugins, saved.arch);
      const target = targetOf(ctx, saved.arch, plugins, saved.features, saved.kernel);
      ctx.bus.emit("cli:check_start", { arch: saved.arch, plugins: saved.plugins, cpus: null, budget: 0, seed: null, replay: replayFile });
      // A replay is one case, one schedule: what it found, or where the kernel stopped.
      const replayed = (rest: Pick<CheckReport, "stopped" | "counterexample">): CheckReport => ({
        arch: saved.arch,
        kernel: saved.kernel ?? DEFAULT_KERNEL_VERSION,
        plugins: [...saved.plugins],
        seed: null,
        budget: 0,
        cpus: null,
        explored: { scenarios: 1, schedules: 1, exhaustive: 0, skipped: 0, budget: 0 },
        replay: replayFile,
        ...rest,
      });
      let report: CheckReport;
      try {
        const bus = ctx.bus;
        // With --trace, the replay's model events go to the bus (and the trace writer on it).
        const replay = (): ReturnType<typeof runCase> =>
          runCase(saved.case, target, true, (events) => {
            const wanted = bus.wantedModelEvents();
            if (wanted.length > 0) events.select(...wanted).subscribe((e) => bus.forward(e));
          });
        const out = trace === undefined ? runCase(saved.case, target, true) : recordTrace(bus, trace, trace.file, `check --replay ${replayFile}`, replay);
        report = replayed({
          stopped: null,
          counterexample:
            out.hazards.length === 0
              ? null
              : { case: saved.case, found: saved.case, shrinkRuns: 0, hazard: headline(out.hazards), hazards: out.hazards, timeline: out.timeline ?? [], replay: saved },
        });
      } catch (e) {
        if (e instanceof Error && (e.name === "FlushlabInputError" || e.name === "PluginError")) throw e;
        report = replayed({ stopped: { case: saved.case, message: e instanceof Error ? e.message : String(e) }, counterexample: null });
      }
      ctx.bus.emit("cli:check_end", { report });
      html?.finish();
      return report.stopped !== null || report.counterexample !== null ? 1 : 0;
    }
    const arch = archOf(ctx, flags.arch);
    const names = flags.plugins ?? (ctx.config?.config.plugins ?? []).map((p) => p.name);
    const plugins = resolvePlugins(ctx, names, arch);
    const cpus = flags.cpus ?? { min: 2, max: 4 };
    const budget = flags.budget ?? DEFAULT_BUDGET;
    const seed = flags.seed ?? ctx.config?.config.seed ?? DEFAULT_SEED;
    let ops: readonly OpName[] = OP_NAMES;
    if (flags.ops !== undefined) {
      const list = flags.ops;
      for (const o of list) if (!OP_NAMES.includes(o as OpName)) throw new FlushlabInputError(`unknown operation "${o}" in --ops (known: ${knownList(OP_NAMES)})`);
      if (list.length === 0) throw new FlushlabInputError("--ops needs at least one operation");
      ops = list as OpName[];
    }
    const features = parseFeatures(flags, arch);
    const kernel = flags.kernel !== undefined ? validateKernelVersion(flags.kernel, "--kernel") : ctx.config?.config.kernel !== undefined ? validateKernelVersion(ctx.config.config.kernel, ctx.config.file) : pluginsKernel(plugins);
    const target = targetOf(ctx, arch, plugins, features, kernel);
    const html = attachHtml(ctx.bus, flags.html);
    ctx.bus.emit("cli:check_start", { arch, plugins: names, cpus, budget, seed, replay: null });
    // The scenarios go to worker threads (--jobs, default one per core) when the registry can be rebuilt there.
    const jobs = flags.jobs ?? defaultJobs();
    const source = jobs > 1 && ctx.registry.workers === true ? createScenarioPool(jobs, { cwd: ctx.cwd, refs: ctx.pluginRefs ?? [], archName: arch, plugins: names, ...(features ? { features } : {}), ...(kernel ? { kernel } : {}), plan: { cpus, seed, ops } }) : undefined;
    if (source !== undefined) ctx.bus.emit("cli:pool", { workers: jobs, what: "the search's scenarios" });
    const interrupt = installInterrupt();
    let result: Awaited<ReturnType<typeof check>>;
    try {
      result = await check({ target, cpus, budget, seed, ops, onProgress: (explored) => ctx.bus.emit("cli:check_progress", { explored }), shouldStop: () => interrupt.requested }, source);
    } finally {
      interrupt.dispose();
      await source?.destroy();
    }
    const cx = result.counterexample;
    let counterexample: CheckReport["counterexample"] = null;
    if (cx !== null) {
      const replay: SavedCounterexample = { flushlab: "check-counterexample", arch, plugins: names, ...(features ? { features } : {}), ...(kernel ? { kernel } : {}), case: cx.case };
      const shown = runCase(cx.case, target, true);
      counterexample = { case: cx.case, found: cx.found, shrinkRuns: cx.shrinkRuns, hazard: cx.hazard, hazards: cx.hazards, timeline: shown.timeline ?? [], replay };
      if (flags.save !== undefined) writeSaved(flags.save, replay);
    }
    if (result.stopped !== null && flags.save !== undefined) writeSaved(flags.save, { flushlab: "check-counterexample", arch, plugins: names, ...(features ? { features } : {}), ...(kernel ? { kernel } : {}), case: result.stopped.case });
    const saved = flags.save !== undefined && (cx !== null || result.stopped !== null) ? { saved: flags.save } : {};
    const partial = result.interrupted === true ? { partial: { finished: result.explored.schedules, total: budget } } : {};
    const report: CheckReport = { arch, kernel: kernel ?? DEFAULT_KERNEL_VERSION, plugins: names, seed, budget, cpus, explored: result.explored, replay: null, counterexample, stopped: result.stopped, ...saved, ...partial };
    ctx.bus.emit("cli:check_end", { report });
    html?.finish();
    if (result.interrupted === true) return SIGINT_EXIT;
    return cx === null && result.stopped === null ? 0 : 1;
  },
});
