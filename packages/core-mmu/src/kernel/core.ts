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
import { PageTables } from "../mm/pgtable.js";
import type { ArchMm, ArchTlb, BatchedPendingFlush, ContextTrackingEntry, GatherNesting, KernelRangeFlush, MmuGatherFlush, MovePtesFlush, Policies, ProtectionChangeFlush, SecondaryTlbNotify, UnmapFlush, VmallocSync } from "../plugin/tokens.js";
import type { KGen } from "../sim/process.js";
import { ContextTracking } from "./context-tracking.js";
import { Counters } from "./counters.js";
import { KernelImage } from "./image.js";
import { CpuCurrent, CpuTlbState } from "./percpu.js";
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
    const mm = new MmStruct(this.nextMmId++, pgd, this.machine.cpus.length, this.policies.archMm.mmapBase, this.machine);
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
