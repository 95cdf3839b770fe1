/**
 * Deliberately unsafe variants of the batched-unmap policy that src/index.test.ts runs,
 * in one module so that `@flushlab/check`'s tests can search with the same plugins
 * (packages/check/test/unsafe-policies.test.ts). A fixture, not a test: neither the
 * build (tsconfig includes src only) nor vitest (`*.test.ts`) picks it up. Each replaces
 * UNMAP_FLUSH on its own (it is not stacked on batched-unmap).
 */
import { UNMAP_FLUSH, definePlugin, policy, type Cpu, type KGen, type MmStruct, type TlbUbc } from "@flushlab/core-mmu";
import { BatchedUnmapFlush } from "../src/index.js";

/**
 * Unsafe test plugin (a): the batch's flush happens only at the next
 * try_to_unmap_flush, so shrink_page_list frees the pages before they are flushed.
 */
export class FlushLate extends BatchedUnmapFlush {
  private late: Uint8Array | null = null;
  override *tryToUnmapFlush(cpu: Cpu, ubc: TlbUbc): KGen {
    const now = this.late;
    this.late = ubc.flushRequired ? ubc.cpumask.slice() : null;
    ubc.cpumask.fill(0);
    ubc.flushRequired = false;
    if (now !== null) yield* super.tryToUnmapFlush(cpu, { cpumask: now, flushRequired: true, writable: false });
  }
}
export const flushLate = definePlugin({
  name: "test-flush-after-free",
  description: "frees reclaimed pages before their TLB flush",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(UNMAP_FLUSH, (kernel) => new FlushLate(kernel))],
});

/** Unsafe test plugin (b): dirty PTEs are deferred like clean ones, and nothing flushes before writeback. */
export class DeferDirty extends BatchedUnmapFlush {
  override *deferredUnmap(cpu: Cpu, mm: MmStruct, _va: number, _dirty: boolean, ubc: TlbUbc): KGen {
    for (let c = 0; c < mm.cpumask.length; c++) if (mm.cpumask[c] === 1) ubc.cpumask[c] = 1;
    ubc.flushRequired = true;
    void cpu;
  }
}
export const deferDirty = definePlugin({
  name: "test-defer-dirty",
  description: "defers the flush of dirty PTEs and lets writeback start",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(UNMAP_FLUSH, (kernel) => new DeferDirty(kernel))],
});

/**
 * Unsafe test plugin (c): try_to_unmap_flush with an IPI loop of its own that leaves
 * out one CPU of the batch. Nothing here, nor in arch-x86, checks coverage: the oracle
 * sees the pages freed while that CPU still caches them.
 */
export class SkipOneCpu extends BatchedUnmapFlush {
  override *tryToUnmapFlush(cpu: Cpu, ubc: TlbUbc): KGen {
    if (!ubc.flushRequired) return;
    const k = this.kernel;
    const mask = ubc.cpumask.slice();
    for (let c = mask.length - 1; c >= 0; c--) {
      if (c !== cpu.id && mask[c] === 1) {
        mask[c] = 0;
        break;
      }
    }
    yield* k.smp.onEachCpuCondMask(cpu, mask, (target) => k.policies.archTlb.flushTlbLocal(target), true, null);
    ubc.cpumask.fill(0);
    ubc.flushRequired = false;
  }
}
export const skipOneCpu = definePlugin({
  name: "test-skip-one-cpu",
  description: "try_to_unmap_flush's own IPI loop skips one CPU of the batch",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(UNMAP_FLUSH, (kernel) => new SkipOneCpu(kernel))],
});

/**
 * The batched-unmap policy itself, but try_to_unmap_flush sends nothing: the batch is
 * forgotten, and shrink_page_list frees pages other CPUs still cache.
 */
export const batchNeverFlushed = definePlugin({
  name: "test-batch-never-flushed",
  description: "batched-unmap whose try_to_unmap_flush sends no IPI and flushes nothing",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(UNMAP_FLUSH, (kernel) => {
      const real = new BatchedUnmapFlush(kernel);
      return {
        shouldDeferFlush: (cpu: Cpu, mm: MmStruct, batch: boolean) => real.shouldDeferFlush(cpu, mm, batch),
        deferredUnmap: (cpu: Cpu, mm: MmStruct, va: number, dirty: boolean, ubc: TlbUbc) => real.deferredUnmap(cpu, mm, va, dirty, ubc),
        *tryToUnmapFlush(_cpu: Cpu, ubc: TlbUbc): KGen {
          ubc.cpumask.fill(0);
          ubc.flushRequired = false;
          ubc.writable = false;
        },
        tryToUnmapFlushDirty: () => real.tryToUnmapFlushDirty(),
      };
    }),
  ],
});
