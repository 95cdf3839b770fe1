/**
 * Processes coming and going, after kernel/fork.c and kernel/exit.c (v5.4) with
 * CONFIG_VMAP_STACK, and arch/x86/mm/pgtable.c pgd_alloc/pgd_free:
 * - fork allocates a THREAD_SIZE kernel stack from vmalloc unless one of the two
 *   per-CPU cached stacks (NR_CACHED_STACKS) is free; exit puts the stack back in
 *   the cache or vfrees it;
 * - pgd_alloc and pgd_free take pgd_lock to add/remove the pgd on pgd_list.
 */
import type { Cpu, KGen } from "../hw/cpu.js";
import { CpuMode } from "../hw/cpu.js";
import { C } from "../oracle/counters.js";
import type { Kernel } from "./kernel.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, ptePfn } from "../hw/pte.js";
import { VM_SHARED, type MmStruct, type Vma } from "./mm-types.js";
import { _PAGE_SPECIAL, zapPageRange } from "./memory.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { VmapArea } from "./vmalloc.js";

/** NR_CACHED_STACKS */
export const NR_CACHED_STACKS = 2;

/** THREAD_SIZE: 16 KiB on x86-64 (THREAD_SIZE_ORDER 2), 8 KiB on x86-32 (order 1). */
export function threadSize(k: Kernel): number {
  return k.m.format.name === "x86-32-pae" ? 8192 : 16384;
}

/** alloc_thread_stack_node: a cached stack, or a fresh vmalloc one. */
export function* allocThreadStack(k: Kernel, cpu: Cpu): KGen<VmapArea> {
  const cache = k.cachedStacks[cpu.id]!;
  for (let i = 0; i < NR_CACHED_STACKS; i++) {
    const s = cache[i];
    if (s) {
      cache[i] = null;
      k.m.counters.values[C.stack_cache_hits]!++;
      // The stack is cleared before reuse (memset of the whole stack).
      yield* k.kernelAccessRange(cpu, s.start, threadSize(k), true);
      return s;
    }
  }
  const size = threadSize(k);
  const s = yield* k.vmalloc.vmalloc(cpu, size, size);
  yield* k.kernelAccessRange(cpu, s.start, size, true);
  return s;
}

/** free_thread_stack: into an empty cache slot, else vfree (vfree_atomic, run here). */
export function* freeThreadStack(k: Kernel, cpu: Cpu, stack: VmapArea): KGen {
  const cache = k.cachedStacks[cpu.id]!;
  for (let i = 0; i < NR_CACHED_STACKS; i++) {
    if (cache[i] === null) {
      cache[i] = stack;
      return;
    }
  }
  yield* k.vmalloc.vfree(cpu, stack);
}

/** pgd_alloc: the pgd pages, then pgd_ctor and pgd_list_add under pgd_lock. */
export function* pgdAlloc(k: Kernel, cpu: Cpu): KGen<MmStruct> {
  yield k.m.costs.ptAlloc * (k.m.format.topLoadedAtCr3 ? 5 : 1);
  if (!k.pgdLock.tryLock(cpu)) yield* k.pgdLock.lockSlow(cpu);
  const mm = k.createMm();
  yield k.m.costs.spinLockUncontended + k.m.costs.pgdListVisit;
  k.pgdLock.unlock(cpu);
  return mm;
}

/** pgd_free: pgd_list_del under pgd_lock, then the pages. */
export function* pgdFree(k: Kernel, cpu: Cpu, mm: MmStruct): KGen {
  if (!k.pgdLock.tryLock(cpu)) yield* k.pgdLock.lockSlow(cpu);
  k.pgdListDel(mm);
  yield k.m.costs.spinLockUncontended + k.m.costs.pgdListVisit;
  k.pgdLock.unlock(cpu);
  k.pgtables.pgdFree(mm, "pgd_free");
}

/**
 * exit_mmap: unmap every VMA with a full-mm gather, free the page tables, flush.
 * Called after exit_mm made the CPU lazy on `mm`.
 */
export function* exitMmap(k: Kernel, cpu: Cpu, mm: MmStruct): KGen {
  const tlb = k.tlbGatherMmu(mm, "tlb_finish_mmu (exit_mmap)");
  tlb.fullmm = true;
  const vmas = mm.vmas.splice(0, mm.vmas.length);
  for (const v of vmas) yield* zapPageRange(k, cpu, tlb, v, v.start, v.end);
  if (vmas.length > 0) {
    k.pgtables.freePgdRange(mm, vmas[0]!.start, vmas[vmas.length - 1]!.end, 0, k.m.format.kernelStart, (pfn) => tlb.removeTable(pfn, 0, 0));
  }
  yield* k.tlbFinishMmu(cpu, tlb);
}

/** A task the model forked: its address space and kernel stack. */
export interface TaskStruct {
  readonly pid: number;
  readonly mm: MmStruct;
  readonly stack: VmapArea;
}

let nextPid = 1;

/**
 * fork + exec of a child (copy_process with a fresh address space, as a shell
 * starting a command): the kernel stack, the pgd, the exec set-up. The child does
 * not run until switchToTask.
 */
export function* forkChild(k: Kernel, cpu: Cpu): KGen<TaskStruct> {
  const m = k.m;
  m.counters.values[C.forks]!++;
  yield m.costs.forkBase;
  const stack = yield* allocThreadStack(k, cpu);
  const mm = yield* pgdAlloc(k, cpu);
  yield m.costs.execBase;
  return { pid: nextPid++, mm, stack };
}

