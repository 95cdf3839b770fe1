import { describe, expect, it } from "vitest";
import {
  defineWorkload,
  simulate,
  type FlushlabPlugin,
  type KGen,
  type Reproduction,
  type RunResult,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { nohzIsolation } from "@flushlab/workloads";
import { nohzDefer } from "./index.js";
import { deferTables, parkedFlushNeverRuns, plainRead, published, touchFirst } from "../test/unsafe-policies.js";

describe("nohz-defer", () => {
  const run = (plugins: FlushlabPlugin[]) =>
    simulate({ options: { workload: "nohz-isolation", machine: { ...x86.defaultMachine }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: { ops: 600 } }, arch: x86, workload: nohzIsolation, plugins });

  it("TLB IPIs to isolated CPUs all but vanish: the flushes run at kernel entry instead (only a CPU in its syscall when the flush is sent still gets one)", () => {
    const b = run([]);
    const p = run([nohzDefer]);
    expect(b.metrics["isolated_ipis"]!).toBeGreaterThan(0);
    expect(p.metrics["isolated_ipis"]!).toBeLessThan(b.metrics["isolated_ipis"]! / 10);
    expect(p.metrics["deferred_flushes"]!).toBeGreaterThan(0);
    expect(b.hazards).toEqual([]);
    expect(p.hazards).toEqual([]);
  });

  it("declares its provenance and reproduction", () => {
    expect(nohzDefer.patch.author).toBe("Valentin Schneider");
    expect(nohzDefer.reproduction?.workload).toBe("nohz-isolation");
  });
});

/**
 * CPU 0 (housekeeping) vmallocs a buffer and publishes it; CPU 1 (nohz_full) spins in
 * user space and, at each syscall, touches the published buffer. CPU 0 then frees the
 * buffer, purges (the kernel-range flush) and maps a new buffer at the same address.
 */
function reuseScenario(plugins: FlushlabPlugin[], spin = 3000): RunResult {
  const w = defineWorkload({
    name: "nohz-reuse",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx: WorkloadContext) {
      const k = ctx.kernel;
      k.ct.nohzFull[1] = 1;
      published.addr = -1;
      let touched = 0;
      let done = false;
      ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        yield* t.syscall((function* (): KGen {
          const a = yield* k.vmalloc.vmalloc(t.cpu, 4 * 4096);
          published.addr = a.start;
          while (touched < 2) yield 1000;
          published.addr = -1; // no user may touch the buffer from here on
          yield* k.vmalloc.vfree(t.cpu, a);
          yield* k.vmalloc.vmUnmapAliases(t.cpu);
          const b = yield* k.vmalloc.vmalloc(t.cpu, 4 * 4096);
          expect(b.start).toBe(a.start);
          published.addr = b.start;
          yield 60_000;
          done = true;
        })());
      });
      ctx.spawn(1, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        while (!done) {
          yield spin;
          yield* t.syscall((function* (): KGen {
            if (published.addr >= 0) {
              yield* k.entry.kernelAccessRange(t.cpu, published.addr, 4 * 4096, false);
              touched++;
            }
          })());
        }
      });
    },
    collect: () => ({}),
  });
  return simulate({ options: { workload: w.name, machine: { ...x86.defaultMachine, cpus: 2 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} }, arch: x86, workload: w, plugins });
}
describe("safety", () => {
  it("safe: the cmpxchg'd work bit and the work run first at entry", () => {
    for (const spin of [3000, 20_000]) {
      const r = reuseScenario([nohzDefer], spin);
      expect(r.hazards).toEqual([]);
      expect(r.counters["deferred_flushes"]!).toBeGreaterThan(0);
      expect(reuseScenario([], spin).hazards).toEqual([]);
    }
  });
  it("unsafe (a): a plain read of the state word misses a CPU that just entered the kernel", () => {
    const r = reuseScenario([plainRead]);
    expect(r.hazards.some((h) => h.class === 1 && h.cpu === 1)).toBe(true);
  });
  it("unsafe (b): deferred work run after the entry touched vmalloc memory", () => {
    // Entries are rare enough that the first one after the buffer is reused is also
    // the first one after the deferral.
    const r = reuseScenario([nohzDefer, touchFirst], 20_000);
    expect(r.hazards.some((h) => h.class === 1 && h.cpu === 1)).toBe(true);
  });
});

