import { ARCH_MM, ARCH_TLB, VMALLOC_SYNC, defaultPolicy, type ArchLayer, type MachineOptions } from "@flushlab/core-mmu";
import { X86Mm } from "./pgtable.js";
import { PRESETS } from "./presets.js";
import { PROFILES } from "./profiles.js";
import { X86Tlb } from "./tlb.js";
import { X86VmallocSync } from "./vmalloc-sync.js";

export { X86Tlb, TLB_SINGLE_PAGE_FLUSH_CEILING, TLB_FLUSH_ALL, X86_CR3_PTI_PCID_USER_BIT, kernPcid, userPcid, type FlushTlbInfo } from "./tlb.js";
export { X86Mm, pgdList, type PgdList } from "./pgtable.js";
export { X86VmallocSync } from "./vmalloc-sync.js";
export { pteNeedsFlush, PTE_FLUSH_ON_CLEAR_LO, PTE_FLUSH_ON_CHANGE_LO, PTE_FLUSH_ON_CHANGE_HI, PTE_SOFTWARE_LO, PTE_SOFTWARE_HI } from "./pte-needs-flush.js";
export { PROFILES, bareMetal, kvmGuest } from "./profiles.js";
export { PRESETS, lkpCsl2ap4 } from "./presets.js";

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
  presets: PRESETS,
  defaults: [
    defaultPolicy(ARCH_TLB, (kernel) => new X86Tlb(kernel)),
    defaultPolicy(ARCH_MM, (kernel) => new X86Mm(kernel)),
    defaultPolicy(VMALLOC_SYNC, (kernel) => new X86VmallocSync(kernel)),
  ],
  notes: [
    "x86 flush paths mirror arch/x86/mm/tlb.c v5.17 (concurrent local/remote flush, tlb_single_page_flush_ceiling 33, lazy CPUs skipped unless page tables were freed)",
    "vmalloc, kernel stacks and pgd sync mirror v5.4 with 3f8fd02b1bf1 (vmalloc_sync_all in __purge_vmap_area_lazy); x86-32 PAE has private kernel PMDs (!SHARED_KERNEL_PMD, as with PTI)",
  ],
};
