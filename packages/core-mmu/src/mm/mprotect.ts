/**
 * mprotect, after mm/mprotect.c (v5.17): do_mprotect_pkey → mprotect_fixup (split,
 * new vm_flags and vm_page_prot) → change_protection_range → change_pte_range, which
 * per PTE page takes the page's lock, runs flush_tlb_batched_pending (3ea277194daa,
 * v4.13) and rewrites every present PTE with pte_modify, and hands the flush to the
 * ProtectionChangeFlush point (pre-patch: flush_tlb_range per VMA when any PTE
 * changed). When the call returns, the kernel relies on the pages it write-protected.
 * A huge PMD is change_huge_pmd, or __split_huge_pmd when the range covers it in part
 * (mm/huge_memory.ts). change_pmd_range brackets its walk of each PUD with a notifier
 * range, opened lazily at the first populated PMD and ended with range_end, which tells
 * invalidate_range users (IOMMU ATS) to drop the old PTEs.
 */
import type { Cpu } from "../hw/cpu.js";
import { PTE_PFN_MASK_HI, PTE_PFN_MASK_LO, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PCD, _PAGE_PWT, _PAGE_RW, pteDirty, ptePfn, pteMapped, pteWrite } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import { _PAGE_SPECIAL } from "./memory.js";
import { VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, type MmStruct } from "./mm-types.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import { protToVmFlags, type Mmap } from "./mmap.js";
import { HPAGE_PMD_SIZE, type HugeMemory } from "./huge-memory.js";
import type { PteLocks } from "./ptlock.js";

/** PUD_SIZE: the span of one change_pmd_range call (the PDPT entry on x86-64, the PGD entry on PAE). */
const PUD_SIZE = 2 ** 30;

/** _PAGE_CHG_MASK (low word): what pte_modify keeps, the PFN, cache bits, special, A and D. */
const _PAGE_CHG_MASK_LO = (PTE_PFN_MASK_LO | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED | _PAGE_DIRTY) >>> 0;

export class Mprotect {
  constructor(
    private readonly k: KernelCore,
    private readonly mmap: Mmap,
    private readonly ptl: PteLocks,
    private readonly huge: HugeMemory,
  ) {}

  /** mprotect(addr, len, prot), under mmap_write_lock. */
  *mprotect(cpu: Cpu, addr: number, len: number, prot: number): KGen {
    yield* this.mmap.withWriteLock(cpu, this.doMprotect(cpu, addr, len, prot));
  }

