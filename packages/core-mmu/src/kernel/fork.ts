/**
 * Processes coming and going, after kernel/fork.c and kernel/exit.c (v5.4, with
 * v4.15's dup_mmap for fork without exec) and CONFIG_VMAP_STACK:
 * - fork allocates a THREAD_SIZE kernel stack from vmalloc unless one of the two
 *   per-CPU cached stacks (NR_CACHED_STACKS) is free; exit puts the stack back in
 *   the cache or vfrees it;
 * - the pgd comes from the arch (pgd_alloc, pgd_free with pgd_list under pgd_lock);
 * - fork without exec copies every VMA and PTE (copy_page_range) and flushes the
 *   parent (flush_tlb_mm) before the kernel relies on its pages being shared.
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { Memory } from "../mm/memory.js";
import { VM_SHARED, type MmStruct, type VmapArea } from "../mm/mm-types.js";
import type { Mmap } from "../mm/mmap.js";
import type { Vmalloc } from "../mm/vmalloc.js";
import type { KGen } from "../sim/process.js";
import { C } from "./counters.js";
import type { KernelCore } from "./core.js";
import type { Entry } from "./entry.js";
import type { TaskStruct } from "./percpu.js";

/** NR_CACHED_STACKS */
export const NR_CACHED_STACKS = 2;

export class Fork {
  /** cached_stacks[NR_CACHED_STACKS] per CPU. */
  readonly cachedStacks: (VmapArea | null)[][];
  private nextPid = 1;

  constructor(
    private readonly k: KernelCore,
    private readonly entry: Entry,
    private readonly vmalloc: Vmalloc,
    private readonly mmap: Mmap,
    private readonly memory: Memory,
  ) {
    this.cachedStacks = k.machine.cpus.map(() => [null, null]);
  }

  /** alloc_thread_stack_node: a cached stack, or a fresh vmalloc one; cleared before use. */
  *allocThreadStack(cpu: Cpu): KGen<VmapArea> {
    const cache = this.cachedStacks[cpu.id]!;
    const size = this.k.policies.archMm.threadSize;
    for (let i = 0; i < NR_CACHED_STACKS; i++) {
      const s = cache[i];
      if (s) {
        cache[i] = null;
        this.k.counters.values[C.stack_cache_hits]!++;
        // The stack is cleared before reuse (memset of the whole stack).
        yield* this.entry.kernelAccessRange(cpu, s.start, size, true);
        return s;
      }
    }
    const s = yield* this.vmalloc.vmalloc(cpu, size, size);
    yield* this.entry.kernelAccessRange(cpu, s.start, size, true);
    return s;
  }

  /** free_thread_stack: into an empty cache slot, else vfree (vfree_atomic, run here). */
  *freeThreadStack(cpu: Cpu, stack: VmapArea): KGen {
    const cache = this.cachedStacks[cpu.id]!;
    for (let i = 0; i < NR_CACHED_STACKS; i++) {
      if (cache[i] === null) {
        cache[i] = stack;
        return;
      }
    }
    yield* this.vmalloc.vfree(cpu, stack);
  }

  /** mm_alloc + pgd_alloc as fork runs them. */
  private *mmAlloc(cpu: Cpu): KGen<MmStruct> {
    const pgd = yield* this.k.policies.archMm.pgdAlloc(cpu, this.k.initMm.pgd);
    return this.k.mmAlloc(pgd);
  }

  /**
   * fork + exec of a child (copy_process with a fresh address space, as a shell
   * starting a command): the kernel stack, the pgd, the exec set-up. The child does
   * not run until switchToTask.
   */
  *forkChild(cpu: Cpu): KGen<TaskStruct> {
    const m = this.k.machine;
    this.k.counters.values[C.forks]!++;
    yield m.costs.forkBase;
    const stack = yield* this.allocThreadStack(cpu);
    const mm = yield* this.mmAlloc(cpu);
    yield m.costs.execBase;
    return { pid: this.nextPid++, mm, stack };
  }

