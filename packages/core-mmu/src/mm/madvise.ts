/**
 * madvise, after mm/madvise.c, under mmap_read_lock (two madvise calls of one mm run at
 * once):
 * - MADV_DONTNEED (v5.17) zaps the range with one mmu_gather (zap_page_range), keeping
 *   the page tables;
 * - MADV_FREE (v4.13: madvise_free_single_vma → madvise_free_pte_range, mm/swap.c
 *   mark_page_lazyfree) makes the anonymous pages of the range lazyfree: their PTEs
 *   become old and clean, recorded in one mmu_gather per VMA whose tlb_finish_mmu
 *   flushes them, and the pages move to the inactive file list without PG_swapbacked,
 *   so that reclaim discards a page no write has dirtied since (mm/vmscan.c, mm/rmap.c).
 *   From its return the kernel relies on a write to such a page setting D in its PTE: a
 *   CPU that still caches the old dirty translation writes without setting it, and
 *   reclaim would throw that write away.
 * Other advice is not modelled.
 */
import type { Cpu } from "../hw/cpu.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, pteDirty, pteNone, ptePfn, ptePresent, pteProtNone, pteYoung } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { VaRange } from "../kernel/entry.js";
import type { KGen } from "../sim/process.js";
import { _PAGE_SPECIAL, type Memory } from "./memory.js";
import type { MmStruct, MmuGather, Vma } from "./mm-types.js";
import type { Mmap } from "./mmap.js";
import type { MmuGatherOps } from "./mmu-gather.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import type { Lru } from "./swap.js";

export const MADV_DONTNEED = 4;
/** MADV_FREE (include/uapi/asm-generic/mman-common.h, since v4.5). */
export const MADV_FREE = 8;

export class Madvise {
  constructor(
    private readonly k: KernelCore,
    private readonly mmap: Mmap,
    private readonly memory: Memory,
    private readonly gather: MmuGatherOps,
    private readonly lru: Lru,
  ) {}

  /**
   * madvise(addr, len, advice), under mmap_read_lock. The ranges it zapped or cleaned
   * are pushed to `done` (a VMA MADV_FREE refuses, -EINVAL, is not: the call promises
   * nothing there).
   */
  *madvise(cpu: Cpu, addr: number, len: number, advice: number, done: VaRange[] = []): KGen {
    yield* this.mmap.withReadLock(cpu, this.doMadvise(cpu, addr, len, advice, done));
  }

