/**
 * Cross-CPU function calls, as kernel/smp.c (v5.17) does them:
 * smp_call_function_many_cond queues one csd per target on its call_single_queue
 * (an IPI only if that queue was empty), runs the function locally when the local
 * CPU is in the mask, then waits (csd_lock_wait) until every target has run it.
 * The condition function is evaluated on the sender, per target. The
 * CALL_FUNCTION interrupt runs every queued csd (generic_smp_call_function_single_interrupt).
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { Completion, type KGen } from "../sim/process.js";
import { C, type Counters } from "./counters.js";
import type { Sched } from "./sched.js";

/** The function a csd runs on a CPU: performs its work at `time`, returns its cycles. */
export type SmpCallFunc = (cpu: Cpu, time: number) => number;
/** smp_cond_func_t: evaluated on the sender for each target CPU id. */
export type SmpCondFunc = (cpu: number) => boolean;

/** One queued cross-CPU function call (struct __call_single_data). */
export interface Csd {
  readonly func: SmpCallFunc;
  readonly completion: Completion | null;
  readonly sender: number;
}

/** What an interrupt from user mode does first on a nohz_full CPU (context tracking). */
export interface IrqEntryHooks {
  /** The kernel entry of an interrupt taken in user mode: deferred work runs first. Returns cycles. */
  kernelEntry(cpu: Cpu): number;
  isolated(cpu: Cpu): boolean;
}

export class Smp {
  /** call_single_queue per CPU. */
  private readonly queues: Csd[][];
  /** The longest single interruption of an isolated CPU (osnoise's max), in cycles. */
  maxIsolatedInterruption = 0;
  hooks: IrqEntryHooks | null = null;

  constructor(
    private readonly m: Machine,
    private readonly counters: Counters,
    private readonly sched: Sched,
  ) {
    this.queues = m.cpus.map(() => []);
    m.apic.onCallFunction = (cpu) => this.callFunctionInterrupt(cpu);
  }

  /**
   * Queues `csd` on `target`'s call_single_queue at `time`. Like llist_add in
   * __smp_call_single_queue, an IPI is sent only if the queue was empty: requests
   * queued behind a pending IPI share its interrupt. Returns true if an IPI was sent.
   */
  queueCsd(sender: Cpu, target: Cpu, csd: Csd, time: number): boolean {
    this.counters.values[C.csd_queued]!++;
    const q = this.queues[target.id]!;
    q.push(csd);
    if (q.length !== 1) return false;
    this.m.apic.send(sender, target, "CALL_FUNCTION", time);
    return true;
  }

  /** The CALL_FUNCTION interrupt on `cpu`: runs every queued csd, acks each, and steals the time. */
  private callFunctionInterrupt(cpu: Cpu): void {
    const q = this.queues[cpu.id]!;
    if (q.length === 0) return;
    const m = this.m;
    const costs = m.costs;
    this.counters.irqCall[cpu.id]!++;
    if (m.events.wants("ipi_recv")) m.events.emit("ipi_recv", { time: m.now, cpu: cpu.id, queued: q.length });
    const start = this.sched.irqEnter(cpu);
    let t = start + costs.irqEntryExit / 2;
    const prevMode = cpu.mode;
    const isolated = this.hooks !== null && this.hooks.isolated(cpu);
    if (isolated && prevMode === CpuMode.USER) this.counters.values[C.isolated_ipis]!++;
    // An interrupt from user mode or idle is a kernel entry (ct_kernel_enter; PTI
    // switches to the kernel's CR3): deferred work runs first.
    if (prevMode !== CpuMode.KERNEL) {
      cpu.mode = CpuMode.KERNEL;
      if (this.hooks !== null) t += this.hooks.kernelEntry(cpu);
    }
    const items = q.splice(0, q.length);
    for (const csd of items) {
      t += costs.csdRun;
      t += csd.func(cpu, t);
      if (csd.completion !== null) csd.completion.done(t + m.cacheLineLatency(cpu, m.cpus[csd.sender]!));
    }
    cpu.mode = prevMode;
    t += costs.irqEntryExit / 2;
    if (isolated) {
      const busy = t - start;
      this.counters.values[C.isolated_interruption_cycles]! += busy;
      if (busy > this.maxIsolatedInterruption) this.maxIsolatedInterruption = busy;
    }
    this.sched.irqExit(cpu, start, t);
  }

  /**
   * smp_call_function_many_cond(mask, func, info, wait, cond_func) with the local CPU
   * included when it is in `mask` (on_each_cpu_cond_mask semantics). `mask` null means
   * every online CPU (on_each_cpu). Yields the sender's cycles, then the wait.
   * Returns the CPU ids that got the call.
   */
  *onEachCpuCondMask(
    self: Cpu,
    mask: Uint8Array | null,
    func: SmpCallFunc,
    wait: boolean,
    cond: SmpCondFunc | null,
    /** Sender cycles already spent before the first csd is queued (bookkeeping folded into one step). */
    pre = 0,
  ): KGen<Uint8Array> {
    // Under flushlab check, a scheduling point before the calls go out (every flush IPI
    // passes here, whoever sends it); none in ordinary runs.
    yield* this.sched.point();
    const m = this.m;
    const n = m.cpus.length;
    const covered = new Uint8Array(n);
    const completion = wait ? new Completion() : null;
    const start = m.now;
    let cost = pre;
    for (let c = 0; c < n; c++) {
      if (c === self.id || (mask !== null && mask[c] === 0)) continue;
      if (cond !== null && !cond(c)) continue;
      covered[c] = 1;
      cost += m.costs.csdQueue;
      completion?.add();
      if (this.queueCsd(self, m.cpus[c]!, { func, completion, sender: self.id }, start + cost)) cost += m.costs.ipiSend;
    }
    // The local call runs after the IPIs are sent, overlapping the remote work (v5.13+).
    if ((mask === null || mask[self.id] === 1) && (cond === null || cond(self.id))) {
      covered[self.id] = 1;
      cost += func(self, start + cost);
    }
    if (cost > 0) yield cost;
    // csd_lock_wait: until every target has run func and its unlock reached us (a csd
    // taken while we were busy still completes at its doneAt).
    if (completion !== null && (completion.pending > 0 || completion.doneAt > m.now)) yield completion;
    return covered;
  }
}
