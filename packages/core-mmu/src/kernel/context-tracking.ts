/**
 * Context tracking on nohz_full CPUs, with the per-CPU work bits of seed 002's series
 * (kernel/context_tracking.c; RFC v2 patches 15 and 19, on v6.5-rc1): each isolated
 * CPU's state word carries work that a remote CPU parked for it while it was outside
 * the kernel, and the CPU runs that work at its next kernel entry. What an entry runs
 * first is the ContextTrackingEntry extension point; this file is the mechanism.
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { C, type Counters } from "./counters.js";

/** CONTEXT_WORK_TLBI: a full TLB flush (__flush_tlb_all), globals included. */
export const CONTEXT_WORK_TLBI = 1;

export class ContextTracking {
  /** nohz_full= CPUs: context tracking runs on them. */
  readonly nohzFull: Uint8Array;
  /** The work bits of each CPU's state word (ct->state). */
  readonly work: Uint8Array;

  constructor(
    private readonly m: Machine,
    private readonly counters: Counters,
  ) {
    this.nohzFull = new Uint8Array(m.cpus.length);
    this.work = new Uint8Array(m.cpus.length);
  }

  /** Whether `cpu` is a nohz_full (isolated) CPU. */
  isolated(cpu: Cpu): boolean {
    return this.nohzFull[cpu.id] === 1;
  }

  /**
   * ct_set_cpu_work(cpu, work), run by the sender: a compare-and-swap loop that ORs
   * the work into the target's state word only while the target is outside the
   * kernel (user, guest or idle). In the model the check and the update are one
   * step, as the cmpxchg makes them. Returns true if the work was parked.
   */
  ctSetCpuWork(target: Cpu, work: number): boolean {
    if (this.nohzFull[target.id] === 0 || target.mode === CpuMode.KERNEL) return false;
    this.work[target.id]! |= work;
    return true;
  }

  /**
   * ct_kernel_enter's work: atomically take the state word's work bits and run them.
   * CONTEXT_WORK_TLBI is __flush_tlb_all. Returns the cycles.
   */
  runCtWork(cpu: Cpu): number {
    if (this.nohzFull[cpu.id] === 0) return 0;
    const work = this.work[cpu.id]!;
    if (work === 0) return 0;
    this.work[cpu.id] = 0;
    let cost = 0;
    if ((work & CONTEXT_WORK_TLBI) !== 0) {
      this.counters.values[C.deferred_flushes]!++;
      cost += this.m.mmu.flushTlbGlobal(cpu);
    }
    return cost;
  }
}
