/**
 * The cost model interface: every cost the model charges is a named parameter in
 * CPU cycles, with its source. Profiles (arch-x86: bare-metal, …) fill it in.
 */

/** Every named cost parameter, in cycles unless said otherwise. */
export interface CostParams {
  /** Core clock in Hz: converts cycles to seconds for reporting. */
  readonly freqHz: number;
  /** A user memory access that hits the TLB (the workload's own work per touch). */
  readonly userAccess: number;
  /** A page walk after a TLB miss (all levels, hitting the caches). */
  readonly pageWalk: number;
  /** A walk that starts below the root through a paging-structure-cache hit. */
  readonly pageWalkPsc: number;
  /**
   * A guest's walk is two-dimensional (EPT): each guest paging-structure reference the
   * walk makes, and the final guest-physical address, is first translated through the
   * EPT. Cycles per such translation (the EPT's own paging-structure caches and TLB
   * included, as an average); 0 on bare metal.
   */
  readonly eptTranslate: number;
  /** The CPU setting D on the first write through a clean cached entry (re-walk). */
  readonly dirtyAssist: number;
  /** INVLPG of one page (flush_tlb_one_user / flush_tlb_one_kernel). */
  readonly invlpg: number;
  /** A CR3 write that drops the non-global entries (flush_tlb_local), instruction only. */
  readonly cr3Flush: number;
  /** A global flush: CR4.PGE toggle or INVPCID all (__flush_tlb_all), instruction only. */
  readonly globalFlush: number;
  /** #PF exception delivery plus iret, hardware only. */
  readonly pageFaultHw: number;
  /** handle_mm_fault software path down to the PTE (no allocation, no copy). */
  readonly faultHandler: number;
  /** Page allocation plus clear_page for a new anonymous page. */
  readonly allocZeroPage: number;
  /** copy_user_highpage for COW. */
  readonly copyPage: number;
  /** Allocating and zeroing a page-table page. */
  readonly ptAlloc: number;
  /** Syscall entry plus exit (with mitigations as the profile states). */
  readonly syscall: number;
  /** mmap of an anonymous region: get_unmapped_area, vma allocation and insertion. */
  readonly mmapRegion: number;
  /** munmap/madvise fixed work besides the per-page zap: vma lookup, split, lock. */
  readonly unmapBase: number;
  /** Zapping one present PTE (get-and-clear, rmap, counters, gather). */
  readonly zapPte: number;
  /** Freeing one page back to the allocator (after the flush). */
  readonly freePage: number;
  /** mprotect fixed work (vma lookup, mprotect_fixup). */
  readonly mprotectBase: number;
  /** ptep_modify_prot_start/commit of one present PTE. */
  readonly changePte: number;
  /** flush_tlb_mm_range bookkeeping besides the flush itself (inc gen, get info, cpumask test). */
  readonly flushBookkeeping: number;
  /** Queueing one csd on a target's call_single_queue (llist_add, csd lock). */
  readonly csdQueue: number;
  /** Sending one IPI (x2APIC ICR write). */
  readonly ipiSend: number;
  /** IPI delivery latency, sender to target on the same socket. */
  readonly ipiLatencySameSocket: number;
  /** IPI delivery latency across sockets. */
  readonly ipiLatencyCrossSocket: number;
  /** Interrupt entry plus exit on the target (sysvec_call_function). */
  readonly irqEntryExit: number;
  /** Running one dequeued csd besides its function (flush_smp_call_function_queue). */
  readonly csdRun: number;
  /** The acknowledgement (csd unlock) reaching the waiting sender: one cache-line transfer. */
  readonly ackLatencySameSocket: number;
  readonly ackLatencyCrossSocket: number;
  /** switch_mm_irqs_off besides the CR3 write. */
  readonly switchMm: number;
  /** An uncontended spin_lock plus spin_unlock (one atomic on a cache line the CPU owns). */
  readonly spinLockUncontended: number;
  /** schedule()'s context switch between a task and the idle task (either way), besides switch_mm. */
  readonly contextSwitch: number;
  /** try_to_wake_up on the waker's CPU: select the task's rq, queue it, mark the target for rescheduling. */
  readonly ttwu: number;
  /** Leaving the idle state an idle CPU sleeps in when a wakeup reaches it (the C-state's exit latency). */
  readonly idleExitLatency: number;
  /** 1: the idle loop polls (MWAIT on thread_info->flags, TIF_POLLING_NRFLAG): a wakeup needs no IPI; 0: it needs a RESCHEDULE IPI. */
  readonly idlePolling: number;
  /** alloc_vmap_area / free of a vmap area (rbtree and list work). */
  readonly vmapAreaAlloc: number;
  /** Setting or clearing one kernel PTE in vmap_page_range / vunmap_page_range. */
  readonly vmapPte: number;
  /**
   * A cache line no CPU's cache holds, read from the DRAM of the CPU's own node (a
   * pgd_list walk's struct page, pgd entry and mm lines, visited once per walk).
   */
  readonly memLatencyLocal: number;
  /** The same from another node's DRAM (one socket-interconnect hop). */
  readonly memLatencyRemote: number;
  /** copy_process besides the mm and the kernel stack (task struct, creds, files, signal). */
  readonly forkBase: number;
  /** exec-like set-up of a new address space besides page tables (bprm, mappings). */
  readonly execBase: number;
  /** do_exit besides exit_mmap and the stack (files, signals, release_task, wait). */
  readonly exitBase: number;
  /** Reclaim work per scanned page besides unmapping (isolation, rmap walk set-up, page_check_references, __remove_mapping). */
  readonly lruScanPage: number;
  /** Starting writeback of one dirty file page (->writepage submission, not the IO). */
  readonly writepage: number;
  /** copy_one_pte at fork: read, write-protect, copy one present PTE, page_dup_rmap. */
  readonly copyPte: number;
  /** amd_iommu_flush_page for one PASID page: IOMMU and device-TLB (ATS) invalidation plus COMPLETION_WAIT, the CPU polling. */
  readonly iommuInvalidatePage: number;
  /** amd_iommu_flush_tlb for a whole PASID, the same round trip. */
  readonly iommuInvalidatePasid: number;
  /** Device side: an ATS translation request and its completion (the IOMMU's walk). */
  readonly atsTranslate: number;
  /** Device side: one DMA read or write through a cached translation. */
  readonly dmaAccess: number;
  /**
   * Device side: the device's own time between one DMA completing and its next request
   * (a device streaming through a buffer it shares with a process, as notifier-device's).
   */
  readonly dmaInterval: number;
  /**
   * User cycles to read one 4 KiB page with 512 sequential 8-byte loads (usemem
   * --readonly's pass over a page: a load and the loop's bookkeeping per word), besides
   * the access that translates the page (userAccess, the walk).
   */
  readonly readPageSequential: number;
  /** User cycles of one reaim test that creates no process (the model's stand-in for reaim's compute, disk and pipe tests). */
  readonly reaimComputeJob: number;
}

