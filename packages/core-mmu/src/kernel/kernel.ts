/**
 * The modelled kernel, assembled: the core (kernel/core.ts) and every mm subsystem
 * built on it, in dependency order. A run builds it after the machine and before the
 * policies; `boot` runs once the policies are in place. Policy factories receive this
 * object: everything a flush policy may call is reachable from it, by the kernel's
 * names (kernel.mmuGather.tlbFlush, kernel.smp.onEachCpuCondMask, kernel.ct.ctSetCpuWork, …).
 */
import type { Cpu } from "../hw/cpu.js";
import { CpuMode } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { PageCache } from "../mm/filemap.js";
import { Madvise } from "../mm/madvise.js";
import { Memory } from "../mm/memory.js";
import { MmStruct } from "../mm/mm-types.js";
import { Mmap } from "../mm/mmap.js";
import { MmuGatherOps } from "../mm/mmu-gather.js";
import { Mprotect } from "../mm/mprotect.js";
import { Mremap } from "../mm/mremap.js";
import { PageAlloc } from "../mm/page-alloc.js";
import { PteLocks } from "../mm/ptlock.js";
import { Rmap } from "../mm/rmap.js";
import { Lru } from "../mm/swap.js";
import { Vmalloc } from "../mm/vmalloc.js";
import { Reclaim } from "../mm/vmscan.js";
import type { KGen } from "../sim/process.js";
import { C } from "./counters.js";
import { KernelCore } from "./core.js";
import { Entry } from "./entry.js";
import { Fork } from "./fork.js";
import type { SchedHooks, TaskGen } from "./sched.js";
import type { IrqEntryHooks } from "./smp.js";
import { DEFAULT_KERNEL_VERSION, type KernelVersion } from "./version.js";

export class Kernel extends KernelCore implements SchedHooks, IrqEntryHooks {
  readonly entry: Entry;
  readonly pageAlloc: PageAlloc;
  readonly lru: Lru;
  readonly pageCache: PageCache;
  /** The split PTE locks. */
  readonly ptl: PteLocks;
  readonly rmap: Rmap;
  readonly reclaim: Reclaim;
  readonly mmuGather: MmuGatherOps;
  readonly memory: Memory;
  readonly mmap: Mmap;
  readonly mprotect: Mprotect;
  readonly mremap: Mremap;
  readonly madvise: Madvise;
  readonly vmalloc: Vmalloc;
  readonly fork: Fork;
  /** current->mm of the task a kernel thread interrupted, per CPU. */
  private readonly kthreadSavedMm: (MmStruct | null)[];
  /** current->mm of the task asleep on each CPU (the idle task runs meanwhile). */
  private readonly sleepingMm: (MmStruct | null)[];

  constructor(machine: Machine, version: KernelVersion = DEFAULT_KERNEL_VERSION) {
    super(machine, version);
    this.entry = new Entry(this);
    this.pageAlloc = new PageAlloc(machine.mem);
    this.lru = new Lru(machine.mem, machine.cpus.length, this.counters);
    this.pageCache = new PageCache(this, this.pageAlloc, this.lru);
    this.ptl = new PteLocks(machine);
    this.rmap = new Rmap(this, this.ptl);
    this.reclaim = new Reclaim(this, this.pageAlloc, this.lru, this.rmap, this.pageCache, this.ptl);
    this.pageAlloc.kswapd = this.reclaim;
    this.mmuGather = new MmuGatherOps(this, this.lru);
    this.memory = new Memory(this, this.pageAlloc, this.reclaim, this.pageCache, this.rmap, this.mmuGather, this.ptl, this.lru);
    this.mmap = new Mmap(this, this.memory, this.mmuGather, this.pageCache);
    this.mprotect = new Mprotect(this, this.mmap, this.ptl, this.memory.huge);
    this.mremap = new Mremap(this, this.mmap, this.rmap, this.ptl, this.memory.huge);
    this.madvise = new Madvise(this, this.mmap, this.memory, this.mmuGather, this.lru);
    this.vmalloc = new Vmalloc(this);
    this.fork = new Fork(this, this.entry, this.vmalloc, this.mmap, this.memory);
    this.kthreadSavedMm = machine.cpus.map(() => null);
    this.sleepingMm = machine.cpus.map(() => null);
    this.sched.hooks = this;
    this.smp.hooks = this;
  }

