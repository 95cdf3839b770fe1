/**
 * The CPU-count sweep of `npm run bench`: tlb-flush2 (threads = CPUs, one 4 KiB page per
 * region) on 8 to 1024 CPUs, each size given about the same number of simulated events,
 * printing events per wall-clock second. Every madvise reaches every other CPU, so the
 * events of a run grow as CPUs²; what must stay flat is the rate: the cost of the
 * simulation is linear in its events, not in CPUs × events.
 *
 * Events: memory accesses + cross-CPU function calls queued (one per target CPU of a
 * flush: csd_queued) + page faults, as the run's counters give them.
 */
import { performance } from "node:perf_hooks";
import { simulate, type RunResult } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { tlbFlush2 } from "@flushlab/workloads";

export const SWEEP_CPUS = [8, 32, 128, 512, 1024] as const;
/** Events each size aims at (about two million). */
const TARGET_EVENTS = 2_100_000;

export interface SweepRow {
  readonly cpus: number;
  readonly regions: number;
  readonly events: number;
  readonly ms: number;
}

export function sweepEvents(r: RunResult): number {
  const c = r.counters;
  return (c["accesses"] ?? 0) + (c["csd_queued"] ?? 0) + (c["pgfault"] ?? 0);
}

/** One tlb-flush2 run on `cpus` CPUs (8 sockets when they divide, else 1). */
export function sweepOnce(cpus: number): SweepRow {
  // Per region: one page written, dropped (a flush to cpus - 1 CPUs) and read, then munmap (another).
  const regions = Math.max(1, Math.min(10_000, Math.round(TARGET_EVENTS / (cpus * (2 * cpus + 3)))));
  const sockets = cpus % 8 === 0 ? 8 : 1;
  const t0 = performance.now();
  const r = simulate({
    options: { workload: tlbFlush2.name, machine: { ...x86.defaultMachine, cpus, sockets, memoryMiB: 256 }, profile: "bare-metal", seed: 1, plugins: [], params: { threads: cpus, regions, memory_kib: 4 } },
    arch: x86,
    workload: tlbFlush2,
    plugins: [],
  });
  return { cpus, regions, events: sweepEvents(r), ms: performance.now() - t0 };
}

export function cpuSweep(cpusList: readonly number[] = SWEEP_CPUS): SweepRow[] {
  sweepOnce(8); // warm-up (JIT)
  return cpusList.map((n) => sweepOnce(n));
}