/** CPU 1 (nohz_full) walks a 4 KiB vmalloc mapping, then CPU 0 frees it and puts a huge ioremap over its 2 MiB, freeing the PTE page. */
function tableFreeScenario(plugins: FlushlabPlugin[]): RunResult {
  const w = defineWorkload({
    name: "nohz-table-free",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx: WorkloadContext) {
      const k = ctx.kernel;
      k.ct.nohzFull[1] = 1;
      let addr = -1;
      let touched = false;
      let done = false;
      ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        yield* t.syscall((function* (): KGen {
          const a = yield* k.vmalloc.vmalloc(t.cpu, 4096);
          addr = a.start;
          while (!touched) yield 1000;
          yield 5000;
          yield* k.vmalloc.vfree(t.cpu, a);
          yield* k.vmalloc.purgeVmapAreaLazy(t.cpu);
          const io = yield* k.vmalloc.ioremap(t.cpu, k.machine.mem.nframes - 1024, 2 * 1024 * 1024);
          expect(io.huge).toBe(true);
          done = true;
        })());
      });
      ctx.spawn(1, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        while (addr < 0) yield 500;
        yield* t.syscall(k.entry.kernelAccess(t.cpu, addr, false));
        touched = true;
        while (!done) yield 50_000; // back in user space, deferred
      });
    },
    collect: () => ({}),
  });
  return simulate({ options: { workload: w.name, machine: { ...x86.defaultMachine, cpus: 2 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} }, arch: x86, workload: w, plugins });
}

describe("safety: freed page tables", () => {
  it("unsafe (c): deferring the flush before a page-table page is freed is reported (class 4)", () => {
    const r = tableFreeScenario([deferTables]);
    expect(r.hazards.some((h) => h.class === 4 && h.cpu === 1)).toBe(true);
    expect(r.hazards.find((h) => h.class === 4)!.missing).toMatch(/before pmd_free_pte_page \(huge ioremap\) freed the page-table page \(such a flush cannot be deferred\)/);
  });
  it("safe: the plugin never defers that flush", () => {
    expect(tableFreeScenario([nohzDefer]).hazards).toEqual([]);
    expect(tableFreeScenario([]).hazards).toEqual([]);
  });
});

describe("the reproduction's 'hazards: 0 required' can fail", () => {
  const repro: Reproduction = nohzDefer.reproduction!;
  /** The reproduction's workload and parameters on its machine, with 600 ops per housekeeping CPU (it runs 4,000). */
  const reduced = (plugins: FlushlabPlugin[], params: Record<string, number> = {}): RunResult =>
    simulate({
      options: { workload: repro.workload, machine: { ...x86.defaultMachine, ...repro.machine }, profile: repro.profile ?? "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: { ...repro.params, ops: 600, ...params } },
      arch: x86,
      workload: nohzIsolation,
      plugins,
    });

  it("a parked flush that never runs: an isolated CPU's syscall writes through a stale translation to a freed vmalloc page", () => {
    expect(repro.workload).toBe(nohzIsolation.name);
    expect(repro.requireNoHazards).toBe(true);
    const broken = reduced([parkedFlushNeverRuns]);
    expect(broken.metrics["deferred_flushes"]).toBe(0);
    const isolatedFirst = x86.defaultMachine.cpus - 4; // the workload's default: the last 4 CPUs are nohz_full
    const h = broken.hazards.find((x) => x.class === 1 && x.cpu >= isolatedFirst)!;
    expect(h).toBeDefined();
    expect(h.missing).toMatch(/^TLB flush on CPU \d+ before vfree freed the page$/);
    expect(h.detail).toMatch(/wrote through a stale TLB entry/);
    // The real policy on the same run: the flush runs at entry, nothing is stale.
    const real = reduced([nohzDefer]);
    expect(real.hazards).toEqual([]);
    expect(real.metrics["deferred_flushes"]!).toBeGreaterThan(0);
  });

  it("a wait for vmap_purge_lock (a mutex) spins for the model, it does not schedule away: the housekeeping CPUs never sleep", () => {
    // Only rwsem's wait list sleeps (Completion(true), woken by try_to_wake_up); a CPU that
    // slept on the purge lock would go idle, take its IPIs as idle exits and move the
    // reproduction's isolated_ipis (a merge once did that). The purge lock is contended
    // here: with every "sleep" wait scheduling away, this run sleeps.
    const r = reduced([]);
    expect(r.counters["sched_sleeps"]).toBe(0);
    expect(r.counters["sched_sleep_cycles"]).toBe(0);
    expect(r.metrics["isolated_ipis"]!).toBeGreaterThan(0);
  });

  it("with a syscall that touches no vmalloc memory (the workload before syscall_buffer), the same loss goes unseen", () => {
    expect(reduced([parkedFlushNeverRuns], { syscall_buffer: 0 }).hazards).toEqual([]);
  });
});
