/**
 * `flushlab sweep`: a grid of runs (plugin sets × workload parameters × topologies ×
 * seeds) on the worker pool, one JSON line per run in --out, resumable: a run whose line
 * is already in the file is not run again. The grid is then printed as compare tables,
 * one per cell (parameters and topology), each plugin set against the baseline.
 *
 * Lines are written in grid order (a run that finishes early waits for those before it),
 * so the file, like stdout, is the same for every --jobs.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { FlushlabInputError } from "@flushlab/core-mmu";
import type { RunResult } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals, positiveInt, type OptionSpecs } from "../args.js";
import { hazardCount } from "../hazards.js";
import type { SweepCell, SweepLine, SweepSummary } from "../reporters/types.js";
import { intText, nameListText, type TextSchema } from "../schemas.js";
import { z } from "zod";
import { defineCommand } from "./command.js";
import { SIGINT_EXIT, installInterrupt } from "../interrupt.js";
import { summarizeCompare } from "./compare.js";
import { JOBS_OPTION, RUN_OPTIONS, pluginsKernel, resolvePlugins, resolveRunSetup, simulateAll, withPlugins } from "./context.js";
import type { CommandContext, RunFlags, RunJob, RunSetup } from "./context.js";

export const DEFAULT_SWEEP_SEEDS = 3;

/** "8,16,32" → [8, 16, 32]. */
const intListText: TextSchema<number[]> = z.string().transform((text, ctx) => {
  const out: number[] = [];
  for (const part of text.split(",")) {
    const r = intText(1).safeParse(part);
    if (!r.success) {
      ctx.addIssue({ code: "custom", message: "must be positive integers, comma-separated" });
      return z.NEVER;
    }
    if (out.includes(r.data)) {
      ctx.addIssue({ code: "custom", message: `lists ${r.data} twice` });
      return z.NEVER;
    }
    out.push(r.data);
  }
  return out;
});

/** "K/N", 1 <= K <= N. */
const shardText: TextSchema<{ k: number; n: number }> = z.string().transform((text, ctx) => {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const k = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!(Number.isSafeInteger(k) && Number.isSafeInteger(n) && k >= 1 && k <= n)) {
    ctx.addIssue({ code: "custom", message: "must be K/N with 1 <= K <= N" });
    return z.NEVER;
  }
  return { k, n };
});

const { cpus: _cpus, sockets: _sockets, plugins: _plugins, param: _param, json: _json, ...PASSED_ON } = RUN_OPTIONS;

const SWEEP_OPTIONS = {
  ...PASSED_ON,
  plugins: { type: "string", multiple: true, valueName: "a,b", description: "a plugin set to run beside the baseline; repeat for several sets", schema: nameListText },
  param: { type: "string", multiple: true, valueName: "k=v1,v2", description: "a workload parameter's values (an axis of the grid); repeat for several parameters" },
  cpus: { type: "string", valueName: "N,M", description: "CPU counts (an axis of the grid)", schema: intListText },
  sockets: { type: "string", valueName: "N,M", description: "socket counts (an axis; combinations where sockets do not divide cpus are left out)", schema: intListText },
  seeds: positiveInt("N", `runs per grid point, seeds --seed, --seed+1, … (default ${DEFAULT_SWEEP_SEEDS})`),
  out: { type: "string", valueName: "FILE", description: "JSON lines, one per run; runs already in FILE are not run again (required)" },
  "max-runs": positiveInt("N", "stop after N new runs (the rest are run by the next sweep with the same --out)"),
  shard: { type: "string", valueName: "K/N", description: "run only the grid's runs K, K+N, K+2N, … (K from 1): one of N independent jobs; concatenate their files to print the grid", schema: shardText },
  json: { type: "boolean", description: "print one JSON object instead of the tables" },
  ...JOBS_OPTION,
} as const satisfies OptionSpecs;

/** "k=v1,v2" axes → every combination, as `--param k=v` lists, in axis order. */
function paramGrid(flags: readonly string[]): string[][] {
  let grid: string[][] = [[]];
  const seen = new Set<string>();
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new FlushlabInputError(`--param must be written key=v1,v2 (got "${flag}")`);
    const key = flag.slice(0, eq).trim();
    if (seen.has(key)) throw new FlushlabInputError(`parameter "${key}" given more than once`);
    seen.add(key);
    const values = flag.slice(eq + 1).split(",");
    grid = grid.flatMap((g) => values.map((v) => [...g, `${key}=${v}`]));
  }
  return grid;
}

/**
 * The runs already in `file`, by key. A last line cut short (the process was killed while
 * writing it) is dropped from the file, so its run is done again; a bad line elsewhere is
 * an error.
 */
