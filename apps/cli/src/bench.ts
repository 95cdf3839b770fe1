#!/usr/bin/env node
/**
 * `npm run bench`: how fast the engine simulates. Runs tlb-flush2 on both arch modes
 * and a TLB-hit-heavy variant, and prints simulated memory accesses and IPIs per
 * wall-clock second; then the TLB's lookup-and-fill path on its own against the same
 * work in C (bench-tlb.ts); then events per second as the CPU count grows
 * (bench-cpus.ts); then batched-unmap's reproduction run, the one that bounds npm start
 * (bench-reclaim.ts). Wall time is measured here, never inside the model.
 * `npm run bench -- tlb-lookup` (or `engine`, `cpus`, `reclaim`) runs one part;
 * `npm run bench -- reproduce`, never part of the default set, times every run npm start
 * makes, one by one (bench-reproduce.ts).
 */
import { performance } from "node:perf_hooks";
import { simulate, defineWorkload, PROT_READ, PROT_WRITE, type RunResult, type WorkloadDefinition } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { tlbFlush2 } from "@flushlab/workloads";
import { fileURLToPath } from "node:url";
import { TLB_REF_ACCESSES, runCRef, runTlbLookup } from "./bench-tlb.js";
import { cpuSweep } from "./bench-cpus.js";
import { reclaimBench, reclaimOptions } from "./bench-reclaim.js";
import { reproduceBench } from "./bench-reproduce.js";

/** Threads sweeping an 8 MiB region repeatedly: the hot path (TLB hits and misses, no faults after the first pass). */
const sweep: WorkloadDefinition = defineWorkload({
  name: "bench-sweep",
  description: "bench only: each thread sweeps its own 8 MiB region 20 times",
  mirrors: "bench",
  params: [],
  metrics: [],
  setup(ctx) {
    const mm = ctx.createProcess();
    for (let c = 0; c < ctx.machine.cpus.length; c++) {
      ctx.spawn(c, mm, function* (t) {
        const a = yield* t.mmap(8 << 20, PROT_READ | PROT_WRITE);
        for (let i = 0; i < 20; i++) yield t.touch(a, 2048, 4096, true);
      });
    }
  },
  collect: () => ({}),
});

function once(workload: WorkloadDefinition, arch: "x86-64" | "x86-32-pae", params: Record<string, number>): { r: RunResult; ms: number } {
  const t0 = performance.now();
  const r = simulate({ options: { workload: workload.name, machine: { ...x86.defaultMachine, arch, memoryMiB: 256 }, profile: "bare-metal", seed: 1, plugins: [], params }, arch: x86, workload, plugins: [] });
  return { r, ms: performance.now() - t0 };
}

const PARTS = ["engine", "tlb-lookup", "cpus", "reclaim", "reproduce"];
const parts = process.argv.slice(2);
const unknown = parts.find((p) => !PARTS.includes(p));
if (unknown !== undefined) {
  console.error(`bench: unknown part "${unknown}" (parts: ${PARTS.join(", ")})`);
  process.exit(2);
}
const wants = (part: string): boolean => parts.length === 0 || parts.includes(part);

if (wants("engine")) engineCases();
if (wants("tlb-lookup")) tlbLookup();
if (wants("cpus")) cpus();
if (wants("reclaim")) reclaim();
// As long as `reproduce --jobs 1`: only when asked for by name.
if (parts.includes("reproduce")) for (const line of reproduceBench()) console.log(line);

/** batched-unmap's reproduction run, the one that bounds npm start (bench-reclaim.ts). */
function reclaim(): void {
  const o = reclaimOptions();
  const r = reclaimBench();
  const params = Object.entries(o.params).map(([k, v]) => `${k}=${String(v)}`).join(" ");
  console.log(`reclaim  ${o.workload}, ${o.machine.cpus} CPUs, ${o.machine.sockets} sockets, ${o.kernel ?? "v5.17"}, ${o.machine.memoryMiB} MiB, ${params} (batched-unmap's reproduction run, baseline side, seed 1)`);
  console.log(`  wall ${(r.ms / 1000).toFixed(2)} s  cpu ${(r.cpuMs / 1000).toFixed(2)} s  work ${r.events.toLocaleString("en-US")} (faults + pages scanned + csds queued)  ${Math.round(r.events / (r.ms / 1000)).toLocaleString("en-US")}/s  counters ${r.digest}`);
  console.log("  best of 3 after a warm-up run; the counters digest must not change with an optimisation");
}

