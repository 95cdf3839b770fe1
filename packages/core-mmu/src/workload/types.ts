/**
 * The workload API: a workload creates processes and spawns one task per CPU; a task
 * is a generator that reads like the C loop it models, yielding user cycles, access
 * runs and system calls (`yield* t.munmap(...)`). A workload never knows which
 * plugins are on.
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import type { Kernel } from "../kernel/kernel.js";
import type { TaskStruct } from "../kernel/percpu.js";
import type { AccessRun, TaskGen } from "../kernel/sched.js";
import type { FileMapping, MmStruct } from "../mm/mm-types.js";
import type { ParamValues } from "../plugin/define.js";
import type { MetricSpec, ParamSpec, WorkloadDefinitionLike } from "../run/types.js";
import type { KGen } from "../sim/process.js";
import type { Prng } from "../sim/prng.js";

/** What a task's body can do. */
export interface TaskApi {
  readonly cpu: Cpu;
  readonly mm: MmStruct;
  /** Index of the task within the workload (0-based). */
  readonly index: number;
  mmap(len: number, prot: number): KGen<number>;
  /** mmap(NULL, len, prot, MAP_SHARED|MAP_ANONYMOUS): shmem. */
  mmapShared(len: number, prot: number): KGen<number>;
  /** mmap of `len` bytes of `file` from `offset`, MAP_SHARED or MAP_PRIVATE. */
  mmapFile(file: FileMapping, offset: number, len: number, prot: number, shared: boolean): KGen<number>;
  munmap(addr: number, len: number): KGen;
  /** madvise(addr, len, advice): MADV_DONTNEED or MADV_FREE. */
  madvise(addr: number, len: number, advice: number): KGen;
  mprotect(addr: number, len: number, prot: number): KGen;
  /**
   * mremap(addr, oldLen, newLen, flags, newAddr) (v4.18, MREMAP_MAYMOVE and MREMAP_FIXED):
   * the mapping's new address, or a negative errno (-EINVAL, -EFAULT, -ENOMEM) as the raw
   * system call returns it. `flags` and `newAddr` default to 0.
   */
  mremap(addr: number, oldLen: number, newLen: number, flags?: number, newAddr?: number): KGen<number>;
  /**
   * Direct reclaim by this task, as an allocation that finds memory short runs it
   * (try_to_free_pages: shrink_lruvec on this CPU's node first, until SWAP_CLUSTER_MAX
   * pages are freed or every node was tried once). Returns the pages reclaimed. A page
   * some PTE maps as young is kept the first time (page_check_references) and taken by a
   * later pass.
   */
  reclaim(): KGen<number>;
  /** A system call that runs `body` in the kernel (entry, context tracking, exit). */
  syscall<T>(body: KGen<T>): KGen<T>;
  /** fork + exec of a child process (it runs when switched to). */
  fork(): KGen<TaskStruct>;
  /** fork without exec: the child shares this process's pages copy-on-write (it runs when switched to). */
  forkCow(): KGen<TaskStruct>;
  /** The scheduler runs `child` on this CPU (its mm becomes current). */
  switchTo(child: TaskStruct): void;
  /**
   * The running child exits; this task runs again. `stackCpu`: the CPU whose cached
   * stacks take the child's stack back (free_thread_stack runs where the dead task last
   * ran: a workload whose children fork balancing placed elsewhere names that CPU; the
   * exit's cycles are still charged here). Default: this CPU.
   */
  exit(child: TaskStruct, stackCpu?: number): KGen;
  /** `count` user accesses from `va`, `stride` bytes apart (reuses one object: yield it at once). */
  touch(va: number, count: number, stride: number, write: boolean): AccessRun;
}

export interface WorkloadContext {
  readonly machine: Machine;
  readonly kernel: Kernel;
  readonly params: ParamValues;
  /** The run's PRNG stream for this workload. */
  readonly prng: Prng;
  createProcess(): MmStruct;
  /** A sparse file of `bytes` (page cache empty). */
  createFile(bytes: number): FileMapping;
  /** Starts a task of `mm` pinned to CPU `cpu`. */
  spawn(cpu: number, mm: MmStruct, body: (t: TaskApi) => TaskGen): void;
  /** Workload-level counters (reported with the model's counters). */
  count(name: string, n?: number): void;
  counter(name: string): number;
}

export interface WorkloadDefinition extends WorkloadDefinitionLike {
  readonly params: readonly ParamSpec[];
  readonly metrics: readonly MetricSpec[];
  /** What the workload models, with its source. */
  readonly mirrors: string;
  setup(ctx: WorkloadContext): void;
  /** Metrics once the run is over; `elapsed` is the simulated run time in cycles. */
  collect(ctx: WorkloadContext, elapsed: number): Record<string, number>;
  /** Lines stating what is scaled down. */
  notes?(ctx: WorkloadContext): string[];
}

/** Identity helper for type inference. */
export function defineWorkload<const W extends WorkloadDefinition>(w: W): W {
  return w;
}

/** Whether `w` is a full workload definition (with setup and collect), not only its description. */
export function isWorkloadDefinition(w: WorkloadDefinitionLike): w is WorkloadDefinition {
  return typeof (w as Partial<WorkloadDefinition>).setup === "function" && typeof (w as Partial<WorkloadDefinition>).collect === "function";
}