function readDone(file: string): Map<string, SweepLine> {
  const done = new Map<string, SweepLine>();
  if (!existsSync(file)) return done;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new FlushlabInputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    let parsed: SweepLine | undefined;
    try {
      parsed = JSON.parse(line) as SweepLine;
    } catch {
      parsed = undefined;
    }
    const last = lines.slice(i + 1).every((l) => l.trim() === "");
    if (parsed === undefined && last) {
      try {
        writeFileSync(file, lines.slice(0, i).filter((l) => l.trim() !== "").map((l) => `${l}\n`).join(""));
      } catch (e) {
        throw new FlushlabInputError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      break;
    }
    if (parsed === undefined || typeof parsed.key !== "string") throw new FlushlabInputError(`${file}:${i + 1} is not a JSON line of a sweep`);
    done.set(parsed.key, parsed);
  }
  return done;
}

function append(file: string, line: SweepLine): void {
  try {
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch (e) {
    throw new FlushlabInputError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** A stored line as the part of a RunResult a compare reads (metrics, counters, the hazard count). */
function asResult(line: SweepLine): Pick<RunResult, "metrics" | "counters" | "hazards" | "notes" | "interrupts"> {
  return { metrics: line.metrics, counters: { ...line.counters, hazards_total: line.hazards }, hazards: [], notes: line.notes ?? [], interrupts: line.interrupts ?? { TLB: [], CAL: [] } };
}

export const sweepCommand = defineCommand({
  name: "sweep",
  summary: "run a grid (plugin sets × parameters × topologies × seeds) on the worker pool; resumable",
  usage: "<workload> --out FILE [--plugins a,b]... [--param k=v1,v2]... [--cpus N,M] [--sockets N,M] [options]",
  details: [
    "Runs <workload> for every combination of the baseline and each --plugins set, each --param",
    "value, each --cpus and --sockets value (where sockets divide cpus), on --seeds seeds, on",
    "--jobs worker threads. Each run is written to --out as one JSON line as soon as the runs",
    "before it in the grid are written; a sweep started again with the same --out skips the",
    "runs already there. Then each grid point is printed as a compare of each plugin set",
    "against the baseline (mean, stddev, % change, * where Welch's t-test finds p < 0.05).",
  ],
  options: { ...SWEEP_OPTIONS, ...HELP_OPTION },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 1, "sweep");
    const f = args.options;
    if (f.out === undefined) throw new FlushlabInputError("sweep needs --out FILE (the JSON lines that make it resumable)");
    const variants: string[][] = [[], ...(f.plugins ?? []).filter((set) => set.length > 0)];
    const cpusList: (number | undefined)[] = f.cpus ?? [undefined];
    const socketsList: (number | undefined)[] = f.sockets ?? [undefined];
    const seeds = f.seeds ?? DEFAULT_SWEEP_SEEDS;
    const base: RunFlags = {
      ...(f.preset !== undefined ? { preset: f.preset } : {}),
      ...(f.arch !== undefined ? { arch: f.arch } : {}),
      ...(f.memory !== undefined ? { memory: f.memory } : {}),
      ...(f.pcid !== undefined ? { pcid: f.pcid } : {}),
      ...(f.invpcid !== undefined ? { invpcid: f.invpcid } : {}),
      ...(f.pti !== undefined ? { pti: f.pti } : {}),
      ...(f.thp !== undefined ? { thp: f.thp } : {}),
      ...(f.la57 !== undefined ? { la57: f.la57 } : {}),
      ...(f["pte-leak-erratum"] !== undefined ? { "pte-leak-erratum": f["pte-leak-erratum"] } : {}),
      ...(f.profile !== undefined ? { profile: f.profile } : {}),
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
    };
    // One kernel for the whole grid, so every plugin set is compared on the baseline's kernel.
    const firstSetup = resolveRunSetup(ctx, args.positionals[0], { ...base, plugins: [] });
    const allPlugins = resolvePlugins(ctx, [...new Set(variants.flat())], firstSetup.options.machine.arch);
    const kernel = f.kernel ?? pluginsKernel(allPlugins);

    // The grid, in order: cell (topology, parameters) → variant → seed.
    interface Point {
      readonly key: string;
      readonly cell: string;
      readonly variant: string;
      readonly seed: number;
      readonly setup: RunSetup;
    }
    const cells: { cell: string; setup: RunSetup }[] = [];
    for (const cpus of cpusList) {
      for (const sockets of socketsList) {
        if (cpus !== undefined && sockets !== undefined && cpus % sockets !== 0) continue;
        for (const params of paramGrid(f.param ?? [])) {
          const setup = resolveRunSetup(ctx, args.positionals[0], {
            ...base,
            kernel,
            plugins: [],
            param: params,
            ...(cpus !== undefined ? { cpus } : {}),
            ...(sockets !== undefined ? { sockets } : {}),
          });
          const m = setup.options.machine;
          const cell = [`cpus=${m.cpus}`, `sockets=${m.sockets}`, ...params].join(" ");
          cells.push({ cell, setup });
        }
      }
    }
    if (cells.length === 0) throw new FlushlabInputError("the grid is empty: no --sockets value divides a --cpus value");
    const points: Point[] = [];
    for (const { cell, setup } of cells) {
      for (const variant of variants) {
        const plugins = resolvePlugins(ctx, variant, setup.options.machine.arch);
        for (let i = 0; i < seeds; i++) {
          const seed = setup.options.seed + i;
          const s = withPlugins(setup, plugins, seed);
          const o = s.options;
          const key = JSON.stringify({ w: o.workload, a: o.machine.arch, m: o.machine, pr: o.profile, k: o.kernel, pl: o.plugins, p: o.params, s: seed });
          points.push({ key, cell, variant: variant.join(",") || "baseline", seed, setup: s });
        }
      }
    }

    const done = readDone(f.out);
    const shard = f.shard;
    const mine = shard === undefined ? points : points.filter((_, i) => i % shard.n === shard.k - 1);
    const todoAll = mine.filter((p) => !done.has(p.key));
    const todo = f["max-runs"] !== undefined ? todoAll.slice(0, f["max-runs"]) : todoAll;
    const jobs: RunJob[] = todo.map((p) => ({ setup: p.setup, label: `sweep ${p.cell} ${p.variant} seed ${p.seed}` }));
    // Write in grid order: a run that finishes early waits for those before it.
    const pending = new Map<number, RunResult>();
    let next = 0;
    const flush = (): void => {
      for (let r = pending.get(next); r !== undefined; r = pending.get(next)) {
        pending.delete(next);
        const p = todo[next]!;
        const o = p.setup.options;
        const line: SweepLine = {
          key: p.key,
          variant: p.variant,
          cell: p.cell,
          seed: p.seed,
          workload: o.workload,
          machine: o.machine,
          ...(o.preset !== undefined ? { preset: o.preset } : {}),
          profile: o.profile,
          kernel: r.kernel,
          plugins: o.plugins,
          params: o.params,
          metrics: r.metrics,
          counters: r.counters,
          hazards: hazardCount(r),
          interrupts: r.interrupts,
          notes: r.notes,
        };
        append(f.out!, line);
        done.set(p.key, line);
        next++;
      }
    };
    // Ctrl-C: the runs in progress finish and are written; the sweep reports what it has
    // (partial) and exits 130; the same command later goes on from there.
    const interrupt = installInterrupt();
    try {
      await simulateAll(
        ctx,
        jobs,
        f.jobs,
        `sweep ${firstSetup.workload.name}`,
        (index, result) => {
          pending.set(index, result);
          flush();
        },
        interrupt,
      );
    } finally {
      interrupt.dispose();
    }

    const complete = points.every((p) => done.has(p.key));
    const summaryCells: SweepCell[] = complete
      ? cells.map(({ cell, setup }) => {
          const resultsOf = (variant: string) => points.filter((p) => p.cell === cell && p.variant === variant).map((p) => asResult(done.get(p.key)!));
          const seedList = Array.from({ length: seeds }, (_, i) => setup.options.seed + i);
          const baseline = resultsOf("baseline");
          return {
            cell,
            compares: variants.slice(1).map((v) => {
              const variant = v.join(",");
              const plugins = resolvePlugins(ctx, v, setup.options.machine.arch);
              const patched = resultsOf(variant);
              // summarizeCompare takes each seed's baseline then patched result.
              return { variant, summary: summarizeCompare(withPlugins(setup, plugins), seedList, baseline.flatMap((b, i) => [b, patched[i]!])) };
            }),
          };
        })
      : [];
    const summary: SweepSummary = {
      workload: firstSetup.workload.name,
      out: f.out,
      runs: points.length,
      fromFile: points.filter((p) => done.has(p.key)).length - next,
      ran: next,
      complete,
      cells: summaryCells,
      ...(shard ? { shard: `${shard.k}/${shard.n}`, shardRuns: mine.length, shardDone: mine.every((p) => done.has(p.key)) } : {}),
    };
    ctx.bus.emit("cli:sweep_end", { summary: interrupt.requested ? { ...summary, partial: { finished: next, total: todo.length } } : summary });
    return interrupt.requested ? SIGINT_EXIT : 0;
  },
});