  private *doMadvise(cpu: Cpu, addr: number, len: number, advice: number, done: VaRange[]): KGen {
    const k = this.k;
    if (advice !== MADV_DONTNEED && advice !== MADV_FREE) throw new Error(`madvise advice ${advice} is not modelled (MADV_DONTNEED ${MADV_DONTNEED} and MADV_FREE ${MADV_FREE} are)`);
    const mm = this.mmap.mustMm(cpu);
    k.counters.values[C.madvise_calls]!++;
    yield k.machine.costs.unmapBase;
    const end = addr + Math.ceil(len / 4096) * 4096;
    if (advice === MADV_FREE) {
      yield* this.madviseFree(cpu, mm, addr, end, done);
      return;
    }
    const tlb = this.gather.tlbGatherMmu(mm, "tlb_finish_mmu (madvise MADV_DONTNEED)");
    // zap_page_range: one notifier range around the zap (v4.15).
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, addr, end);
    if (ns > 0) yield ns;
    // madvise_walk_vmas: from find_vma(addr), the VMAs that overlap [addr, end).
    for (let i = mm.findVmaIndex(addr); i < mm.vmas.length; i++) {
      const v = mm.vmas[i]!;
      if (v.start >= end) break;
      done.push({ start: Math.max(addr, v.start), end: Math.min(end, v.end) });
      yield* this.memory.zapPageRange(cpu, tlb, v, Math.max(addr, v.start), Math.min(end, v.end));
    }
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, addr, end, k.policies.secondaryTlbNotify.onlyEnd("zap_page_range"));
    if (ne > 0) yield ne;
    yield* this.gather.tlbFinishMmu(cpu, tlb);
  }

  /**
   * madvise_dontneed_free for MADV_FREE, VMA by VMA (madvise_vma): a VMA that is not
   * anonymous ends the call (-EINVAL, vma_is_anonymous); each anonymous one gets
   * madvise_free_single_vma. As the call returns, the kernel relies on every page it made
   * lazyfree being written only through translations that set D.
   */
  private *madviseFree(cpu: Cpu, mm: MmStruct, start: number, end: number, done: VaRange[]): KGen {
    const k = this.k;
    const lazyfree: number[] = [];
    for (let i = mm.findVmaIndex(start); i < mm.vmas.length; i++) {
      const v = mm.vmas[i]!;
      if (v.start >= end) break;
      if (!v.anonymous) break;
      // MADV_FREE takes no translation away: what it promises is that a write from now on
      // sets D in the PTE (goes through a walk), so only writes are restricted.
      done.push({ start: Math.max(start, v.start), end: Math.min(end, v.end), writesOnly: true });
      yield* this.madviseFreeSingleVma(cpu, mm, v, Math.max(start, v.start), Math.min(end, v.end), lazyfree);
    }
    const mem = k.machine.mem;
    for (const pfn of lazyfree) mem.relyWriteProtected(pfn, "madvise(MADV_FREE)");
  }

  /**
   * madvise_free_single_vma (v4.13): lru_add_drain, tlb_gather_mmu, the notifier range
   * around madvise_free_page_range, tlb_finish_mmu (which flushes what the walk recorded).
   */
  private *madviseFreeSingleVma(cpu: Cpu, mm: MmStruct, vma: Vma, start: number, end: number, lazyfree: number[]): KGen {
    const k = this.k;
    this.lru.lruAddDrain(cpu);
    const tlb = this.gather.tlbGatherMmu(mm, "tlb_finish_mmu (madvise MADV_FREE)");
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, start, end);
    if (ns > 0) yield ns;
    yield* this.madviseFreePteRange(cpu, tlb, vma, start, end, lazyfree);
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, start, end, false);
    if (ne > 0) yield ne;
    yield* this.gather.tlbFinishMmu(cpu, tlb);
  }

  /**
   * madvise_free_pte_range (v4.13), per PTE page under its lock, after
   * flush_tlb_batched_pending: for each present PTE of a normal page (not the zero page;
   * THP and swap entries are not modelled), a page that is PageDirty stays as it is
   * unless this is its only mapping (then ClearPageDirty); a young or dirty PTE becomes
   * old and clean (ptep_get_and_clear_full, pte_mkold, pte_mkclean, set_pte_at) and is
   * recorded in the gather (tlb_remove_tlb_entry); the page is made lazyfree
   * (mark_page_lazyfree). The pages it took are pushed to `lazyfree`.
   */
  private *madviseFreePteRange(cpu: Cpu, tlb: MmuGather, vma: Vma, start: number, end: number, lazyfree: number[]): KGen {
    const k = this.k;
    const m = k.machine;
    const mem = m.mem;
    const mm = tlb.mm;
    const ptl = this.memory.ptl;
    let cost = 0;
    // A word offset in the PTE page whose lock the walk holds, or -1.
    let locked = -1;
    try {
      for (let addr = start; addr < end; addr += 4096) {
        const off = k.pgtables.pteOffset(mm.pgd, addr);
        if (off < 0) {
          // No PTE page here (pmd_none): skip to the next 2 MiB.
          const next = addr - (addr % 2097152) + 2097152 - 4096;
          if (next > addr) addr = next;
          continue;
        }
        if (locked < 0 || !ptl.sameLock(locked, off)) {
          const held = locked;
          locked = -1;
          if (yield* ptl.walkEnter(cpu, held, off, cost, mm, k.policies.batchedPendingFlush)) cost = 0;
          locked = off;
        }
        const w = mem.words;
        const lo = w[off]!;
        const hi = w[off + 1]!;
        // pte_none, and !pte_present (x86's pte_present counts PROT_NONE entries too).
        if (pteNone(lo, hi) || (!ptePresent(lo, hi) && !pteProtNone(lo, hi))) continue;
        if ((lo & _PAGE_SPECIAL) !== 0) continue; // vm_normal_page() == NULL: the zero page
        const pfn = ptePfn(lo, hi);
        if (mem.pageDirty[pfn] === 1) {
          // PageDirty (PageSwapCache is never set: swap is not modelled): if the page is
          // shared with others its PG_dirty cannot be cleared, and it is left alone.
          if (mem.mapcount[pfn] !== 1) continue;
          mem.pageDirty[pfn] = 0;
        }
        if (pteYoung(lo, hi) || pteDirty(lo, hi)) {
          w[off] = (lo & ~(_PAGE_ACCESSED | _PAGE_DIRTY)) >>> 0;
          tlb.flushPteRange(addr, 4096);
          cost += m.costs.changePte;
        }
        this.lru.markPageLazyfree(cpu, pfn);
        lazyfree.push(pfn);
      }
    } finally {
      if (locked >= 0) ptl.unlock(cpu, locked);
    }
    if (vma.start > start || vma.end < end) throw new Error("madviseFreePteRange: range outside the VMA");
    if (cost > 0) yield cost;
  }
}
