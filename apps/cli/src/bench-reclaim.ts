/**
 * The `reclaim` part of `npm run bench`: one run of the heaviest reproduction that
 * `npm start` makes, batched-unmap's (today lru-file-mmap-read on 48 CPUs in 4 sockets,
 * v4.2, 64 MiB, files 10 × RAM; baseline side, seed 1), best of 3 after a warm-up run in
 * the same process. The options come from the plugin's reproduction.
 * It bounds `npm start`'s wall time, and its profile is reclaim's: faults, LRU scans,
 * rmap walks, flush IPIs. Printed with the process's CPU time (the steadier figure on a
 * shared machine) and a digest of the run's counters and metrics, which an optimisation
 * must leave unchanged.
 */
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { simulate, type RunOptions, type RunResult } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { batchedUnmap } from "@flushlab/patch-batched-unmap";
import { lruFileMmapRead } from "@flushlab/workloads";
import { ReportBus } from "./bus.js";
import { buildCatalog, buildWorkloads, type CommandContext } from "./commands/context.js";
import { reproductionSetup } from "./commands/reproduce.js";
import { registry } from "./registry.js";

export interface ReclaimRow {
  readonly ms: number;
  readonly cpuMs: number;
  /** Faults + pages scanned + cross-CPU calls queued: the run's reclaim work. */
  readonly events: number;
  readonly digest: string;
}

/** A command context with the installed plugins and workloads only (no config), as the bench parts build their runs. */
export function builtInContext(): CommandContext {
  return { registry, config: undefined, catalog: buildCatalog(registry, undefined), workloads: buildWorkloads(registry, undefined), bus: new ReportBus(), cwd: process.cwd() };
}

/**
 * The options of batched-unmap's reproduction, baseline side (no plugin), seed 1: built
 * by the code `reproduce` builds them with, from the plugin's declaration.
 */
export function reclaimOptions(): RunOptions {
  const { options } = reproductionSetup(builtInContext(), batchedUnmap).setup;
  if (options.workload !== lruFileMmapRead.name) throw new Error(`bench reclaim: batched-unmap's reproduction runs ${options.workload}, not ${lruFileMmapRead.name}`);
  return { ...options, plugins: [] };
}

/** One run of `options` (reclaimOptions()), timed. */
export function reclaimRunOnce(options: RunOptions = reclaimOptions()): { result: RunResult; ms: number; cpuMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = simulate({ options, arch: x86, workload: lruFileMmapRead, plugins: [] });
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { result, ms, cpuMs: (c.user + c.system) / 1000 };
}

export function reclaimEvents(r: RunResult): number {
  const c = r.counters;
  return (c["pgfault"] ?? 0) + (c["pgscan_kswapd"] ?? 0) + (c["pgscan_direct"] ?? 0) + (c["csd_queued"] ?? 0);
}

export function reclaimDigest(r: RunResult): string {
  return createHash("sha256").update(JSON.stringify(r.counters)).update(JSON.stringify(r.metrics)).digest("hex").slice(0, 16);
}

export function reclaimBench(runs = 3): ReclaimRow {
  const options = reclaimOptions();
  reclaimRunOnce(options); // warm-up (JIT)
  let best: ReclaimRow | undefined;
  for (let i = 0; i < runs; i++) {
    const { result, ms, cpuMs } = reclaimRunOnce(options);
    if (best === undefined || ms < best.ms) best = { ms, cpuMs, events: reclaimEvents(result), digest: reclaimDigest(result) };
  }
  return best!;
}
