/**
 * The CPU-count sweep of `npm run bench`: tlb-flush2 (threads = CPUs, one 4 KiB page per
 * region) on 8 to 1024 CPUs, each size given about the same number of simulated events,
 * printing events per wall-clock second. A madvise reaches the other CPUs that are not
 * lazy, so the events of a region grow with the CPUs; what must stay flat is the rate:
 * the cost of the simulation is linear in its events, not in CPUs × events.
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
  /** CPU time of the process during the run (user + system): on a shared machine the steadier rate. */
  readonly cpuMs: number;
}

export function sweepEvents(r: RunResult): number {
  const c = r.counters;
  return (c["accesses"] ?? 0) + (c["csd_queued"] ?? 0) + (c["pgfault"] ?? 0);
}

/** One tlb-flush2 run on `cpus` CPUs (8 sockets when they divide, else 1), `regions` regions a task. */
function runOnce(cpus: number, regions: number): { result: RunResult; ms: number } {
  const sockets = cpus % 8 === 0 ? 8 : 1;
  const t0 = performance.now();
  const result = simulate({
    options: { workload: tlbFlush2.name, machine: { ...x86.defaultMachine, cpus, sockets, memoryMiB: 256 }, profile: "bare-metal", seed: 1, plugins: [], params: { threads: cpus, regions, memory_kib: 4 } },
    arch: x86,
    workload: tlbFlush2,
    plugins: [],
  });
  return { result, ms: performance.now() - t0 };
}

/**
 * The size `cpus` given about TARGET_EVENTS events: runs of one and four regions first (not
 * timed) say how many events the first region brings and how many each further one adds,
 * then the timed run does as many regions as the target needs (at most the parameter's
 * 10,000). A region's events cannot be computed ahead: v5.17 sends no flush to a lazy CPU
 * (a thread asleep on mmap_lock), so how many CPUs a madvise reaches depends on the run.
 */
export function sweepOnce(cpus: number): SweepRow {
  const first = sweepEvents(runOnce(cpus, 1).result);
  const more = Math.max(1, (sweepEvents(runOnce(cpus, 4).result) - first) / 3);
  const regions = Math.max(1, Math.min(10_000, 1 + Math.round((TARGET_EVENTS - first) / more)));
  const cpu0 = process.cpuUsage();
  const { result, ms } = runOnce(cpus, regions);
  const cpu = process.cpuUsage(cpu0);
  return { cpus, regions, events: sweepEvents(result), ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export function cpuSweep(cpusList: readonly number[] = SWEEP_CPUS): SweepRow[] {
  runOnce(8, 100); // warm-up (JIT)
  return cpusList.map((n) => sweepOnce(n));
}
