/**
 * Page-table pages of an mm: allocation on demand (pXd_alloc), lookup, pgd_alloc with
 * the kernel half shared from init_mm, and free_pgtables. Mirrors mm/memory.c and
 * arch/x86/mm/pgtable.c (v5.17).
 */
import type { Machine } from "../hw/machine.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_USER, ptePfn, pteHi, pteLo } from "../hw/pte.js";
import type { MmStruct } from "./mm-types.js";

/** _PAGE_TABLE: the flags of an upper-level entry pointing at a user table. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
/** _KERNPG_TABLE: the same for kernel tables (no _PAGE_USER). */
export const _KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;

export class PageTables {
  /** Page-table pages allocated by the last pteOffsetAlloc (for its cost). */
  lastAllocated = 0;

  constructor(private readonly m: Machine) {}

  /**
   * pgd_alloc: a new top-level table. The kernel half is shared with init_mm: on
   * x86-64 the top-level kernel entries are copied (pgd_ctor, clone_pgd_range); on
   * PAE the PDPT's kernel entry points at the shared kernel PMD (SHARED_KERNEL_PMD)
   * and the user PMDs are preallocated (pgd_prepopulate_pmd), because PDPTEs are
   * loaded at CR3 write and cannot be filled lazily.
   */
  pgdAlloc(initPgd: number | null): number {
    const mem = this.m.mem;
    const fmt = this.m.format;
    const pgd = mem.alloc(FrameState.PAGETABLE);
    const top = fmt.levels[0]!;
    const kernelFirst = Math.floor(fmt.kernelStart / 2 ** top.shift);
    if (initPgd !== null) {
      for (let i = kernelFirst; i < top.entries; i++) {
        const src = mem.entryOffset(initPgd, i);
        const dst = mem.entryOffset(pgd, i);
        const lo = mem.words[src]!;
        if (fmt.topLoadedAtCr3 && (lo & _PAGE_PRESENT) !== 0) {
          // !SHARED_KERNEL_PMD (PAE with PTI): a private copy of the kernel PMD page,
          // filled from swapper_pg_dir's (pgd_prepopulate_pmd / clone of the kernel part).
          const refPmd = ptePfn(lo, mem.words[src + 1]!);
          const pmd = mem.alloc(FrameState.PAGETABLE);
          mem.words.copyWithin(mem.entryOffset(pmd, 0), mem.entryOffset(refPmd, 0), mem.entryOffset(refPmd, 0) + 1024);
          mem.words[dst] = pteLo(pmd, _PAGE_PRESENT);
          mem.words[dst + 1] = pteHi(pmd, 0);
        } else {
          mem.words[dst] = lo;
          mem.words[dst + 1] = mem.words[src + 1]!;
        }
      }
    } else if (fmt.topLoadedAtCr3) {
      // swapper_pg_dir: the kernel PMD (entry 3) exists from boot.
      for (let i = kernelFirst; i < top.entries; i++) {
        const pmd = mem.alloc(FrameState.PAGETABLE);
        const off = mem.entryOffset(pgd, i);
        mem.words[off] = pteLo(pmd, _PAGE_PRESENT);
        mem.words[off + 1] = pteHi(pmd, 0);
      }
    }
    if (fmt.topLoadedAtCr3) {
      for (let i = 0; i < kernelFirst; i++) {
        const pmd = mem.alloc(FrameState.PAGETABLE);
        const off = mem.entryOffset(pgd, i);
        mem.words[off] = pteLo(pmd, _PAGE_PRESENT);
        mem.words[off + 1] = pteHi(pmd, 0);
      }
    }
    return pgd;
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

  /**
   * pgd_free: the pgd page, and on PAE the PMD pages it owns (the preallocated user
   * PMDs and the private kernel PMD). The user tables below were freed by exit_mmap.
   */
  pgdFree(mm: MmStruct, site: string): number {
    const mem = this.m.mem;
    let n = 0;
    if (this.m.format.topLoadedAtCr3) {
      for (let i = 0; i < 4; i++) {
        const off = mem.entryOffset(mm.pgd, i);
        if ((mem.words[off]! & _PAGE_PRESENT) === 0) continue;
        mem.free(ptePfn(mem.words[off]!, mem.words[off + 1]!), site, this.m.now);
        n++;
      }
    }
    mem.free(mm.pgd, site, this.m.now);
    return n + 1;
  }

  /** Word offset of the entry at `level` (0 = top) for `va`, or -1; no allocation. */
  entryOffsetAt(pgd: number, va: number, level: number): number {
    return this.entryAt(pgd, va, level, false, false);
  }

  /** The entry at `level` for `va` (0 = top), walking down and optionally allocating. */
  private entryAt(pgd: number, va: number, level: number, alloc: boolean, kernel: boolean): number {
    const lv = this.m.format.levels;
    const mem = this.m.mem;
    let table = pgd;
    for (let l = 0; ; l++) {
      const off = mem.entryOffset(table, Math.floor(va / 2 ** lv[l]!.shift) % lv[l]!.entries);
      if (l === level) return off;
      let lo = mem.words[off]!;
      if ((lo & _PAGE_PRESENT) === 0) {
        if (!alloc) return -1;
        const t = mem.alloc(FrameState.PAGETABLE);
        this.lastAllocated++;
        mem.words[off] = lo = pteLo(t, this.m.format.topLoadedAtCr3 && l === 0 ? _PAGE_PRESENT : kernel ? _KERNPG_TABLE : _PAGE_TABLE);
        mem.words[off + 1] = pteHi(t, 0);
      } else if (l > 0 && (lo & _PAGE_PSE) !== 0) {
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
      const idx = Math.floor(va / 2 ** lv[l]!.shift) % lv[l]!.entries;
      const off = mem.entryOffset(table, idx);
      if (l === lv.length - 1) return off;
      let lo = mem.words[off]!;
      if ((lo & _PAGE_PRESENT) === 0) {
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
        if ((lo & _PAGE_PRESENT) === 0) continue;
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
