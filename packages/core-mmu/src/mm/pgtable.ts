/**
 * Page-table pages of an mm below the pgd: allocation on demand (__pud_alloc,
 * __pmd_alloc, __pte_alloc), lookup (pte_offset_map and friends) and free_pgtables,
 * after mm/memory.c (v5.17). The pgd itself is the arch's (ArchMm.pgdCreate).
 */
import type { Machine } from "../hw/machine.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, pteHi, pteHuge, pteLo, ptePfn, ptePresent } from "../hw/pte.js";
import type { MmStruct } from "./mm-types.js";

/** _PAGE_TABLE: the flags of an upper-level entry pointing at a user table. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
/** _KERNPG_TABLE: the same for kernel tables (no _PAGE_USER). */
export const _KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;

export class PageTables {
  /** Page-table pages allocated by the last pteOffsetAlloc (for its cost). */
  lastAllocated = 0;
  /** Per level (0 = top): the span of one entry (2^shift) and the entries per table. */
  private readonly span: Float64Array;
  private readonly entries: Float64Array;

  constructor(private readonly m: Machine) {
    const lv = m.format.levels;
    this.span = Float64Array.from(lv, (l) => 2 ** l.shift);
    this.entries = Float64Array.from(lv, (l) => l.entries);
  }

  /** Word offset of the 4 KiB PTE for `va`, or -1 if a table on the way is missing (or a huge leaf covers it). */
  pteOffset(pgd: number, va: number): number {
    return this.entryAt(pgd, va, this.m.format.levels.length - 1, false, false);
  }

  /** Word offset of the PMD entry covering `va`, or -1 if a table above it is missing. */
  pmdOffset(pgd: number, va: number): number {
    return this.entryAt(pgd, va, this.m.format.levels.length - 2, false, false);
  }

  /** Word offset of the PMD entry covering `va`, allocating the tables above it. */
  pmdOffsetAlloc(mm: MmStruct, va: number): number {
    this.lastAllocated = 0;
    return this.entryAt(mm.pgd, va, this.m.format.levels.length - 2, true, mm.isInitMm);
  }

  /** Word offset of the entry at `level` (0 = top) for `va`, or -1; no allocation. */
  entryOffsetAt(pgd: number, va: number, level: number): number {
    return this.entryAt(pgd, va, level, false, false);
  }

  /** The entry at `level` for `va` (0 = top), walking down and optionally allocating. */
  private entryAt(pgd: number, va: number, level: number, alloc: boolean, kernel: boolean): number {
    const span = this.span;
    const entries = this.entries;
    const mem = this.m.mem;
    let table = pgd;
    for (let l = 0; ; l++) {
      const off = mem.entryOffset(table, Math.floor(va / span[l]!) % entries[l]!);
      if (l === level) return off;
      let lo = mem.words[off]!;
      if (!ptePresent(lo, 0)) {
        if (!alloc) return -1;
        const t = mem.alloc(FrameState.PAGETABLE);
        this.lastAllocated++;
        mem.words[off] = lo = pteLo(t, this.m.format.topLoadedAtCr3 && l === 0 ? _PAGE_PRESENT : kernel ? _KERNPG_TABLE : _PAGE_TABLE);
        mem.words[off + 1] = pteHi(t, 0);
      } else if (l > 0 && pteHuge(lo, 0)) {
        return -1;
      }
      table = ptePfn(lo, mem.words[off + 1]!);
    }
  }

  /**
   * Word offset of the PTE for `va`, allocating missing tables (pud_alloc, pmd_alloc,
   * pte_alloc). Sets `lastAllocated`.
   */
  pteOffsetAlloc(mm: MmStruct, va: number, kernel = mm.isInitMm): number {
    const mem = this.m.mem;
    const lv = this.m.format.levels;
    let table = mm.pgd;
    this.lastAllocated = 0;
    for (let l = 0; l < lv.length; l++) {
      const idx = Math.floor(va / this.span[l]!) % this.entries[l]!;
      const off = mem.entryOffset(table, idx);
      if (l === lv.length - 1) return off;
      let lo = mem.words[off]!;
      if (!ptePresent(lo, 0)) {
        const t = mem.alloc(FrameState.PAGETABLE);
        this.lastAllocated++;
        const flags = this.m.format.topLoadedAtCr3 && l === 0 ? _PAGE_PRESENT : kernel ? _KERNPG_TABLE : _PAGE_TABLE;
        mem.words[off] = lo = pteLo(t, flags);
        mem.words[off + 1] = pteHi(t, 0);
      }
      table = ptePfn(lo, mem.words[off + 1]!);
    }
    return -1;
  }

  /**
   * free_pgtables / free_pgd_range for [start, end) with neighbours at `floor`
   * (previous VMA's end, 0 if none) and `ceiling` (next VMA's start, or the end of
   * user space): every table whose whole span lies in [floor, ceiling) and meets
   * [start, end) is unhooked from its parent and handed to `free` (the mmu_gather,
   * which frees it only after the TLB flush). Returns how many were unhooked.
   */
  freePgdRange(mm: MmStruct, start: number, end: number, floor: number, ceiling: number, free: (pfn: number) => void): number {
    const lv = this.m.format.levels;
    const mem = this.m.mem;
    let n = 0;
    const visit = (table: number, l: number, base: number): void => {
      const span = 2 ** lv[l]!.shift;
      const first = Math.max(0, Math.floor((start - base) / span));
      const last = Math.min(lv[l]!.entries - 1, Math.floor((end - 1 - base) / span));
      for (let i = first; i <= last; i++) {
        const off = mem.entryOffset(table, i);
        const lo = mem.words[off]!;
        if (!ptePresent(lo, 0)) continue;
        const child = ptePfn(lo, mem.words[off + 1]!);
        const a = base + i * span;
        // PAE PDPT entries point at preallocated PMDs that live as long as the pgd.
        if (l === 0 && this.m.format.topLoadedAtCr3) {
          visit(child, l + 1, a);
          continue;
        }
        if (l + 1 < lv.length - 1) visit(child, l + 1, a);
        if (a >= floor && a + span <= ceiling) {
          mem.words[off] = 0;
          mem.words[off + 1] = 0;
          free(child);
          n++;
        }
      }
    };
    if (lv.length > 1) visit(mm.pgd, 0, 0);
    return n;
  }
}
