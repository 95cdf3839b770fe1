/**
 * The extension points: each is an interface the kernel calls at one place, with a
 * typed token beside it. The pre-patch default of each comes from core-mmu
 * (plugin/defaults.ts) or from the arch layer (arch-x86); a plugin replaces one by
 * declaring a policy for its token (plugin/define.ts), built from the kernel and the
 * implementation it replaces.
 *
 * Every interface takes and returns plain model values (CPUs, mms, gathers, cycles);
 * a method that takes time is a generator (KGen) that yields the cycles it spends
 * and the completions it waits for.
 */
import type { InjectionToken } from "tsyringe";
import type { Cpu } from "../hw/cpu.js";
import type { MmStruct, MmuGather, NotifierSite, TlbUbc } from "../mm/mm-types.js";
import type { KGen } from "../sim/process.js";

/**
 * The arch TLB-flush layer (arch/x86/mm/tlb.c). Default: arch-x86's v5.17 code.
 */
export interface ArchTlb {
  /** flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables) */
  flushTlbMmRange(cpu: Cpu, mm: MmStruct, start: number, end: number, strideShift: number, freedTables: boolean): KGen;
  /**
   * flush_tlb_kernel_range(start, end): every online CPU; with `cond`
   * (on_each_cpu_cond, evaluated on the sender), only the CPUs it returns true for.
   */
  flushTlbKernelRange(cpu: Cpu, start: number, end: number, cond?: (target: number) => boolean, freedTables?: boolean): KGen;
  /** switch_mm_irqs_off(prev, next): returns the cycles it took. `next` null means init_mm. */
  switchMmIrqsOff(cpu: Cpu, next: MmStruct | null): number;
  /** enter_lazy_tlb: a kernel thread or idle now runs on `cpu`. */
  enterLazyTlb(cpu: Cpu): void;
  /**
   * flush_tlb_local (__flush_tlb before v4.19): flush this CPU's non-global entries of
   * the loaded mm, in the current PCID now and, under PTI, its user PCID at the next
   * return to user mode. Returns cycles.
   */
  flushTlbLocal(cpu: Cpu): number;
  /** initialize_tlbstate_and_flush at boot: `mm` (init_mm) loaded in ASID 0, the TLB flushed. */
  initializeTlbstateAndFlush(cpu: Cpu, mm: MmStruct): void;
  /**
   * Page-table isolation's CR3 switch at a privilege change (SWITCH_TO_USER_CR3 on the
   * way out to user mode, SWITCH_TO_KERNEL_CR3 on the way in), with what the entry code
   * touches under the user CR3 on that side of it. `syscall`: the change is a system
   * call's entry or its return (entry_SYSCALL_64, sysret), not an exception's (a page
   * fault: the IDT, GDT and TSS reads and iret). Called only when the machine has PTI.
   * The switch's instruction cost is part of the entry and exit costs.
   */
  ptiSwitchCr3(cpu: Cpu, toUser: boolean, syscall: boolean): void;
}

/** A page-table entry's flags as two 32-bit words. */
export interface PageProt {
  readonly lo: number;
  readonly hi: number;
}

/**
 * The arch's page-table hooks the generic mm calls: pgd_alloc / pgd_free with pgd_list
 * (arch/x86/mm/pgtable.c), vmalloc_fault (arch/x86/mm/fault.c), protection_map
 * (arch/x86/mm/pgprot.c), pmd_free_pte_page, THREAD_SIZE and the mmap base.
 * Default: arch-x86.
 */
export interface ArchMm {
  /** THREAD_SIZE in bytes. */
  readonly threadSize: number;
  /** Where top-down get_unmapped_area starts (mmap_base). */
  readonly mmapBase: number;
  /**
   * A pgd made at no cost in time (boot and workload set-up): the kernel half from
   * `reference` (null: this is swapper_pg_dir itself), on pgd_list.
   */
  pgdCreate(reference: number | null): number;
  /** pgd_alloc as fork runs it: the pages, then pgd_ctor and pgd_list_add under pgd_lock. */
  pgdAlloc(cpu: Cpu, reference: number): KGen<number>;
  /** pgd_free: pgd_list_del under pgd_lock, then the pgd's pages. */
  pgdFree(cpu: Cpu, pgd: number): KGen;
  /**
   * vmalloc_fault: a kernel-mode miss on a vmalloc address that the reference page
   * table maps but the CPU's does not; copies the entry. Returns false if it cannot.
   */
  vmallocFault(cpu: Cpu, va: number): boolean;
  /** vm_get_page_prot(vm_flags): the PTE flags of a VMA with these flags (protection_map). */
  vmGetPageProt(vmFlags: number): PageProt;
  /**
   * pmd_free_pte_page: a huge ioremap replaces the PTE page under the kernel PMD entry
   * at word offset `pmdOffset`: clear it, flush, free the page. Returns false where the
   * arch refuses (the caller maps with PTEs instead).
   */
  pmdFreePtePage(cpu: Cpu, pmdOffset: number, addr: number): KGen<boolean>;
  /** Counters the arch keeps of its own (e.g. pgd_lock contention), added to a run's counters. */
  statistics?(): Readonly<Record<string, number>>;
}

