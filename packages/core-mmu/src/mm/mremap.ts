/**
 * mremap, after mm/mremap.c of v4.18: SYSCALL_DEFINE5(mremap) under mmap_write_lock,
 * mremap_to (MREMAP_FIXED), vma_to_resize, vma_expandable, move_vma (copy_vma,
 * move_page_tables, do_munmap of the old range), move_page_tables (one PMD-sized extent
 * at a time: v4.18 has no LATENCY_LIMIT, 37a4094e828f removed it) and move_ptes, with
 * v4.18's mmu_notifier_invalidate_range_start/end around the move. When move_ptes
 * flushes the old range, relative to dropping its two page-table locks, is the
 * MovePtesFlush point (default: eb66ae030829, v4.19).
 *
 * Errors are the kernel's: the call returns -EINVAL, -EFAULT or -ENOMEM to the task as
 * a negative number (the raw system call's return; libc would return MAP_FAILED and set
 * errno). Arguments that are no unsigned long at all (negative, fractional, not a safe
 * integer) are a workload bug: a one-line input error.
 *
 * Not modelled: THP's move_huge_pmd (a huge PMD is split, then its PTEs moved), VM_LOCKED, VM_ACCOUNT and may_expand_vm (no
 * limits), VM_DONTEXPAND/VM_PFNMAP (no such VMAs), vma_merge in copy_vma (the model
 * never merges VMAs), soft-dirty (move_soft_dirty_pte), userfaultfd, and the failure
 * path of move_vma (a page-table page cannot fail to allocate: the model's allocator
 * stops the run instead).
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState } from "../hw/memory.js";
import { pteNone, ptePfn, ptePresent, pteProtNone } from "../hw/pte.js";
import type { KernelCore } from "../kernel/core.js";
import type { VaRange } from "../kernel/entry.js";
import { FlushlabInputError } from "../plugin/errors.js";
import type { MovePtesLocks, PageTableMove } from "../plugin/tokens.js";
import type { KGen } from "../sim/process.js";
import { _PAGE_SPECIAL } from "./memory.js";
import { Vma, VM_SHARED, type MmStruct } from "./mm-types.js";
import type { Mmap } from "./mmap.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { HugeMemory } from "./huge-memory.js";
import type { PteLocks } from "./ptlock.js";
import type { Rmap } from "./rmap.js";

/** mremap flags (include/uapi/linux/mman.h). */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;

/** The errno values mremap returns, negated (include/uapi/asm-generic/errno-base.h). */
export const ENOMEM = 12;
export const EFAULT = 14;
export const EINVAL = 22;

/** The counter mremap calls are counted under (a named counter: see Counters.add). */
export const MREMAP_CALLS = "mremap_calls";

const PAGE_SIZE = 4096;

/** PAGE_ALIGN */
function pageAlign(len: number): number {
  return Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
}

/** offset_in_page */
function offsetInPage(addr: number): number {
  return addr % PAGE_SIZE;
}

export class Mremap {
  constructor(
    private readonly k: KernelCore,
    private readonly mmap: Mmap,
    private readonly rmap: Rmap,
    /** The split PTE locks. */
    private readonly ptl: PteLocks,
    private readonly huge: HugeMemory,
  ) {}

  /**
   * TASK_SIZE: where user space ends, the start of the kernel half (on x86-64 the kernel's
   * TASK_SIZE_MAX keeps one more guard page below it, which no modelled mapping reaches).
   */
  private get taskSize(): number {
    return this.k.machine.format.kernelStart;
  }

