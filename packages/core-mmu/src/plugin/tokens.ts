/**
 * Extension points: one interface and one typed symbol token each, with the pre-patch
 * default registered by core-mmu or arch-x86. A plugin overrides a point by
 * re-registering its token in the run's child container.
 *
 * Tokens are `Symbol.for("@flushlab/core-mmu:Name")` so that they stay identical if a
 * module is loaded twice (TOOLCHAIN.md pitfall 8).
 */
import type { InjectionToken } from "tsyringe";
import type { CostModel } from "../cost/cost-model.js";
import type { Cpu, KGen } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import type { MmStruct } from "../mm/mm-types.js";
import type { GatherKernel, MmuGather } from "../mm/mmu-gather.js";
import type { NotifierSite } from "../mm/mmu-notifier.js";

function token<T>(name: string): InjectionToken<T> {
  return Symbol.for(`@flushlab/core-mmu:${name}`) as InjectionToken<T>;
}

/** The run's machine (hardware, memory, engine, counters, oracle). */
export const MACHINE = token<Machine>("Machine");

/** The active cost profile. */
export const COST_MODEL = token<CostModel>("CostModel");

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
}
export const ARCH_TLB = token<ArchTlb>("ArchTlb");

/**
 * How an mmu_gather flushes and frees (mm/mmu_gather.c tlb_flush_mmu). Default:
 * flush the gathered range (tlb_flush_mmu_tlbonly), then free the gathered pages and
 * page tables (tlb_flush_mmu_free). A policy that frees first is unsafe (class 1).
 */
export interface MmuGatherFlush {
  tlbFlushMmu(cpu: Cpu, tlb: MmuGather, k: GatherKernel): KGen;
}
export const MMU_GATHER_FLUSH = token<MmuGatherFlush>("MmuGatherFlush");

/** The flush state of one mprotect call. */
export interface ProtectionChange {
  /** The start of change_protection_range for one VMA (v5.17: inc_tlb_flush_pending). */
  beginVma(cpu: Cpu, start: number, end: number): void;
  /** change_pte_range committed a present PTE, old → new (64-bit entries as lo/hi words). */
  pteChanged(addr: number, oldLo: number, oldHi: number, newLo: number, newHi: number): void;
  /** The end of change_protection_range for one VMA's [start, end). */
  endVma(cpu: Cpu, start: number, end: number): KGen;
  /** The end of do_mprotect_pkey, before mmap_write_unlock. */
  finish(cpu: Cpu): KGen;
}

/**
 * The protection-change flush of mprotect (mm/mprotect.c). Default (v5.17):
 * change_protection_range counts every present PTE it rewrote and, if any, flushes
 * the VMA's whole sub-range with flush_tlb_range (freed_tables = true, so lazy CPUs
 * are interrupted too). Seed 001 (mprotect with mmu_gather) overrides this point.
 */
export interface ProtectionChangeFlush {
  begin(cpu: Cpu, mm: MmStruct): ProtectionChange;
}
export const PROTECTION_CHANGE_FLUSH = token<ProtectionChangeFlush>("ProtectionChangeFlush");

/**
 * vmalloc_sync_mappings / vmalloc_sync_unmappings (arch/x86/mm/fault.c, mm/vmalloc.c).
 * Pre-patch default (after commit 3f8fd02b1bf1, before seed 000): both are
 * vmalloc_sync_all, which __purge_vmap_area_lazy calls before freeing areas.
 */
export interface VmallocSync {
  vmallocSyncMappings(cpu: Cpu): KGen;
  vmallocSyncUnmappings(cpu: Cpu): KGen;
}
export const VMALLOC_SYNC = token<VmallocSync>("VmallocSync");

/** The per-task batch of deferred unmap flushes (struct tlbflush_unmap_batch). */
export interface TlbUbc {
  readonly cpumask: Uint8Array;
  flushRequired: boolean;
  /** d950c9477d51: a writable (dirty) PTE is pending. */
  writable: boolean;
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
export const UNMAP_FLUSH = token<UnmapFlush>("UnmapFlush");

/**
 * The kernel-range flush at the vmalloc call sites (vunmap, __purge_vmap_area_lazy,
 * _vm_unmap_aliases). Default: flush_tlb_kernel_range, an IPI to every online CPU.
 * Seed 002 (defer kernel flushes for nohz_full CPUs) overrides it.
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
export const CONTEXT_TRACKING_ENTRY = token<ContextTrackingEntry>("ContextTrackingEntry");
export const KERNEL_RANGE_FLUSH = token<KernelRangeFlush>("KernelRangeFlush");

/**
 * How a call site that replaces or frees a page under a notifier range tells secondary
 * TLBs (mmu_notifier, v4.15): whether it clears with the *_clear_flush_notify helper
 * (invalidate_range under the PTL), and whether it ends with range_only_end (no second
 * invalidate_range). Default: the v4.15 helpers and range_end everywhere. Seed 004
 * (mmu_notifier_invalidate_range_only_end) overrides `onlyEnd`.
 */
export interface SecondaryTlbNotify {
  clearNotifies(site: NotifierSite): boolean;
  onlyEnd(site: NotifierSite): boolean;
}
export const SECONDARY_TLB_NOTIFY = token<SecondaryTlbNotify>("SecondaryTlbNotify");

/** Every extension-point token core-mmu defines, with a description for `flushlab list`. */
export const EXTENSION_POINTS: readonly { readonly token: InjectionToken<unknown>; readonly name: string; readonly description: string }[] = [
  { token: ARCH_TLB, name: "ArchTlb", description: "arch TLB flush layer: flush_tlb_mm_range, flush_tlb_kernel_range, switch_mm (arch/x86/mm/tlb.c)" },
  { token: MMU_GATHER_FLUSH, name: "MmuGatherFlush", description: "mmu_gather flush-then-free (mm/mmu_gather.c tlb_flush_mmu)" },
  { token: PROTECTION_CHANGE_FLUSH, name: "ProtectionChangeFlush", description: "mprotect's flush after change_protection_range (mm/mprotect.c)" },
  { token: UNMAP_FLUSH, name: "UnmapFlush", description: "reclaim's unmap flush: should_defer_flush / set_tlb_ubc_flush_pending / try_to_unmap_flush (mm/rmap.c, mm/vmscan.c)" },
  { token: KERNEL_RANGE_FLUSH, name: "KernelRangeFlush", description: "the kernel-range flush at vmalloc's call sites (flush_tlb_kernel_range or a deferrable variant)" },
  { token: CONTEXT_TRACKING_ENTRY, name: "ContextTrackingEntry", description: "what a nohz_full CPU's kernel entry runs first (ct_kernel_enter and its work bits)" },
  { token: SECONDARY_TLB_NOTIFY, name: "SecondaryTlbNotify", description: "how a notifier call site tells secondary TLBs: *_clear_flush_notify, range_end or range_only_end (mm/mmu_notifier.c)" },
  { token: VMALLOC_SYNC, name: "VmallocSync", description: "vmalloc_sync_mappings / vmalloc_sync_unmappings (arch/x86/mm/fault.c)" },
  { token: COST_MODEL, name: "CostModel", description: "cycle costs of every modelled operation" },
];

/** Name of a token for messages. */
export function tokenName(t: InjectionToken<unknown>): string {
  const p = EXTENSION_POINTS.find((e) => e.token === t);
  if (p) return p.name;
  if (typeof t === "symbol") return (t.description ?? String(t)).replace(/^@flushlab\/[^:]+:/, "");
  if (typeof t === "function") return t.name;
  return String(t);
}
