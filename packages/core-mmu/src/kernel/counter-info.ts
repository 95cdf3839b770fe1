/**
 * What each counter of a run's result counts, and whether the kernel has it: a counter
 * with a kernel counterpart says where the kernel shows it (/proc/vmstat, a tracepoint,
 * /sys/kernel/debug/lock_event_counts, /proc/schedstat, /proc/interrupts, /proc/stat);
 * the others are the model's own (`kernel: null`), named by the model and counted by its
 * rules, with no file of the kernel to compare them with. A counter whose name is the
 * kernel's counts what the kernel's counts; where the kernel's counterpart has another
 * name (a /proc/stat line, a /proc/interrupts row), `kernel` names it.
 * `flushlab list` prints this table; docs/architecture.md ("Counters") explains it.
 */

export interface CounterInfo {
  /** Where the kernel shows this count, and under which name; null when the model alone counts it. */
  readonly kernel: string | null;
  /** What is counted. */
  readonly what: string;
}

const vmstat = (name: string, note = ""): string => `/proc/vmstat ${name}${note}`;
const LOCK_EVENTS = "/sys/kernel/debug/lock_event_counts/"; // CONFIG_LOCK_EVENT_COUNTS (kernel/locking/lock_events_list.h, v5.17)

const TLB_FLUSH_TRACE = (reason: string, what: string): CounterInfo => ({
  kernel: `tracepoint tlb:tlb_flush with reason ${reason} (enum tlb_flush_reason)`,
  what,
});

