/**
 * "x86/mm: split vmalloc_sync_all()" (Joerg Roedel, 2019; upstream 763802b53a42,
 * v5.6 cycle with stable backports). vmalloc_sync_all() becomes
 * vmalloc_sync_mappings() and vmalloc_sync_unmappings(); __purge_vmap_area_lazy
 * calls the latter, which on x86-64 does nothing ("unmappings never allocate or free
 * p4d/pud pages") and on x86-32 still runs vmalloc_sync().
 */
import { VMALLOC_SYNC, definePlugin, policy, type Cpu, type KGen, type Kernel, type VmallocSync } from "@flushlab/core-mmu";

/**
 * The split, on both arch modes (seed 000, arch/x86/mm/fault.c), written over the
 * pre-patch code it replaces (`before`, where both calls are vmalloc_sync_all).
 */
export class SplitVmallocSync implements VmallocSync {
  constructor(
    private readonly kernel: Kernel,
    private readonly before: VmallocSync,
  ) {}

  /** Unchanged: x86-64 sync_global_pgds over the vmalloc area; x86-32 vmalloc_sync(). */
  vmallocSyncMappings(cpu: Cpu): KGen {
    return this.before.vmallocSyncMappings(cpu);
  }

  /** x86-64: no work (unmappings never free p4d/pud pages); x86-32: vmalloc_sync() as before. */
  *vmallocSyncUnmappings(cpu: Cpu): KGen {
    if (this.kernel.machine.format.topLoadedAtCr3) yield* this.before.vmallocSyncUnmappings(cpu);
  }
}

export const vmallocSync = definePlugin({
  name: "vmalloc-sync",
  description: "split vmalloc_sync_all(): vmalloc purges stop walking every pgd under pgd_lock on x86-64",
  package: "@flushlab/patch-vmalloc-sync",
  patch: { title: "x86/mm: split vmalloc_sync_all()", commit: "763802b53a42", kernel: "v5.6 (Mar 2020), stable backports", author: "Joerg Roedel" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(VMALLOC_SYNC, (kernel, before) => new SplitVmallocSync(kernel, before))],
  reproduction: {
    workload: "reaim",
    kernel: "v5.4",
    // The kernel test robot's class of machine: 192 CPUs on 4 nodes (RAM scaled down, as
    // the preset states). The run spans the first vmalloc purge cycle from boot (purges: 1)
    // instead of LKP's 300 s; one seed per side keeps it to a few seconds of CPU.
    preset: "lkp-csl-2ap4",
    machine: { arch: "x86-64" },
    params: { workfile: "shared", purges: 1 },
    runs: 1,
    requireNoHazards: true,
    figures: [
      {
        metric: "jobs_per_min",
        kind: "ratio",
        published: 0.2,
        accept: { min: 0, max: 0.4 },
        source:
          "kernel test robot (LKP), reported by Shile Zhang and cited in the patch (seed 000): an 80% reaim throughput regression on x86-64 from the unconditional vmalloc_sync_all, i.e. baseline/patched = 0.2; the report names neither the machine nor the workfile (the reproduction uses the robot's lkp-csl-2ap4 class and workfile.shared); accepted: patched >= 2.5x baseline",
      },
    ],
  },
});

export default vmallocSync;
