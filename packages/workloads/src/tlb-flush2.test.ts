import { describe, expect, it } from "vitest";
import { simulate, type RunResult } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { tlbFlush2 } from "./tlb-flush2.js";

const run = (arch: "x86-64" | "x86-32-pae", cpus: number, params = {}, seed = 1): RunResult =>
  simulate({ options: { workload: "tlb-flush2", machine: { ...x86.defaultMachine, arch, cpus, memoryMiB: 64 }, profile: "bare-metal", seed, plugins: [], params }, arch: x86, workload: tlbFlush2, plugins: [] });

describe.each(["x86-64", "x86-32-pae"] as const)("tlb-flush2 on %s", (arch) => {
  it("every madvise is a one-page shootdown to the other threads' CPUs; no hazards", () => {
    const r = run(arch, 4, { regions: 1, memory_kib: 128 });
    const iterations = 4 * 32;
    expect(r.counters["tlb_flush2_iterations"]).toBe(iterations);
    expect(r.counters["madvise_calls"]).toBe(iterations);
    expect(r.counters["nr_tlb_remote_flush"]).toBeGreaterThanOrEqual(iterations);
    expect(r.counters["ipi_sent"]).toBeGreaterThan(0);
    expect(r.interrupts.TLB.every((n) => n > 0)).toBe(true);
    expect(r.counters["pgfault_zero_page"]).toBe(iterations); // the read-back maps the zero page
    expect(r.hazards).toEqual([]);
    expect(r.metrics["ops_per_s"]).toBeGreaterThan(0);
  });

  it("one thread: no IPIs at all", () => {
    const r = run(arch, 4, { threads: 1, regions: 1, memory_kib: 64 });
    expect(r.counters["ipi_sent"]).toBe(0);
    expect(r.counters["nr_tlb_remote_flush"]).toBe(0);
  });
});

describe("5-level paging (LA57)", () => {
  it("runs on 5-level page tables with the same flush behaviour", () => {
    const five = simulate({ options: { workload: "tlb-flush2", machine: { ...x86.defaultMachine, cpus: 4, memoryMiB: 64, la57: true }, profile: "bare-metal", seed: 3, plugins: [], params: { regions: 1, memory_kib: 128 } }, arch: x86, workload: tlbFlush2, plugins: [] });
    const four = run("x86-64", 4, { regions: 1, memory_kib: 128 }, 3);
    expect(five.hazards).toEqual([]);
    expect(five.counters["madvise_calls"]).toBe(four.counters["madvise_calls"]);
    expect(five.counters["nr_tlb_remote_flush"]).toBe(four.counters["nr_tlb_remote_flush"]);
    expect(five.counters["pages_in_use_peak"]!).toBeGreaterThan(four.counters["pages_in_use_peak"]!); // one more level of tables
  });
});

describe("determinism", () => {
  it("same config and seed → byte-identical result", () => {
    const a = JSON.stringify(run("x86-64", 4, { regions: 1, memory_kib: 128 }, 7));
    const b = JSON.stringify(run("x86-64", 4, { regions: 1, memory_kib: 128 }, 7));
    expect(a).toBe(b);
  });

  it("more threads cost more per iteration (each shootdown reaches more CPUs)", () => {
    const two = run("x86-64", 8, { threads: 2, regions: 1, memory_kib: 128 });
    const eight = run("x86-64", 8, { threads: 8, regions: 1, memory_kib: 128 });
    expect(eight.metrics["cycles_per_op"]!).toBeGreaterThan(two.metrics["cycles_per_op"]!);
    expect(eight.metrics["shootdown_ipis_per_op"]!).toBeGreaterThan(two.metrics["shootdown_ipis_per_op"]!);
  });
});
