/**
 * "x86/mm, mm/vmalloc: Defer flush_tlb_kernel_range() targeting NOHZ_FULL CPUs"
 * (Valentin Schneider, RFC v2 20/20, July 2023; not merged) with the
 * context-tracking work infrastructure of its series (patches 15 and 19): the vmalloc
 * call sites use flush_tlb_kernel_range_deferrable, whose per-CPU condition parks
 * CONTEXT_WORK_TLBI in the target's state word (ct_set_cpu_work: a cmpxchg that
 * succeeds only while the target is outside the kernel) instead of sending the IPI;
 * the target runs a full flush, globals included, at its next kernel entry.
 */
import { CONTEXT_WORK_TLBI, KERNEL_RANGE_FLUSH, definePlugin, policy, type Cpu, type KGen, type Kernel, type KernelRangeFlush } from "@flushlab/core-mmu";

export class DeferrableKernelRangeFlush implements KernelRangeFlush {
  constructor(protected readonly kernel: Kernel) {}

  /** do_kernel_flush_defer_cond(cpu) = !ct_set_cpu_work(cpu, CONTEXT_WORK_TLBI) */
  deferCond(target: number): boolean {
    return !this.kernel.ct.ctSetCpuWork(this.kernel.machine.cpus[target]!, CONTEXT_WORK_TLBI);
  }

  /**
   * flush_tlb_kernel_range_deferrable. A flush that precedes freeing a page-table
   * page is never deferred (Hansen, Zijlstra: paging-structure caches may use the
   * freed page at any time), so it stays flush_tlb_kernel_range.
   */
  flushKernelRange(cpu: Cpu, start: number, end: number, freedTables = false): KGen {
    const arch = this.kernel.policies.archTlb;
    if (freedTables) return arch.flushTlbKernelRange(cpu, start, end, undefined, true);
    return arch.flushTlbKernelRange(cpu, start, end, (c) => this.deferCond(c));
  }
}

export const nohzDefer = definePlugin({
  name: "nohz-defer",
  description: "vmalloc's kernel-range flushes skip nohz_full CPUs outside the kernel; they flush at their next kernel entry",
  package: "@flushlab/patch-nohz-defer",
  patch: { title: "x86/mm, mm/vmalloc: Defer flush_tlb_kernel_range() targeting NOHZ_FULL CPUs", commit: "RFC v2 20/20 (not merged)", kernel: "not merged (posted on v6.5-rc1)", author: "Valentin Schneider" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(KERNEL_RANGE_FLUSH, (kernel) => new DeferrableKernelRangeFlush(kernel))],
  reproduction: {
    workload: "nohz-isolation",
    kernel: "v6.5",
    runs: 3,
    requireNoHazards: true,
    figures: [
      { metric: "isolated_ipis", kind: "baseline", published: 338, accept: { min: 1, max: 1e12 }, source: "seed 002: a 30-minute rteval run, 338 IPIs to isolated CPUs on v6.5-rc1 (accepted: any number above 0; the model's run is far shorter)" },
      { metric: "isolated_ipis", kind: "patched", published: 2, accept: { min: 0, max: 0 }, source: "seed 002: 2 with the series, and those 2 were not TLB flushes (nohz_full_kick_func), so 0 TLB IPIs are expected" },
    ],
  },
});

export default nohzDefer;
