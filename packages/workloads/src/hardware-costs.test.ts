/**
 * The costs and sizes the workloads take from the cost profile and the machine are wired:
 * a run whose profile (or machine) says otherwise behaves otherwise, and a --param
 * override still wins.
 */
import { describe, expect, it } from "vitest";
import { PROT_READ, PROT_WRITE, defineWorkload, simulate, type ArchLayer, type TaskApi, type TaskGen, type CostParams, type MachineOptions, type ParamValues, type RunResult, type WorkloadDefinition } from "@flushlab/core-mmu";
import { bareMetal, x86 } from "@flushlab/arch-x86";
import { lruFileMmapRead } from "./lru-file-mmap-read.js";
import { notifierDevice } from "./notifier-device.js";
import { reaim } from "./reaim.js";
import { tlbFlush2 } from "./tlb-flush2.js";

/** The x86 arch layer with bare-metal's costs changed as `costs` says. */
function archWith(costs: Partial<CostParams>): ArchLayer {
  return { ...x86, profiles: { ...x86.profiles, "bare-metal": { ...bareMetal, params: { ...bareMetal.params, ...costs } } } };
}

function run(workload: WorkloadDefinition, arch: ArchLayer, machine: Partial<MachineOptions>, params: ParamValues): RunResult {
  return simulate({
    options: { workload: workload.name, machine: { ...x86.defaultMachine, ...machine }, profile: "bare-metal", seed: 1, plugins: [], params },
    arch,
    workload,
    plugins: [],
  });
}

describe("costs a workload takes from the cost profile", () => {
  it("reaim: a test that creates no process costs the profile's reaimComputeJob", () => {
    const machine = { cpus: 2, memoryMiB: 64 };
    const params = { workfile: "shared", nr_task_pct: 100, system_processes: 2, jobs: 20, purges: 0 };
    const a = run(reaim, x86, machine, params);
    const b = run(reaim, archWith({ reaimComputeJob: 3_000_000 }), machine, params);
    expect(a.params["test_cycles"]).toBe(2_600_000);
    expect(b.params["test_cycles"]).toBe(3_000_000);
    // The same tests run (one seed): each that creates no process is 400,000 user cycles longer.
    const delta = b.counters["cycles_user"]! - a.counters["cycles_user"]!;
    expect(delta).toBeGreaterThan(0);
    expect(delta % 400_000).toBe(0);
    expect(b.notes).toContain(`parameter test_cycles = 3000000: the cost profile's reaimComputeJob (bare-metal: ${bareMetal.sources.reaimComputeJob})`);
    // The parameter still overrides the profile.
    const c = run(reaim, archWith({ reaimComputeJob: 3_000_000 }), machine, { ...params, test_cycles: 2_600_000 });
    expect(c.counters["cycles_user"]).toBe(a.counters["cycles_user"]);
    expect(c.notes).toContain("parameter test_cycles = 2600000: set for this run (the cost profile's reaimComputeJob is 3000000)");
  });

  it("lru-file-mmap-read: reading a page costs the profile's readPageSequential", () => {
    const machine = { cpus: 2, memoryMiB: 16 };
    const params = { files_x_ram: 0.5 };
    const a = run(lruFileMmapRead, x86, machine, params);
    const b = run(lruFileMmapRead, archWith({ readPageSequential: 1600 }), machine, params);
    expect(b.params["read_cycles_per_page"]).toBe(1600);
    // Half of 16 MiB read once, 2,048 pages, each 800 user cycles longer.
    expect(b.counters["cycles_user"]! - a.counters["cycles_user"]!).toBe(2048 * 800);
  });

  it("notifier-device: the device waits the profile's dmaInterval between DMAs", () => {
    const params = { pages: 16, forks: 5 };
    const a = run(notifierDevice, x86, {}, params);
    const b = run(notifierDevice, archWith({ dmaInterval: 20_000 }), {}, params);
    expect(b.params["dma_interval"]).toBe(20_000);
    expect(b.counters["dma_accesses"]!).toBeLessThan(a.counters["dma_accesses"]! / 2);
  });
});

describe("sizes a run takes from the machine", () => {
  it("notifier-device: the device's IOTLB has the machine's iotlbEntries", () => {
    const params = { pages: 64, forks: 5 };
    const a = run(notifierDevice, x86, {}, params);
    const b = run(notifierDevice, x86, { iotlbEntries: 4 }, params);
    expect(a.params["iotlb"]).toBe(64);
    expect(b.params["iotlb"]).toBe(4);
    expect(b.counters["ats_translations"]!).toBeGreaterThan(a.counters["ats_translations"]!);
    expect(b.notes).toContain("parameter iotlb = 4: the machine's iotlbEntries (set for this run's machine (the x86 default is 64))");
  });

  it("the 2 MiB TLB has the machine's tlb2mEntries", () => {
    // Two huge pages touched in turn: two entries hold both, one entry misses every time.
    const HPAGE = 2 * 1024 * 1024;
    const twoHugePages = defineWorkload({
      name: "two-huge-pages",
      description: "test: alternate between two 2 MiB pages",
      params: [],
      metrics: [],
      setup(ctx) {
        ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
          const base = yield* t.mmap(3 * HPAGE, PROT_READ | PROT_WRITE);
          const a = base + ((HPAGE - (base % HPAGE)) % HPAGE);
          for (let i = 0; i < 100; i++) yield t.touch(a, 2, HPAGE, true);
        });
      },
      collect: () => ({}),
    });
    const a = run(twoHugePages, x86, { cpus: 1, thp: "always" }, {});
    const b = run(twoHugePages, x86, { cpus: 1, thp: "always", tlb2mEntries: 1 }, {});
    expect(a.counters["thp_fault_alloc"]).toBe(2);
    expect(b.notes.some((n) => n.includes("2 MiB TLB 1 entries 1-way (set for this run (the x86 default is 32))"))).toBe(true);
    expect(b.counters["page_walks"]! - a.counters["page_walks"]!).toBeGreaterThanOrEqual(190);
  });

  it("the paging-structure caches have the machine's pscEntries, stated in the notes", () => {
    const params = { threads: 2, regions: 4 };
    const a = run(tlbFlush2, x86, { cpus: 2 }, params);
    const b = run(tlbFlush2, x86, { cpus: 2, pscEntries: 1 }, params);
    expect(a.notes).toContain(`paging-structure caches: 32 entries per level per CPU (${x86.machineSources.pscEntries})`);
    expect(b.notes).toContain("paging-structure caches: 1 entries per level per CPU (set for this run (the x86 default is 32))");
    expect(b.counters["psc_walks"]).not.toBe(a.counters["psc_walks"]);
  });
});
