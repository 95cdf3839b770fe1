/**
 * The kernel's counters: vm events and vmstat items with the kernel's names
 * (include/linux/vm_event_item.h, mmzone.h), tlb_flush reasons (enum tlb_flush_reason),
 * lock event counts and tracepoints by their names, the /proc/interrupts TLB and CAL rows
 * (arch/x86/kernel/irq.c), and the model's own accounting (syscalls by kind, faults by
 * kind, cycles by CPU state), which has no kernel counterpart. Which is which, and what
 * each counts: ./counter-info.ts (`flushlab list` shows it). Incrementing one is an
 * index into a Float64Array: cheap enough for any path. Hardware event counts
 * (accesses, TLB hits, walks, IPIs sent) are the hardware's own (hw/mmu.ts,
 * hw/apic.ts); the hazard count is the oracle's.
 */
export const COUNTER_NAMES = [
  "nr_tlb_remote_flush",
  "nr_tlb_remote_flush_received",
  "nr_tlb_local_flush_all",
  "nr_tlb_local_flush_one",
  "tlb_flush.TLB_FLUSH_ON_TASK_SWITCH",
  "tlb_flush.TLB_REMOTE_SHOOTDOWN",
  "tlb_flush.TLB_LOCAL_SHOOTDOWN",
  "tlb_flush.TLB_LOCAL_MM_SHOOTDOWN",
  "tlb_flush.TLB_REMOTE_SEND_IPI",
  "pti_user_pcid_flush",
  "pti_entry_walks",
  "csd_queued",
  "pgfault",
  "pgfault_anon",
  "pgfault_zero_page",
  "pgfault_file",
  "pgcache_fill",
  "pgfault_cow",
  "pgfault_wp_reuse",
  "pgfault_spurious",
  "sigsegv",
  "pages_allocated",
  "pages_freed",
  "pgtables_freed",
  "mmap_calls",
  "munmap_calls",
  "madvise_calls",
  "mprotect_calls",
  "context_switches",
  "sched_sleeps",
  "sched_sleep_cycles",
  "ttwu_count",
  "sched_wake_idle_without_ipi",
  "irq_resched",
  "idle_exits",
  "idle_ipis",
  "rwsem_opt_lock",
  "rwsem_opt_fail",
  "rwsem_opt_nospin",
  "rwsem_sleep_reader",
  "rwsem_sleep_writer",
  "rwsem_wake_reader",
  "rwsem_wake_writer",
  "rwsem_rlock_steal",
  "rwsem_rlock_handoff",
  "rwsem_wlock_handoff",
  "forks",
  "exits",
  "stack_cache_hits",
  "vmalloc_calls",
  "vfree_calls",
  "vmalloc_purges",
  "vmalloc_faults",
  "sync_global_pgds_calls",
  "vmalloc_sync_calls",
  "mm_vmscan_wakeup_kswapd",
  "allocstall",
  "pgscan_kswapd",
  "pgscan_direct",
  "pgsteal_kswapd",
  "pgsteal_direct",
  "nr_vmscan_write",
  "deferred_flushes",
  "isolated_ipis",
  "isolated_interruption_cycles",
  "mmu_notifier_range_start",
  "mmu_notifier_range_end",
  "mmu_notifier_range_only_end",
  "invalidate_range_calls",
  "device_invalidations",
  "device_invalidation_cycles",
  "dma_accesses",
  "ats_translations",
  "ppr_faults",
  "cycles_user",
  "cycles_system",
  "cycles_interrupt",
  "cycles_idle",
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

const INDEX: Record<string, number> = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i]));

/** Index of a counter name, resolved once (use the index on hot paths). */
export function counterIndex(name: CounterName): number {
  return INDEX[name]!;
}

export const C = Object.freeze(Object.fromEntries(COUNTER_NAMES.map((n, i) => [n.replace(/\./g, "_"), i]))) as {
  readonly [K in CounterName as K extends `${infer A}.${infer B}` ? `${A}_${B}` : K]: number;
};

export class Counters {
  readonly values = new Float64Array(COUNTER_NAMES.length);
  /** /proc/interrupts "TLB: TLB shootdowns" per CPU (irq_tlb_count). */
  readonly irqTlb: Float64Array;
  /** /proc/interrupts "CAL: Function call interrupts" per CPU (irq_call_count). */
  readonly irqCall: Float64Array;
  /** Plugins and workloads may add counters by name (reported with the rest). */
  readonly extra = new Map<string, number>();

  constructor(ncpus: number) {
    this.irqTlb = new Float64Array(ncpus);
    this.irqCall = new Float64Array(ncpus);
  }

  add(name: string, n = 1): void {
    this.extra.set(name, (this.extra.get(name) ?? 0) + n);
  }

  toRecord(): Record<string, number> {
    const out: Record<string, number> = {};
    COUNTER_NAMES.forEach((n, i) => (out[n] = this.values[i]!));
    for (const k of [...this.extra.keys()].sort()) out[k] = this.extra.get(k)!;
    return out;
  }
}
