/**
 * Cross-CPU function calls, as kernel/smp.c (v5.17) does them:
 * smp_call_function_many_cond queues one csd per target on its call_single_queue
 * (an IPI only if that queue was empty), runs the function locally when the local
 * CPU is in the mask, then waits (csd_lock_wait) until every target has run it.
 * The condition function is evaluated on the sender, per target. The
 * CALL_FUNCTION interrupt runs every queued csd (generic_smp_call_function_single_interrupt).
 *
 * Two earlier behaviours follow the run's kernel (kernel/version.ts):
 * - before v4.9, smp_call_function_many sends the CALL_FUNCTION IPI to every target in
 *   the mask (arch_send_call_function_ipi_mask(cfd->cpumask)), whether or not its queue
 *   already held a csd with an IPI on the way; the single-target path
 *   (__smp_call_function_single_queue) checked llist_add's result already;
 * - before v5.13, on_each_cpu_mask / on_each_cpu_cond_mask run the local call only after
 *   smp_call_function_many has waited for the remote ones.
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { Completion, type KGen } from "../sim/process.js";
import { C, type Counters } from "./counters.js";
import type { Sched } from "./sched.js";
import { KERNEL_CHANGES, kernelAtLeast, type KernelVersion } from "./version.js";

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

/** smp_call_function_many's condition (every CPU but the caller), known by identity: no closure per call, no call per target. */
const EXCEPT_SELF: SmpCondFunc = () => true;

export class Smp {
  /** call_single_queue per CPU. */
  private readonly queues: Csd[][];
  /** Per CPU, an empty array the interrupt swaps in for the queue it runs (no allocation per interrupt). */
  private readonly spare: Csd[][];
  /** The longest single interruption of an isolated CPU (osnoise's max), in cycles. */
  maxIsolatedInterruption = 0;
  hooks: IrqEntryHooks | null = null;
  /** smp_call_function_many sends an IPI to every target, queue empty or not (before v4.9). */
  readonly ipiEveryTarget: boolean;
  /** The local call overlaps the remote ones (v5.13+); before, it runs after the wait. */
  readonly concurrentLocal: boolean;

  constructor(
    private readonly m: Machine,
    private readonly counters: Counters,
    private readonly sched: Sched,
    version: KernelVersion,
  ) {
    this.queues = m.cpus.map(() => []);
    this.spare = m.cpus.map(() => []);
    this.ipiEveryTarget = !kernelAtLeast(version, KERNEL_CHANGES.smpCfdIpiOnlyIfQueueEmpty);
    this.concurrentLocal = kernelAtLeast(version, KERNEL_CHANGES.concurrentLocalRemote);
    m.apic.onCallFunction = (cpu) => this.callFunctionInterrupt(cpu);
    sched.csdTarget = (c) => this.csdLockWaitGetcpu(c);
  }

  /**
   * Queues `csd` on `target`'s call_single_queue at `time`. Like llist_add in
   * __smp_call_single_queue, an IPI is sent only if the queue was empty: requests
   * queued behind a pending IPI share its interrupt. Returns true if an IPI was sent.
   * `always`: send it anyway (smp_call_function_many before v4.9).
   */
  queueCsd(sender: Cpu, target: Cpu, csd: Csd, time: number, always = false): boolean {
    this.counters.values[C.csd_queued]!++;
    const q = this.queues[target.id]!;
    q.push(csd);
    const coalesced = q.length !== 1 && !always;
    if (this.m.events.wants("csd_queue")) this.m.events.emit("csd_queue", { time, from: sender.id, to: target.id, pending: q.length, coalesced });
    if (coalesced) return false;
    this.m.apic.send(sender, target, "CALL_FUNCTION", time);
    return true;
  }

  /**
   * For the csd-lock report (csd_lock_wait_getcpu, v5.17): the first CPU, in CPU order as
   * smp_call_function_many_cond waits, whose csd of `c` is still queued, and its function's
   * name; -1 when none is (the wait is on no csd the model can find).
   */
  csdLockWaitGetcpu(c: Completion): { cpu: number; func: string } {
    for (let cpu = 0; cpu < this.queues.length; cpu++) {
      const csd = this.queues[cpu]!.find((x) => x.completion === c);
      if (csd !== undefined) return { cpu, func: `${csd.func.name === "" ? "(anonymous)" : csd.func.name}()` };
    }
    return { cpu: -1, func: "(no csd)" };
  }

