/**
 * bug-3f8fd02b1bf1: x86-32 PAE with private kernel PMDs (!SHARED_KERNEL_PMD, as with
 * PTI) before Joerg Roedel's three-patch series "Sync unmappings in vmalloc/ioremap
 * areas" (tip x86/urgent, 22 Jul 2019, released in v5.3; backported to 5.2.9 and the
 * 4.19, 4.14 and 4.4 stable trees):
 * - 51b75b5b563a "x86/mm: Check for pfn instead of page in vmalloc_sync_one()",
 * - 8e998fc24de4 "x86/mm: Sync also unmappings in vmalloc_sync_all()",
 * - 3f8fd02b1bf1 "mm/vmalloc: Sync unmappings in __purge_vmap_area_lazy()".
 * The code as of v5.2 (arch/x86/mm/fault.c, mm/vmalloc.c):
 * - __purge_vmap_area_lazy flushes the kernel range and hands the areas back to the
 *   allocator without any sync: an unmapping made in init_mm only (iounmap of a huge
 *   ioremap clears a 2 MiB PMD leaf there) stays present in every pgd whose private
 *   kernel PMD got the leaf, by vmalloc_fault or vmalloc_sync_all. A present entry
 *   never faults, so nothing repairs it lazily; once the range is reused those
 *   processes still reach the old mapping (fixes 5d72b4fba40e, huge I/O mappings);
 * - vmalloc_sync_all walks VMALLOC_START to FIXADDR_TOP, and per PMD step stops walking
 *   pgd_list at the first pgd for which vmalloc_sync_one returns NULL, which it does
 *   as soon as init_mm's PMD is not present: so it never copies a cleared entry;
 * - vmalloc_sync_one copies init_mm's PMD only into a pgd whose PMD is not present, and
 *   BUG()s when both are present and differ (pmd_page compared; the model compares
 *   pfns, which is what 51b75b5b563a made it compare, and the same answer wherever
 *   both have a struct page).
 * x86-64 has no such bug: only the top level is per pgd there, the levels below are
 * shared, and unmapping never frees or clears a top-level entry; v5.2's x86-64
 * vmalloc_sync_all (sync_global_pgds) was not touched by the series. So the plugin
 * applies to x86-32-pae only.
 */
import { C, VMALLOC_SYNC, _PAGE_PRESENT, definePlugin, pmdLeafPfn, policy, pteHuge, ptePfn, type Cpu, type KGen, type Kernel, type VmallocSync } from "@flushlab/core-mmu";
import { pgdList } from "@flushlab/arch-x86";

/** FIXADDR_TOP on x86-32 without reserve_top_address: __FIXADDR_TOP = 0xfffff000 (arch/x86/mm/pgtable_32.c). */
export const FIXADDR_TOP_X86_32 = 0xfffff000;

/** The v5.2 x86-32 vmalloc_sync_all, and a __purge_vmap_area_lazy that calls no sync. */
export class PreFixVmallocSync implements VmallocSync {
  constructor(private readonly kernel: Kernel) {
    if (!kernel.machine.format.topLoadedAtCr3) throw new Error("bug-3f8fd02b1bf1 models x86-32 PAE code (arch/x86/mm/fault.c, CONFIG_X86_32)");
  }

  /**
   * What vmalloc_sync_all's callers that want new mappings seen get (register_die_notifier,
   * GHES and the like; nothing in the modelled workloads calls it): the v5.2 walk.
   */
  vmallocSyncMappings(cpu: Cpu): KGen {
    return this.vmallocSyncAll(cpu);
  }

  /** v5.2's __purge_vmap_area_lazy makes no sync call: 3f8fd02b1bf1 added vmalloc_sync_all() there. */
  *vmallocSyncUnmappings(): KGen {}

  /** vmalloc_sync_all (x86-32, v5.2): VMALLOC_START & PMD_MASK up to FIXADDR_TOP, pgd_lock per PMD step. */
  *vmallocSyncAll(cpu: Cpu): KGen {
    const k = this.kernel;
    const m = k.machine;
    const lock = pgdList(k).lock;
    k.counters.values[C.vmalloc_sync_calls]!++;
    const pmdLevel = m.format.levels.length - 2;
    const step = 2 ** m.format.levels[pmdLevel]!.shift;
    for (let addr = k.vmalloc.start - (k.vmalloc.start % step); addr < FIXADDR_TOP_X86_32; addr += step) {
      yield* lock.lockLine(cpu);
      let cost = 0;
      for (const pgd of pgdList(k).pgds) {
        cost += pgdList(k).visitCost(cpu, pgd, true);
        if (!this.vmallocSyncOne(pgd, addr, pmdLevel)) break; // if (!ret) break;
      }
      yield cost;
      lock.unlock(cpu);
    }
  }

  /**
   * vmalloc_sync_one (x86-32, v5.2) for the PMD of `addr` in `pgd`: returns false (NULL)
   * when init_mm's PMD is not present; copies it into a non-present PMD; BUG()s when both
   * are present and map different frames.
   */
  vmallocSyncOne(pgd: number, addr: number, pmdLevel: number): boolean {
    const k = this.kernel;
    const w = k.machine.mem.words;
    const ref = k.pgtables.entryOffsetAt(k.initMm.pgd, addr, pmdLevel);
    const own = k.pgtables.entryOffsetAt(pgd, addr, pmdLevel);
    if (ref < 0 || own < 0 || (w[ref]! & _PAGE_PRESENT) === 0) return false;
    if ((w[own]! & _PAGE_PRESENT) === 0) {
      w[own] = w[ref]!;
      w[own + 1] = w[ref + 1]!;
      return true;
    }
    const pfnOf = (off: number): number => (pteHuge(w[off]!, w[off + 1]!) ? pmdLeafPfn(w[off]!, w[off + 1]!) : ptePfn(w[off]!, w[off + 1]!));
    if (pfnOf(own) !== pfnOf(ref)) {
      throw new Error(
        `kernel BUG at arch/x86/mm/fault.c (vmalloc_sync_one): the PMD for ${k.fmtVa(addr)} in the pgd at pfn ${pgd} maps pfn ${pfnOf(own)}, init_mm's maps pfn ${pfnOf(ref)}`,
      );
    }
    return true;
  }
}

export const bug3f8fd02b1bf1 = definePlugin({
  name: "bug-3f8fd02b1bf1",
  kind: "pre-fix",
  description: "x86-32 PAE before the vmalloc unmapping sync: a purged vmalloc/ioremap range is reused while process pgds keep the old kernel PMD (huge ioremap leaf)",
  package: "@flushlab/bugs",
  patch: {
    title: "mm/vmalloc: Sync unmappings in __purge_vmap_area_lazy()",
    commit: "3f8fd02b1bf1",
    kernel: "v5.3 (with 8e998fc24de4 and 51b75b5b563a; stable 5.2.9, 4.19, 4.14, 4.4)",
    author: "Joerg Roedel",
  },
  appliesTo: ["x86-32-pae"],
  policies: [policy(VMALLOC_SYNC, (kernel) => new PreFixVmallocSync(kernel))],
});
