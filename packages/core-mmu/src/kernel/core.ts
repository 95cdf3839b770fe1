/**
 * The part of the modelled kernel every mm file uses: the machine it runs on, its
 * counters, the per-CPU state, the scheduler, cross-CPU calls, context tracking,
 * page-table lookup, the process list and the extension points' implementations.
 * kernel/kernel.ts builds the rest (mm/*) on top of it.
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { vaToCanonicalString } from "../hw/paging-format.js";
import { MmStruct } from "../mm/mm-types.js";
import { Priority } from "../sim/engine.js";
import { PageTables } from "../mm/pgtable.js";
import type { ArchMm, ArchTlb, BatchedPendingFlush, ContextTrackingEntry, GatherNesting, KernelRangeFlush, MmuGatherFlush, MovePtesFlush, Policies, ProtectionChangeFlush, SecondaryTlbNotify, UnmapFlush, VmallocSync } from "../plugin/tokens.js";
import type { Completion, KGen } from "../sim/process.js";
import { ContextTracking } from "./context-tracking.js";
import { C, Counters } from "./counters.js";
import { KernelImage } from "./image.js";
import { CpuCurrent, CpuTlbState } from "./percpu.js";
import type { RwsemEnv } from "./rwsem.js";
import { Sched } from "./sched.js";
import { Smp } from "./smp.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "./version.js";

/** kernel.policies: every extension point's implementation, set by the run's assembly before the kernel boots. */
export class PolicyTable implements Policies {
  archTlb!: ArchTlb;
  archMm!: ArchMm;
  vmallocSync!: VmallocSync;
  mmuGatherFlush!: MmuGatherFlush;
  gatherNesting!: GatherNesting;
  protectionChangeFlush!: ProtectionChangeFlush;
  unmapFlush!: UnmapFlush;
  batchedPendingFlush!: BatchedPendingFlush;
  kernelRangeFlush!: KernelRangeFlush;
  contextTrackingEntry!: ContextTrackingEntry;
  secondaryTlbNotify!: SecondaryTlbNotify;
  movePtesFlush!: MovePtesFlush;
}

export class KernelCore {
  readonly machine: Machine;
  /** The kernel release this run models (a property of the run; see kernel/version.ts). */
  readonly version: KernelVersion;
  readonly counters: Counters;
  /** this_cpu(cpu_tlbstate), by CPU id. */
  readonly tlbstate: readonly CpuTlbState[];
  /** current and current->mm, by CPU id. */
  readonly current: readonly CpuCurrent[];
  readonly sched: Sched;
  readonly smp: Smp;
  readonly ct: ContextTracking;
  readonly pgtables: PageTables;
  /** The kernel image's text and boot stacks (mapped at boot). */
  readonly image: KernelImage;
  readonly policies = new PolicyTable();
  /** Live process mms, in creation order. */
  readonly mms = new Set<MmStruct>();
  private nextMmId = 1;
  private _initMm: MmStruct | null = null;
  /** What every mm's mmap_lock needs from this kernel: timers, counters, owner_on_cpu, try_to_wake_up. */
  readonly rwsemEnv: RwsemEnv;

  constructor(machine: Machine, version: KernelVersion = DEFAULT_KERNEL_VERSION) {
    this.machine = machine;
    this.version = version;
    const n = machine.cpus.length;
    this.counters = new Counters(n);
    this.tlbstate = machine.cpus.map(() => new CpuTlbState());
    this.current = machine.cpus.map(() => new CpuCurrent());
    this.sched = new Sched(machine, this.counters);
    this.smp = new Smp(machine, this.counters, this.sched, version);
    this.ct = new ContextTracking(machine, this.counters);
    this.pgtables = new PageTables(machine);
    this.image = new KernelImage(machine, this.pgtables);
    const sched = this.sched;
    this.rwsemEnv = {
      values: this.counters.values,
      freqHz: machine.costs.freqHz,
      at: (time, fn) => void machine.engine.at(time, fn, Priority.CPU),
      cacheLineLatency: (from, to) => machine.cacheLineLatency(machine.cpus[from]!, machine.cpus[to]!),
      onCpu: (cpu) => !sched.isSleeping(cpu),
      wakeUp: (waker, target, c) => this.tryToWakeUp(waker, target, c),
    };
  }

