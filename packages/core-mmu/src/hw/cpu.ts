/**
 * A simulated CPU: mode, topology, its TLBs and paging-structure cache, the x86
 * per-CPU TLB state the kernel keeps (cpu_tlbstate: loaded_mm, is_lazy, the
 * context's tlb_gen), its call_single_queue, and the state of the task it runs.
 */
import { PagingStructureCache, Tlb } from "./tlb.js";
import type { MmStruct } from "../mm/mm-types.js";

export const CpuMode = { USER: 0, KERNEL: 1, IDLE: 2 } as const;
export type CpuMode = (typeof CpuMode)[keyof typeof CpuMode];
export const CPU_MODE_NAMES = ["user", "kernel", "idle"] as const;

/** What a kernel path (a generator) yields: cycles to spend, or a completion to wait for. */
export type KYield = number | Completion;
/** A kernel path that can take time and wait (e.g. for IPI acknowledgements). */
export type KGen<T = void> = Generator<KYield, T, void>;

/**
 * A user-mode run of memory accesses the CPU executes itself, without a generator
 * step per access: `count` accesses from `va`, `stride` bytes apart. Workloads reuse
 * one object; the CPU copies the fields.
 */
export interface AccessRun {
  readonly kind: "access";
  va: number;
  count: number;
  stride: number;
  write: boolean;
}

/** What a task generator yields: user cycles, a completion, or an access run. */
export type TaskYield = number | Completion | AccessRun;
export type TaskGen = Generator<TaskYield, void, void>;

/**
 * Counts outstanding pieces of work (e.g. the csds of one smp_call_function_many) and
 * wakes the one waiting CPU when the last is done, at the latest completion time.
 */
export class Completion {
  pending = 0;
  doneAt = 0;
  onDone: ((time: number) => void) | null = null;

  add(n = 1): void {
    this.pending += n;
  }

  /** Marks one piece done at `time`; the last one fires onDone (set by the executor). */
  done(time: number): void {
    if (time > this.doneAt) this.doneAt = time;
    if (--this.pending === 0 && this.onDone) this.onDone(this.doneAt);
  }
}

/** One queued cross-CPU function call (struct __call_single_data). */
export interface Csd {
  readonly func: (cpu: Cpu, time: number) => number;
  readonly completion: Completion | null;
  readonly sender: number;
}

export interface CpuTopology {
  readonly id: number;
  readonly socket: number;
}

export class Cpu {
  readonly id: number;
  readonly socket: number;
  readonly tlb: Tlb;
  readonly tlb2m: Tlb;
  readonly psc: PagingStructureCache;
  mode: CpuMode = CpuMode.IDLE;
  /** CR3: frame of the top-level table in use, and the PCID (0: PCID not modelled). */
  cr3 = 0;
  pcid = 0;
  /** PAE: the four PDPTEs loaded into registers at the last CR3 write (lo, hi words). */
  readonly pdpte = new Uint32Array(8);
  // ---- cpu_tlbstate (arch/x86/include/asm/tlbflush.h) ----
  /** loaded_mm: the mm whose page tables CR3 points at (init_mm for none). */
  loadedMm: MmStruct | null = null;
  /** cpu_tlbstate_shared.is_lazy */
  isLazy = false;
  /** cpu_tlbstate.ctxs[asid].tlb_gen for the loaded context. */
  ctxTlbGen = 0;
  /** The mm of the task running here (current->mm), null for kernel threads/idle. */
  currentMm: MmStruct | null = null;
  // ---- call_single_queue and interrupts ----
  readonly callSingleQueue: Csd[] = [];
  /** Time until which this CPU is inside interrupt handlers. */
  irqBusyUntil = 0;
  // ---- executor state (owned by Machine) ----
  task: TaskGen | null = null;
  kgen: KGen<unknown> | null = null;
  /** Mode to return to when the current kernel path ends. */
  kgenReturnMode: CpuMode = CpuMode.USER;
  accessVa = 0;
  accessLeft = 0;
  accessStride = 0;
  accessWrite = false;
  resumeHandle = -1;
  /** True while the executor runs this CPU's steps. */
  inResume = false;
  /** A kernel thread (kswapd) running on this CPU, and one woken to run next. */
  kthread: KGen<unknown> | null = null;
  pendingKthread: KGen<unknown> | null = null;
  kthreadSavedMode: CpuMode = CpuMode.IDLE;
  /** Livelock guard: consecutive faults on one address. */
  lastFaultVa = -1;
  lastFaultRun = -1;
  lastFaultLeft = -1;
  repeatFaults = 0;
  /** Serial number of the current access run (for the livelock guard). */
  accessRun = 0;
  resumeAt = 0;
  waiting = false;
  finished = false;

  constructor(topo: CpuTopology, tlb: Tlb, tlb2m: Tlb, psc: PagingStructureCache) {
    this.id = topo.id;
    this.socket = topo.socket;
    this.tlb = tlb;
    this.tlb2m = tlb2m;
    this.psc = psc;
  }
}
