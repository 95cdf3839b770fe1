import "reflect-metadata";
import type { DependencyContainer } from "tsyringe";
import { ARCH_TLB, VMALLOC_SYNC, type ArchLayer, type MachineOptions } from "@flushlab/core-mmu";
import { X86VmallocSync } from "./vmalloc-sync.js";
import { PROFILES } from "./profiles.js";
import { X86Tlb } from "./tlb.js";

export { X86Tlb, TLB_SINGLE_PAGE_FLUSH_CEILING, TLB_FLUSH_ALL, type FlushTlbInfo } from "./tlb.js";
export { PROFILES, bareMetal, kvmGuest } from "./profiles.js";
export { X86VmallocSync } from "./vmalloc-sync.js";

/** The default machine: 8 CPUs on one socket, 1536-entry 12-way STLB (Haswell-class), 64 MiB of RAM (scaled down: every run states it). */
export const DEFAULT_MACHINE: MachineOptions = {
  arch: "x86-64",
  cpus: 8,
  sockets: 1,
  tlbEntries: 1536,
  tlbWays: 12,
  memoryMiB: 64,
  la57: false,
};

/** The x86 arch layer of the modelled kernel. */
export const x86: ArchLayer = {
  name: "x86",
  profiles: PROFILES,
  defaultMachine: DEFAULT_MACHINE,
  register(container: DependencyContainer): void {
    container.register(ARCH_TLB, { useClass: X86Tlb });
    container.register(VMALLOC_SYNC, { useClass: X86VmallocSync });
  },
  notes: [
    "x86 flush paths mirror arch/x86/mm/tlb.c v5.17 (concurrent local/remote flush, tlb_single_page_flush_ceiling 33, lazy CPUs skipped unless page tables were freed)",
    "vmalloc, kernel stacks and pgd sync mirror v5.4 with 3f8fd02b1bf1 (vmalloc_sync_all in __purge_vmap_area_lazy); x86-32 PAE has private kernel PMDs (!SHARED_KERNEL_PMD, as with PTI)",
  ],
};
