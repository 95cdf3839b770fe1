/**
 * Keeping the kernel part of every pgd in sync with init_mm for the vmalloc area
 * (arch/x86/mm/init_64.c sync_global_pgds, arch/x86/mm/fault.c vmalloc_sync), as of
 * v5.4 with commit 3f8fd02b1bf1 and 8e998fc24de4 (Aug 2019):
 * - x86-64: only the top level is per-pgd; sync_global_pgds walks every PGDIR_SIZE
 *   step of the range and, where init_mm's entry is present, takes pgd_lock and
 *   copies it into every pgd on pgd_list that lacks it;
 * - x86-32 PAE with !SHARED_KERNEL_PMD: each pgd has private kernel PMDs;
 *   vmalloc_sync walks every PMD step, taking pgd_lock per step, and
 *   vmalloc_sync_one copies the entry whenever present-ness differs (so unmappings
 *   propagate too).
 * The pre-patch default makes both vmalloc_sync_mappings and vmalloc_sync_unmappings
 * vmalloc_sync_all.
 */
import { C, KERNEL_CHANGES, _PAGE_PRESENT, kernelAtLeast, type Cpu, type KGen, type Kernel, type Machine, type VmallocSync } from "@flushlab/core-mmu";
import { pgdList, type PgdList } from "./pgtable.js";

export class X86VmallocSync implements VmallocSync {
  private readonly k: Kernel;
  private readonly m: Machine;
  private readonly list: PgdList;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
    this.list = pgdList(kernel);
  }

  /** vmalloc_sync_all (pre-patch): x86-64 sync_global_pgds over the vmalloc area; PAE vmalloc_sync. */
  *vmallocSyncAll(cpu: Cpu): KGen {
    if (this.m.format.topLoadedAtCr3) yield* this.vmallocSync(cpu);
    else yield* this.syncGlobalPgds(cpu, this.k.vmalloc.start - (this.k.vmalloc.start % 2 ** this.m.format.pgdirShift), this.k.vmalloc.end);
  }

  vmallocSyncMappings(cpu: Cpu): KGen {
    return this.vmallocSyncAll(cpu);
  }

  vmallocSyncUnmappings(cpu: Cpu): KGen {
    return this.vmallocSyncAll(cpu);
  }

  /**
   * sync_global_pgds(start, end), 4- or 5-level (sync_global_pgds_l4 / _l5, v5.4): per
   * PGDIR_SIZE step, init_mm's entry is read (pgd_offset_k: a line of swapper_pg_dir
   * every CPU reads and caches, charged as one cache-hitting load, userAccess); only where it is
   * present is pgd_lock taken and pgd_list walked (the visit costs the lines it touches:
   * PgdList.visitCost). The vmalloc area's present entries are its bottom (vmalloc
   * and the kernel stacks, lowest fit) and its top (percpu chunks, pcpu_get_vm_areas).
   */
  *syncGlobalPgds(cpu: Cpu, start: number, end: number): KGen {
    const m = this.m;
    const k = this.k;
    const lock = this.list.lock;
    k.counters.values[C.sync_global_pgds_calls]!++;
    const step = 2 ** m.format.pgdirShift;
    const w = m.mem.words;
    let skipped = 0;
    for (let addr = start; addr < end; addr += step) {
      const ref = k.pgtables.entryOffsetAt(k.initMm.pgd, addr, 0);
      if ((w[ref]! & _PAGE_PRESENT) === 0) {
        skipped += m.costs.userAccess;
        continue;
      }
      if (skipped > 0) yield skipped;
      skipped = 0;
      yield* lock.lockLine(cpu);
      this.list.walkSteps++;
      let cost = 0;
      for (const pgd of this.list.pgds) {
        const own = k.pgtables.entryOffsetAt(pgd, addr, 0);
        if ((w[own]! & _PAGE_PRESENT) === 0) {
          w[own] = w[ref]!;
          w[own + 1] = w[ref + 1]!;
        }
        cost += this.list.visitCost(cpu, pgd, false);
      }
      yield cost;
      lock.unlock(cpu);
    }
    if (skipped > 0) yield skipped;
  }

  /**
   * arch_sync_kernel_mappings (v5.8+, arch/x86/mm/fault.c): x86-32 syncs the PMD steps of
   * [start, end) as vmalloc_sync does; x86-64's sync mask (P4D or PGD modified) is
   * never set by a vunmap, so nothing.
   */
  archSyncKernelMappings(cpu: Cpu, start: number, end: number): KGen {
    return this.m.format.topLoadedAtCr3 ? this.vmallocSync(cpu, start, end) : nothing();
  }

  /** vmalloc_sync (32-bit, v5.4): every PMD step of the vmalloc area (or of [start, end)) × every pgd, pgd_lock per step. */
  *vmallocSync(cpu: Cpu, start = this.k.vmalloc.start, end = this.k.vmalloc.end): KGen {
    const m = this.m;
    const k = this.k;
    const lock = this.list.lock;
    // vmalloc_sync_all (32-bit, before v4.19): if (SHARED_KERNEL_PMD) return.
    if (!kernelAtLeast(k.version, KERNEL_CHANGES.x86_32PrivateKernelPmds)) return;
    k.counters.values[C.vmalloc_sync_calls]!++;
    const pmdLevel = m.format.levels.length - 2;
    const step = 2 ** m.format.levels[pmdLevel]!.shift;
    const w = m.mem.words;
    for (let addr = start - (start % step); addr < end; addr += step) {
      yield* lock.lockLine(cpu);
      this.list.walkSteps++;
      const ref = k.pgtables.entryOffsetAt(k.initMm.pgd, addr, pmdLevel);
      let cost = 0;
      for (const pgd of this.list.pgds) {
        const own = k.pgtables.entryOffsetAt(pgd, addr, pmdLevel);
        // vmalloc_sync_one: copy whenever present-ness differs (8e998fc24de4).
        if (own >= 0 && ref >= 0 && (w[own]! & _PAGE_PRESENT) !== (w[ref]! & _PAGE_PRESENT)) {
          w[own] = w[ref]!;
          w[own + 1] = w[ref + 1]!;
        }
        cost += this.list.visitCost(cpu, pgd, true);
      }
      yield cost;
      lock.unlock(cpu);
    }
  }
}

function* nothing(): KGen {}
