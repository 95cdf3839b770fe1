import { describe, expect, it } from "vitest";
import { simulate, defineWorkload, type KGen, type RunResult, type TaskApi, type TaskGen, type WorkloadContext } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { reaim } from "@flushlab/workloads";
import { vmallocSync } from "./index.js";

const ARCHES = ["x86-64", "x86-32-pae"] as const;

/** One task vmallocs and vfrees stacks until two purges have run. */
function purgeTwice(arch: (typeof ARCHES)[number], withPlugin: boolean): RunResult {
  const w = defineWorkload({
    name: "purges",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx: WorkloadContext) {
      for (let i = 0; i < 50; i++) ctx.createProcess(); // pgds on pgd_list
      ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        const k = ctx.kernel;
        yield* t.syscall((function* (): KGen {
          while (k.vmalloc.purges < 2) yield* k.vmalloc.vfree(t.cpu, yield* k.vmalloc.vmalloc(t.cpu, 16384, 16384));
        })());
      });
    },
    collect: () => ({}),
  });
  return simulate({
    options: { workload: "purges", machine: { ...x86.defaultMachine, arch, cpus: 2, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: withPlugin ? ["vmalloc-sync"] : [], params: {}, kernel: "v5.4" },
    arch: x86,
    workload: w,
    plugins: withPlugin ? [vmallocSync] : [],
  });
}

describe("vmalloc-sync: the split of vmalloc_sync_all()", () => {
  it("x86-64: purges no longer walk pgd_list (pre-patch: one sync_global_pgds per purge)", () => {
    const base = purgeTwice("x86-64", false);
    const patched = purgeTwice("x86-64", true);
    expect(base.counters["vmalloc_purges"]).toBe(2);
    expect(base.counters["sync_global_pgds_calls"]).toBe(2);
    expect(patched.counters["vmalloc_purges"]).toBe(2);
    expect(patched.counters["sync_global_pgds_calls"]).toBe(0);
    expect(patched.counters["elapsed_cycles"]!).toBeLessThan(base.counters["elapsed_cycles"]!);
    expect(base.hazards).toEqual([]);
    expect(patched.hazards).toEqual([]);
  });

  it("x86-32 PAE: both mappings and unmappings still run vmalloc_sync", () => {
    const base = purgeTwice("x86-32-pae", false);
    const patched = purgeTwice("x86-32-pae", true);
    expect(patched.counters["vmalloc_sync_calls"]).toBe(base.counters["vmalloc_sync_calls"]);
    expect(patched.counters["vmalloc_sync_calls"]).toBe(2);
    expect(patched.counters["elapsed_cycles"]).toBe(base.counters["elapsed_cycles"]);
  });

  it("declares its provenance and reproduction", () => {
    expect(vmallocSync.patch).toMatchObject({ title: "x86/mm: split vmalloc_sync_all()", commit: "763802b53a42" });
    expect(vmallocSync.reproduction?.workload).toBe("reaim");
    expect(vmallocSync.reproduction?.figures[0]).toMatchObject({ metric: "jobs_per_min", kind: "ratio", published: 0.2 });
  });

  it.each(ARCHES)("reaim (%s, small, one purge cycle): no hazards; x86-64 patched never slower, PAE within 5 percent", (arch) => {
    const run = (p: boolean) =>
      simulate({
        options: { workload: "reaim", machine: { ...x86.defaultMachine, arch, cpus: 4, memoryMiB: 256 }, profile: "bare-metal", seed: 2, plugins: p ? ["vmalloc-sync"] : [], params: { workfile: "high_systime", jobs: 100000, purges: 1, system_processes: 20 }, kernel: "v5.4" },
        arch: x86,
        workload: reaim,
        plugins: p ? [vmallocSync] : [],
      });
    const b = run(false);
    const p = run(true);
    expect(b.hazards).toEqual([]);
    expect(p.hazards).toEqual([]);
    expect(b.metrics["vmalloc_purges"]).toBe(1);
    if (arch === "x86-64") {
      expect(b.metrics["sync_global_pgds_visits"]).toBeGreaterThan(0);
      expect(p.metrics["sync_global_pgds_visits"]).toBe(0);
      expect(p.metrics["jobs_per_min"]!).toBeGreaterThanOrEqual(b.metrics["jobs_per_min"]! * 0.995);
    } else {
      expect(p.metrics["sync_global_pgds_visits"]).toBe(b.metrics["sync_global_pgds_visits"]);
      expect(Math.abs(p.metrics["jobs_per_min"]! / b.metrics["jobs_per_min"]! - 1)).toBeLessThan(0.05);
    }
  });

  it("reproduces on the LKP-class preset, one purge cycle from boot", () => {
    expect(vmallocSync.reproduction).toMatchObject({ preset: "lkp-csl-2ap4", params: { purges: 1 } });
  });
});