/** Events per second from 8 to 1024 CPUs (bench-cpus.ts). */
function cpus(): void {
  const rows = [["cpus", "regions", "events", "wall ms", "events/s", "cpu ms", "events/cpu-s"]];
  const rate = (events: number, ms: number): string => Math.round(events / (ms / 1000)).toLocaleString("en-US");
  for (const r of cpuSweep()) rows.push([String(r.cpus), String(r.regions), String(r.events), r.ms.toFixed(0), rate(r.events, r.ms), r.cpuMs.toFixed(0), rate(r.events, r.cpuMs)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log("tlb-flush2, threads = CPUs, one page per region:");
  for (const r of rows) console.log("  " + r.map((c, i) => c.padStart(widths[i]!)).join("  "));
  console.log("  events = accesses + csd_queued + pgfault of the run; events/s should stay flat as CPUs grow (cost linear in events);");
  console.log("  events/cpu-s divides by the process's CPU time, steadier than wall time on a shared machine");
}

function engineCases(): void {
  const rows: string[][] = [["case", "arch", "wall ms", "accesses", "accesses/s", "IPIs", "IPIs/s"]];
  const cases: [string, WorkloadDefinition, Record<string, number>][] = [
    ["tlb-flush2 8 threads, 8 × 1 MiB", tlbFlush2, { regions: 8 }],
    ["sweep 8 threads, 20 × 8 MiB", sweep, {}],
  ];
  for (const [name, w, params] of cases) {
    for (const arch of ["x86-64", "x86-32-pae"] as const) {
      once(w, arch, params); // warm-up (JIT)
      let best = Infinity;
      let res: RunResult | undefined;
      for (let i = 0; i < 3; i++) {
        const { r, ms } = once(w, arch, params);
        if (ms < best) [best, res] = [ms, r];
      }
      const acc = res!.counters["accesses"]!;
      const ipis = res!.counters["ipi_sent"]!;
      rows.push([name, arch, best.toFixed(0), String(acc), Math.round(acc / (best / 1000)).toLocaleString("en-US"), String(ipis), Math.round(ipis / (best / 1000)).toLocaleString("en-US")]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(i < 2 ? 0 : widths[i]!).padEnd(i < 2 ? widths[i]! : 0)).join("  "));
  console.log(`node ${process.version}; best of 3 after one warm-up run; accesses/s and IPIs/s are simulated events per wall-clock second`);
}

/** The model TLB's lookup-and-fill rate against bench/tlb_ref.c's, on the same page stream. */
function tlbLookup(): void {
  runTlbLookup(2_000_000); // warm-up (JIT)
  const model = runTlbLookup(TLB_REF_ACCESSES);
  const modelRate = model.accesses / (model.ms / 1000);
  const source = fileURLToPath(new URL("../../../bench/tlb_ref.c", import.meta.url));
  const c = runCRef(source);
  const modelHitRate = (model.hits / model.accesses).toFixed(3);
  if ("na" in c) {
    console.log(`tlb-lookup  model ${Math.round(modelRate)}/s  c n/a  ratio n/a`);
    console.log(`  c n/a: ${c.na}; model hit rate ${modelHitRate} over ${model.accesses} accesses`);
    return;
  }
  console.log(`tlb-lookup  model ${Math.round(modelRate)}/s  c ${Math.round(c.rate)}/s  ratio ${(modelRate / c.rate).toFixed(2)}`);
  const same = c.hitRate.toFixed(3) === modelHitRate;
  console.log(`  hit rate: model ${modelHitRate}, c ${c.hitRate.toFixed(3)} over ${model.accesses} accesses of the same stream${same ? "" : " — MISMATCH"}; 1,536 entries, 12 ways, LRU; model: hw/tlb.ts Tlb.lookup, Tlb.insert on a miss; c: bench/tlb_ref.c, cc -O2`);
  if (!same) process.exitCode = 1;
}