/**
 * How an mmu_gather flushes and frees (mm/mmu_gather.c tlb_flush_mmu). Default:
 * flush the gathered range (tlb_flush_mmu_tlbonly), then free the gathered pages and
 * page tables (tlb_flush_mmu_free). A policy that frees first is unsafe (class 1).
 */
export interface MmuGatherFlush {
  tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen;
}

/**
 * Whether tlb_finish_mmu must flush more than its own gather recorded because another
 * thread is changing the same mm's PTEs under a gather of its own (mm/memory.c, 2017:
 * 99baac21e458 "mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem", v4.13). Two zaps
 * of one mm can run at once under mmap_read_lock (madvise); the second may find PTEs the
 * first already cleared (or cleaned), record nothing and return while the first has not
 * flushed yet. Default (v4.13 with 99baac21e458): tlb_gather_mmu counts every gather in
 * mm->tlb_flush_pending (inc_tlb_flush_pending), and tlb_finish_mmu forces a flush when
 * the count is above one (mm_tlb_flush_nested), then drops its count. Before the fix
 * (v4.12, v4.13-rc1..rc4) a gather was not counted and nothing was forced.
 */
export interface GatherNesting {
  /** tlb_gather_mmu: the gather is open (v4.13: inc_tlb_flush_pending(tlb->mm)). */
  gatherStarted(tlb: MmuGather): void;
  /** tlb_finish_mmu, before it flushes: must it flush the whole mm? (v4.13: mm_tlb_flush_nested(tlb->mm)) */
  forceFullFlush(tlb: MmuGather): boolean;
  /** tlb_finish_mmu, after the flush and free (v4.13: dec_tlb_flush_pending(tlb->mm)). */
  gatherFinished(tlb: MmuGather): void;
}

/** The flush state of one mprotect call. */
export interface ProtectionChange {
  /** The start of change_protection_range for one VMA (v5.17: inc_tlb_flush_pending). */
  beginVma(cpu: Cpu, start: number, end: number): void;
  /** change_pte_range committed a present PTE, old → new (64-bit entries as lo/hi words). */
  pteChanged(addr: number, oldLo: number, oldHi: number, newLo: number, newHi: number): void;
  /**
   * change_huge_pmd (mm/huge_memory.c) is changing the huge PMD mapping the 2 MiB at
   * `addr`, old → new: called after the PMD was made invalid and before the new one is
   * set, so that the invalidation's flush belongs to the policy. v5.17: pmdp_invalidate
   * flushes the 2 MiB range now (flush_pmd_tlb_range), and the PMD counts HPAGE_PMD_NR
   * pages for the VMA's flush; seed 001 patch 3: pmdp_invalidate_ad flushes nothing
   * (but on X86_BUG_PTE_LEAK) and huge_pmd_needs_flush decides tlb_flush_pmd_range.
   */
  hugePmdChanged(cpu: Cpu, addr: number, oldLo: number, oldHi: number, newLo: number, newHi: number): KGen;
  /** The end of change_protection_range for one VMA's [start, end). */
  endVma(cpu: Cpu, start: number, end: number): KGen;
  /** The end of do_mprotect_pkey, before mmap_write_unlock. */
  finish(cpu: Cpu): KGen;
}

/**
 * The protection-change flush of mprotect (mm/mprotect.c). Default (v5.17):
 * change_protection_range counts every present PTE it rewrote and, if any, flushes
 * the VMA's whole sub-range with flush_tlb_range (freed_tables false on x86 v5.17,
 * so lazy CPUs are skipped). Seed 001 (mprotect with mmu_gather) overrides this point.
 */
export interface ProtectionChangeFlush {
  begin(cpu: Cpu, mm: MmStruct): ProtectionChange;
}

/**
 * vmalloc_sync_mappings / vmalloc_sync_unmappings (arch/x86/mm/fault.c, mm/vmalloc.c).
 * Pre-patch default (after commit 3f8fd02b1bf1, before seed 000): both are
 * vmalloc_sync_all, which __purge_vmap_area_lazy calls before freeing areas.
 */
