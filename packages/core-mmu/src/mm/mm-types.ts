/**
 * struct mm_struct and struct vm_area_struct, reduced to what TLB-flush policy needs.
 * Mirrors include/linux/mm_types.h (v5.17) and arch/x86/include/asm/mmu.h.
 */

import type { MmuNotifier } from "./mmu-notifier.js";

/** vm_flags bits (include/linux/mm.h). */
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;

/**
 * A file's page cache (struct address_space): one frame per cached page, -1 where
 * the page is not cached. Files are sparse: a missing page is filled with zeroes,
 * no I/O (as vm-scalability's sparse files are).
 */
export class FileMapping {
  readonly id: number;
  readonly pages: Int32Array;
  /** nrpages */
  nrpages = 0;

  constructor(id: number, sizePages: number) {
    this.id = id;
    this.pages = new Int32Array(sizePages).fill(-1);
  }

  get sizePages(): number {
    return this.pages.length;
  }
}

export class Vma {
  start: number;
  end: number;
  flags: number;
  /** vm_page_prot, low and high word of the PTE flags new PTEs get. */
  protLo: number;
  protHi: number;
  readonly anonymous: boolean;
  /** vm_file (null for anonymous memory; a shmem file for MAP_SHARED|MAP_ANONYMOUS) and vm_pgoff, in pages. */
  readonly file: FileMapping | null;
  pgoff: number;
  /** shmem: no dirty accounting, so no write notification (vma_wants_writenotify is false). */
  shmem = false;

  constructor(start: number, end: number, flags: number, protLo: number, protHi: number, anonymous: boolean, file: FileMapping | null = null, pgoff = 0) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.protLo = protLo;
    this.protHi = protHi;
    this.anonymous = anonymous;
    this.file = file;
    this.pgoff = pgoff;
  }

  /** linear_page_index: the file page behind `addr`. */
  pageIndex(addr: number): number {
    return this.pgoff + Math.floor((addr - this.start) / 4096);
  }

  /** A copy covering [start, end) of this VMA (split_vma). */
  slice(start: number, end: number): Vma {
    const v = new Vma(start, end, this.flags, this.protLo, this.protHi, this.anonymous, this.file, this.file ? this.pageIndex(start) : 0);
    v.shmem = this.shmem;
    return v;
  }
}

export class MmStruct {
  readonly id: number;
  /** Frame of the top-level table (pgd; the PDPT on PAE). */
  readonly pgd: number;
  /** mm_cpumask: a superset of the CPUs that may hold TLB entries for this mm. */
  readonly cpumask: Uint8Array;
  /** mm->context.tlb_gen */
  tlbGen = 0;
  /** mm->context.ctx_id */
  readonly ctxId: number;
  /** mm->tlb_flush_pending (inc_tlb_flush_pending / dec_tlb_flush_pending) */
  tlbFlushPending = 0;
  /** VMAs sorted by start, non-overlapping. */
  readonly vmas: Vma[] = [];
  /** Next address for top-down get_unmapped_area. */
  mmapBase: number;
  /** rss in pages. */
  rss = 0;
  readonly isInitMm: boolean;
  /** mm->notifier_subscriptions: registered mmu_notifiers (mm_has_notifiers when non-empty). */
  readonly notifiers: MmuNotifier[] = [];
  /** range_start calls not yet matched by a range_end (a notifier range is open). */
  notifierRanges = 0;
  /** For mms with notifiers: when each page (by VA page number) last got a new page under a notifier range. */
  readonly replacedAt = new Map<number, { readonly time: number; readonly site: string }>();

  constructor(id: number, pgd: number, ncpus: number, mmapBase: number, isInitMm = false) {
    this.id = id;
    this.pgd = pgd;
    this.cpumask = new Uint8Array(ncpus);
    this.ctxId = id;
    this.mmapBase = mmapBase;
    this.isInitMm = isInitMm;
  }

  findVma(va: number): Vma | undefined {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = v[mid]!;
      if (va < m.start) hi = mid - 1;
      else if (va >= m.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  insertVma(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }

  cpumaskWeight(): number {
    let n = 0;
    for (let i = 0; i < this.cpumask.length; i++) n += this.cpumask[i]!;
    return n;
  }
}
