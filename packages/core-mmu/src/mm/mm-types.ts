/**
 * The structs of the modelled mm, reduced to what TLB-flush policy needs: mm_struct
 * and vm_area_struct (include/linux/mm_types.h, v5.17, and arch/x86/include/asm/mmu.h),
 * address_space (the page cache of one file), struct mmu_gather
 * (include/asm-generic/tlb.h), struct tlbflush_unmap_batch (v4.3), struct
 * mmu_notifier and its ops (include/linux/mmu_notifier.h, v4.15) and struct
 * vmap_area (include/linux/vmalloc.h). Functions live in the mm/*.c-named files.
 */
import type { Cpu } from "../hw/cpu.js";
import { RwSemaphore, type RwsemEnv } from "../kernel/rwsem.js";

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
  /** mm->context.ctx_id: unique for the machine's lifetime, never 0 (init_mm's is 1, as last_mm_ctx_id starts at 1). */
  readonly ctxId: number;
  /** mm->tlb_flush_batched (v4.13): reclaim cleared a PTE of this mm and deferred its flush. */
  tlbFlushBatched = false;
  /** mm->tlb_flush_pending (inc_tlb_flush_pending / dec_tlb_flush_pending) */
  tlbFlushPending = 0;
  /** VMAs sorted by start, non-overlapping. */
  readonly vmas: Vma[] = [];
  /**
   * VMAs an unmap has detached from `vmas` but not yet unlinked from their file's i_mmap
   * (unlink_file_vma runs in free_pgtables, after the zap): rmap walks still visit them.
   */
  readonly unlinking: Vma[] = [];
  /** Next address for top-down get_unmapped_area. */
  mmapBase: number;
  /** rss in pages. */
  rss = 0;
  readonly isInitMm: boolean;
  /** mm->notifier_subscriptions: registered mmu_notifiers (mm_has_notifiers when non-empty). */
  readonly notifiers: MmuNotifier[] = [];
  /** range_start calls not yet matched by a range_end (a notifier range is open). */
  notifierRanges = 0;

  /** mmap_lock: taken for writing by mmap, munmap, mprotect, mremap and fork; for reading by faults and madvise. */
  readonly mmapLock: RwSemaphore;

  constructor(id: number, pgd: number, ncpus: number, mmapBase: number, clock: { readonly now: number }, isInitMm = false, rwsemEnv: RwsemEnv | null = null) {
    this.id = id;
    this.mmapLock = new RwSemaphore("mmap_lock", clock, rwsemEnv);
    this.pgd = pgd;
    this.cpumask = new Uint8Array(ncpus);
    this.ctxId = id + 1;
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

  /**
   * Index in `vmas` of the first VMA that ends above `va` (find_vma's answer), or
   * `vmas.length`. O(log VMAs): a walk over a range starts there instead of at the first
   * VMA, so that a call costs the same however many VMAs the process has (the kernel's
   * maple tree, v6.1, or rbtree before it).
   */
  findVmaIndex(va: number): number {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v[mid]!.end <= va) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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

/** Pages gathered before tlb_flush_mmu is forced (MAX_GATHER_BATCH × MAX_GATHER_BATCH_COUNT, v5.17 on 4 KiB pages). */
export const MAX_GATHER_PAGES = 510 * Math.floor(10000 / 510);

/**
 * struct mmu_gather (include/asm-generic/tlb.h, v5.17): the range a zap or a
 * protection change cleared, what it cleared, and the pages and page-table pages to
 * free once the TLBs are flushed. mm/mmu-gather.ts drives its life cycle.
 */
export class MmuGather {
  readonly mm: MmStruct;
  /** The kernel path that opened the gather (names the free site in hazard reports). */
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
  /** Page-cache pages zapped: the gather holds a reference to each until it has flushed (put_page then). */
  readonly cachePages: number[] = [];

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

  /** __tlb_remove_page of a page-cache page: its reference is dropped after the flush. True when the batch is full. */
  removeCachePage(pfn: number): boolean {
    this.cachePages.push(pfn);
    return this.pages.length + this.cachePages.length >= MAX_GATHER_PAGES;
  }

  /** __tlb_remove_page: returns true when the batch is full and must be flushed now. */
  removePage(pfn: number): boolean {
    this.pages.push(pfn);
    return this.pages.length + this.cachePages.length >= MAX_GATHER_PAGES;
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

/** struct tlbflush_unmap_batch (v4.3): the per-task batch of deferred unmap flushes. */
export interface TlbUbc {
  readonly cpumask: Uint8Array;
  flushRequired: boolean;
  /** d950c9477d51: a writable (dirty) PTE is pending. */
  writable: boolean;
}

export function newTlbUbc(ncpus: number): TlbUbc {
  return { cpumask: new Uint8Array(ncpus), flushRequired: false, writable: false };
}

/** One struct mmu_notifier with its ops; each callback returns the cycles it took on `cpu`. */
export interface MmuNotifier {
  readonly name: string;
  invalidateRangeStart?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
  invalidateRangeEnd?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
  /** For TLBs that walk the CPU page tables (IOMMU ATS/PASID). Runs under the PTL; must not sleep. */
  invalidateRange?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
}

/**
 * The call sites of v4.15 that bracket a page-table change with range_start/range_end.
 * The first seven are the sites seed 004 converts to range_only_end; of those the model
 * runs wp_page_copy, do_huge_pmd_wp_page, do_huge_pmd_wp_page_fallback and
 * __split_huge_pmd. The others keep range_end in v4.15: copy_page_range (fork),
 * zap_page_range, move_page_tables (mremap), try_to_unmap_one (reclaim) and
 * change_pmd_range (mprotect).
 */
export const NOTIFIER_SITES = [
  "wp_page_copy",
  "do_huge_pmd_wp_page",
  "do_huge_pmd_wp_page_fallback",
  "__split_huge_pmd",
  "__split_huge_pud",
  "migrate_misplaced_transhuge_page",
  "migrate_vma_pages",
  "copy_page_range",
  "zap_page_range",
  "move_page_tables",
  "try_to_unmap_one",
  "change_pmd_range",
] as const;
export type NotifierSite = (typeof NOTIFIER_SITES)[number];

/** struct vmap_area with its vm_struct: one vmalloc or ioremap allocation. */
export interface VmapArea {
  /** va_start; va_end includes the guard page. */
  readonly start: number;
  readonly end: number;
  /** Backing frames (vmalloc) or none (ioremap of device memory). */
  readonly pages: readonly number[];
  readonly kind: "vmalloc" | "ioremap";
  /** ioremap: 2 MiB PMD leaves installed. */
  readonly huge: boolean;
}
