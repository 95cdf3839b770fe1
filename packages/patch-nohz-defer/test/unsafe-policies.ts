/**
 * Deliberately unsafe variants of the nohz-defer policy that src/index.test.ts runs, in
 * one module so that `@flushlab/check`'s tests can search with the same plugins
 * (packages/check/test/unsafe-policies.test.ts). A fixture, not a test: neither the
 * build (tsconfig includes src only) nor vitest (`*.test.ts`) picks it up.
 */
import { CONTEXT_TRACKING_ENTRY, CONTEXT_WORK_TLBI, CpuMode, KERNEL_RANGE_FLUSH, definePlugin, policy, type Cpu, type KGen, type Kernel } from "@flushlab/core-mmu";
import { DeferrableKernelRangeFlush } from "../src/index.js";

const testPatch = { title: "test", commit: "none", kernel: "none" } as const;

/**
 * The vmalloc buffer src/index.test.ts's reuse scenario publishes (-1: none), which
 * touchFirst's kernel entry touches before it runs the deferred work. Nothing else sets
 * it, so elsewhere touchFirst touches nothing and behaves as nohz-defer.
 */
export const published = { addr: -1 };

/** Unsafe (a): the sender reads the state word plainly; the bit lands 10,000 cycles later. */
export class PlainReadDefer extends DeferrableKernelRangeFlush {
  override deferCond(target: number): boolean {
    const k = this.kernel;
    const cpu = k.machine.cpus[target]!;
    if (k.ct.nohzFull[target] === 0 || cpu.mode === CpuMode.KERNEL) return true;
    k.machine.engine.schedule(10_000, () => {
      k.ct.work[target]! |= CONTEXT_WORK_TLBI;
    });
    return false;
  }
}
export const plainRead = definePlugin({
  name: "test-plain-read",
  description: "ct_set_cpu_work without cmpxchg",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(KERNEL_RANGE_FLUSH, (kernel) => new PlainReadDefer(kernel))],
});

/** Unsafe (b): the kernel entry touches vmalloc memory before it runs the deferred work. */
export const touchFirst = definePlugin({
  name: "test-touch-first",
  description: "kernel entry that touches vmalloc memory before the deferred flush",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  composesWith: ["nohz-defer"],
  policies: [
    policy(CONTEXT_TRACKING_ENTRY, (kernel) => ({
      kernelEntry(cpu: Cpu): number {
        let cost = 0;
        if (published.addr >= 0) cost += kernel.entry.kernelAccessCost(cpu, published.addr, false);
        return cost + kernel.ct.runCtWork(cpu);
      },
    })),
  ],
});

/** Unsafe (c): defers even the flush that precedes freeing a page-table page. */
export class DeferEverything extends DeferrableKernelRangeFlush {
  override flushKernelRange(cpu: Cpu, start: number, end: number): KGen {
    return super.flushKernelRange(cpu, start, end, false);
  }
}
export const deferTables = definePlugin({
  name: "test-defer-table-free",
  description: "defers the flush before pmd_free_pte_page too",
  patch: testPatch,
  appliesTo: ["x86-64"],
  policies: [policy(KERNEL_RANGE_FLUSH, (kernel) => new DeferEverything(kernel))],
});

/**
 * nohz-defer's own policy, but the kernel entry takes the parked work bits (as
 * ct_kernel_enter does) and never runs them: the deferred flush is lost.
 */
export const parkedFlushNeverRuns = definePlugin({
  name: "test-parked-flush-never-runs",
  description: "nohz-defer whose parked CONTEXT_WORK_TLBI is dropped at kernel entry",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(KERNEL_RANGE_FLUSH, (kernel) => new DeferrableKernelRangeFlush(kernel)),
    policy(CONTEXT_TRACKING_ENTRY, (kernel: Kernel) => ({
      kernelEntry(cpu: Cpu): number {
        kernel.ct.work[cpu.id] = 0;
        return 0;
      },
    })),
  ],
});