  /** start_kernel, once the policies are in place: swapper_pg_dir and init_mm, loaded on every CPU. */
  boot(): void {
    const m = this.machine;
    const pgd = this.policies.archMm.pgdCreate(null);
    const initMm = new MmStruct(0, pgd, m.cpus.length, 0, m, true);
    this.setInitMm(initMm);
    this.image.map(initMm);
    // setup_per_cpu_areas and later chunks: the top of the vmalloc area is mapped (pcpu_get_vm_areas).
    this.vmalloc.pcpuGetVmAreas();
    const arch = this.policies.archTlb;
    for (const cpu of m.cpus) {
      arch.initializeTlbstateAndFlush(cpu, initMm);
      // PTI: the entry code switches CR3 at every change between user mode and the kernel.
      if (m.features.pti) cpu.onPrivilegeChange = (c, toUser) => this.policies.archTlb.ptiSwitchCr3(c, toUser, this.entry.inSyscallEntry(c));
    }
  }

  /** A process made at workload set-up, at no cost in time: its pgd (on pgd_list) and its mm. */
  createProcess(): MmStruct {
    return this.mmAlloc(this.policies.archMm.pgdCreate(this.initMm.pgd));
  }

  /** Puts a task of `mm` on `cpu` (a context switch from idle) and starts it in user mode. */
  startTask(cpu: Cpu, mm: MmStruct, task: TaskGen): void {
    this.current[cpu.id]!.mm = mm;
    this.counters.values[C.context_switches]!++;
    this.sched.charge(cpu, this.policies.archTlb.switchMmIrqsOff(cpu, mm));
    this.sched.startTask(cpu, task);
  }

  // ---- what the scheduler calls ----

  handleMmFault(cpu: Cpu, va: number, write: boolean): number | KGen<unknown> {
    return this.memory.handleMmFault(cpu, va, write);
  }

  taskExit(cpu: Cpu): void {
    this.current[cpu.id]!.mm = null;
    cpu.mode = CpuMode.IDLE;
    this.policies.archTlb.enterLazyTlb(cpu);
  }

  kthreadEnter(cpu: Cpu): number {
    const cur = this.current[cpu.id]!;
    this.counters.values[C.context_switches]!++;
    this.kthreadSavedMm[cpu.id] = cur.mm;
    cur.mm = null;
    this.policies.archTlb.enterLazyTlb(cpu);
    // The CPU came from user mode or idle: a kernel entry, which runs parked work first.
    return this.machine.costs.switchMm + this.kernelEntry(cpu);
  }

  kthreadExit(cpu: Cpu): number {
    const mm = this.kthreadSavedMm[cpu.id] ?? null;
    this.current[cpu.id]!.mm = mm;
    if (mm === null) return 0;
    this.counters.values[C.context_switches]!++;
    return this.policies.archTlb.switchMmIrqsOff(cpu, mm);
  }

  /**
   * schedule() of a task that blocked: context_switch to the idle task, which has no
   * mm and borrows the task's (enter_lazy_tlb: the CPU stays on it, lazy). v5.17's idle
   * states below C6 keep it loaded (only CPUIDLE_FLAG_TLB_FLUSHED states call leave_mm).
   */
  taskSleep(cpu: Cpu): number {
    const cur = this.current[cpu.id]!;
    this.sleepingMm[cpu.id] = cur.mm;
    cur.mm = null;
    this.counters.values[C.context_switches]!++;
    this.counters.values[C.sched_sleeps]!++;
    this.policies.archTlb.enterLazyTlb(cpu);
    return this.machine.costs.contextSwitch;
  }

  /** The woken task runs again: context_switch from idle, switch_mm_irqs_off back to its mm (a lazy CPU catches up a skipped flush here). */
  taskWake(cpu: Cpu): number {
    const mm = this.sleepingMm[cpu.id] ?? null;
    this.sleepingMm[cpu.id] = null;
    this.current[cpu.id]!.mm = mm;
    this.counters.values[C.context_switches]!++;
    return this.machine.costs.contextSwitch + (mm === null ? 0 : this.policies.archTlb.switchMmIrqsOff(cpu, mm));
  }

  // ---- what an interrupt from user mode calls ----

  isolated(cpu: Cpu): boolean {
    return this.ct.isolated(cpu);
  }
}