  /** The CALL_FUNCTION interrupt on `cpu`: runs every queued csd, acks each, and steals the time. */
  private callFunctionInterrupt(cpu: Cpu): void {
    const q = this.queues[cpu.id]!;
    if (q.length === 0) return;
    const m = this.m;
    const costs = m.costs;
    this.counters.irqCall[cpu.id]!++;
    const queued = q.length;
    const prevMode = cpu.mode;
    // An idle CPU first leaves its idle state (intel_idle's exit latency): idle time,
    // during which the sender's csd_lock_wait goes on.
    let start = this.sched.irqEnter(cpu);
    if (prevMode === CpuMode.IDLE) {
      this.counters.values[C.idle_ipis]!++;
      if (start <= m.now) start += costs.idleExitLatency;
    }
    let t = start + costs.irqEntryExit / 2;
    const isolated = this.hooks !== null && this.hooks.isolated(cpu);
    if (isolated && prevMode === CpuMode.USER) this.counters.values[C.isolated_ipis]!++;
    // An interrupt from user mode or idle is a kernel entry (ct_kernel_enter; PTI
    // switches to the kernel's CR3): deferred work runs first.
    if (prevMode !== CpuMode.KERNEL) {
      cpu.mode = CpuMode.KERNEL;
      if (this.hooks !== null) t += this.hooks.kernelEntry(cpu);
    }
    // llist_del_all: the queue is emptied before the csds run (one queued meanwhile finds
    // it empty and sends its own IPI).
    const items = q;
    this.queues[cpu.id] = this.spare[cpu.id]!;
    for (let j = 0; j < items.length; j++) {
      const csd = items[j]!;
      t += costs.csdRun;
      t += csd.func(cpu, t);
      if (csd.completion !== null) csd.completion.done(t + m.cacheLineLatency(cpu, m.cpus[csd.sender]!));
    }
    items.length = 0;
    this.spare[cpu.id] = items;
    cpu.mode = prevMode;
    t += costs.irqEntryExit / 2;
    if (isolated) {
      const busy = t - start;
      this.counters.values[C.isolated_interruption_cycles]! += busy;
      if (busy > this.maxIsolatedInterruption) this.maxIsolatedInterruption = busy;
    }
    this.sched.irqExit(cpu, start, t);
    if (m.events.wants("ipi_recv")) m.events.emit("ipi_recv", { time: m.now, cpu: cpu.id, queued, id: m.apic.delivering, start, end: t });
    m.sampleTlb(cpu, t);
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
    // smp_call_function_many: the remote CPUs of the mask, never the caller.
    const exceptSelf = cond === EXCEPT_SELF;
    if (exceptSelf) cond = null;
    const m = this.m;
    const n = m.cpus.length;
    const covered = new Uint8Array(n);
    const completion = wait ? new Completion() : null;
    // One csd for every target: it is read-only (the kernel's per-CPU cfd csds all carry
    // the same func, info and sender), so one object serves all queues.
    const csd: Csd = { func, completion, sender: self.id };
    const start = m.now;
    let cost = pre;
    for (let c = 0; c < n; c++) {
      if (c === self.id || (mask !== null && mask[c] === 0)) continue;
      if (cond !== null && !cond(c)) continue;
      covered[c] = 1;
      cost += m.costs.csdQueue;
      completion?.add();
      if (this.queueCsd(self, m.cpus[c]!, csd, start + cost, this.ipiEveryTarget)) cost += m.costs.ipiSend;
    }
    const local = !exceptSelf && (mask === null || mask[self.id] === 1) && (cond === null || cond(self.id));
    if (local) covered[self.id] = 1;
    // The local call runs after the IPIs are sent, overlapping the remote work (v5.13+).
    if (local && this.concurrentLocal) cost += func(self, start + cost);
    if (cost > 0) yield cost;
    // csd_lock_wait: until every target has run func and its unlock reached us (a csd
    // taken while we were busy still completes at its doneAt).
    if (completion !== null && (completion.pending > 0 || completion.doneAt > m.now)) yield completion;
    // Before v5.13: on_each_cpu_mask runs func locally once smp_call_function_many returned.
    if (local && !this.concurrentLocal) {
      const c = func(self, m.now);
      if (c > 0) yield c;
    }
    return covered;
  }

  /**
   * smp_call_function_many(mask, func, info, wait): the CPUs of `mask` other than the
   * caller; the caller itself does not run func.
   */
  *smpCallFunctionMany(self: Cpu, mask: Uint8Array, func: SmpCallFunc, wait: boolean): KGen<Uint8Array> {
    return yield* this.onEachCpuCondMask(self, mask, func, wait, EXCEPT_SELF);
  }
}
