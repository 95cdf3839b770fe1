/**
 * The x86 page-table hooks the generic mm calls (the ArchMm extension point):
 * - pgd_alloc / pgd_free with pgd_list under pgd_lock (arch/x86/mm/pgtable.c, v5.4):
 *   the kernel half of a new pgd is shared with swapper_pg_dir; on PAE with
 *   !SHARED_KERNEL_PMD (as with PTI) each pgd gets private copies of the kernel PMDs,
 *   and its user PMDs are preallocated because PDPTEs are loaded at CR3 write;
 * - vmalloc_fault (arch/x86/mm/fault.c, v5.4);
 * - protection_map / vm_get_page_prot (arch/x86/mm/pgprot.c, v5.17): private writable
 *   mappings get no RW (COW);
 * - pmd_free_pte_page (arch/x86/mm/pgtable.c, v5.4 with f967db0b9ed4): x86-64 frees a
 *   kernel PTE page under a huge ioremap after a flush; PAE refuses;
 * - THREAD_SIZE and the mmap base.
 */
import {
  C,
  FrameState,
  KERNEL_CHANGES,
  kernelAtLeast,
  SpinLock,
  VM_EXEC,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  _PAGE_ACCESSED,
  _PAGE_NX_HI,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_USER,
  type ArchMm,
  type Cpu,
  type KGen,
  type Kernel,
  type Machine,
  type PageProt,
  ptePfn,
  pteHi,
  pteLo,
} from "@flushlab/core-mmu";

/**
 * pgd_list and pgd_lock (arch/x86/mm/fault.c, v5.4: `DEFINE_SPINLOCK(pgd_lock);
 * LIST_HEAD(pgd_list);`): every process pgd, and the global spinlock that guards the list,
 * with the cache lines the walks and the list operations touch:
 * - the lock word and the list head: one line (two adjacent definitions; [U] the
 *   linker keeps them together), moved between CPUs by SpinLock.lockLine;
 * - each listed pgd's struct page (lru links, pt_mm): list_add writes the first page's
 *   lru.prev, last written by the CPU of the previous list_add; list_del writes the
 *   neighbours' links;
 * - in a walk, each pgd's struct page, its pgd entry and its mm's page_table_lock, lines
 *   no cache holds any more ([U] a walk visits each once per purge, and a purge comes
 *   after tens of thousands of vfrees): read from the DRAM of the pgd page's node.
 */
export class PgdList {
  /** The listed pgds (pfns of the top-level pages), in list order. */
  readonly pgds = new Set<number>();
  readonly lock: SpinLock;
  /** Pgds visited by sync_global_pgds / vmalloc_sync walks (one per pgd per locked step). */
  visits = 0;
  /** Locked walk steps (pgd_lock taken for one entry: a present PGD entry on x86-64, a PMD step on PAE). */
  walkSteps = 0;
  /** The CPU of the last list_add (its write is in that CPU's cache); -1: none yet. */
  private lastAdder = -1;
  /** Per listed pgd, the CPU that added it (the last writer of its struct page's links). */
  private readonly adder = new Map<number, number>();

  constructor(private readonly m: Machine) {
    this.lock = new SpinLock("pgd_lock", m);
  }

  /** One line nobody caches, from the DRAM of `pfn`'s node: local or remote to `cpu`. */
  memoryLine(cpu: Cpu, pfn: number): number {
    const c = this.m.costs;
    return this.m.mem.nodeOf(pfn) === cpu.socket ? c.memLatencyLocal : c.memLatencyRemote;
  }

  /** A line last written by CPU `writer` (-1: nobody, memory of `pfn`'s node), read or written by `cpu`. */
  private lineFrom(cpu: Cpu, writer: number, pfn: number): number {
    if (writer === cpu.id) return 0;
    if (writer < 0) return this.memoryLine(cpu, pfn);
    return this.m.cacheLineLatency(this.m.cpus[writer]!, cpu);
  }

