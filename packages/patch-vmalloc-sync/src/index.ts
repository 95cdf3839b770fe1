/**
 * "x86/mm: split vmalloc_sync_all()" (Joerg Roedel, 2019; upstream 763802b53a42,
 * v5.6 cycle with stable backports). vmalloc_sync_all() becomes
 * vmalloc_sync_mappings() and vmalloc_sync_unmappings(); __purge_vmap_area_lazy
 * calls the latter, which on x86-64 does nothing ("unmappings never allocate or free
 * p4d/pud pages") and on x86-32 still runs vmalloc_sync().
 */
import "reflect-metadata";
import { inject, injectable } from "tsyringe";
import { MACHINE, VMALLOC_SYNC, definePlugin, type Cpu, type KGen, type Machine, type VmallocSync } from "@flushlab/core-mmu";
import { X86VmallocSync } from "@flushlab/arch-x86";

/** The split, on both arch modes (seed 000, arch/x86/mm/fault.c). */
@injectable()
export class SplitVmallocSync implements VmallocSync {
  private readonly x86: X86VmallocSync;
  private readonly m: Machine;

  constructor(@inject(MACHINE) m: Machine) {
    this.m = m;
    this.x86 = new X86VmallocSync(m);
  }

  /** x86-64: sync_global_pgds over the vmalloc area; x86-32: vmalloc_sync(). */
  vmallocSyncMappings(cpu: Cpu): KGen {
    return this.x86.vmallocSyncAll(cpu);
  }

  /** x86-64: no work (unmappings never free p4d/pud pages); x86-32: vmalloc_sync(). */
  *vmallocSyncUnmappings(cpu: Cpu): KGen {
    if (this.m.format.topLoadedAtCr3) yield* this.x86.vmallocSync(cpu);
  }
}

export const vmallocSync = definePlugin({
  name: "vmalloc-sync",
  description: "split vmalloc_sync_all(): vmalloc purges stop walking every pgd under pgd_lock on x86-64",
  package: "@flushlab/patch-vmalloc-sync",
  patch: { title: "x86/mm: split vmalloc_sync_all()", commit: "763802b53a42", kernel: "v5.6 (Mar 2020), stable backports", author: "Joerg Roedel" },
  appliesTo: ["x86-64", "x86-32-pae"],
  overrides: [VMALLOC_SYNC],
  register(container) {
    container.register(VMALLOC_SYNC, { useClass: SplitVmallocSync });
  },
  reproduction: {
    workload: "reaim",
    machine: { arch: "x86-64" },
    runs: 3,
    requireNoHazards: true,
    figures: [
      {
        metric: "jobs_per_min",
        kind: "ratio",
        published: 0.2,
        accept: { min: 0, max: 0.4 },
        source:
          "kernel test robot (LKP), reported by Shile Zhang and cited in the patch (seed 000): an 80% reaim throughput regression on x86-64 from the unconditional vmalloc_sync_all, i.e. baseline/patched = 0.2; accepted: patched >= 2.5x baseline",
      },
    ],
  },
});

export default vmallocSync;