/**
 * fork without exec (copy_process → dup_mm → dup_mmap, v4.15): the child gets a copy of
 * every VMA and, through copy_page_range, of every PTE; private writable PTEs are
 * write-protected in both (COW), bracketed by a notifier range on the parent; at the
 * end, flush_tlb_mm(oldmm). The child does not run until switchToTask.
 */
export function* forkCow(k: Kernel, cpu: Cpu): KGen<TaskStruct> {
  const m = k.m;
  const parent = cpu.currentMm;
  if (parent === null) throw new Error(`CPU ${cpu.id}: fork with no mm`);
  m.counters.values[C.forks]!++;
  yield m.costs.forkBase;
  const stack = yield* allocThreadStack(k, cpu);
  const mm = yield* pgdAlloc(k, cpu);
  mm.mmapBase = parent.mmapBase;
  const protectedPages: number[] = [];
  for (const v of parent.vmas) {
    const nv = v.slice(v.start, v.end);
    mm.insertVma(nv);
    // copy_page_range: shared file mappings are refilled by faults.
    if (v.file !== null && (v.flags & VM_SHARED) !== 0 && !v.shmem) continue;
    yield* copyPageRange(k, cpu, mm, parent, v, protectedPages);
  }
  // dup_mmap: flush_tlb_mm(oldmm) — flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 0, true).
  yield* k.arch.flushTlbMmRange(cpu, parent, 0, Infinity, 12, true);
  for (const pfn of protectedPages) m.relyWriteProtected(pfn, "dup_mmap (fork: COW write-protect)");
  return { pid: nextPid++, mm, stack };
}

/** copy_page_range → copy_pte_range → copy_one_pte over one VMA (v4.15). */
function* copyPageRange(k: Kernel, cpu: Cpu, dst: MmStruct, src: MmStruct, vma: Vma, protectedPages: number[]): KGen {
  const m = k.m;
  const isCow = (vma.flags & VM_SHARED) === 0; // is_cow_mapping: private and may be written
  let cost = isCow ? mmuNotifierInvalidateRangeStart(k, cpu, src, vma.start, vma.end) : 0;
  for (let addr = vma.start; addr < vma.end; addr += 4096) {
    const soff = k.pgtables.pteOffset(src.pgd, addr);
    if (soff < 0) {
      const next = addr - (addr % 2097152) + 2097152 - 4096;
      if (next > addr) addr = next;
      continue;
    }
    const words = m.mem.words;
    let lo = words[soff]!;
    const hi = words[soff + 1]!;
    if ((lo & _PAGE_PRESENT) === 0) continue;
    cost += m.costs.copyPte;
    if (isCow && (lo & _PAGE_RW) !== 0) {
      // ptep_set_wrprotect(src_mm, addr, src_pte); pte = pte_wrprotect(pte)
      lo = (lo & ~_PAGE_RW) >>> 0;
      words[soff] = lo;
      protectedPages.push(ptePfn(lo, hi));
    }
    let clo = (lo & ~_PAGE_ACCESSED) >>> 0; // pte_mkold
    if ((vma.flags & VM_SHARED) !== 0) clo = (clo & ~_PAGE_DIRTY) >>> 0; // pte_mkclean
    const doff = k.pgtables.pteOffsetAlloc(dst, addr);
    cost += k.pgtables.lastAllocated * m.costs.ptAlloc;
    const w = m.mem.words;
    w[doff] = clo;
    w[doff + 1] = hi;
    if ((lo & _PAGE_SPECIAL) !== 0) continue; // vm_normal_page() == NULL: the zero page
    const pfn = ptePfn(lo, hi);
    m.mem.mapcount[pfn]!++; // page_dup_rmap
    dst.rss++;
    if (m.mem.state[pfn] === FrameState.PAGECACHE) k.reclaim.rmap.add(pfn, dst, addr);
  }
  if (isCow) cost += mmuNotifierInvalidateRangeEnd(k, cpu, src, vma.start, vma.end, k.notify.onlyEnd("copy_page_range"));
  if (cost > 0) yield cost;
}

/** The scheduler switches `cpu` to `task` (context switch: switch_mm and the task's stack). */
export function switchToTask(k: Kernel, cpu: Cpu, task: TaskStruct): void {
  k.m.counters.values[C.context_switches]!++;
  k.setCurrent(cpu, task);
  k.m.charge(cpu, k.arch.switchMmIrqsOff(cpu, task.mm));
}

/** do_exit of `task` running on `cpu`, then the parent (`parentMm`) runs again. */
export function* exitTask(k: Kernel, cpu: Cpu, task: TaskStruct, parentMm: MmStruct): KGen {
  const m = k.m;
  m.counters.values[C.exits]!++;
  // exit_mm: current->mm = NULL, enter_lazy_tlb, mmput → exit_mmap.
  cpu.currentMm = null;
  k.arch.enterLazyTlb(cpu);
  yield* exitMmap(k, cpu, task.mm);
  yield* pgdFree(k, cpu, task.mm);
  yield m.costs.exitBase;
  // The parent runs; finish_task_switch → put_task_stack → free_thread_stack here.
  m.counters.values[C.context_switches]!++;
  k.setCurrent(cpu, null);
  cpu.currentMm = parentMm;
  m.charge(cpu, k.arch.switchMmIrqsOff(cpu, parentMm));
  cpu.mode = CpuMode.KERNEL;
  yield* freeThreadStack(k, cpu, task.stack);
}