  /**
   * pgd_list_add under pgd_lock (list_add at the head): the cycles of the line transfer
   * of the first listed page's struct page (its lru.prev), from the previous adder.
   */
  add(cpu: Cpu | null, pgd: number): number {
    const first = this.lastAdder;
    const cost = cpu === null || first < 0 ? 0 : this.lineFrom(cpu, first, pgd);
    this.pgds.add(pgd);
    const id = cpu === null ? -1 : cpu.id;
    this.adder.set(pgd, id);
    if (cpu !== null) this.lastAdder = id;
    return cost;
  }

  /**
   * pgd_list_del under pgd_lock: the page's own links (from the cache of the CPU that
   * added it, or this one), then the two neighbours' links, written in parallel, from
   * memory ([U] they were added long before). Returns the cycles.
   */
  del(cpu: Cpu, pgd: number): number {
    const own = this.lineFrom(cpu, this.adder.get(pgd) ?? -1, pgd);
    this.adder.delete(pgd);
    this.pgds.delete(pgd);
    return own + this.memoryLine(cpu, pgd);
  }

  /**
   * One pgd visited by a walk under pgd_lock (sync_global_pgds_l4 / vmalloc_sync, v5.4):
   * the struct page (list_for_each_entry: lru.next, then pt_mm), then its mm's line for
   * spin_lock(pgt_lock) in parallel with the pgd entry's line; PAE (`pmdLevel`) then
   * reads the pgd's private PMD page through the pgd entry, a third dependent line. The
   * page_table_lock is taken and released on the fetched line (spinLockUncontended).
   */
  visitCost(cpu: Cpu, pgd: number, pmdLevel: boolean): number {
    this.visits++;
    const line = this.memoryLine(cpu, pgd);
    return (pmdLevel ? 3 : 2) * line + this.m.costs.spinLockUncontended;
  }
}

const pgdLists = new WeakMap<Kernel, PgdList>();

/** The kernel's pgd_list (arch state kept per kernel). */
export function pgdList(kernel: Kernel): PgdList {
  let l = pgdLists.get(kernel);
  if (l === undefined) pgdLists.set(kernel, (l = new PgdList(kernel.machine)));
  return l;
}