  /**
   * fork without exec (copy_process → dup_mm → dup_mmap, v4.15): the child gets a copy of
   * every VMA and, through copy_page_range, of every PTE; private writable PTEs are
   * write-protected in both (COW); at the end, flush_tlb_mm(oldmm). The child does not
   * run until switchToTask.
   */
  *forkCow(cpu: Cpu): KGen<TaskStruct> {
    const k = this.k;
    const m = k.machine;
    const parent = k.currentMm(cpu);
    if (parent === null) throw new Error(`CPU ${cpu.id}: fork with no mm`);
    k.counters.values[C.forks]!++;
    yield m.costs.forkBase;
    const stack = yield* this.allocThreadStack(cpu);
    const mm = yield* this.mmAlloc(cpu);
    mm.mmapBase = parent.mmapBase;
    const protectedPages: number[] = [];
    // dup_mmap: mmap_write_lock_killable(oldmm)
    yield* parent.mmapLock.downWrite(cpu);
    try {
      for (const v of parent.vmas) {
        const nv = v.slice(v.start, v.end);
        mm.insertVma(nv);
        // copy_page_range: shared file mappings are refilled by faults.
        if (v.file !== null && (v.flags & VM_SHARED) !== 0 && !v.shmem) continue;
        yield* this.memory.copyPageRange(cpu, mm, parent, v, protectedPages);
      }
      // dup_mmap: flush_tlb_mm(oldmm) — flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 0, true).
      yield* k.policies.archTlb.flushTlbMmRange(cpu, parent, 0, Infinity, 12, true);
    } finally {
      parent.mmapLock.upWrite(cpu);
    }
    for (const pfn of protectedPages) m.mem.relyWriteProtected(pfn, "dup_mmap (fork: COW write-protect)");
    return { pid: this.nextPid++, mm, stack };
  }

  /** The scheduler switches `cpu` to `task` (context switch: switch_mm and the task's stack). */
  switchToTask(cpu: Cpu, task: TaskStruct): void {
    const k = this.k;
    k.counters.values[C.context_switches]!++;
    const cur = k.current[cpu.id]!;
    cur.task = task;
    cur.mm = task.mm;
    // schedule() runs in the kernel: the switch happens there, and the task returns to
    // user mode after it (under PTI, in the new ASID's user PCID).
    const prev = cpu.mode;
    cpu.mode = CpuMode.KERNEL;
    k.sched.charge(cpu, k.policies.archTlb.switchMmIrqsOff(cpu, task.mm));
    cpu.mode = prev;
  }

  /**
   * do_exit of `task` running on `cpu`, then the parent (`parentMm`) runs again. The
   * stack goes back to `stackCpu`'s cache (the CPU the task last ran on; default `cpu`).
   */
  *exitTask(cpu: Cpu, task: TaskStruct, parentMm: MmStruct, stackCpu: Cpu = cpu): KGen {
    const k = this.k;
    const m = k.machine;
    const arch = k.policies.archTlb;
    const cur = k.current[cpu.id]!;
    k.counters.values[C.exits]!++;
    // exit_mm: current->mm = NULL, enter_lazy_tlb, mmput → exit_mmap.
    cur.mm = null;
    arch.enterLazyTlb(cpu);
    yield* this.mmap.exitMmap(cpu, task.mm);
    // __mmdrop → pgd_free.
    k.mms.delete(task.mm);
    yield* k.policies.archMm.pgdFree(cpu, task.mm.pgd);
    yield m.costs.exitBase;
    // The parent runs; finish_task_switch → put_task_stack → free_thread_stack here.
    k.counters.values[C.context_switches]!++;
    cur.task = null;
    cur.mm = parentMm;
    k.sched.charge(cpu, arch.switchMmIrqsOff(cpu, parentMm));
    cpu.mode = CpuMode.KERNEL;
    yield* this.freeThreadStack(stackCpu, task.stack);
  }
}
