/**
 * struct mmu_gather and its life cycle (mm/mmu_gather.c, include/asm-generic/tlb.h,
 * arch/x86/include/asm/tlb.h; v5.17): zap paths clear PTEs and gather the pages and
 * page tables; tlb_finish_mmu flushes the gathered range and only then frees them.
 */
import type { Cpu, KGen } from "../hw/cpu.js";
import type { MmStruct } from "./mm-types.js";

/** Pages gathered before tlb_flush_mmu is forced (MAX_GATHER_BATCH × MAX_GATHER_BATCH_COUNT, v5.17 on 4 KiB pages). */
export const MAX_GATHER_PAGES = 510 * Math.floor(10000 / 510);

export class MmuGather {
  readonly mm: MmStruct;
  /** The kernel path that opened the gather (names the free site for the oracle). */
  readonly site: string;
  start = Infinity;
  end = 0;
  fullmm = false;
  needFlushAll = false;
  freedTables = false;
  clearedPtes = false;
  clearedPmds = false;
  /** Pages whose last mapping was zapped: freed after the flush. */
  readonly pages: number[] = [];
  /** Page-table pages unhooked by free_pgtables: freed after the flush. */
  readonly tables: number[] = [];

  constructor(mm: MmStruct, site: string, fullmm = false) {
    this.mm = mm;
    this.site = site;
    this.fullmm = fullmm;
  }

  /** __tlb_adjust_range */
  adjustRange(addr: number, size: number): void {
    if (addr < this.start) this.start = addr;
    if (addr + size > this.end) this.end = addr + size;
  }

  /** tlb_flush_pte_range / tlb_remove_tlb_entry */
  flushPteRange(addr: number, size: number): void {
    this.adjustRange(addr, size);
    this.clearedPtes = true;
  }

  /** tlb_flush_pmd_range */
  flushPmdRange(addr: number, size: number): void {
    this.adjustRange(addr, size);
    this.clearedPmds = true;
  }

  /** pte_free_tlb / pmd_free_tlb: the table is freed after the flush. */
  removeTable(pfn: number, addr: number, size: number): void {
    this.tables.push(pfn);
    this.freedTables = true;
    this.adjustRange(addr, size);
  }

  /** __tlb_remove_page: returns true when the batch is full and must be flushed now. */
  removePage(pfn: number): boolean {
    this.pages.push(pfn);
    return this.pages.length >= MAX_GATHER_PAGES;
  }

  /** tlb_get_unmap_shift */
  unmapShift(): number {
    return this.clearedPtes || !this.clearedPmds ? 12 : 21;
  }

  /** tlb_flush_mmu_tlbonly's test: anything calling __tlb_adjust_range also set one of these. */
  get needsFlush(): boolean {
    return this.freedTables || this.clearedPtes || this.clearedPmds;
  }

  /** __tlb_reset_range */
  resetRange(): void {
    this.start = Infinity;
    this.end = 0;
    this.freedTables = false;
    this.clearedPtes = false;
    this.clearedPmds = false;
  }
}

/** The pieces of the kernel an mmu_gather flush uses (passed to MmuGatherFlush). */
export interface GatherKernel {
  /** x86 tlb_flush(tlb): flush_tlb_mm_range with the gathered range, stride and freed_tables. */
  tlbFlush(cpu: Cpu, tlb: MmuGather): KGen;
  /** tlb_flush_mmu_free: frees the gathered pages and tables. */
  tlbFlushMmuFree(cpu: Cpu, tlb: MmuGather): KGen;
}