export class X86Mm implements ArchMm {
  private readonly k: Kernel;
  private readonly m: Machine;
  private readonly list: PgdList;
  readonly threadSize: number;
  readonly mmapBase: number;
  /** SHARED_KERNEL_PMD: PAE before v4.19's x86-32 PTI shares swapper_pg_dir's kernel PMDs. */
  readonly sharedKernelPmd: boolean;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
    this.list = pgdList(kernel);
    const pae = this.m.format.name === "x86-32-pae";
    this.sharedKernelPmd = pae && !kernelAtLeast(kernel.version, KERNEL_CHANGES.x86_32PrivateKernelPmds);
    // THREAD_SIZE: 16 KiB on x86-64 (THREAD_SIZE_ORDER 2), 8 KiB on x86-32 (order 1).
    this.threadSize = pae ? 8192 : 16384;
    // Top-down mmap base below the stack: TASK_SIZE minus the stack gap, rounded.
    this.mmapBase = pae ? 0xb0000000 : 0x7f0000000000;
  }

  /**
   * A new top-level table. The kernel half is shared with `reference`: on x86-64 the
   * top-level kernel entries are copied (pgd_ctor, clone_pgd_range); on PAE each pgd
   * gets a private copy of the kernel PMD (v4.19+; before, the PDPTE points at
   * swapper_pg_dir's own kernel PMD) and preallocated user PMDs
   * (pgd_prepopulate_pmd). With `reference` null, this is swapper_pg_dir: the kernel
   * PMD exists from boot on PAE.
   */
  pgdCreate(reference: number | null): number {
    const pgd = this.pgdPages(reference, 0);
    // pgd_list_add: swapper_pg_dir is the reference, not on the list.
    if (reference !== null) this.list.add(null, pgd);
    return pgd;
  }

  /** The pgd page (on `node`) and, on PAE, its PMD pages, filled from `reference` (pgd_ctor, pgd_prepopulate_pmd). */
  private pgdPages(reference: number | null, node: number): number {
    const mem = this.m.mem;
    const fmt = this.m.format;
    const pgd = mem.alloc(FrameState.PAGETABLE, node);
    const top = fmt.levels[0]!;
    const kernelFirst = Math.floor(fmt.kernelStart / 2 ** top.shift);
    if (reference !== null && !(fmt.topLoadedAtCr3 && !this.sharedKernelPmd)) {
      // pgd_ctor's clone_pgd_range: the kernel entries, copied as one block of words.
      const src = mem.entryOffset(reference, kernelFirst);
      mem.words.copyWithin(mem.entryOffset(pgd, kernelFirst), src, src + 2 * (top.entries - kernelFirst));
    } else if (reference !== null) {
      for (let i = kernelFirst; i < top.entries; i++) {
        const src = mem.entryOffset(reference, i);
        const dst = mem.entryOffset(pgd, i);
        const lo = mem.words[src]!;
        if (fmt.topLoadedAtCr3 && !this.sharedKernelPmd && (lo & _PAGE_PRESENT) !== 0) {
          // !SHARED_KERNEL_PMD (PAE with PTI): a private copy of the kernel PMD page,
          // filled from swapper_pg_dir's.
          const refPmd = ptePfn(lo, mem.words[src + 1]!);
          const pmd = mem.alloc(FrameState.PAGETABLE, node);
          mem.words.copyWithin(mem.entryOffset(pmd, 0), mem.entryOffset(refPmd, 0), mem.entryOffset(refPmd, 0) + 1024);
          mem.words[dst] = pteLo(pmd, _PAGE_PRESENT);
          mem.words[dst + 1] = pteHi(pmd, 0);
        } else {
          mem.words[dst] = lo;
          mem.words[dst + 1] = mem.words[src + 1]!;
        }
      }
    } else if (fmt.topLoadedAtCr3) {
      for (let i = kernelFirst; i < top.entries; i++) {
        const pmd = mem.alloc(FrameState.PAGETABLE);
        const off = mem.entryOffset(pgd, i);
        mem.words[off] = pteLo(pmd, _PAGE_PRESENT);
        mem.words[off + 1] = pteHi(pmd, 0);
      }
    }
    if (fmt.topLoadedAtCr3) {
      for (let i = 0; i < kernelFirst; i++) {
        const pmd = mem.alloc(FrameState.PAGETABLE, node);
        const off = mem.entryOffset(pgd, i);
        mem.words[off] = pteLo(pmd, _PAGE_PRESENT);
        mem.words[off + 1] = pteHi(pmd, 0);
      }
    }
    this.m.watch.pgdCreated(pgd, reference === null);
    return pgd;
  }

  /**
   * pgd_alloc (v5.4): the pgd pages (on the CPU's node), then under pgd_lock pgd_ctor
   * and, on PAE, pgd_prepopulate_pmd: the kernel half is copied from swapper_pg_dir
   * (clone_pgd_range of KERNEL_PGD_PTRS entries: 2 KiB on x86-64; PAE copies the kernel
   * PMD page, 4 KiB) and pgd_list_add links the page at the head of pgd_list. The copy
   * is charged as copyPage pro rata.
   */
  *pgdAlloc(cpu: Cpu, reference: number): KGen<number> {
    const costs = this.m.costs;
    const lock = this.list.lock;
    const pae = this.m.format.topLoadedAtCr3;
    yield costs.ptAlloc * (pae ? 5 : 1);
    yield* lock.lockLine(cpu);
    const pgd = this.pgdPages(reference, cpu.socket);
    const copied = pae && !this.sharedKernelPmd ? 4096 : 8 * (this.m.format.levels[0]!.entries - Math.floor(this.m.format.kernelStart / 2 ** this.m.format.levels[0]!.shift));
    const listAdd = this.list.add(cpu, pgd);
    yield (costs.copyPage * copied) / 4096 + listAdd;
    lock.unlock(cpu);
    return pgd;
  }

  /** pgd_free (v5.4): pgd_dtor's pgd_list_del under pgd_lock, then the pgd page and, on PAE, the PMD pages it owns. */
  *pgdFree(cpu: Cpu, pgd: number): KGen {
    const lock = this.list.lock;
    yield* lock.lockLine(cpu);
    yield this.list.del(cpu, pgd);
    lock.unlock(cpu);
    const mem = this.m.mem;
    if (this.m.format.topLoadedAtCr3) {
      // The kernel PMDs are swapper_pg_dir's own when shared (SHARED_KERNEL_PMD).
      const owned = this.sharedKernelPmd ? Math.floor(this.m.format.kernelStart / 2 ** this.m.format.levels[0]!.shift) : 4;
      for (let i = 0; i < owned; i++) {
        const off = mem.entryOffset(pgd, i);
        if ((mem.words[off]! & _PAGE_PRESENT) === 0) continue;
        mem.free(ptePfn(mem.words[off]!, mem.words[off + 1]!), "pgd_free", this.m.now);
      }
    }
    mem.free(pgd, "pgd_free", this.m.now);
  }

  /**
   * vmalloc_fault: copy the missing entry from init_mm into the page table the CPU
   * uses: x86-64 at the top level (set_p4d), PAE at the PMD level (vmalloc_sync_one).
   * Returns false when init_mm has no mapping either. A present entry is never fixed
   * lazily: that is why a stale present entry is a hazard.
   */
  vmallocFault(cpu: Cpu, va: number): boolean {
    const k = this.k;
    const m = this.m;
    if (va < k.vmalloc.start || va >= k.vmalloc.end) return false;
    const level = m.format.topLoadedAtCr3 ? m.format.levels.length - 2 : 0;
    const w = m.mem.words;
    const ref = k.pgtables.entryOffsetAt(k.initMm.pgd, va, level);
    const own = k.pgtables.entryOffsetAt(cpu.cr3, va, level);
    if (ref < 0 || own < 0 || (w[ref]! & _PAGE_PRESENT) === 0) return false;
    if ((w[own]! & _PAGE_PRESENT) !== 0) return false;
    w[own] = w[ref]!;
    w[own + 1] = w[ref + 1]!;
    return true;
  }

  /** vm_get_page_prot (x86 protection_map, v5.17): private writable mappings get no RW (COW). */
  vmGetPageProt(flags: number): PageProt {
    if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return { lo: _PAGE_PROTNONE | _PAGE_ACCESSED, hi: 0 };
    let lo = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
    if ((flags & VM_SHARED) !== 0 && (flags & VM_WRITE) !== 0) lo |= _PAGE_RW;
    const hi = (flags & VM_EXEC) !== 0 ? 0 : _PAGE_NX_HI;
    return { lo, hi };
  }

  /**
   * pmd_free_pte_page: x86-64 clears the PMD, flushes (INVLPG clears the
   * paging-structure caches) and frees the PTE page; x86-32 PAE refuses while the
   * entry is present (f967db0b9ed4: kernel PMDs are not shared there).
   */
  *pmdFreePtePage(cpu: Cpu, off: number, addr: number): KGen<boolean> {
    const m = this.m;
    if (m.format.name === "x86-32-pae") return false;
    const pte = ptePfn(m.mem.words[off]!, m.mem.words[off + 1]!);
    m.mem.words[off] = 0;
    m.mem.words[off + 1] = 0;
    yield* this.k.policies.kernelRangeFlush.flushKernelRange(cpu, addr, addr + 4096, true);
    m.mem.free(pte, "pmd_free_pte_page (huge ioremap)", m.now);
    this.k.counters.values[C.pgtables_freed]!++;
    return true;
  }

  statistics(): Readonly<Record<string, number>> {
    const l = this.list.lock;
    return {
      pgd_lock_wait_cycles: l.waitCycles,
      pgd_lock_hold_cycles: l.holdCycles,
      pgd_lock_acquisitions: l.acquisitions,
      pgd_lock_contended: l.contended,
      pgd_list_visits: this.list.visits,
      pgd_list_walk_steps: this.list.walkSteps,
    };
  }
}
