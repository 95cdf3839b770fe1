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

/** pgd_list and pgd_lock: every process pgd, and the global spinlock that guards the list. */
export interface PgdList {
  readonly pgds: Set<number>;
  readonly lock: SpinLock;
}

const pgdLists = new WeakMap<Kernel, PgdList>();

/** The kernel's pgd_list (arch state kept per kernel). */
export function pgdList(kernel: Kernel): PgdList {
  let l = pgdLists.get(kernel);
  if (l === undefined) pgdLists.set(kernel, (l = { pgds: new Set(), lock: new SpinLock("pgd_lock", kernel.machine) }));
  return l;
}

export class X86Mm implements ArchMm {
  private readonly k: Kernel;
  private readonly m: Machine;
  private readonly list: PgdList;
  readonly threadSize: number;
  readonly mmapBase: number;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
    this.list = pgdList(kernel);
    const pae = this.m.format.name === "x86-32-pae";
    // THREAD_SIZE: 16 KiB on x86-64 (THREAD_SIZE_ORDER 2), 8 KiB on x86-32 (order 1).
    this.threadSize = pae ? 8192 : 16384;
    // Top-down mmap base below the stack: TASK_SIZE minus the stack gap, rounded.
    this.mmapBase = pae ? 0xb0000000 : 0x7f0000000000;
  }

  /**
   * A new top-level table. The kernel half is shared with `reference`: on x86-64 the
   * top-level kernel entries are copied (pgd_ctor, clone_pgd_range); on PAE each pgd
   * gets a private copy of the kernel PMD and preallocated user PMDs
   * (pgd_prepopulate_pmd). With `reference` null, this is swapper_pg_dir: the kernel
   * PMD exists from boot on PAE.
   */
  pgdCreate(reference: number | null): number {
    const mem = this.m.mem;
    const fmt = this.m.format;
    const pgd = mem.alloc(FrameState.PAGETABLE);
    const top = fmt.levels[0]!;
    const kernelFirst = Math.floor(fmt.kernelStart / 2 ** top.shift);
    if (reference !== null) {
      for (let i = kernelFirst; i < top.entries; i++) {
        const src = mem.entryOffset(reference, i);
        const dst = mem.entryOffset(pgd, i);
        const lo = mem.words[src]!;
        if (fmt.topLoadedAtCr3 && (lo & _PAGE_PRESENT) !== 0) {
          // !SHARED_KERNEL_PMD (PAE with PTI): a private copy of the kernel PMD page,
          // filled from swapper_pg_dir's.
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
    // pgd_list_add: swapper_pg_dir is the reference, not on the list.
    if (reference !== null) this.list.pgds.add(pgd);
    this.m.watch.pgdCreated(pgd, reference === null);
    return pgd;
  }

  /** pgd_alloc: the pgd pages, then pgd_ctor and pgd_list_add under pgd_lock. */
  *pgdAlloc(cpu: Cpu, reference: number): KGen<number> {
    const costs = this.m.costs;
    const lock = this.list.lock;
    yield costs.ptAlloc * (this.m.format.topLoadedAtCr3 ? 5 : 1);
    if (!lock.tryLock(cpu)) yield* lock.lockSlow(cpu);
    const pgd = this.pgdCreate(reference);
    yield costs.spinLockUncontended + costs.pgdListVisit;
    lock.unlock(cpu);
    return pgd;
  }

  /** pgd_free: pgd_list_del under pgd_lock, then the pgd page and, on PAE, the PMD pages it owns. */
  *pgdFree(cpu: Cpu, pgd: number): KGen {
    const costs = this.m.costs;
    const lock = this.list.lock;
    if (!lock.tryLock(cpu)) yield* lock.lockSlow(cpu);
    this.list.pgds.delete(pgd);
    yield costs.spinLockUncontended + costs.pgdListVisit;
    lock.unlock(cpu);
    const mem = this.m.mem;
    if (this.m.format.topLoadedAtCr3) {
      for (let i = 0; i < 4; i++) {
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
    return { pgd_lock_wait_cycles: this.list.lock.waitCycles, pgd_lock_contended: this.list.lock.contended };
  }
}
