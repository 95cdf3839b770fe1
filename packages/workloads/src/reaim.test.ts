import { describe, expect, it } from "vitest";
import { simulate, type ParamValues } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { WORKFILES, reaim } from "./reaim.js";

// Kernel v5.4: its __purge_vmap_area_lazy syncs the vmalloc area into every pgd (v5.3-v5.7), which these tests count.
function run(arch: "x86-64" | "x86-32-pae", cpus: number, params: ParamValues) {
  return simulate({
    options: { workload: "reaim", machine: { ...x86.defaultMachine, arch, cpus, memoryMiB: 256 }, profile: "bare-metal", seed: 3, plugins: [], params, kernel: "v5.4" },
    arch: x86,
    workload: reaim,
    plugins: [],
  });
}

describe("reaim's workfiles", () => {
  it("are reaim's data/workfile.shared (780 hits, 53 tests) and workfile.high_systime (260 hits, 18 tests; its header says 930)", () => {
    const sum = (w: Readonly<Record<string, number>>) => Object.values(w).reduce((a, b) => a + b, 0);
    expect([Object.keys(WORKFILES["shared"]!).length, sum(WORKFILES["shared"]!)]).toEqual([53, 780]);
    expect([Object.keys(WORKFILES["high_systime"]!).length, sum(WORKFILES["high_systime"]!)]).toEqual([18, 260]);
    expect(WORKFILES["shared"]).toMatchObject({ fork_test: 10, exec_test: 20, shell_rtns_1: 20 });
  });
});

describe.each(["x86-64", "x86-32-pae"] as const)("reaim on %s", (arch) => {
  it("runs the workfile's tests: forks and exits with VMAP_STACK stacks (two cached per CPU), no hazards", () => {
    const r = run(arch, 4, { workfile: "high_systime", jobs: 20, system_processes: 10 });
    expect(r.counters["reaim_jobs"]).toBe(4 * 20);
    expect(r.counters["forks"]).toBeGreaterThan(0);
    expect(r.counters["exits"]).toBe(r.counters["forks"]);
    // Every fork takes a cached stack or vmallocs one; stacks flow between the CPUs' caches.
    expect(r.counters["stack_cache_hits"]! + r.counters["vmalloc_calls"]!).toBe(r.counters["forks"]);
    expect(r.counters["vmalloc_calls"]).toBeGreaterThan(0);
    expect(r.counters["vfree_calls"]).toBeGreaterThan(0);
    // fork and exit take pgd_lock (pgd_ctor, pgd_dtor) once each.
    expect(r.counters["pgd_lock_acquisitions"]).toBeGreaterThanOrEqual(2 * r.counters["forks"]!);
    expect(r.hazards).toEqual([]);
    expect(r.metrics["jobs_per_min"]).toBeGreaterThan(0);
  });
});

describe("reaim purges=N", () => {
  it("stops starting tests once the first vmalloc purge has finished (a whole purge cycle from boot)", () => {
    const r = run("x86-64", 4, { workfile: "high_systime", jobs: 100000, purges: 1, system_processes: 10 });
    expect(r.counters["vmalloc_purges"]).toBe(1);
    expect(r.counters["reaim_jobs"]!).toBeLessThan(4 * 100000);
    // The purge came after lazy_max_pages (fls(4) × 32 MiB) of stacks were vfreed.
    expect(r.counters["vfree_calls"]! * 5).toBeGreaterThan(3 * 8192);
    expect(r.metrics["sync_global_pgds_calls"]).toBe(1);
    expect(r.metrics["sync_global_pgds_entries"]).toBe(2);
    // Two present PGD entries in the vmalloc area (the stacks at the bottom, percpu at the top): two walks of pgd_list.
    expect(r.metrics["sync_global_pgds_visits"]).toBeGreaterThanOrEqual(2 * 14);
  });
});