  /**
   * try_to_wake_up (kernel/sched/core.c, v5.17) of the task pinned to CPU `target`,
   * asleep on `c`, called on CPU `waker`. will-it-scale binds every task to its CPU, so
   * the task wakes where it slept, and that CPU is idle (its only task sleeps). On
   * another LLC ttwu_queue_wakelist queues it and send_call_function_single_ipi kicks
   * the target; on the same LLC the waker enqueues it and resched_curr kicks it. Either
   * kick is no IPI when the idle CPU polls (set_nr_if_polling / set_nr_and_not_polling:
   * MWAIT watches TIF_NEED_RESCHED's cache line), else a RESCHEDULE IPI. The task runs
   * once the CPU has left its idle state (idleExitLatency) and switched back to it.
   * The waker pays ttwu on its next step.
   */
  tryToWakeUp(waker: number, target: number, c: Completion): void {
    const m = this.machine;
    const costs = m.costs;
    const v = this.counters.values;
    v[C.ttwu_count]!++;
    const from = m.cpus[waker]!;
    const to = m.cpus[target]!;
    this.sched.chargeLater(from, costs.ttwu);
    let t = m.now + costs.ttwu;
    const idle = this.sched.isIdle(target);
    if (idle && costs.idlePolling > 0) {
      v[C.sched_wake_idle_without_ipi]!++;
      t += m.cacheLineLatency(from, to);
    } else {
      // smp_send_reschedule: scheduler_ipi on the target, interrupt time there.
      v[C.irq_resched]!++;
      t += costs.ipiSend + m.apic.latency(from, to);
      this.sched.chargeIrq(to, costs.irqEntryExit);
      t += costs.irqEntryExit;
    }
    if (idle) {
      v[C.idle_exits]!++;
      t += costs.idleExitLatency;
    }
    c.waker = waker;
    c.done(t);
  }

  /** init_mm, made at boot. */
  get initMm(): MmStruct {
    if (this._initMm === null) throw new Error("the kernel has not booted: init_mm does not exist yet");
    return this._initMm;
  }

  protected setInitMm(mm: MmStruct): void {
    this._initMm = mm;
  }

  /** A canonical, printable address. */
  fmtVa(va: number): string {
    return vaToCanonicalString(this.machine.format, va);
  }

  /** mm_alloc for a process whose pgd is `pgd`: a new mm_struct on the process list. */
  mmAlloc(pgd: number): MmStruct {
    const mm = new MmStruct(this.nextMmId++, pgd, this.machine.cpus.length, this.policies.archMm.mmapBase, this.machine, false, this.rwsemEnv);
    this.mms.add(mm);
    return mm;
  }

  /** The mm of the task running on `cpu` (current->mm). */
  currentMm(cpu: Cpu): MmStruct | null {
    return this.current[cpu.id]!.mm;
  }

  /** A kernel entry (syscall, fault, interrupt from user): on a nohz_full CPU, the ContextTrackingEntry point. Returns cycles. */
  kernelEntry(cpu: Cpu): number {
    return this.ct.nohzFull[cpu.id] === 0 ? 0 : this.policies.contextTrackingEntry.kernelEntry(cpu);
  }

  /** flush_tlb_page(vma, addr): a one-page flush_tlb_mm_range without freed tables. */
  flushTlbPage(cpu: Cpu, mm: MmStruct, addr: number): KGen {
    return this.policies.archTlb.flushTlbMmRange(cpu, mm, addr, addr + 4096, 12, false);
  }
}
