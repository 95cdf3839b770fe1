/**
 * The `reproduce` part of `npm run bench` (not in the default set: it takes as long as
 * `reproduce --jobs 1`): every run `npm start` makes, the same options in the same order
 * as `reproduce` builds them, one after another in this thread, each timed by the
 * process's CPU time. From those times it estimates how long the pool would take on
 * 1, 2, 4 and 8 workers, dispatching in order as `simulateAll` does (each run to the
 * worker that is free first). The estimate leaves out the workers' start-up and how much
 * slower each runs when they share the machine: a floor, labelled as one.
 */
import { performance } from "node:perf_hooks";
import type { FlushlabPlugin } from "@flushlab/core-mmu";
import { builtInContext } from "./bench-reclaim.js";
import { compareJobs } from "./commands/compare.js";
import { reproductionSetup } from "./commands/reproduce.js";
import { registry } from "./registry.js";

export interface ReproductionTimes {
  readonly plugin: string;
  readonly workload: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  /** CPU milliseconds of each run, in the order `reproduce` dispatches them (per seed: baseline, patched). */
  readonly cpuMs: readonly number[];
}

/**
 * When the last of `times` (in dispatch order) finishes on `workers` workers, each run
 * going to the worker free first (the lowest-numbered among equals), as `simulateAll`
 * dispatches: list scheduling, not longest-first.
 */
export function inOrderMakespan(times: readonly number[], workers: number): number {
  if (!Number.isSafeInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer (got ${workers})`);
  const free = new Float64Array(workers);
  for (const t of times) {
    let w = 0;
    for (let i = 1; i < workers; i++) if (free[i]! < free[w]!) w = i;
    free[w]! += t;
  }
  return Math.max(...free);
}

/** Times every run of the installed plugins' reproductions (those `npm start` makes), serially. */
export function reproductionTimes(plugins: readonly FlushlabPlugin[] = registry.plugins): ReproductionTimes[] {
  const ctx = builtInContext();
  const out: ReproductionTimes[] = [];
  for (const plugin of ctx.catalog.map((e) => e.plugin).filter((p) => plugins.includes(p) && p.reproduction !== undefined)) {
    const { setup, runs } = reproductionSetup(ctx, plugin);
    const { jobs } = compareJobs(setup, runs, plugin.name);
    const cpuMs: number[] = [];
    for (const job of jobs) {
      const c0 = process.cpuUsage();
      registry.simulate(job.setup.options, { workload: job.setup.workload, plugins: job.setup.plugins });
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }
    const m = setup.options.machine;
    out.push({ plugin: plugin.name, workload: setup.workload.name, cpus: m.cpus, memoryMiB: m.memoryMiB, cpuMs });
  }
  return out;
}

/** The part's report, as lines. */
export function reproduceBench(): string[] {
  const t0 = performance.now();
  const rows = reproductionTimes();
  const wall = performance.now() - t0;
  const all = rows.flatMap((r) => r.cpuMs);
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const lines = ["reproduce  the runs npm start makes, one after another in this thread (CPU s per run, in dispatch order; a workload's first run pays its JIT warm-up):"];
  const w = Math.max(...rows.map((r) => r.plugin.length));
  const ww = Math.max(...rows.map((r) => r.workload.length));
  for (const r of rows) {
    const total = r.cpuMs.reduce((a, b) => a + b, 0);
    lines.push(`  ${r.plugin.padEnd(w)}  ${r.workload.padEnd(ww)}  ${String(r.cpus).padStart(4)} CPUs  ${String(r.memoryMiB).padStart(4)} MiB  total ${s(total).padStart(6)}  runs ${r.cpuMs.map(s).join(" ")}`);
  }
  const total = all.reduce((a, b) => a + b, 0);
  lines.push(`  all ${all.length} runs: cpu ${s(total)} s, wall ${s(wall)} s`);
  const est = [1, 2, 4, 8].map((n) => `${n}: ${s(inOrderMakespan(all, n))} s`).join(", ");
  lines.push(`  the pool's in-order dispatch of these times, by workers (a floor: no start-up, no slowdown when workers share the machine): ${est}`);
  return lines;
}
