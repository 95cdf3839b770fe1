/**
 * The kernel release a run models. A run is one kernel: the patch of a reproduction
 * is applied to the kernel of its time, and `run` / `compare` default to v5.17. Only
 * the differences between releases that change who gets an IPI, when a flush happens
 * or when memory is freed are modelled; each is keyed here to the release that
 * brought it, so a reader can check the claim against that release's source.
 */

/** The releases the model has been checked against (the eras of the five seeds, v5.2 just before 3f8fd02b1bf1, and the default). */
export const KERNEL_VERSIONS = ["v4.2", "v4.15", "v5.2", "v5.4", "v5.17", "v6.5"] as const;
export type KernelVersion = (typeof KERNEL_VERSIONS)[number];
export const DEFAULT_KERNEL_VERSION: KernelVersion = "v5.17";

export function isKernelVersion(v: unknown): v is KernelVersion {
  return typeof v === "string" && (KERNEL_VERSIONS as readonly string[]).includes(v);
}

/** "v4.15" → 4015 */
function code(v: string): number {
  const m = /^v(\d+)\.(\d+)$/.exec(v);
  if (m === null) throw new Error(`not a kernel version: ${v}`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/** True when `v` is release `since` or later. */
export function kernelAtLeast(v: KernelVersion, since: string): boolean {
  return code(v) >= code(since);
}

/**
 * The releases that changed what the model does, and what each changed. The run's
 * notes list the ones on either side of its kernel.
 */
export const KERNEL_CHANGES = {
  /**
   * "smp: Avoid sending needless IPI in smp_call_function_many()" (Aaron Lu, 2016;
   * absent in v4.8's kernel/smp.c, present in v4.9's): an IPI goes only to a target
   * whose call_single_queue was empty. Before it every target in the mask got one.
   */
  smpCfdIpiOnlyIfQueueEmpty: "v4.9",
  /** x86/mm: PCID (ASIDs, tlb_gen per mm and per ASID), Andy Lutomirski: v4.14. */
  x86Pcid: "v4.14",
  /** Page-table isolation: v4.15 (and the v4.14.11 backport). */
  x86Pti: "v4.15",
  /**
   * PTI for x86-32 (Joerg Roedel, v4.19): with it, SHARED_KERNEL_PMD is 0 and each PAE pgd
   * has private kernel PMDs. Before, native PAE shared the kernel PMDs of swapper_pg_dir
   * (vmalloc_sync_all returned at once), so nothing in a process pgd could go stale.
   */
  x86_32PrivateKernelPmds: "v4.19",
  /**
   * "x86/mm/tlb: Only send page table free TLB flush to lazy TLB CPUs" and the lazy-TLB
   * rework (Rik van Riel, v4.19): lazy CPUs are skipped unless page tables were freed.
   */
  x86LazySkip: "v4.19",
  /**
   * "smp: Run functions concurrently in smp_call_function_many_cond()" and "x86/mm/tlb:
   * Flush remote and local TLBs concurrently" (Nadav Amit, v5.13): the local call runs
   * while the IPIs are in flight; before it, after the remote calls completed
   * (on_each_cpu_mask), and flush_tlb_mm_range flushed locally first.
   */
  concurrentLocalRemote: "v5.13",
  /** "mm/vmalloc: Sync unmappings in __purge_vmap_area_lazy()" (Joerg Roedel, 3f8fd02b1bf1, v5.3). */
  vmallocSyncInPurge: "v5.3",
  /**
   * arch_sync_kernel_mappings (Joerg Roedel, v5.8):
   * vmalloc_sync_mappings / vmalloc_sync_unmappings are gone, and __purge_vmap_area_lazy
   * no longer syncs; a page-table level the arch keeps per pgd that vmap or vunmap
   * modifies is synced at once (x86-32 PAE: a cleared or set kernel PMD).
   */
  noVmallocSync: "v5.8",
} as const;

/** One line for a run's notes: the kernel and what its era means in the model. */
export function describeKernelVersion(v: KernelVersion): string {
  const ipi = kernelAtLeast(v, KERNEL_CHANGES.smpCfdIpiOnlyIfQueueEmpty)
    ? "an IPI only to a target whose call_single_queue was empty"
    : "an IPI to every target of smp_call_function_many, queue empty or not (before v4.9)";
  const tlb = !kernelAtLeast(v, KERNEL_CHANGES.x86Pcid)
    ? "x86 flushes of v4.2: local first, no tlb_gen, lazy CPUs stay in mm_cpumask, get the IPI and leave_mm"
    : kernelAtLeast(v, KERNEL_CHANGES.x86LazySkip)
      ? `x86 flushes of v5.17 (lazy CPUs skipped unless page tables were freed${kernelAtLeast(v, KERNEL_CHANGES.concurrentLocalRemote) ? "; local flush concurrent with the remote ones" : "; the local flush before the remote ones (before v5.13)"})`
      : "x86 flushes of v5.17's tlb_gen scheme, lazy CPUs not modelled apart (v4.14-v4.18 switch a lazy CPU to init_mm with PCID)";
  const sync = kernelAtLeast(v, KERNEL_CHANGES.noVmallocSync)
    ? "no vmalloc_sync_* (removed in v5.8): arch_sync_kernel_mappings when vunmap clears a PAE kernel PMD"
    : kernelAtLeast(v, KERNEL_CHANGES.vmallocSyncInPurge)
      ? "vmalloc_sync_all in __purge_vmap_area_lazy (v5.3-v5.7)"
      : "no vmalloc sync in __purge_vmap_area_lazy (before v5.3)";
  const pmds = kernelAtLeast(v, KERNEL_CHANGES.x86_32PrivateKernelPmds) ? "x86-32 PAE: private kernel PMDs per pgd (as with PTI, v4.19+)" : "x86-32 PAE: kernel PMDs shared with swapper_pg_dir (SHARED_KERNEL_PMD, before v4.19)";
  return `kernel: ${v} (${ipi}; ${tlb}; ${sync}; ${pmds})`;
}
