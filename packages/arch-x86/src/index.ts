import { ARCH_MM, ARCH_TLB, KERNEL_CHANGES, VMALLOC_SYNC, defaultPolicy, kernelAtLeast, type ArchLayer, type MachineOptions } from "@flushlab/core-mmu";
import { X86Mm } from "./pgtable.js";
import { PRESETS } from "./presets.js";
import { PROFILES } from "./profiles.js";
import { X86Tlb } from "./tlb.js";
import { X86TlbV42 } from "./tlb-v4.js";
import { X86VmallocSync } from "./vmalloc-sync.js";

export { X86TlbV42, type FlushTlbInfoV42 } from "./tlb-v4.js";
export { X86Tlb, TLB_SINGLE_PAGE_FLUSH_CEILING, TLB_FLUSH_ALL, X86_CR3_PTI_PCID_USER_BIT, kernPcid, userPcid, type FlushTlbInfo } from "./tlb.js";
export { X86Mm, pgdList, type PgdList } from "./pgtable.js";
export { X86VmallocSync } from "./vmalloc-sync.js";
export { pteNeedsFlush, PTE_FLUSH_ON_CLEAR_LO, PTE_FLUSH_ON_CHANGE_LO, PTE_FLUSH_ON_CHANGE_HI, PTE_SOFTWARE_LO, PTE_SOFTWARE_HI } from "./pte-needs-flush.js";
export { PROFILES, bareMetal, kvmGuest } from "./profiles.js";
export { PRESETS, lkpCsl2ap4, lkpSklFpga01 } from "./presets.js";

/**
 * The default machine: 8 CPUs on one socket, a 1536-entry 12-way STLB, a 32-entry 2 MiB
 * TLB, 32-entry paging-structure caches, 64 MiB of RAM (scaled down: every run states
 * it). Where each size comes from: MACHINE_SOURCES.
 */
export const DEFAULT_MACHINE: MachineOptions = {
  arch: "x86-64",
  cpus: 8,
  sockets: 1,
  tlbEntries: 1536,
  tlbWays: 12,
  tlb2mEntries: 32,
  pscEntries: 32,
  iotlbEntries: 64,
  memoryMiB: 64,
  la57: false,
};

const STLB =
  "[P] Intel 64 and IA-32 Architectures Optimization Reference Manual (248966-045, Table 2-15): Skylake's STLB, 1,536 entries 12-way, shared by 4 KiB and 2 MiB pages (the model's holds 4 KiB pages only). The cost profiles are of Haswell/Ivy Bridge cores, whose STLBs are smaller (Haswell 1,024 entries 8-way; Ivy Bridge 512 4-way); the default keeps Skylake's size, the one every reproduction was run with";

/** Where each size of DEFAULT_MACHINE comes from. */
export const MACHINE_SOURCES: ArchLayer["machineSources"] = {
  tlbEntries: STLB,
  tlbWays: STLB,
  tlb2mEntries:
    "[P] Intel Optimization Reference Manual: the L1 DTLB's 2/4 MiB part, 32 entries 4-way on Haswell and on Skylake (the model gives 2 MiB pages this TLB alone: the STLB's 2 MiB share is not modelled)",
  pscEntries:
    "[U] Intel documents no paging-structure-cache sizes (SDM Vol. 3A §4.10.3: a processor may implement any or none of them); 32 is the PDE-cache size the MMU-cache literature gives Intel cores (e.g. Bhattacharjee, MICRO 2013), applied here to each level (the PML4E and PDPTE caches are reported smaller)",
  iotlbEntries:
    "[U] the device's ATC: PCIe ATS leaves its size to the device, and seed 004 names no device; 64 entries, fully associative",
};

/** The x86 arch layer of the modelled kernel. */
export const x86: ArchLayer = {
  name: "x86",
  profiles: PROFILES,
  defaultMachine: DEFAULT_MACHINE,
  machineSources: MACHINE_SOURCES,
  presets: PRESETS,
  defaults: [
    // The x86 flush layer of the run's kernel: v4.2's before the PCID and tlb_gen rework (v4.14), else v5.17's.
    defaultPolicy(ARCH_TLB, (kernel) => (kernelAtLeast(kernel.version, KERNEL_CHANGES.x86Pcid) ? new X86Tlb(kernel) : new X86TlbV42(kernel))),
    defaultPolicy(ARCH_MM, (kernel) => new X86Mm(kernel)),
    defaultPolicy(VMALLOC_SYNC, (kernel) => new X86VmallocSync(kernel)),
  ],
  notes: [
    "x86 flush paths mirror arch/x86/mm/tlb.c of the run's kernel (see the kernel line): v4.2 before v4.14, else v5.17 with the older kernel's lazy-CPU and local-first rules; tlb_single_page_flush_ceiling 33",
    "vmalloc, kernel stacks and pgd sync mirror v5.4 with 3f8fd02b1bf1 (vmalloc_sync_all in __purge_vmap_area_lazy); x86-32 PAE has private kernel PMDs (!SHARED_KERNEL_PMD, as with PTI)",
  ],
};