export interface VmallocSync {
  vmallocSyncMappings(cpu: Cpu): KGen;
  vmallocSyncUnmappings(cpu: Cpu): KGen;
  /**
   * arch_sync_kernel_mappings(start, end) (v5.8+): vunmap changed a page-table level of
   * [start, end) that the arch keeps per pgd (PGTBL_PMD_MODIFIED on x86-32 PAE). Absent:
   * vmallocSyncUnmappings.
   */
  archSyncKernelMappings?(cpu: Cpu, start: number, end: number): KGen;
}

/**
 * The unmap flush decision of reclaim (mm/rmap.c try_to_unmap_one, mm/vmscan.c
 * shrink_page_list). Pre-patch default (v4.2): never defer; try_to_unmap_one uses
 * ptep_clear_flush, an immediate flush_tlb_page per mapping. Seed 003 overrides it.
 */
export interface UnmapFlush {
  /** should_defer_flush(mm, flags): may this PTE's flush wait for the batch? */
  shouldDeferFlush(cpu: Cpu, mm: MmStruct, batch: boolean): boolean;
  /** The PTE was cleared without a flush: record it (set_tlb_ubc_flush_pending), or flush now. */
  deferredUnmap(cpu: Cpu, mm: MmStruct, va: number, dirty: boolean, ubc: TlbUbc): KGen;
  /** try_to_unmap_flush: flush the batch before the pages are freed. */
  tryToUnmapFlush(cpu: Cpu, ubc: TlbUbc): KGen;
  /** try_to_unmap_flush_dirty: flush before writeback starts if a writable PTE is pending. */
  tryToUnmapFlushDirty(cpu: Cpu, ubc: TlbUbc): KGen;
}

/**
 * flush_tlb_batched_pending(mm) (mm/rmap.c, 3ea277194daa, v4.13): called under the PTL
 * by every path that changes the PTEs of an mm reclaim may have unmapped with a deferred
 * flush (change_pte_range, zap_pte_range, madvise_free_pte_range, move_ptes), before
 * it decides from the PTEs whether it must flush. Default: nothing, as from v4.3
 * (batched unmap) to v4.12.
 */
export interface BatchedPendingFlush {
  flushTlbBatchedPending(cpu: Cpu, mm: MmStruct): KGen;
}

/**
 * The kernel-range flush at the vmalloc call sites (vunmap, __purge_vmap_area_lazy,
 * _vm_unmap_aliases, pmd_free_pte_page). Default: flush_tlb_kernel_range, an IPI to
 * every online CPU. Seed 002 (defer kernel flushes for nohz_full CPUs) overrides it.
 */
export interface KernelRangeFlush {
  /** `freedTables`: a page-table page is about to be freed (such a flush must reach every CPU at once). */
  flushKernelRange(cpu: Cpu, start: number, end: number, freedTables?: boolean): KGen;
}

/**
 * What a kernel entry on a nohz_full CPU does before the rest of the kernel runs
 * (context tracking, seed 002's series patch 15): take the state word's work bits
 * and run them. Returns the cycles. Default: run the work first.
 */
export interface ContextTrackingEntry {
  kernelEntry(cpu: Cpu): number;
}

/**
 * How a call site that replaces, frees or write-protects pages under a notifier range
 * tells secondary TLBs (mmu_notifier, v4.15): whether it clears with the
 * *_clear_flush_notify helper (invalidate_range under the PTL), and whether it ends with
 * range_only_end (no second invalidate_range). Default: the v4.15 helpers and range_end
 * everywhere. Seed 004 (mmu_notifier_invalidate_range_only_end) overrides `onlyEnd`.
 */
export interface SecondaryTlbNotify {
  clearNotifies(site: NotifierSite): boolean;
  onlyEnd(site: NotifierSite): boolean;
}

/**
 * What move_ptes hands its flush policy to release: the two page-table locks it holds
 * (mm/mremap.c). Each must be released exactly once.
 */
export interface MovePtesLocks {
  /** spin_unlock(new_ptl); nothing when the new PTEs share the old PTE page's lock. */
  unlockNew(): void;
  /** pte_unmap_unlock(old_pte - 1, old_ptl). */
  unlockOld(): void;
}