  /**
   * SYSCALL_DEFINE5(mremap, addr, old_len, new_len, flags, new_addr) (v4.18): returns the
   * new address, or a negative errno. Each range the call unmaps, or moves away from, is
   * pushed to `restricted` as it does so: when the call returns, no CPU may use what the
   * page tables no longer map there.
   */
  *mremap(cpu: Cpu, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number, restricted: VaRange[]): KGen<number> {
    const args: [string, number][] = [["addr", addr], ["old_len", oldLen], ["new_len", newLen], ["flags", flags], ["new_addr", newAddr]];
    for (const [name, v] of args) {
      if (!Number.isSafeInteger(v) || v < 0) throw new FlushlabInputError(`mremap on CPU ${cpu.id}: ${name} must be a non-negative integer below 2^53 (got ${v})`);
    }
    const mm = this.mmap.mustMm(cpu);
    this.k.counters.add(MREMAP_CALLS);
    // flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE), without JavaScript's 32-bit bitwise operators.
    if (flags > (MREMAP_FIXED | MREMAP_MAYMOVE)) return -EINVAL;
    if ((flags & MREMAP_FIXED) !== 0 && (flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
    if (offsetInPage(addr) !== 0) return -EINVAL;
    oldLen = pageAlign(oldLen);
    newLen = pageAlign(newLen);
    // A zero old_len is allowed (duplicating a shared mapping); a zero new_len is not.
    if (newLen === 0) return -EINVAL;
    return yield* this.mmap.withWriteLock(cpu, this.doMremap(cpu, mm, addr, oldLen, newLen, flags, newAddr, restricted));
  }

  /** The body of the system call under mmap_write_lock. */
  private *doMremap(cpu: Cpu, mm: MmStruct, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number, restricted: VaRange[]): KGen<number> {
    if ((flags & MREMAP_FIXED) !== 0) return yield* this.mremapTo(cpu, mm, addr, oldLen, newAddr, newLen, restricted);
    // Always allow a shrinking remap: that just unmaps the unnecessary pages. (With
    // old_len == new_len the kernel's do_munmap of nothing fails with -EINVAL, ignored.)
    if (oldLen >= newLen) {
      if (oldLen !== newLen) {
        const ret = yield* this.doMunmap(cpu, mm, addr + newLen, oldLen - newLen, restricted);
        if (ret < 0) return ret;
      }
      return addr;
    }
    // Ok, we need to grow.
    const vma = this.vmaToResize(mm, addr, oldLen);
    if (typeof vma === "number") return vma;
    // old_len exactly to the end of the area: can we just expand the current mapping?
    if (oldLen === vma.end - addr && this.vmaExpandable(mm, vma, newLen - oldLen)) {
      // vma_adjust(vma, vma->vm_start, addr + new_len, vma->vm_pgoff, NULL)
      vma.end = addr + newLen;
      yield this.k.machine.costs.mmapRegion;
      return addr;
    }
    // We weren't able to just expand or shrink the area: create a new one and move it.
    if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
    const to = this.mmap.getUnmappedArea(mm, newLen);
    if (to < 0) return -ENOMEM;
    return yield* this.moveVma(cpu, mm, vma, addr, oldLen, newLen, to, restricted);
  }

  /** mremap_to: MREMAP_FIXED, the new range unmapped first. */
  private *mremapTo(cpu: Cpu, mm: MmStruct, addr: number, oldLen: number, newAddr: number, newLen: number, restricted: VaRange[]): KGen<number> {
    const taskSize = this.taskSize;
    if (offsetInPage(newAddr) !== 0) return -EINVAL;
    if (newLen > taskSize || newAddr > taskSize - newLen) return -EINVAL;
    // Ensure the old/new locations do not overlap.
    if (addr + oldLen > newAddr && newAddr + newLen > addr) return -EINVAL;
    let ret = yield* this.doMunmap(cpu, mm, newAddr, newLen, restricted);
    if (ret < 0) return ret;
    if (oldLen >= newLen) {
      ret = oldLen !== newLen ? yield* this.doMunmap(cpu, mm, addr + newLen, oldLen - newLen, restricted) : -EINVAL;
      if (ret < 0 && oldLen !== newLen) return ret;
      oldLen = newLen;
    }
    const vma = this.vmaToResize(mm, addr, oldLen);
    if (typeof vma === "number") return vma;
    // get_unmapped_area(MAP_FIXED) at new_addr: the range was checked above.
    return yield* this.moveVma(cpu, mm, vma, addr, oldLen, newLen, newAddr, restricted);
  }

  /**
   * do_munmap's argument checks (-EINVAL), then Mmap.doMunmap. The range is named in
   * `restricted` before it is unmapped.
   */
  private *doMunmap(cpu: Cpu, mm: MmStruct, start: number, len: number, restricted: VaRange[]): KGen<number> {
    const taskSize = this.taskSize;
    if (offsetInPage(start) !== 0 || start > taskSize || len > taskSize - start) return -EINVAL;
    len = pageAlign(len);
    if (len === 0) return -EINVAL;
    restricted.push({ start, end: start + len });
    yield* this.mmap.doMunmap(cpu, mm, start, start + len, "tlb_finish_mmu (mremap)");
    return 0;
  }

  /**
   * vma_to_resize: the VMA [addr, addr + old_len) lies in, or an errno. Its checks of a
   * growing mapping (pgoff overflow, VM_DONTEXPAND, VM_LOCKED, may_expand_vm,
   * VM_ACCOUNT) have nothing to refuse in the model.
   */
  private vmaToResize(mm: MmStruct, addr: number, oldLen: number): Vma | number {
    const vma = mm.findVma(addr);
    if (vma === undefined) return -EFAULT;
    // Duplicating a private mapping with a zero old_len is refused (dba58d3b8c50, v4.17).
    if (oldLen === 0 && (vma.flags & VM_SHARED) === 0) return -EINVAL;
    // We can't remap across vm area boundaries.
    if (oldLen > vma.end - addr) return -EFAULT;
    return vma;
  }

  /** vma_expandable: nothing in [vm_end, vm_end + delta), and the end within TASK_SIZE. */
  private vmaExpandable(mm: MmStruct, vma: Vma, delta: number): boolean {
    const end = vma.end + delta;
    const next = mm.vmas[mm.vmas.indexOf(vma) + 1];
    if (next !== undefined && next.start < end) return false;
    // get_unmapped_area(NULL, vma->vm_start, end - vma->vm_start, 0, MAP_FIXED)
    return end <= this.taskSize;
  }

  /**
   * move_vma: copy_vma (a new VMA with the old one's flags, protection, file and pgoff at
   * `newAddr`), move_page_tables, then do_munmap of the old range, which finds no PTEs
   * left to zap but frees the page tables that no VMA needs any more.
   */
  private *moveVma(cpu: Cpu, mm: MmStruct, vma: Vma, oldAddr: number, oldLen: number, newLen: number, newAddr: number, restricted: VaRange[]): KGen<number> {
    const newPgoff = vma.file !== null ? vma.pageIndex(oldAddr) : 0;
    const newVma = new Vma(newAddr, newAddr + newLen, vma.flags, vma.protLo, vma.protHi, vma.anonymous, vma.file, newPgoff);
    newVma.shmem = vma.shmem;
    mm.insertVma(newVma);
    yield this.k.machine.costs.mmapRegion;
    const moved = yield* this.movePageTables(cpu, mm, oldAddr, newAddr, oldLen);
    if (moved < oldLen) throw new Error(`move_page_tables moved ${moved} of ${oldLen} bytes`);
    yield* this.doMunmap(cpu, mm, oldAddr, oldLen, restricted);
    return newAddr;
  }

  /**
   * move_page_tables (v4.18): inside one notifier range over the old range, for each
   * extent up to the next PMD boundary of the old and of the new address: skip it if
   * there is no old PTE page (get_old_pmd), else allocate the new page tables
   * (alloc_new_pmd, pte_alloc) and move_ptes. Returns how much was moved.
   */
  *movePageTables(cpu: Cpu, mm: MmStruct, oldAddr: number, newAddr: number, len: number): KGen<number> {
    const k = this.k;
    const m = k.machine;
    const lv = m.format.levels;
    const pmdSize = 2 ** lv[lv.length - 2]!.shift;
    const oldStart = oldAddr;
    const oldEnd = oldAddr + len;
    // flush_cache_range: nothing on x86.
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, oldStart, oldEnd);
    if (ns > 0) yield ns;
    const move = k.policies.movePtesFlush.begin(cpu, mm);
    let extent: number;
    for (; oldAddr < oldEnd; oldAddr += extent, newAddr += extent) {
      extent = Math.min(oldAddr - (oldAddr % pmdSize) + pmdSize - oldAddr, oldEnd - oldAddr);
      // pmd_trans_huge(*old_pmd): move_huge_pmd is not modelled; split_huge_pmd, then move the PTEs.
      if (this.huge.active && this.huge.hugePmdOffset(mm, oldAddr) >= 0) yield* this.huge.splitHugePmd(cpu, mm, mm.findVma(oldAddr)!, oldAddr - (oldAddr % pmdSize));
      if (k.pgtables.pteOffset(mm.pgd, oldAddr) < 0) continue; // get_old_pmd: pmd_none
      k.pgtables.pteOffsetAlloc(mm, newAddr);
      const alloc = k.pgtables.lastAllocated * m.costs.ptAlloc;
      if (alloc > 0) yield alloc;
      extent = Math.min(extent, newAddr - (newAddr % pmdSize) + pmdSize - newAddr);
      yield* this.movePtes(cpu, mm, move, oldAddr, oldAddr + extent, newAddr);
    }
    yield* move.finish(cpu, oldStart, oldAddr);
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, oldStart, oldEnd, k.policies.secondaryTlbNotify.onlyEnd("move_page_tables"));
    if (ne > 0) yield ne;
    return len + oldAddr - oldEnd;
  }