  private *doMprotect(cpu: Cpu, addr: number, len: number, prot: number): KGen {
    const k = this.k;
    const m = k.machine;
    const ptl = this.ptl;
    const huge = this.huge;
    const mm = this.mmap.mustMm(cpu);
    k.counters.values[C.mprotect_calls]!++;
    yield m.costs.mprotectBase;
    const end = addr + Math.ceil(len / 4096) * 4096;
    const vmas = this.mmap.split(mm, addr, end);
    const protectedPages: number[] = [];
    const change = k.policies.protectionChangeFlush.begin(cpu, mm);
    for (const vma of vmas) {
      vma.flags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | protToVmFlags(prot);
      const p = this.mmap.vmaPageProt(vma.flags, vma.file !== null && !vma.shmem);
      vma.protLo = p.lo;
      vma.protHi = p.hi;
      // dirty_accountable (vma_wants_writenotify): a shared, writable file mapping's
      // vm_page_prot is read-only so that the first write is seen; PTEs already dirty
      // stay writable (change_pte_range, v5.17).
      const dirtyAccountable = vma.file !== null && !vma.shmem && (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);
      change.beginVma(cpu, vma.start, vma.end);
      let cost = 0;
      // change_pte_range: a word offset in the PTE page whose lock it holds, or -1.
      let locked = -1;
      // change_pmd_range's notifier range [nrStart, nrEnd), or nrStart -1 while none is open.
      let nrStart = -1;
      let nrEnd = -1;
      try {
        for (let a = vma.start; a < vma.end; a += 4096) {
          if (nrStart >= 0 && a >= nrEnd) {
            // The walk left the PUD whose change_pmd_range opened the range.
            if (locked >= 0) ptl.unlock(cpu, locked);
            locked = -1;
            if (cost > 0) yield cost;
            cost = 0;
            yield* this.notifierRangeEnd(cpu, mm, nrStart, nrEnd);
            nrStart = -1;
          }
          if (nrStart < 0 && mm.notifiers.length > 0 && ((huge.active && huge.hugePmdOffset(mm, a) >= 0) || k.pgtables.pteOffset(mm.pgd, a) >= 0)) {
            // change_pmd_range (v5.17), called per PUD (1 GiB on every modelled format)
            // with end = min(pud_addr_end, the VMA's end): at the first populated PMD,
            // mmu_notifier_range_init(MMU_NOTIFY_PROTECTION_VMA, addr, end) and
            // mmu_notifier_invalidate_range_start. `a` is that PMD's first address in range.
            nrStart = a;
            nrEnd = Math.min(vma.end, a - (a % PUD_SIZE) + PUD_SIZE);
            if (cost > 0) yield cost;
            cost = 0;
            const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, nrStart, nrEnd);
            if (ns > 0) yield ns;
          }
          if (huge.active && (a === vma.start || a % HPAGE_PMD_SIZE === 0) && huge.hugePmdOffset(mm, a) >= 0) {
            // change_pmd_range (v5.17): a huge PMD wholly inside the VMA is change_huge_pmd;
            // one the VMA covers in part (the VMA was just split inside it) is split first.
            if (locked >= 0) ptl.unlock(cpu, locked);
            locked = -1;
            if (cost > 0) yield cost;
            cost = 0;
            const haddr = a - (a % HPAGE_PMD_SIZE);
            if (haddr >= vma.start && haddr + HPAGE_PMD_SIZE <= vma.end) {
              yield* huge.changeHugePmd(cpu, huge.hugePmdOffset(mm, a), haddr, p.lo, p.hi, change, protectedPages);
              a = haddr + HPAGE_PMD_SIZE - 4096;
              continue;
            }
            yield* huge.splitHugePmd(cpu, mm, vma, haddr);
          }
          const off = k.pgtables.pteOffset(mm.pgd, a);
          if (off < 0) continue;
          if (locked < 0 || !ptl.sameLock(locked, off)) {
            const held = locked;
            locked = -1;
            if (yield* ptl.walkEnter(cpu, held, off, cost, mm, k.policies.batchedPendingFlush)) cost = 0;
            locked = off;
          }
          const w = m.mem.words;
          const lo = w[off]!;
          const hi = w[off + 1]!;
          if (!pteMapped(lo, hi)) continue; // pte_present: PROT_NONE PTEs are changed too
          // pte_modify: keep _PAGE_CHG_MASK, take the new protection.
          let newLo = ((lo & _PAGE_CHG_MASK_LO) | (p.lo & ~(_PAGE_ACCESSED | _PAGE_DIRTY))) >>> 0;
          if (dirtyAccountable && pteDirty(lo, hi)) newLo = (newLo | _PAGE_RW) >>> 0;
          const newHi = ((hi & PTE_PFN_MASK_HI) | p.hi) >>> 0;
          if (pteWrite(lo, hi) && !pteWrite(newLo, newHi)) protectedPages.push(ptePfn(lo, hi));
          w[off] = newLo;
          w[off + 1] = newHi;
          change.pteChanged(a, lo, hi, newLo, newHi);
          cost += m.costs.changePte;
        }
        if (locked >= 0) ptl.unlock(cpu, locked);
        locked = -1;
        if (cost > 0) yield cost;
        cost = 0;
        if (nrStart >= 0) yield* this.notifierRangeEnd(cpu, mm, nrStart, nrEnd);
      } finally {
        if (locked >= 0) ptl.unlock(cpu, locked);
      }
      yield* change.endVma(cpu, vma.start, vma.end);
    }
    yield* change.finish(cpu);
    for (const pfn of protectedPages) m.mem.relyWriteProtected(pfn, "mprotect");
  }

  /**
   * The end of change_pmd_range (v5.17): mmu_notifier_invalidate_range_end(&range), which
   * calls invalidate_range (the secondary TLBs drop the PTEs just made read-only or
   * PROT_NONE: nothing under the PTL told them) and then invalidate_range_end. Not a site
   * of seed 004: range_end, unless a policy says only_end.
   */
  private *notifierRangeEnd(cpu: Cpu, mm: MmStruct, start: number, end: number): KGen {
    const k = this.k;
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, start, end, k.policies.secondaryTlbNotify.onlyEnd("change_pmd_range"));
    if (ne > 0) yield ne;
  }
}
