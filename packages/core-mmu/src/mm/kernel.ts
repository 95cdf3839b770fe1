/**
 * The modelled kernel: init_mm, the zero page, processes, the system calls the
 * workloads use (mmap, munmap, madvise(MADV_DONTNEED), mprotect), mmu_gather's
 * gather/finish, and the hooks the executor calls (page faults, task exit).
 * Mirrors v5.17 mm/ unless a file says otherwise.
 */
import type { Cpu, KGen, TaskGen } from "../hw/cpu.js";
import { CpuMode } from "../hw/cpu.js";
import type { KernelHooks, Machine } from "../hw/machine.js";
import { vaToCanonicalString } from "../hw/paging-format.js";
import { _PAGE_ACCESSED, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, _PAGE_USER, ptePfn } from "../hw/pte.js";
import { C } from "../oracle/counters.js";
import type { ArchTlb, ContextTrackingEntry, KernelRangeFlush, MmuGatherFlush, ProtectionChangeFlush, SecondaryTlbNotify, UnmapFlush, VmallocSync } from "../plugin/tokens.js";
import { mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";
import { LRU_INACTIVE_FILE } from "./rmap.js";

/** PAGEVEC_SIZE (v4.2). */
export const PAGEVEC_SIZE = 14;
import { Reclaim } from "./vmscan.js";
import { SpinLock } from "../kernel/spinlock.js";
import { Vmalloc, type VmapArea } from "./vmalloc.js";
import type { TaskStruct } from "./fork.js";
import { handleMmFault, syscall, zapPageRange, SegmentationFault } from "./memory.js";
import { FileMapping, MmStruct, Vma, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE } from "./mm-types.js";
import { MmuGather, type GatherKernel } from "./mmu-gather.js";
import { PageTables } from "./pgtable.js";

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;
export const MADV_DONTNEED = 4;

export interface KernelPolicies {
  readonly arch: ArchTlb;
  readonly mmuGatherFlush: MmuGatherFlush;
  readonly protectionChangeFlush: ProtectionChangeFlush;
  readonly vmallocSync: VmallocSync;
  readonly unmapFlush: UnmapFlush;
  readonly kernelRangeFlush: KernelRangeFlush;
  readonly ctEntry: ContextTrackingEntry;
  readonly secondaryTlbNotify: SecondaryTlbNotify;
}

/** Context-tracking work bits (kernel/context_tracking.c, seed 002's series, patch 15/19). */
export const CONTEXT_WORK_TLBI = 1;

/**
 * vm_page_prot of a VMA: vm_get_page_prot, minus RW for a shared file mapping, which
 * wants write notification (dirty accounting: the first write faults, wp_page_shared).
 */
export function vmaPageProt(flags: number, file: boolean): { lo: number; hi: number } {
  const p = vmGetPageProt(flags);
  return file && (flags & VM_SHARED) !== 0 ? { lo: p.lo & ~_PAGE_RW, hi: p.hi } : p;
}

/** vm_get_page_prot (x86 protection_map, v5.17): private writable mappings get no RW (COW). */
export function vmGetPageProt(flags: number): { lo: number; hi: number } {
  if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return { lo: _PAGE_PROTNONE | _PAGE_ACCESSED, hi: 0 };
  let lo = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
  if ((flags & VM_SHARED) !== 0 && (flags & VM_WRITE) !== 0) lo |= _PAGE_RW;
  const hi = (flags & VM_EXEC) !== 0 ? 0 : _PAGE_NX_HI;
  return { lo, hi };
}

export class Kernel implements KernelHooks, GatherKernel {
  readonly m: Machine;
  readonly pgtables: PageTables;
  readonly initMm: MmStruct;
  readonly zeroPfn: number;
  /** Live process mms, in creation order. */
  readonly mms = new Set<MmStruct>();
  readonly files: FileMapping[] = [];
  /** pgd_list: every process pgd (init_mm's swapper_pg_dir is the reference, not on it). */
  readonly pgdList = new Set<MmStruct>();
  /** pgd_lock: a global spinlock (arch/x86/mm/pgtable.c). */
  readonly pgdLock: SpinLock;
  readonly vmalloc: Vmalloc;
  readonly reclaim: Reclaim;
  readonly kernelRangeFlush: KernelRangeFlush;
  private readonly ctEntry: ContextTrackingEntry;
  /** nohz_full= CPUs: context tracking runs on them. */
  readonly nohzFull: Uint8Array;
  /** The work bits of each CPU's context-tracking state word (ct->state). */
  readonly ctWork: Uint8Array;
  /** The file and index of each page-cache frame (page->mapping, page->index). */
  private readonly cacheFile: Int32Array;
  private readonly cacheIndex: Int32Array;
  /** Per-CPU lru_add_pvec. */
  private readonly lruAddPagevec: number[][];
  /** cached_stacks[NR_CACHED_STACKS] per CPU (kernel/fork.c). */
  readonly cachedStacks: (VmapArea | null)[][];
  /** The forked task running on each CPU (null: a workload's initial task, no modelled stack). */
  private readonly current: (TaskStruct | null)[];
  private nextMmId = 1;
  readonly arch: ArchTlb;
  private readonly gatherFlush: MmuGatherFlush;
  readonly protectionFlush: ProtectionChangeFlush;
  /** The SecondaryTlbNotify point: *_clear_flush_notify and range_end vs range_only_end per call site. */
  readonly notify: SecondaryTlbNotify;
  /** PTE slots (word offsets) whose page-table lock a path holds across a flush (wp_page_copy). */
  readonly ptlHeld = new Set<number>();

  constructor(m: Machine, policies: KernelPolicies) {
    this.m = m;
    this.arch = policies.arch;
    this.gatherFlush = policies.mmuGatherFlush;
    this.protectionFlush = policies.protectionChangeFlush;
    this.pgtables = new PageTables(m);
    this.pgdLock = new SpinLock("pgd_lock", m);
    this.kernelRangeFlush = policies.kernelRangeFlush;
    this.ctEntry = policies.ctEntry;
    this.notify = policies.secondaryTlbNotify;
    this.nohzFull = new Uint8Array(m.cpus.length);
    this.ctWork = new Uint8Array(m.cpus.length);
    this.vmalloc = new Vmalloc(this, policies.vmallocSync);
    this.reclaim = new Reclaim(this, policies.unmapFlush);
    this.cacheFile = new Int32Array(m.mem.nframes).fill(-1);
    this.cacheIndex = new Int32Array(m.mem.nframes);
    this.lruAddPagevec = m.cpus.map(() => []);
    this.cachedStacks = m.cpus.map(() => [null, null]);
    this.current = m.cpus.map(() => null);
    this.zeroPfn = m.mem.allocKernel();
    const initPgd = this.pgtables.pgdAlloc(null);
    this.initMm = new MmStruct(0, initPgd, m.cpus.length, 0, true);
    m.initMm = this.initMm;
    for (const cpu of m.cpus) {
      m.loadCr3(cpu, initPgd);
      cpu.loadedMm = this.initMm;
    }

    m.kernel = this;
  }

  fmtVa(va: number): string {
    return vaToCanonicalString(this.m.format, va);
  }

  /** fork/exec of a new process: mm_alloc + pgd_alloc. */
  createMm(): MmStruct {
    const pgd = this.pgtables.pgdAlloc(this.initMm.pgd);
    const base = this.m.format.name === "x86-32-pae" ? 0xb0000000 : 0x7f0000000000;
    const mm = new MmStruct(this.nextMmId++, pgd, this.m.cpus.length, base);
    this.mms.add(mm);
    this.pgdList.add(mm);
    return mm;
  }

  /** pgd_list_del */
  pgdListDel(mm: MmStruct): void {
    this.pgdList.delete(mm);
    this.mms.delete(mm);
  }

  setCurrent(cpu: Cpu, task: TaskStruct | null): void {
    this.current[cpu.id] = task;
    if (task !== null) cpu.currentMm = task.mm;
  }

  /** The kernel stack of the task running on `cpu`, if it has one. */
  currentStack(cpu: Cpu): VmapArea | undefined {
    return this.current[cpu.id]?.stack;
  }

  /**
   * A kernel-mode access to kernel memory, with the vmalloc fault path: a miss in
   * the process page table that init_mm can fill is copied in (vmalloc_fault) and
   * retried; anything else is a kernel oops (a model error). Returns its cycles;
   * nothing here waits, so it needs no generator.
   */
  kernelAccessCost(cpu: Cpu, va: number, write: boolean): number {
    let cost = 0;
    for (let tries = 0; tries < 4; tries++) {
      const c = this.m.access(cpu, va, write, false);
      if (c >= 0) return cost + c;
      this.m.counters.values[C.vmalloc_faults]!++;
      cost += this.m.costs.pageFaultHw + this.m.costs.faultHandler;
      if (!this.vmallocFault(cpu, va)) break;
    }
    throw new Error(`kernel oops: CPU ${cpu.id} cannot access ${this.fmtVa(va)} (not mapped in init_mm)`);
  }

  /** kernelAccessCost as a kernel path step. */
  *kernelAccess(cpu: Cpu, va: number, write: boolean): KGen {
    yield this.kernelAccessCost(cpu, va, write);
  }

  /** Kernel accesses to every page of [start, start + len). */
  *kernelAccessRange(cpu: Cpu, start: number, len: number, write: boolean): KGen {
    let cost = 0;
    for (let a = start; a < start + len; a += 4096) cost += this.kernelAccessCost(cpu, a, write);
    yield cost;
  }

  /**
   * vmalloc_fault (arch/x86/mm/fault.c, v5.4): copy the missing entry from init_mm
   * into the page table the CPU uses: x86-64 at the top level (set_p4d), PAE at the
   * PMD level (vmalloc_sync_one). Returns false when init_mm has no mapping either.
   */
  vmallocFault(cpu: Cpu, va: number): boolean {
    const m = this.m;
    if (va < this.vmalloc.start || va >= this.vmalloc.end) return false;
    const level = m.format.topLoadedAtCr3 ? m.format.levels.length - 2 : 0;
    const w = m.mem.words;
    const ref = this.pgtables.entryOffsetAt(this.initMm.pgd, va, level);
    const own = this.pgtables.entryOffsetAt(cpu.cr3, va, level);
    if (ref < 0 || own < 0 || (w[ref]! & _PAGE_PRESENT) === 0) return false;
    // A present entry is never fixed lazily: that is why stale present entries are hazards.
    if ((w[own]! & _PAGE_PRESENT) !== 0) return false;
    w[own] = w[ref]!;
    w[own + 1] = w[ref + 1]!;
    return true;
  }

  /**
   * Oracle, class 5: before a vmalloc range is handed out again, every process page
   * table must agree with init_mm at the level it keeps private copies of (PAE:
   * the kernel PMDs with !SHARED_KERNEL_PMD; x86-64: the top level). A present entry
   * that init_mm no longer has is a stale kernel PMD (KERNEL-FACTS §3.4).
   */
  checkKernelPmdsAgree(start: number, end: number, site: string): void {
    const m = this.m;
    const lv = m.format.levels;
    const level = m.format.topLoadedAtCr3 ? lv.length - 2 : 0;
    const span = 2 ** lv[level]!.shift;
    const w = m.mem.words;
    for (const mm of this.pgdList) {
      for (let a = start - (start % span); a < end; a += span) {
        const own = this.pgtables.entryOffsetAt(mm.pgd, a, level);
        const ref = this.pgtables.entryOffsetAt(this.initMm.pgd, a, level);
        if (own < 0 || (w[own]! & _PAGE_PRESENT) === 0) continue;
        if (ref >= 0 && w[ref] === w[own] && w[ref + 1] === w[own + 1]) continue;
        const pfn = ptePfn(w[own]! & ~0x1fff, w[own + 1]!);
        m.oracle.report(5, -1, a, pfn, m.now, `vmalloc_sync_unmappings() before ${site} freed the range for reuse`,
          `the pgd of mm ${mm.id} keeps a present kernel ${level === 0 ? "PGD" : "PMD"} entry for ${this.fmtVa(a)} (pfn ${pfn}) that init_mm no longer has`);
      }
    }
  }

  /** Puts a task of `mm` on `cpu` (context switch from idle) and starts it. */
  startTask(cpu: Cpu, mm: MmStruct, task: TaskGen): void {
    cpu.currentMm = mm;
    this.m.counters.values[C.context_switches]!++;
    this.m.charge(cpu, this.arch.switchMmIrqsOff(cpu, mm));
    this.m.startTask(cpu, task);
  }

  // ---- KernelHooks ----------------------------------------------------------

  handleMmFault(cpu: Cpu, va: number, write: boolean): number | KGen {
    return handleMmFault(this, cpu, va, write);
  }

  /** Saved current->mm of the task a kernel thread interrupted, per CPU. */
  private readonly kthreadSavedMm: (MmStruct | null)[] = [];

  kthreadEnter(cpu: Cpu): number {
    this.m.counters.values[C.context_switches]!++;
    this.kthreadSavedMm[cpu.id] = cpu.currentMm;
    cpu.currentMm = null;
    this.arch.enterLazyTlb(cpu);
    return this.m.costs.switchMm;
  }

  kthreadExit(cpu: Cpu): number {
    const mm = this.kthreadSavedMm[cpu.id] ?? null;
    cpu.currentMm = mm;
    if (mm === null) return 0;
    this.m.counters.values[C.context_switches]!++;
    return this.arch.switchMmIrqsOff(cpu, mm);
  }

  taskExit(cpu: Cpu): void {
    cpu.currentMm = null;
    cpu.mode = CpuMode.IDLE;
    this.arch.enterLazyTlb(cpu);
  }

  // ---- flush helpers ----------------------------------------------------------

  /** flush_tlb_page(vma, addr): a one-page flush_tlb_mm_range without freed tables. */
  flushTlbPage(cpu: Cpu, mm: MmStruct, addr: number): KGen {
    return this.arch.flushTlbMmRange(cpu, mm, addr, addr + 4096, 12, false);
  }

  // ---- mmu_gather -------------------------------------------------------------

  /** A notifier call site installed a new page at `addr` of `mm` (for the class-6 ordering report). */
  notePageReplaced(mm: MmStruct, addr: number, site: string): void {
    mm.replacedAt.set(Math.floor(addr / 4096), { time: this.m.now, site });
  }

  /** tlb_gather_mmu: opens a gather and marks a flush pending on the mm. */
  tlbGatherMmu(mm: MmStruct, site: string): MmuGather {
    mm.tlbFlushPending++;
    return new MmuGather(mm, site);
  }

  /** tlb_flush_mmu through the MmuGatherFlush extension point. */
  tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
    return this.gatherFlush.tlbFlushMmu(cpu, tlb, this);
  }

  /** tlb_finish_mmu: a nested flush on the same mm forces a full flush (2017 fix). */
  *tlbFinishMmu(cpu: Cpu, tlb: MmuGather): KGen {
    if (tlb.mm.tlbFlushPending > 1) {
      tlb.fullmm = true;
      tlb.resetRange();
      tlb.freedTables = true;
    }
    yield* this.tlbFlushMmu(cpu, tlb);
    tlb.mm.tlbFlushPending--;
  }

  /** x86 tlb_flush(tlb) (arch/x86/include/asm/tlb.h). */
  *tlbFlush(cpu: Cpu, tlb: MmuGather): KGen {
    if (!tlb.needsFlush) return;
    const full = tlb.fullmm || tlb.needFlushAll;
    yield* this.arch.flushTlbMmRange(cpu, tlb.mm, full ? 0 : tlb.start, full ? Infinity : tlb.end, tlb.unmapShift(), tlb.freedTables);
    // tlb_flush_mmu_tlbonly (v4.15): secondary TLBs are told right after the CPU flush,
    // before tlb_flush_mmu_free frees the gathered pages (KERNEL-FACTS §7.2 case A).
    if (tlb.mm.notifiers.length > 0) {
      const c = mmuNotifierInvalidateRange(this, cpu, tlb.mm, full ? 0 : tlb.start, full ? -1 : tlb.end);
      if (c > 0) yield c;
    }
    tlb.resetRange();
  }

  /** tlb_flush_mmu_free: free the gathered pages and page-table pages. */
  *tlbFlushMmuFree(_cpu: Cpu, tlb: MmuGather): KGen {
    const m = this.m;
    let cost = 0;
    for (const pfn of tlb.pages) {
      m.mem.free(pfn, tlb.site, m.now);
      cost += m.costs.freePage;
    }
    m.counters.values[C.pages_freed]! += tlb.pages.length;
    for (const pfn of tlb.tables) {
      m.mem.free(pfn, `${tlb.site} (page table)`, m.now);
      cost += m.costs.freePage;
    }
    m.counters.values[C.pgtables_freed]! += tlb.tables.length;
    tlb.pages.length = 0;
    tlb.tables.length = 0;
    if (cost > 0) yield cost;
  }

  // ---- system calls -----------------------------------------------------------

  /**
   * Syscall entry: kernel mode, the context-tracking kernel entry (deferred work
   * first), then a touch of the task's (vmalloc'd) kernel stack.
   */
  syscallEnter(cpu: Cpu): number {
    cpu.mode = CpuMode.KERNEL;
    const work = this.kernelEntry(cpu);
    const stack = this.currentStack(cpu);
    return work + this.m.costs.syscall + (stack !== undefined ? this.kernelAccessCost(cpu, stack.end - 4096 - 8, true) : 0);
  }

  /** A kernel entry on a nohz_full CPU (through the ContextTrackingEntry point). Returns the cycles. */
  kernelEntry(cpu: Cpu): number {
    return this.nohzFull[cpu.id] === 0 ? 0 : this.ctEntry.kernelEntry(cpu);
  }

  /**
   * ct_kernel_enter's work: atomically take the state word's work bits and run them.
   * CONTEXT_WORK_TLBI is __flush_tlb_all (a full flush, global entries included).
   */
  runCtWork(cpu: Cpu): number {
    if (this.nohzFull[cpu.id] === 0) return 0;
    const work = this.ctWork[cpu.id]!;
    if (work === 0) return 0;
    this.ctWork[cpu.id] = 0;
    let cost = 0;
    if ((work & CONTEXT_WORK_TLBI) !== 0) {
      this.m.counters.values[C.deferred_flushes]!++;
      cost += this.m.flushTlbGlobal(cpu);
    }
    return cost;
  }

  isolated(cpu: Cpu): boolean {
    return this.nohzFull[cpu.id] === 1;
  }

  /**
   * ct_set_cpu_work(cpu, work), run by the sender: a compare-and-swap loop that ORs
   * the work into the target's state word only while the target is outside the
   * kernel (user, guest or idle). In the model the check and the update are one
   * step, as the cmpxchg makes them. Returns true if the work was parked.
   */
  ctSetCpuWork(target: Cpu, work: number): boolean {
    if (this.nohzFull[target.id] === 0 || target.mode === CpuMode.KERNEL) return false;
    this.ctWork[target.id]! |= work;
    return true;
  }

  /** mmap(NULL, len, prot, MAP_PRIVATE|MAP_ANONYMOUS): returns the address. */
  *sysMmap(cpu: Cpu, len: number, prot: number): KGen<number> {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    const mm = this.mustMm(cpu);
    this.m.counters.values[C.mmap_calls]!++;
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot);
    const p = vmGetPageProt(flags);
    mm.insertVma(new Vma(start, start + size, flags, p.lo, p.hi, true));
    yield this.m.costs.mmapRegion;
    cpu.mode = modeBefore;
    return start;
  }

  /** A sparse file of `bytes` (rounded up to pages), empty page cache. */
  createFile(bytes: number): FileMapping {
    const f = new FileMapping(this.files.length + 1, Math.ceil(bytes / 4096));
    this.files.push(f);
    return f;
  }

  /**
   * add_to_page_cache_lru: the frame caches page `index` of `file` and goes to the
   * inactive file list through this CPU's LRU-add pagevec (lru_cache_add, v4.2): the
   * pages reach the list PAGEVEC_SIZE at a time, so the list holds runs of pages
   * faulted on one CPU.
   */
  addToPageCacheLru(cpu: Cpu, file: FileMapping, index: number, pfn: number): void {
    file.pages[index] = pfn;
    file.nrpages++;
    this.cacheFile[pfn] = file.id;
    this.cacheIndex[pfn] = index;
    const pv = this.lruAddPagevec[cpu.id]!;
    pv.push(pfn);
    if (pv.length >= PAGEVEC_SIZE) this.lruAddDrain(cpu);
  }

  /** Pages waiting in the CPUs' LRU-add pagevecs. */
  pendingLruAdds(): number {
    let n = 0;
    for (const pv of this.lruAddPagevec) n += pv.length;
    return n;
  }

  /** lru_add_drain: this CPU's pending pages onto their nodes' inactive lists. */
  lruAddDrain(cpu: Cpu): void {
    const pv = this.lruAddPagevec[cpu.id]!;
    for (const pfn of pv) this.reclaim.lru.add(pfn, this.m.mem.nodeOf(pfn), LRU_INACTIVE_FILE);
    pv.length = 0;
  }

  /** __remove_mapping / __delete_from_page_cache (the frame is freed by the caller). */
  removeFromPageCache(pfn: number): void {
    const f = this.files[this.cacheFile[pfn]! - 1];
    if (f === undefined) throw new Error(`pfn ${pfn} is not in the page cache`);
    f.pages[this.cacheIndex[pfn]!] = -1;
    f.nrpages--;
    this.cacheFile[pfn] = -1;
  }

  /** mmap(NULL, len, prot, shared ? MAP_SHARED : MAP_PRIVATE, fd, offset). */
  *sysMmapFile(cpu: Cpu, file: FileMapping, offset: number, len: number, prot: number, shared: boolean): KGen<number> {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    const mm = this.mustMm(cpu);
    this.m.counters.values[C.mmap_calls]!++;
    if (offset % 4096 !== 0) throw new SegmentationFault(`mmap offset ${offset} is not page aligned`);
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot) | (shared ? VM_SHARED : 0);
    const p = vmaPageProt(flags, true);
    mm.insertVma(new Vma(start, start + size, flags, p.lo, p.hi, false, file, offset / 4096));
    yield this.m.costs.mmapRegion;
    cpu.mode = modeBefore;
    return start;
  }

  /**
   * mmap(NULL, len, prot, MAP_SHARED|MAP_ANONYMOUS): shmem, a page-cache-backed
   * object with no dirty accounting, so a writable mapping maps its pages writable.
   */
  *sysMmapShared(cpu: Cpu, len: number, prot: number): KGen<number> {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    const mm = this.mustMm(cpu);
    this.m.counters.values[C.mmap_calls]!++;
    const size = Math.ceil(len / 4096) * 4096;
    const start = this.getUnmappedArea(mm, size);
    const flags = protToVmFlags(prot) | VM_SHARED;
    const p = vmaPageProt(flags, false);
    const vma = new Vma(start, start + size, flags, p.lo, p.hi, false, this.createFile(size), 0);
    vma.shmem = true;
    mm.insertVma(vma);
    yield this.m.costs.mmapRegion;
    cpu.mode = modeBefore;
    return start;
  }

  /** munmap(addr, len): detach the VMAs, then unmap_region with one mmu_gather. */
  *sysMunmap(cpu: Cpu, addr: number, len: number): KGen {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    const mm = this.mustMm(cpu);
    this.m.counters.values[C.munmap_calls]!++;
    const start = addr;
    const end = addr + Math.ceil(len / 4096) * 4096;
    yield this.m.costs.unmapBase;
    const vmas = this.splitAndDetach(mm, start, end);
    if (vmas.length === 0) {
      cpu.mode = modeBefore;
      return;
    }
    const tlb = this.tlbGatherMmu(mm, "tlb_finish_mmu (munmap)");
    // unmap_vmas: one notifier range around the zap (v4.15).
    const ns = mmuNotifierInvalidateRangeStart(this, cpu, mm, start, end);
    if (ns > 0) yield ns;
    for (const v of vmas) yield* zapPageRange(this, cpu, tlb, v, v.start, v.end);
    const ne = mmuNotifierInvalidateRangeEnd(this, cpu, mm, start, end, this.notify.onlyEnd("zap_page_range"));
    if (ne > 0) yield ne;
    // free_pgtables between the neighbours that remain.
    const prev = [...mm.vmas].reverse().find((v) => v.end <= start);
    const next = mm.vmas.find((v) => v.start >= end);
    this.pgtables.freePgdRange(mm, start, end, prev ? prev.end : 0, next ? next.start : this.m.format.kernelStart, (pfn) =>
      tlb.removeTable(pfn, start, end - start),
    );
    yield* this.tlbFinishMmu(cpu, tlb);
    cpu.mode = modeBefore;
  }

  /** madvise(addr, len, MADV_DONTNEED): zap_page_range, page tables kept. */
  *sysMadvise(cpu: Cpu, addr: number, len: number, advice: number): KGen {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    if (advice !== MADV_DONTNEED) throw new Error(`madvise advice ${advice} is not modelled`);
    const mm = this.mustMm(cpu);
    this.m.counters.values[C.madvise_calls]!++;
    yield this.m.costs.unmapBase;
    const end = addr + Math.ceil(len / 4096) * 4096;
    const tlb = this.tlbGatherMmu(mm, "tlb_finish_mmu (madvise MADV_DONTNEED)");
    // zap_page_range: one notifier range around the zap (v4.15).
    const ns = mmuNotifierInvalidateRangeStart(this, cpu, mm, addr, end);
    if (ns > 0) yield ns;
    for (const v of mm.vmas) {
      if (v.end <= addr || v.start >= end) continue;
      yield* zapPageRange(this, cpu, tlb, v, Math.max(addr, v.start), Math.min(end, v.end));
    }
    const ne = mmuNotifierInvalidateRangeEnd(this, cpu, mm, addr, end, this.notify.onlyEnd("zap_page_range"));
    if (ne > 0) yield ne;
    yield* this.tlbFinishMmu(cpu, tlb);
    cpu.mode = modeBefore;
  }

  /**
   * mprotect(addr, len, prot) as v5.17 does it: per VMA, change_protection_range
   * rewrites every present PTE (ptep_modify_prot_start/commit with pte_modify) and
   * then calls the ProtectionChangeFlush point (default flush_tlb_range) if any was
   * counted. When it returns, the kernel relies on the pages it write-protected.
   */
  *sysMprotect(cpu: Cpu, addr: number, len: number, prot: number): KGen {
    const modeBefore = cpu.mode;
    yield this.syscallEnter(cpu);
    const m = this.m;
    const mm = this.mustMm(cpu);
    m.counters.values[C.mprotect_calls]!++;
    yield m.costs.mprotectBase;
    const end = addr + Math.ceil(len / 4096) * 4096;
    const vmas = this.split(mm, addr, end);
    const protected_: number[] = [];
    const change = this.protectionFlush.begin(cpu, mm);
    for (const vma of vmas) {
      vma.flags = (vma.flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | protToVmFlags(prot);
      const p = vmaPageProt(vma.flags, vma.file !== null && !vma.shmem);
      vma.protLo = p.lo;
      vma.protHi = p.hi;
      change.beginVma(cpu, vma.start, vma.end);
      let cost = 0;
      for (let a = vma.start; a < vma.end; a += 4096) {
        const off = this.pgtables.pteOffset(mm.pgd, a);
        if (off < 0) continue;
        const w = m.mem.words;
        const lo = w[off]!;
        if ((lo & _PAGE_PRESENT) === 0) continue;
        // pte_modify: keep _PAGE_CHG_MASK (PFN, PCD, PWT, special, A, D), take the new protection.
        const keep = lo & (0xfffff000 | 0x18 | 0x200 | _PAGE_ACCESSED | 0x40);
        const newLo = (keep | (p.lo & ~(_PAGE_ACCESSED | 0x40))) >>> 0;
        if ((lo & _PAGE_RW) !== 0 && (newLo & _PAGE_RW) === 0) protected_.push(ptePfn(lo, w[off + 1]!));
        const hi = w[off + 1]!;
        const newHi = ((hi & 0x000fffff) | p.hi) >>> 0;
        w[off] = newLo;
        w[off + 1] = newHi;
        change.pteChanged(a, lo, hi, newLo, newHi);
        cost += m.costs.changePte;
      }
      if (cost > 0) yield cost;
      yield* change.endVma(cpu, vma.start, vma.end);
    }
    yield* change.finish(cpu);
    for (const pfn of protected_) m.relyWriteProtected(pfn, "mprotect");
    cpu.mode = modeBefore;
  }

  // ---- VMA helpers ------------------------------------------------------------

  private mustMm(cpu: Cpu): MmStruct {
    if (cpu.currentMm === null) throw new SegmentationFault(`CPU ${cpu.id}: system call with no mm`);
    return cpu.currentMm;
  }

  /** Top-down get_unmapped_area below mm.mmapBase. */
  private getUnmappedArea(mm: MmStruct, size: number): number {
    let top = mm.mmapBase;
    for (let i = mm.vmas.length - 1; i >= 0; i--) {
      const v = mm.vmas[i]!;
      if (v.start >= top) continue;
      if (v.end <= top - size) break;
      top = v.start;
    }
    return top - size;
  }

  /** Splits VMAs at start and end so that [start, end) is covered by whole VMAs; returns those. */
  private split(mm: MmStruct, start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = 0; i < mm.vmas.length; i++) {
      const v = mm.vmas[i]!;
      if (v.end <= start || v.start >= end) continue;
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

  private splitAndDetach(mm: MmStruct, start: number, end: number): Vma[] {
    const vmas = this.split(mm, start, end);
    for (const v of vmas) mm.vmas.splice(mm.vmas.indexOf(v), 1);
    return vmas;
  }
}

function protToVmFlags(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}