  /**
   * move_ptes over [oldAddr, oldEnd), one PTE page's worth, to `newAddr`: take the old PTE
   * page's lock, then the new one's if it is another (mmap_write_lock rules out a
   * deadlock between two movers); flush_tlb_batched_pending; move each non-none PTE
   * (ptep_get_and_clear, set_pte_at; move_pte changes nothing on x86), the reverse map of
   * a page-cache page following it under the locks, so that try_to_unmap_one finds the
   * PTE where it now is (the kernel's rmap walk finds it through the new VMA, which
   * copy_vma put in the file's i_mmap tree); then the MovePtesFlush policy flushes and
   * drops both locks.
   */
  private *movePtes(cpu: Cpu, mm: MmStruct, move: PageTableMove, oldAddr: number, oldEnd: number, newAddr: number): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const ptl = this.ptl;
    const oldPte = k.pgtables.pteOffset(mm.pgd, oldAddr);
    const newPte = k.pgtables.pteOffset(mm.pgd, newAddr);
    yield* ptl.lock(cpu, oldPte);
    const split = !ptl.sameLock(oldPte, newPte);
    if (split) yield* ptl.lock(cpu, newPte);
    let oldHeld = true;
    let newHeld = split;
    const locks: MovePtesLocks = {
      unlockNew() {
        if (!split) return;
        if (!newHeld) throw new Error("MovePtesFlush released the new PTE page's lock twice");
        newHeld = false;
        ptl.unlock(cpu, newPte);
      },
      unlockOld() {
        if (!oldHeld) throw new Error("MovePtesFlush released the old PTE page's lock twice");
        oldHeld = false;
        ptl.unlock(cpu, oldPte);
      },
    };
    yield* k.policies.batchedPendingFlush.flushTlbBatchedPending(cpu, mm);
    let cost = 0;
    for (let i = 0, a = oldAddr; a < oldEnd; i++, a += PAGE_SIZE) {
      const o = oldPte + 2 * i;
      const n = newPte + 2 * i;
      const w = mem.words;
      const lo = w[o]!;
      const hi = w[o + 1]!;
      if (pteNone(lo, hi)) continue;
      w[o] = 0;
      w[o + 1] = 0;
      move.pteMoved(a, lo, hi);
      w[n] = lo;
      w[n + 1] = hi;
      cost += m.costs.copyPte;
      if ((lo & _PAGE_SPECIAL) !== 0 || !(ptePresent(lo, hi) || pteProtNone(lo, hi))) continue;
      const pfn = ptePfn(lo, hi);
      if (mem.state[pfn] === FrameState.PAGECACHE) {
        this.rmap.remove(pfn, mm, a);
        this.rmap.add(pfn, mm, newAddr + i * PAGE_SIZE);
      }
    }
    if (cost > 0) yield cost;
    yield* move.endMovePtes(cpu, oldAddr, oldEnd, locks);
    if (oldHeld || newHeld) {
      throw new Error(`MovePtesFlush.endMovePtes returned holding the ${oldHeld ? "old" : "new"} PTE page's lock (move_ptes must drop both)`);
    }
  }
}