export type CostParamName = Exclude<keyof CostParams, never>;

/** Every cost parameter's name, for the checks that a profile names each one (a profile from JavaScript is not type-checked). */
export const COST_PARAM_NAMES = Object.freeze(
  Object.keys({
    freqHz: 0,
    userAccess: 0,
    pageWalk: 0,
    pageWalkPsc: 0,
    eptTranslate: 0,
    dirtyAssist: 0,
    invlpg: 0,
    cr3Flush: 0,
    globalFlush: 0,
    pageFaultHw: 0,
    faultHandler: 0,
    allocZeroPage: 0,
    copyPage: 0,
    ptAlloc: 0,
    syscall: 0,
    mmapRegion: 0,
    unmapBase: 0,
    zapPte: 0,
    freePage: 0,
    mprotectBase: 0,
    changePte: 0,
    flushBookkeeping: 0,
    csdQueue: 0,
    ipiSend: 0,
    ipiLatencySameSocket: 0,
    ipiLatencyCrossSocket: 0,
    irqEntryExit: 0,
    csdRun: 0,
    ackLatencySameSocket: 0,
    ackLatencyCrossSocket: 0,
    switchMm: 0,
    spinLockUncontended: 0,
    contextSwitch: 0,
    ttwu: 0,
    idleExitLatency: 0,
    idlePolling: 0,
    vmapAreaAlloc: 0,
    vmapPte: 0,
    memLatencyLocal: 0,
    memLatencyRemote: 0,
    forkBase: 0,
    execBase: 0,
    exitBase: 0,
    lruScanPage: 0,
    writepage: 0,
    copyPte: 0,
    iommuInvalidatePage: 0,
    iommuInvalidatePasid: 0,
    atsTranslate: 0,
    dmaAccess: 0,
    dmaInterval: 0,
    readPageSequential: 0,
    reaimComputeJob: 0,
  } satisfies Record<CostParamName, 0>) as CostParamName[],
);

/** A named set of costs; `sources` says where each number comes from. */
export interface CostModel {
  readonly name: string;
  readonly description: string;
  readonly params: CostParams;
  readonly sources: { readonly [K in keyof CostParams]: string };
  /**
   * The TLB features of the machine the profile describes (a machine option overrides
   * each), each with its source. Absent: none (no PCID, no INVPCID, no PTI).
   */
  readonly features?: ProfileFeatures;
}

/** A profile's defaults for the machine's PCID, INVPCID and PTI, with where each comes from. */
export interface ProfileFeatures {
  readonly pcid: boolean;
  readonly invpcid: boolean;
  readonly pti: boolean;
  readonly sources: { readonly pcid: string; readonly invpcid: string; readonly pti: string };
}

/** Validates a profile: every parameter present, finite and non-negative, with a source; no parameter it does not know. */
export function checkCostModel(m: CostModel): void {
  const params = m.params as unknown as Record<string, unknown>;
  for (const k of COST_PARAM_NAMES) {
    if (!Object.hasOwn(params, k)) throw new Error(`cost profile ${m.name}: ${k} is missing`);
  }
  for (const [k, v] of Object.entries(params)) {
    if (!(COST_PARAM_NAMES as readonly string[]).includes(k)) throw new Error(`cost profile ${m.name}: unknown parameter ${k}`);
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`cost profile ${m.name}: ${k} must be a non-negative number`);
    if (!(m.sources as Record<string, string>)[k]) throw new Error(`cost profile ${m.name}: ${k} has no source`);
  }
}