/** The flush state of one move_page_tables call (one mremap that moves a VMA). */
export interface PageTableMove {
  /**
   * move_ptes took a non-none PTE for `oldAddr` off the old page table
   * (ptep_get_and_clear returned `lo`/`hi`) and set it at the new address; both
   * page-table locks are held.
   */
  pteMoved(oldAddr: number, lo: number, hi: number): void;
  /**
   * The end of one move_ptes over [start, end) of the old range, its PTEs moved and
   * both locks held: flush the old range (or leave it to `finish`) and release both
   * locks through `ptl`, in the order the policy mirrors.
   */
  endMovePtes(cpu: Cpu, start: number, end: number, ptl: MovePtesLocks): KGen;
  /** The end of move_page_tables, every lock dropped: [start, end) of the old range was moved. */
  finish(cpu: Cpu, start: number, end: number): KGen;
}

/**
 * The old range's TLB flush of mremap when it moves page tables (mm/mremap.c
 * move_ptes / move_page_tables): when the old translations are flushed relative to the
 * release of the old and new page-table locks. Default (eb66ae030829, v4.19, the fix for
 * CVE-2018-18281): any present PTE moved forces flush_tlb_range of the extent's old
 * range before either lock is dropped. Once the new PTE page's lock is free, reclaim or
 * truncation can unmap and free the page at its new address: a flush after that leaves
 * other CPUs a window to use the freed page through the old address.
 */
export interface MovePtesFlush {
  /** The start of move_page_tables on `mm`. */
  begin(cpu: Cpu, mm: MmStruct): PageTableMove;
}

/** The kernel's implementation of every extension point, as assembled for one run. */
export interface Policies {
  archTlb: ArchTlb;
  archMm: ArchMm;
  vmallocSync: VmallocSync;
  mmuGatherFlush: MmuGatherFlush;
  gatherNesting: GatherNesting;
  protectionChangeFlush: ProtectionChangeFlush;
  unmapFlush: UnmapFlush;
  batchedPendingFlush: BatchedPendingFlush;
  kernelRangeFlush: KernelRangeFlush;
  contextTrackingEntry: ContextTrackingEntry;
  secondaryTlbNotify: SecondaryTlbNotify;
  movePtesFlush: MovePtesFlush;
}
export type PolicySlot = keyof Policies;

/** An extension point: where the kernel calls it, which kernel it mirrors, who provides the default. */
export interface ExtensionPoint<K extends PolicySlot = PolicySlot> {
  /** The field of `kernel.policies` that holds the implementation. */
  readonly slot: K;
  /** The interface's name, e.g. "MmuGatherFlush". */
  readonly name: string;
  /** The tsyringe token a run's container registers the implementation under. */
  readonly token: InjectionToken<Policies[K]>;
  readonly description: string;
  /** The kernel function(s) that call it. */
  readonly callSite: string;
  /** The kernel version the pre-patch default mirrors. */
  readonly kernel: string;
  /** Who registers the pre-patch default: core-mmu or the arch layer. */
  readonly defaultFrom: "core" | "arch";
}

function point<K extends PolicySlot>(slot: K, name: string, fields: Omit<ExtensionPoint<K>, "slot" | "name" | "token">): ExtensionPoint<K> {
  // Symbol.for keeps tokens equal when a config file loads its own copy of core-mmu.
  return Object.freeze({ slot, name, token: Symbol.for(`@flushlab/core-mmu:${name}`) as InjectionToken<Policies[K]>, ...fields });
}

