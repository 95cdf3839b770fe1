import { describe, expect, it } from "vitest";
import { simulate } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { reaim } from "./reaim.js";

describe.each(["x86-64", "x86-32-pae"] as const)("reaim on %s", (arch) => {
  it("forks and exits with VMAP_STACK stacks (two cached per CPU), pgd_list churn, no hazards", () => {
    const r = simulate({
      options: { workload: "reaim", machine: { ...x86.defaultMachine, arch, cpus: 4, memoryMiB: 256 }, profile: "bare-metal", seed: 3, plugins: [], params: { users: 100, jobs: 30, fork_pct: 100 } },
      arch: x86,
      workload: reaim,
      plugins: [],
    });
    expect(r.counters["reaim_jobs"]).toBe(4 * 30);
    expect(r.counters["forks"]).toBe(4 * 30 * 4);
    expect(r.counters["exits"]).toBe(r.counters["forks"]);
    // Four children per job: two stacks come from the cache, two from vmalloc.
    expect(r.counters["stack_cache_hits"]! + r.counters["vmalloc_calls"]!).toBe(r.counters["forks"]);
    expect(r.counters["vmalloc_calls"]).toBeGreaterThan(0);
    expect(r.counters["pgd_lock_contended"]).toBeGreaterThanOrEqual(0);
    expect(r.hazards).toEqual([]);
    expect(r.metrics["jobs_per_min"]).toBeGreaterThan(0);
  });
});
