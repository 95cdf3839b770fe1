/** Helpers for scenario tests: run a small inline workload with or without a test plugin. */
import { expect } from "vitest";
import type { Observable } from "rxjs";
import { PROT_READ, PROT_WRITE, defineWorkload, simulate, type FlushlabEvent, type FlushlabPlugin, type KGen, type Kernel, type KernelVersion, type RunResult, type TaskApi, type TaskGen, type WorkloadContext } from "@flushlab/core-mmu";
import { x86 } from "../src/index.js";

export type Body = (t: TaskApi) => TaskGen;

/** Runs `bodies[i]` on CPU i, all threads of one process. */
export function runScenario(name: string, bodies: readonly Body[], plugins: readonly FlushlabPlugin[] = [], arch: "x86-64" | "x86-32-pae" = "x86-64", setup?: (ctx: WorkloadContext) => void, sockets = 1, onEvents?: (e$: Observable<FlushlabEvent>) => void, kernel?: KernelVersion): RunResult {
  const workload = defineWorkload({
    name,
    description: "test scenario",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      setup?.(ctx);
      const mm = ctx.createProcess();
      bodies.forEach((b, i) => ctx.spawn(i, mm, b));
    },
    collect: () => ({}),
  });
  return simulate({
    options: { workload: name, machine: { ...x86.defaultMachine, arch, cpus: Math.max(2, bodies.length), sockets, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {}, ...(kernel ? { kernel } : {}) },
    arch: x86,
    workload,
    plugins,
    ...(onEvents ? { onEvents: (events) => onEvents(events.events$) } : {}),
  });
}

export const classes = (r: RunResult): number[] => [...new Set(r.hazards.map((h) => h.class))].sort();

/**
 * A huge ioremap (a 2 MiB PMD leaf in init_mm) that CPU 1's process faults into its
 * own page table, then iounmap, a purge, and the range reused by vmalloc.
 */
export function hugeIoremapScenario(getK: () => Kernel, seen: { start: number }) {
  let addr = -1;
  let phase = 0;
  return [
    function* (t: TaskApi): TaskGen {
      const k = getK();
      yield* t.syscall((function* (): KGen {
        const devPfn = k.machine.mem.nframes - 1024; // 512-aligned frames the allocator has not reached
        const io = yield* k.vmalloc.ioremap(t.cpu, devPfn, 2 * 1024 * 1024);
        expect(io.huge).toBe(true);
        addr = io.start;
        seen.start = io.start;
        while (phase < 1) yield 1000;
        yield* k.vmalloc.vfree(t.cpu, io); // iounmap
        yield* k.vmalloc.purgeVmapAreaLazy(t.cpu); // vm_unmap_aliases-like
        const again = yield* k.vmalloc.vmalloc(t.cpu, 4096);
        expect(again.start).toBe(io.start);
      })());
    },
    function* (t: TaskApi): TaskGen {
      const k = getK();
      while (addr < 0) yield 500;
      yield* t.syscall(k.entry.kernelAccess(t.cpu, addr, false)); // vmalloc_fault copies the entry
      phase = 1;
    },
  ];
}

/** CPU1 touches a region and exits (lazy); CPU0 unmaps it, freeing its page tables. */
export function lazyThenUnmap() {
  let addr = -1;
  let touched = false;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(64 * 4096, PROT_READ | PROT_WRITE);
      while (!touched) yield 1000;
      yield 10_000;
      yield* t.munmap(addr, 64 * 4096);
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      yield t.touch(addr, 64, 4096, true);
      touched = true;
    },
  ];
}