export const ARCH_TLB = point("archTlb", "ArchTlb", {
  description: "arch TLB flush layer: flush_tlb_mm_range, flush_tlb_kernel_range, switch_mm_irqs_off, enter_lazy_tlb (arch/x86/mm/tlb.c)",
  callSite: "every user and kernel TLB flush, context switches, idle",
  kernel: "v5.17",
  defaultFrom: "arch",
});
export const ARCH_MM = point("archMm", "ArchMm", {
  description: "arch page-table hooks: pgd_alloc/pgd_free and pgd_list, vmalloc_fault, protection_map, pmd_free_pte_page (arch/x86/mm)",
  callSite: "fork/exit (pgd_alloc, pgd_free), kernel-mode faults on vmalloc addresses, mmap/mprotect (vm_get_page_prot), huge ioremap",
  kernel: "v5.4 (pgd_list, vmalloc_fault), v5.17 (protection_map)",
  defaultFrom: "arch",
});
export const VMALLOC_SYNC = point("vmallocSync", "VmallocSync", {
  description: "vmalloc_sync_mappings / vmalloc_sync_unmappings (arch/x86/mm/fault.c)",
  callSite: "__purge_vmap_area_lazy (mm/vmalloc.c) before the purge flush",
  kernel: "v5.4 with 3f8fd02b1bf1",
  defaultFrom: "arch",
});
export const MMU_GATHER_FLUSH = point("mmuGatherFlush", "MmuGatherFlush", {
  description: "mmu_gather flush-then-free (mm/mmu_gather.c tlb_flush_mmu)",
  callSite: "tlb_finish_mmu, and zap_pte_range when the gather batch is full",
  kernel: "v5.17",
  defaultFrom: "core",
});
export const GATHER_NESTING = point("gatherNesting", "GatherNesting", {
  description: "tlb_finish_mmu's check for a concurrent gather of the same mm: mm->tlb_flush_pending counted by tlb_gather_mmu, mm_tlb_flush_nested forcing a flush of the whole mm (v5.2+ form; v4.13 widened the flush to the call's range) (mm/memory.c)",
  callSite: "tlb_gather_mmu and tlb_finish_mmu (madvise, munmap, exit_mmap, and mprotect with mmu_gather)",
  kernel: "v4.13 with 99baac21e458",
  defaultFrom: "core",
});
export const PROTECTION_CHANGE_FLUSH = point("protectionChangeFlush", "ProtectionChangeFlush", {
  description: "mprotect's flush after change_protection_range (mm/mprotect.c)",
  callSite: "do_mprotect_pkey → change_protection_range (change_pte_range, change_huge_pmd)",
  kernel: "v5.17",
  defaultFrom: "core",
});
export const UNMAP_FLUSH = point("unmapFlush", "UnmapFlush", {
  description: "reclaim's unmap flush: should_defer_flush / set_tlb_ubc_flush_pending / try_to_unmap_flush (mm/rmap.c, mm/vmscan.c)",
  callSite: "try_to_unmap_one, shrink_page_list",
  kernel: "v4.2",
  defaultFrom: "core",
});
export const BATCHED_PENDING_FLUSH = point("batchedPendingFlush", "BatchedPendingFlush", {
  description: "flush_tlb_batched_pending: complete reclaim's deferred flush of an mm before changing its PTEs (mm/rmap.c)",
  callSite: "change_pte_range, zap_pte_range, madvise_free_pte_range, move_ptes (under the PTL)",
  kernel: "v4.12 (nothing; 3ea277194daa adds it in v4.13)",
  defaultFrom: "core",
});
export const KERNEL_RANGE_FLUSH = point("kernelRangeFlush", "KernelRangeFlush", {
  description: "the kernel-range flush at vmalloc's call sites (flush_tlb_kernel_range or a deferrable variant)",
  callSite: "__purge_vmap_area_lazy, _vm_unmap_aliases, pmd_free_pte_page",
  kernel: "v5.4",
  defaultFrom: "core",
});
export const CONTEXT_TRACKING_ENTRY = point("contextTrackingEntry", "ContextTrackingEntry", {
  description: "what a nohz_full CPU's kernel entry runs first (ct_kernel_enter and its work bits)",
  callSite: "every kernel entry of a nohz_full CPU: syscall, fault, interrupt from user mode",
  kernel: "Schneider's RFC v2 context-tracking series (on v6.5-rc1)",
  defaultFrom: "core",
});
export const SECONDARY_TLB_NOTIFY = point("secondaryTlbNotify", "SecondaryTlbNotify", {
  description: "how a notifier call site tells secondary TLBs: *_clear_flush_notify, range_end or range_only_end (mm/mmu_notifier.c)",
  callSite: "wp_page_copy, copy_page_range, zap_page_range, move_page_tables, do_huge_pmd_wp_page(_fallback), __split_huge_pmd, try_to_unmap_one, change_pmd_range",
  kernel: "v4.15",
  defaultFrom: "core",
});

export const MOVE_PTES_FLUSH = point("movePtesFlush", "MovePtesFlush", {
  description: "mremap's flush of the old range in move_ptes, relative to the release of the old and new page-table locks (mm/mremap.c)",
  callSite: "move_ptes (each extent, both PTLs held), move_page_tables (its end)",
  kernel: "v4.19 (eb66ae030829)",
  defaultFrom: "core",
});

/** Every extension point, in the order a run builds them. */
export const EXTENSION_POINTS: readonly ExtensionPoint[] = [
  ARCH_TLB,
  ARCH_MM,
  VMALLOC_SYNC,
  MMU_GATHER_FLUSH,
  GATHER_NESTING,
  PROTECTION_CHANGE_FLUSH,
  UNMAP_FLUSH,
  BATCHED_PENDING_FLUSH,
  KERNEL_RANGE_FLUSH,
  CONTEXT_TRACKING_ENTRY,
  SECONDARY_TLB_NOTIFY,
  MOVE_PTES_FLUSH,
];