/** The result's counters in their order, with their kernel counterparts. */
export const COUNTER_INFO: Readonly<Record<string, CounterInfo>> = {
  nr_tlb_remote_flush: { kernel: vmstat("nr_tlb_remote_flush", " (CONFIG_DEBUG_TLBFLUSH)"), what: "flushes that sent IPIs to other CPUs (flush_tlb_mm_range, flush_tlb_others)" },
  nr_tlb_remote_flush_received: { kernel: vmstat("nr_tlb_remote_flush_received", " (CONFIG_DEBUG_TLBFLUSH)"), what: "flush requests a CPU ran for another (flush_tlb_func from an IPI)" },
  nr_tlb_local_flush_all: { kernel: vmstat("nr_tlb_local_flush_all", " (CONFIG_DEBUG_TLBFLUSH)"), what: "full local flushes" },
  nr_tlb_local_flush_one: { kernel: vmstat("nr_tlb_local_flush_one", " (CONFIG_DEBUG_TLBFLUSH)"), what: "pages flushed one by one (INVLPG) by local flushes" },
  "tlb_flush.TLB_FLUSH_ON_TASK_SWITCH": TLB_FLUSH_TRACE("TLB_FLUSH_ON_TASK_SWITCH", "flushes switch_mm_irqs_off does (a CR3 write that flushes)"),
  "tlb_flush.TLB_REMOTE_SHOOTDOWN": TLB_FLUSH_TRACE("TLB_REMOTE_SHOOTDOWN", "flushes a CPU runs for another CPU's request (flush_tlb_func from an IPI)"),
  "tlb_flush.TLB_LOCAL_SHOOTDOWN": TLB_FLUSH_TRACE("TLB_LOCAL_SHOOTDOWN", "local flushes the kernel traces with this reason; no path of the model does (its local flushes are TLB_LOCAL_MM_SHOOTDOWN)"),
  "tlb_flush.TLB_LOCAL_MM_SHOOTDOWN": TLB_FLUSH_TRACE("TLB_LOCAL_MM_SHOOTDOWN", "the initiating CPU's own flush (flush_tlb_func, local)"),
  "tlb_flush.TLB_REMOTE_SEND_IPI": TLB_FLUSH_TRACE("TLB_REMOTE_SEND_IPI", "flushes that send IPIs to other CPUs (one event per flush, before its IPIs)"),
  pti_user_pcid_flush: { kernel: null, what: "user PCIDs flushed at the return to user mode (user_pcid_flush_mask set by invalidate_user_asid)" },
  pti_entry_walks: { kernel: null, what: "page walks of the entry code's accesses under the user CR3 (PTI): entry text and the TSS's sp2 before SWITCH_TO_KERNEL_CR3, the entry stack and entry text after SWITCH_TO_USER_CR3" },
  ipi_sent: { kernel: null, what: "IPIs the APICs delivered (the hardware's count; the receivers' rows are /proc/interrupts TLB and CAL)" },
  csd_queued: { kernel: null, what: "call_single_data entries queued on a CPU's call_single_queue (an IPI is sent only when the queue was empty)" },
  pgfault: { kernel: vmstat("pgfault"), what: "page faults taken (handle_mm_fault calls from the fault handler)" },
  pgfault_anon: { kernel: null, what: "faults that mapped a new anonymous page (do_anonymous_page, write)" },
  pgfault_zero_page: { kernel: null, what: "read faults that mapped the zero page" },
  pgfault_file: { kernel: null, what: "faults on file mappings (do_read_fault / do_shared_fault); cf. /proc/vmstat pgmajfault, which counts only those that waited for IO" },
  pgcache_fill: { kernel: null, what: "page-cache pages read in on a fault (the model's IO completes at once)" },
  pgfault_cow: { kernel: null, what: "copy-on-write faults that copied the page (wp_page_copy)" },
  pgfault_wp_reuse: { kernel: null, what: "write faults that reused the page (wp_page_reuse: the only mapping)" },
  pgfault_spurious: { kernel: null, what: "faults whose PTE already allowed the access (a stale TLB entry; spurious_fault / the pte_same path)" },
  sigsegv: { kernel: null, what: "faults that found no VMA or no permission (a SIGSEGV)" },
  accesses: { kernel: null, what: "memory accesses the MMU translated (the hardware's count)" },
  tlb_hits: { kernel: null, what: "accesses a TLB entry translated (the hardware's count)" },
  page_walks: { kernel: null, what: "page walks after a TLB miss (the hardware's count; cf. perf's dtlb_*_misses.walk_completed)" },
  psc_walks: { kernel: null, what: "walks that started from a paging-structure-cache entry (the hardware's count)" },
  dirty_assists: { kernel: null, what: "writes through a clean TLB entry that re-walked to set D (the hardware's count)" },
  pages_allocated: { kernel: null, what: "user pages allocated by faults (4 KiB each; a huge page counts 512); cf. /proc/vmstat pgalloc_*, which counts every allocation" },
  pages_freed: { kernel: null, what: "user pages freed by zaps and reclaim; cf. /proc/vmstat pgfree, which counts every page freed" },
  pgtables_freed: { kernel: null, what: "page-table pages freed by mmu_gather (tlb_remove_table)" },
  mmap_calls: { kernel: null, what: "mmap system calls" },
  munmap_calls: { kernel: null, what: "munmap system calls" },
  madvise_calls: { kernel: null, what: "madvise system calls" },
  mprotect_calls: { kernel: null, what: "mprotect system calls" },
  context_switches: { kernel: "/proc/stat ctxt (nr_context_switches)", what: "context switches, the idle task's included" },
  sched_sleeps: { kernel: null, what: "tasks that slept (schedule() from a wait)" },
  sched_sleep_cycles: { kernel: null, what: "cycles tasks spent asleep" },
  ttwu_count: { kernel: "/proc/schedstat ttwu_count (CONFIG_SCHEDSTATS), summed over CPUs", what: "try_to_wake_up calls that woke a task" },
  sched_wake_idle_without_ipi: { kernel: "tracepoint sched:sched_wake_idle_without_ipi", what: "wakeups of a polling idle CPU that needed no IPI (set_nr_if_polling)" },
  irq_resched: { kernel: "/proc/interrupts RES (irq_stat.irq_resched_count), summed over CPUs", what: "rescheduling IPIs taken" },
  idle_exits: { kernel: null, what: "exits from an idle state (C1) to run a task or an interrupt" },
  idle_ipis: { kernel: null, what: "IPIs that reached a CPU in an idle state" },
  hazards_total: { kernel: null, what: "hazards the oracle reported (stale translations used or left; docs/architecture.md lists the classes)" },
  rwsem_opt_lock: { kernel: `${LOCK_EVENTS}rwsem_opt_lock`, what: "write locks taken by optimistic spinning" },
  rwsem_opt_fail: { kernel: `${LOCK_EVENTS}rwsem_opt_fail`, what: "optimistic spins that failed" },
  rwsem_opt_nospin: { kernel: `${LOCK_EVENTS}rwsem_opt_nospin`, what: "slow paths that could not spin" },
  rwsem_sleep_reader: { kernel: `${LOCK_EVENTS}rwsem_sleep_reader`, what: "readers that slept on the wait list" },
  rwsem_sleep_writer: { kernel: `${LOCK_EVENTS}rwsem_sleep_writer`, what: "writers that slept on the wait list" },
  rwsem_wake_reader: { kernel: `${LOCK_EVENTS}rwsem_wake_reader`, what: "readers woken" },
  rwsem_wake_writer: { kernel: `${LOCK_EVENTS}rwsem_wake_writer`, what: "writers woken" },
  rwsem_rlock_steal: { kernel: `${LOCK_EVENTS}rwsem_rlock_steal`, what: "read locks taken by stealing (no writer holds it, v5.11+)" },
  rwsem_rlock_handoff: { kernel: `${LOCK_EVENTS}rwsem_rlock_handoff`, what: "handoff bits set by a waiting reader" },
  rwsem_wlock_handoff: { kernel: `${LOCK_EVENTS}rwsem_wlock_handoff`, what: "handoff bits set by a waiting writer (after RWSEM_WAIT_TIMEOUT)" },
  forks: { kernel: null, what: "fork() calls; cf. /proc/stat processes, which counts threads too" },
  exits: { kernel: null, what: "exit() calls of forked children" },
  stack_cache_hits: { kernel: null, what: "kernel stacks taken from the per-CPU cache of two (CONFIG_VMAP_STACK)" },
  vmalloc_calls: { kernel: null, what: "vmalloc / vmap allocations" },
  vfree_calls: { kernel: null, what: "vfree / vunmap calls" },
  vmalloc_purges: { kernel: null, what: "__purge_vmap_area_lazy runs" },
  vmalloc_faults: { kernel: null, what: "vmalloc_fault calls that copied a kernel entry into a process pgd" },
  sync_global_pgds_calls: { kernel: null, what: "sync_global_pgds calls (x86-64)" },
  vmalloc_sync_calls: { kernel: null, what: "vmalloc_sync calls (x86-32 PAE)" },
  mm_vmscan_wakeup_kswapd: { kernel: "tracepoint vmscan:mm_vmscan_wakeup_kswapd", what: "wakeups of a node's kswapd (wakeup_kswapd past its checks)" },
  allocstall: { kernel: vmstat("allocstall", " (v4.2; v4.10+ splits it by zone, allocstall_normal, …)"), what: "direct reclaims (do_try_to_free_pages calls)" },
  pgscan_kswapd: { kernel: vmstat("pgscan_kswapd", " (v4.8+; v4.2 splits it by zone, pgscan_kswapd_normal, …)"), what: "pages kswapd isolated from the inactive lists to scan" },
  pgscan_direct: { kernel: vmstat("pgscan_direct", " (v4.8+; v4.2 splits it by zone)"), what: "pages direct reclaim isolated from the inactive lists to scan" },
  pgsteal_kswapd: { kernel: vmstat("pgsteal_kswapd", " (v4.8+; v4.2 splits it by zone)"), what: "pages kswapd reclaimed (shrink_page_list's nr_reclaimed)" },
  pgsteal_direct: { kernel: vmstat("pgsteal_direct", " (v4.8+; v4.2 splits it by zone)"), what: "pages direct reclaim reclaimed" },
  nr_vmscan_write: { kernel: vmstat("nr_vmscan_write"), what: "pages reclaim wrote back (pageout)" },
  deferred_flushes: { kernel: null, what: "kernel flushes an isolated CPU deferred to its next kernel entry (nohz-defer)" },
  isolated_ipis: { kernel: null, what: "IPIs that interrupted an isolated (nohz_full) CPU in user mode" },
  isolated_interruption_cycles: { kernel: null, what: "cycles isolated CPUs spent interrupted while in user mode" },
  mmu_notifier_range_start: { kernel: null, what: "mmu_notifier_invalidate_range_start calls" },
  mmu_notifier_range_end: { kernel: null, what: "mmu_notifier_invalidate_range_end calls" },
  mmu_notifier_range_only_end: { kernel: null, what: "mmu_notifier_invalidate_range_only_end calls" },
  invalidate_range_calls: { kernel: null, what: "invalidate_range callbacks run (secondary TLB invalidations)" },
  device_invalidations: { kernel: null, what: "IOTLB invalidations the device ran" },
  device_invalidation_cycles: { kernel: null, what: "cycles spent waiting for IOTLB invalidations" },
  dma_accesses: { kernel: null, what: "device DMA reads and writes" },
  ats_translations: { kernel: null, what: "ATS translation requests (IOTLB misses that walked the CPU page tables)" },
  ppr_faults: { kernel: null, what: "page requests (PRI) the device sent" },
  cycles_user: { kernel: null, what: "cycles in user mode, all CPUs; cf. /proc/stat cpu user (in USER_HZ ticks)" },
  cycles_system: { kernel: null, what: "cycles in the kernel, all CPUs; cf. /proc/stat cpu system" },
  cycles_interrupt: { kernel: null, what: "cycles in interrupt handlers, all CPUs; cf. /proc/stat cpu irq" },
  cycles_idle: { kernel: null, what: "cycles idle, all CPUs (elapsed minus the rest); cf. /proc/stat cpu idle" },
  elapsed_cycles: { kernel: null, what: "simulated time of the run" },
  pages_in_use_peak: { kernel: null, what: "the most frames allocated at once" },
  // Added by name when they happen (Counters.add).
  pglazyfree: { kernel: vmstat("pglazyfree", " (v4.12+)"), what: "pages MADV_FREE marked lazyfree" },
  pglazyfreed: { kernel: vmstat("pglazyfreed", " (v4.12+)"), what: "lazyfree pages reclaim discarded" },
  thp_fault_alloc: { kernel: vmstat("thp_fault_alloc"), what: "huge pages allocated by faults" },
  thp_fault_fallback: { kernel: vmstat("thp_fault_fallback"), what: "huge-page faults that fell back to 4 KiB pages" },
  thp_split_pmd: { kernel: vmstat("thp_split_pmd"), what: "huge PMDs split" },
  flush_tlb_batched_pending: { kernel: null, what: "flush_tlb_batched_pending calls that found a flush reclaim left pending, and ran it (v4.13+)" },
  leave_mm: { kernel: null, what: "leave_mm calls that took a lazy CPU out of the mm (the v4.2 flush layer)" },
  mremap_calls: { kernel: null, what: "mremap system calls" },
  pgd_lock_wait_cycles: { kernel: null, what: "cycles CPUs spun waiting for pgd_lock" },
  pgd_lock_hold_cycles: { kernel: null, what: "cycles pgd_lock was held" },
  pgd_lock_acquisitions: { kernel: null, what: "pgd_lock acquisitions" },
  pgd_lock_contended: { kernel: null, what: "pgd_lock acquisitions that had to wait" },
  pgd_list_visits: { kernel: null, what: "pgds visited by pgd_list walks (sync_global_pgds, vmalloc_sync)" },
  pgd_list_walk_steps: { kernel: null, what: "pgd_list entries stepped over by the walks" },
};

/** A counter's info; a name the table does not know (a plugin's or workload's own) is the model's. */
export function counterInfo(name: string): CounterInfo {
  return COUNTER_INFO[name] ?? { kernel: null, what: "added by a plugin or a workload" };
}
