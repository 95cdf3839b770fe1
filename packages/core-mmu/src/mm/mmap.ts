/**
 * Address-space layout, after mm/mmap.c (v5.17): mmap of anonymous, file and shmem
 * regions (get_unmapped_area top-down, vma_set_page_prot), munmap (split, detach,
 * unmap_region with one mmu_gather and free_pgtables), exit_mmap, and the VMA
 * splitting mprotect shares. Each function here is the body of the system call: the
 * entry and exit around it are kernel/entry.ts's.
 */
import type { Cpu } from "../hw/cpu.js";
import { _PAGE_RW } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { PageProt } from "../plugin/tokens.js";
import type { KGen } from "../sim/process.js";
import { SegmentationFault, type PageCache } from "./filemap.js";
import type { Memory } from "./memory.js";
import { Vma, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, type FileMapping, type MmStruct } from "./mm-types.js";
import type { MmuGatherOps } from "./mmu-gather.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** calc_vm_prot_bits: PROT_* → VM_READ | VM_WRITE | VM_EXEC. */
export function protToVmFlags(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

export class Mmap {
  constructor(
    private readonly k: KernelCore,
    private readonly memory: Memory,
    private readonly gather: MmuGatherOps,
    private readonly pageCache: PageCache,
  ) {}

  /**
   * vma_set_page_prot: vm_get_page_prot, minus RW for a shared file mapping that wants
   * write notification (dirty accounting: the first write faults, wp_page_shared).
   */
  vmaPageProt(flags: number, file: boolean): PageProt {
    const p = this.k.policies.archMm.vmGetPageProt(flags);
    return file && (flags & VM_SHARED) !== 0 ? { lo: p.lo & ~_PAGE_RW, hi: p.hi } : p;
  }

  /** mmap(NULL, len, prot, MAP_PRIVATE|MAP_ANONYMOUS): returns the address. */
  *mmap(cpu: Cpu, len: number, prot: number): KGen<number> {
    return yield* this.withWriteLock(cpu, this.doMmap(cpu, len, prot));
  }

  private *doMmap(cpu: Cpu, len: number, prot: number): KGen<number> {
    const mm = this.mustMm(cpu);
    this.k.counters.values[C.mmap_calls]!++;
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot);
    const p = this.k.policies.archMm.vmGetPageProt(flags);
    mm.insertVma(new Vma(start, start + size, flags, p.lo, p.hi, true));
    yield this.k.machine.costs.mmapRegion;
    return start;
  }

  /** mmap(NULL, len, prot, shared ? MAP_SHARED : MAP_PRIVATE, fd, offset). */
  *mmapFile(cpu: Cpu, file: FileMapping, offset: number, len: number, prot: number, shared: boolean): KGen<number> {
    return yield* this.withWriteLock(cpu, this.doMmapFile(cpu, file, offset, len, prot, shared));
  }

  private *doMmapFile(cpu: Cpu, file: FileMapping, offset: number, len: number, prot: number, shared: boolean): KGen<number> {
    const mm = this.mustMm(cpu);
    this.k.counters.values[C.mmap_calls]!++;
    if (offset % 4096 !== 0) throw new SegmentationFault(`mmap offset ${offset} is not page aligned`);
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot) | (shared ? VM_SHARED : 0);
    const p = this.vmaPageProt(flags, true);
    mm.insertVma(new Vma(start, start + size, flags, p.lo, p.hi, false, file, offset / 4096));
    yield this.k.machine.costs.mmapRegion;
    return start;
  }

  /**
   * mmap(NULL, len, prot, MAP_SHARED|MAP_ANONYMOUS): shmem, a page-cache-backed
   * object with no dirty accounting, so a writable mapping maps its pages writable.
   */
  *mmapShared(cpu: Cpu, len: number, prot: number): KGen<number> {
    return yield* this.withWriteLock(cpu, this.doMmapShared(cpu, len, prot));
  }

  private *doMmapShared(cpu: Cpu, len: number, prot: number): KGen<number> {
    const mm = this.mustMm(cpu);
    this.k.counters.values[C.mmap_calls]!++;
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot) | VM_SHARED;
    const p = this.vmaPageProt(flags, false);
    const vma = new Vma(start, start + size, flags, p.lo, p.hi, false, this.pageCache.createFile(size), 0);
    vma.shmem = true;
    mm.insertVma(vma);
    yield this.k.machine.costs.mmapRegion;
    return start;
  }

  /**
   * munmap(addr, len): __vm_munmap(start, len, true) (v5.17) under mmap_write_lock:
   * detach the VMAs, downgrade the lock to a read lock (mmap_write_downgrade), then
   * unmap_region with one mmu_gather, and mmap_read_unlock. (__do_munmap keeps the
   * write lock next to a VM_GROWSDOWN/VM_GROWSUP neighbour; the model maps no stack VMAs.)
   */
  *munmap(cpu: Cpu, addr: number, len: number): KGen {
    const mm = this.mustMm(cpu);
    const lock = mm.mmapLock;
    yield* lock.downWrite(cpu);
    let downgraded = false;
    try {
      this.k.counters.values[C.munmap_calls]!++;
      yield* this.doMunmap(cpu, mm, addr, addr + Math.ceil(len / 4096) * 4096, "tlb_finish_mmu (munmap)", () => {
        lock.downgradeWrite(cpu);
        downgraded = true;
      });
    } finally {
      if (downgraded) lock.upRead(cpu);
      else lock.upWrite(cpu);
    }
  }

  /**
   * do_munmap of [start, end), under mmap_write_lock: split and detach the VMAs, then
   * unmap_region (zap with one mmu_gather, free_pgtables between the neighbours that
   * remain, tlb_finish_mmu). `site` names the gather's free site in hazard reports.
   * munmap and mremap call it.
   */
  *doMunmap(cpu: Cpu, mm: MmStruct, start: number, end: number, site: string, downgrade: (() => void) | null = null): KGen {
    const k = this.k;
    yield k.machine.costs.unmapBase;
    const vmas = this.splitAndDetach(mm, start, end);
    if (vmas.length === 0) return;
    // __do_munmap(…, downgrade): the VMAs are detached; the zap needs only the read lock.
    if (downgrade !== null) downgrade();
    const tlb = this.gather.tlbGatherMmu(mm, site);
    mm.unlinking.push(...vmas);
    // unmap_vmas: one notifier range around the zap (v4.15).
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, start, end);
    if (ns > 0) yield ns;
    for (const v of vmas) yield* this.memory.zapPageRange(cpu, tlb, v, v.start, v.end);
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, start, end, k.policies.secondaryTlbNotify.onlyEnd("zap_page_range"));
    if (ne > 0) yield ne;
    // free_pgtables between the neighbours that remain.
    const prev = [...mm.vmas].reverse().find((v) => v.end <= start);
    const next = mm.vmas.find((v) => v.start >= end);
    k.pgtables.freePgdRange(mm, start, end, prev ? prev.end : 0, next ? next.start : k.machine.format.kernelStart, (pfn) =>
      tlb.removeTable(pfn, start, end - start),
    );
    // free_pgtables → unlink_file_vma: out of the file's i_mmap.
    for (const v of vmas) mm.unlinking.splice(mm.unlinking.indexOf(v), 1);
    yield* this.gather.tlbFinishMmu(cpu, tlb);
  }

  /**
   * exit_mmap: unmap every VMA with a full-mm gather, free the page tables, flush.
   * Called after exit_mm made the CPU lazy on `mm`.
   */
  *exitMmap(cpu: Cpu, mm: MmStruct): KGen {
    const tlb = this.gather.tlbGatherMmu(mm, "tlb_finish_mmu (exit_mmap)", true);
    const vmas = mm.vmas.splice(0, mm.vmas.length);
    mm.unlinking.push(...vmas);
    for (const v of vmas) yield* this.memory.zapPageRange(cpu, tlb, v, v.start, v.end);
    if (vmas.length > 0) {
      this.k.pgtables.freePgdRange(mm, vmas[0]!.start, vmas[vmas.length - 1]!.end, 0, this.k.machine.format.kernelStart, (pfn) => tlb.removeTable(pfn, 0, 0));
    }
    mm.unlinking.length = 0;
    yield* this.gather.tlbFinishMmu(cpu, tlb);
  }

  /** `body` under mmap_write_lock(current->mm). */
  *withWriteLock<T>(cpu: Cpu, body: KGen<T>): KGen<T> {
    const lock = this.mustMm(cpu).mmapLock;
    yield* lock.downWrite(cpu);
    try {
      return yield* body;
    } finally {
      lock.upWrite(cpu);
    }
  }

  /** `body` under mmap_read_lock(current->mm). */
  *withReadLock<T>(cpu: Cpu, body: KGen<T>): KGen<T> {
    const lock = this.mustMm(cpu).mmapLock;
    yield* lock.downRead(cpu);
    try {
      return yield* body;
    } finally {
      lock.upRead(cpu);
    }
  }

  /** current->mm of a task making a system call. */
  mustMm(cpu: Cpu): MmStruct {
    const mm = this.k.currentMm(cpu);
    if (mm === null) throw new SegmentationFault(`CPU ${cpu.id}: system call with no mm`);
    return mm;
  }

  /** Top-down get_unmapped_area below mm.mmapBase. */
  getUnmappedArea(mm: MmStruct, size: number): number {
    let top = mm.mmapBase;
    for (let i = mm.vmas.length - 1; i >= 0; i--) {
      const v = mm.vmas[i]!;
      if (v.start >= top) continue;
      if (v.end <= top - size) break;
      top = v.start;
    }
    return top - size;
  }

  /** split_vma at start and end so that [start, end) is covered by whole VMAs; returns those. */
  split(mm: MmStruct, start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = mm.findVmaIndex(start); i < mm.vmas.length; i++) {
      const v = mm.vmas[i]!;
      if (v.start >= end) break;
      if (v.start < start) {
        const left = v.slice(v.start, start);
        if (v.file) v.pgoff = v.pageIndex(start);
        v.start = start;
        mm.vmas.splice(i, 0, left);
        i++;
      }
      if (v.end > end) {
        const right = v.slice(end, v.end);
        v.end = end;
        mm.vmas.splice(i + 1, 0, right);
      }
      out.push(v);
    }
    return out;
  }

  /** detach_vmas_to_be_unmapped, after the split. */
  private splitAndDetach(mm: MmStruct, start: number, end: number): Vma[] {
    const vmas = this.split(mm, start, end);
    for (const v of vmas) mm.vmas.splice(mm.vmas.indexOf(v), 1);
    return vmas;
  }
}
