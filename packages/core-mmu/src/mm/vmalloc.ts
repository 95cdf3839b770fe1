/**
 * vmalloc, after mm/vmalloc.c as of v5.4 with commit 3f8fd02b1bf1 ("mm/vmalloc: Sync
 * unmappings in __purge_vmap_area_lazy()"): a vmap-area allocator over the arch's
 * vmalloc range (lowest-address first fit, one guard page per area), vmalloc mapping
 * 4 KiB kernel pages, vfree unmapping them without a flush and freeing the pages, and
 * lazy freeing of the virtual range: areas wait on the purge list until vmap_lazy_nr
 * exceeds lazy_max_pages(), then __purge_vmap_area_lazy syncs unmappings, flushes one
 * [min, max] kernel range and only then hands the ranges back to the allocator.
 * ioremap can install 2 MiB PMD leaves (ioremap_try_huge_pmd).
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState } from "../hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PCD, _PAGE_PRESENT, _PAGE_RW, pmdLeafLo, pteHi, pteHuge, pteLo, ptePresent } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import { KERNEL_CHANGES, kernelAtLeast } from "../kernel/version.js";
import { Completion, type KGen } from "../sim/process.js";
import type { VmapArea } from "./mm-types.js";

/** PAGE_KERNEL: present, writable, accessed, dirty, global, NX (global dropped under PTI: __default_kernel_pte_mask, v4.15+). */
const PAGE_KERNEL_LO = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL;
/** PAGE_KERNEL_IO_NOCACHE-ish: as PAGE_KERNEL, uncached. */
const PAGE_KERNEL_IO_LO = PAGE_KERNEL_LO | _PAGE_PCD;
const PMD_SIZE = 2097152;


/** fls(): index of the highest set bit, 1-based (0 for 0). */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export class Vmalloc {
  /** Free ranges [start, end), sorted by start (free_vmap_area_list). */
  private readonly free: [number, number][];
  private readonly busy = new Map<number, VmapArea>();
  /** vmap_purge_list */
  private purgeList: VmapArea[] = [];
  /** __default_kernel_pte_mask's effect on the flags the model sets: no _PAGE_GLOBAL under PTI. */
  private get kernelPteMask(): number {
    return this.k.machine.features.pti ? ~_PAGE_GLOBAL : ~0;
  }
  /** vmap_lazy_nr, in pages. */
  vmapLazyNr = 0;
  /** vmap_purge_lock (a mutex; try_purge uses trylock). */
  private purging = false;
  private readonly purgeLockWaiters: Completion[] = [];
  readonly start: number;
  readonly end: number;
  purges = 0;
  /** __purge_vmap_area_lazy runs that have finished (the areas handed back). */
  purgesCompleted = 0;

  constructor(private readonly k: KernelCore) {
    this.start = k.machine.format.vmallocStart;
    this.end = k.machine.format.vmallocEndExclusive;
    this.free = [[this.start, this.end]];
  }

  /** lazy_max_pages(): fls(num_online_cpus()) × 32 MiB worth of pages. */
  lazyMaxPages(): number {
    return fls(this.k.machine.cpus.length) * ((32 * 1024 * 1024) / 4096);
  }

  get busyAreas(): number {
    return this.busy.size;
  }

  get lazyAreas(): number {
    return this.purgeList.length;
  }

  /**
   * Per request shape (size, align, range): the index of the first free range the
   * last search could have used. Every range before it is too small for that shape,
   * so a search may start there; freeing below it moves it down. The kernel gets the
   * same lowest fit in O(log n) from its augmented rbtree (find_vmap_lowest_match).
   */
  private readonly hints = new Map<string, number>();

  private shiftHints(at: number, delta: number): void {
    if (delta === 0) return;
    for (const [k, h] of this.hints) if (h > at) this.hints.set(k, Math.max(at, h + delta));
  }

  /** __alloc_vmap_area: lowest free range that fits `size` at `align`; -1 if none. */
  private allocVa(size: number, align: number, vstart: number, vend: number): number {
    const key = `${size}/${align}/${vstart}/${vend}`;
    for (let i = this.hints.get(key) ?? 0; i < this.free.length; i++) {
      const [fs, fe] = this.free[i]!;
      if (fe <= vstart) continue;
      if (fs >= vend) break;
      const base = Math.max(fs, vstart);
      const addr = Math.ceil(base / align) * align;
      if (addr + size > Math.min(fe, vend)) continue;
      // Split the free range around [addr, addr + size).
      const parts: [number, number][] = [];
      if (addr > fs) parts.push([fs, addr]);
      if (addr + size < fe) parts.push([addr + size, fe]);
      this.free.splice(i, 1, ...parts);
      this.shiftHints(i, parts.length - 1);
      this.hints.set(key, i);
      return addr;
    }
    return -1;
  }

  /**
   * merge_or_add_vmap_area for every area of a purge at once: one sorted merge of the
   * purged ranges into the free list, coalescing neighbours.
   */
  private freeVaBatch(ranges: [number, number][]): void {
    if (ranges.length === 0) return;
    ranges.sort((a, b) => a[0] - b[0]);
    const old = this.free;
    const out: [number, number][] = [];
    let lowestNew = -1;
    let i = 0;
    let j = 0;
    while (i < old.length || j < ranges.length) {
      const takeNew = j < ranges.length && (i >= old.length || ranges[j]![0] < old[i]![0]);
      const r = takeNew ? ranges[j++]! : old[i++]!;
      const last = out[out.length - 1];
      if (last !== undefined && last[1] === r[0]) last[1] = r[1];
      else out.push([r[0], r[1]]);
      if (takeNew && lowestNew < 0) lowestNew = out.length - 1;
    }
    this.free.length = 0;
    for (const r of out) this.free.push(r);
    // Ranges before lowestNew are unchanged; nothing at or after it may be skipped.
    for (const [k, h] of this.hints) if (h > lowestNew) this.hints.set(k, lowestNew);
  }

  /** alloc_vmap_area: on overflow, purge the lazy areas once and retry. */
  private *allocVmapArea(cpu: Cpu, size: number, align: number, vstart: number, vend: number): KGen<number> {
    let addr = this.allocVa(size, align, vstart, vend);
    if (addr < 0) {
      yield* this.purgeVmapAreaLazy(cpu);
      addr = this.allocVa(size, align, vstart, vend);
    }
    if (addr < 0) throw new Error(`vmalloc: allocation failed: ${size} bytes in [${this.k.fmtVa(vstart)}, ${this.k.fmtVa(vend)})`);
    yield this.k.machine.costs.vmapAreaAlloc;
    return addr;
  }

  /**
   * __vmalloc_node_range(size, align, VMALLOC_START, VMALLOC_END, …): a vmap area
   * with a guard page, pages allocated and mapped with PAGE_KERNEL in init_mm.
   */
  *vmalloc(cpu: Cpu, size: number, align = 4096, vstart = this.start, vend = this.end): KGen<VmapArea> {
    const m = this.k.machine;
    const pagesNeeded = Math.ceil(size / 4096);
    const start = yield* this.allocVmapArea(cpu, (pagesNeeded + 1) * 4096, align, vstart, vend);
    const pages: number[] = [];
    let cost = 0;
    for (let i = 0; i < pagesNeeded; i++) {
      const pfn = m.mem.alloc(FrameState.VMALLOC);
      pages.push(pfn);
      const off = this.k.pgtables.pteOffsetAlloc(this.k.initMm, start + i * 4096, true);
      cost += m.costs.allocZeroPage + m.costs.vmapPte + this.k.pgtables.lastAllocated * m.costs.ptAlloc;
      m.mem.words[off] = pteLo(pfn, PAGE_KERNEL_LO & this.kernelPteMask);
      m.mem.words[off + 1] = pteHi(pfn, _PAGE_NX_HI);
    }
    this.k.counters.values[C.vmalloc_calls]!++;
    const area: VmapArea = { start, end: start + (pagesNeeded + 1) * 4096, pages, kind: "vmalloc", huge: false };
    this.busy.set(start, area);
    yield cost;
    return area;
  }

  /**
   * A percpu chunk's areas (pcpu_get_vm_areas, mm/vmalloc.c v5.4): "to avoid interacting
   * with regular vmallocs, these areas are allocated from top" of the vmalloc area. The
   * model makes one page-sized area at the very top at boot, at no cost in time: a
   * machine under load has percpu chunks beyond the embedded first one, and what the
   * model needs of them is that init_mm maps the top of the vmalloc area (x86-64:
   * sync_global_pgds finds that PGD entry present and walks pgd_list for it too).
   */
  pcpuGetVmAreas(): VmapArea {
    const m = this.k.machine;
    const last = this.free[this.free.length - 1];
    if (last === undefined || last[1] - last[0] < 4096) throw new Error("vmalloc: no room at the top for a percpu chunk");
    const start = last[1] - 4096;
    last[1] = start;
    if (last[1] === last[0]) this.free.pop();
    this.hints.clear();
    const pfn = m.mem.alloc(FrameState.VMALLOC);
    const off = this.k.pgtables.pteOffsetAlloc(this.k.initMm, start, true);
    m.mem.words[off] = pteLo(pfn, PAGE_KERNEL_LO & this.kernelPteMask);
    m.mem.words[off + 1] = pteHi(pfn, _PAGE_NX_HI);
    const area: VmapArea = { start, end: start + 4096, pages: [pfn], kind: "vmalloc", huge: false };
    this.busy.set(start, area);
    return area;
  }

  /**
   * ioremap of `size` bytes of device memory at physical frame `pfn`: 2 MiB PMD
   * leaves where the range and alignment allow (ioremap_try_huge_pmd), else PTEs.
   * A PMD leaf replacing a PTE page frees it only where the arch allows
   * (pmd_free_pte_page: x86-64 yes; PAE no since f967db0b9ed4, then PTEs are used).
   */
  *ioremap(cpu: Cpu, pfn: number, size: number): KGen<VmapArea> {
    const m = this.k.machine;
    const npages = Math.ceil(size / 4096);
    const hugeOk = size % PMD_SIZE === 0 && pfn % 512 === 0;
    const start = yield* this.allocVmapArea(cpu, npages * 4096 + 4096, hugeOk ? PMD_SIZE : 4096, this.start, this.end);
    let huge = hugeOk;
    let cost = 0;
    if (hugeOk) {
      for (let a = start; a < start + size; a += PMD_SIZE) {
        const off = this.k.pgtables.pmdOffsetAlloc(this.k.initMm, a);
        cost += this.k.pgtables.lastAllocated * m.costs.ptAlloc;
        const lo = m.mem.words[off]!;
        if (ptePresent(lo, 0) && !pteHuge(lo, 0)) {
          if (!(yield* this.k.policies.archMm.pmdFreePtePage(cpu, off, a))) {
            huge = false;
            break;
          }
        }
        const p = pfn + (a - start) / 4096;
        m.mem.words[off] = pmdLeafLo(p, PAGE_KERNEL_IO_LO & this.kernelPteMask);
        m.mem.words[off + 1] = pteHi(p, _PAGE_NX_HI);
      }
    }
    if (!huge) {
      for (let i = 0; i < npages; i++) {
        const off = this.k.pgtables.pteOffsetAlloc(this.k.initMm, start + i * 4096, true);
        cost += m.costs.vmapPte + this.k.pgtables.lastAllocated * m.costs.ptAlloc;
        m.mem.words[off] = pteLo(pfn + i, PAGE_KERNEL_IO_LO & this.kernelPteMask);
        m.mem.words[off + 1] = pteHi(pfn + i, _PAGE_NX_HI);
      }
    }
    const area: VmapArea = { start, end: start + npages * 4096 + 4096, pages: [], kind: "ioremap", huge };
    this.busy.set(start, area);
    yield cost + m.costs.vmapAreaAlloc;
    return area;
  }

  /**
   * vfree / iounmap → remove_vm_area → free_unmap_vmap_area: clear the mappings in
   * init_mm (no flush: lazy), free vmalloc pages, put the range on the purge list, and
   * purge once vmap_lazy_nr exceeds lazy_max_pages().
   */
  *vfree(cpu: Cpu, area: VmapArea): KGen {
    const m = this.k.machine;
    if (this.busy.get(area.start) !== area) throw new Error(`vfree of an area that is not allocated: ${this.k.fmtVa(area.start)}`);
    this.busy.delete(area.start);
    let cost = m.costs.vmapAreaAlloc;
    const dataEnd = area.end - 4096;
    if (area.huge) {
      for (let a = area.start; a < dataEnd; a += PMD_SIZE) {
        const off = this.k.pgtables.pmdOffset(this.k.initMm.pgd, a);
        if (off >= 0) {
          m.mem.words[off] = 0;
          m.mem.words[off + 1] = 0;
        }
      }
      // vunmap_range_noflush (v5.8+): PGTBL_PMD_MODIFIED → arch_sync_kernel_mappings.
      if (kernelAtLeast(this.k.version, KERNEL_CHANGES.noVmallocSync)) {
        const sync = this.k.policies.vmallocSync;
        yield cost;
        cost = 0;
        yield* sync.archSyncKernelMappings !== undefined ? sync.archSyncKernelMappings(cpu, area.start, dataEnd) : sync.vmallocSyncUnmappings(cpu);
      }
    } else {
      for (let a = area.start; a < dataEnd; a += 4096) {
        const off = this.k.pgtables.pteOffset(this.k.initMm.pgd, a);
        if (off >= 0) {
          m.mem.words[off] = 0;
          m.mem.words[off + 1] = 0;
          cost += m.costs.vmapPte;
        }
      }
    }
    // The pages go back to the allocator now; the stale TLB entries to them are only
    // legal because nothing dereferences a freed vmalloc address (lazy TLB flushing).
    for (const pfn of area.pages) {
      m.mem.free(pfn, "vfree", m.now);
      cost += m.costs.freePage;
    }
    this.k.counters.values[C.vfree_calls]!++;
    yield cost;
    // free_vmap_area_noflush
    this.purgeList.push(area);
    this.vmapLazyNr += (area.end - area.start) / 4096;
    if (this.vmapLazyNr > this.lazyMaxPages()) yield* this.tryPurgeVmapAreaLazy(cpu);
  }

  /**
   * _vm_unmap_aliases(start, end, flush) (v5.4; the same in v6.5): under
   * vmap_purge_lock, purge the lazily freed areas over [start, end) widened to what the
   * purge list holds; when there was nothing to purge, flush [start, end) only if the
   * caller asked for it (`flush`). The model has no per-CPU vmap blocks, whose dirty
   * ranges would widen the range and set `flush`.
   */
  *_vmUnmapAliases(cpu: Cpu, start: number, end: number, flush: boolean): KGen {
    const before = this.purges;
    yield* this.purgeVmapAreaLazy(cpu, start, end);
    if (this.purges === before && flush && end > start) yield* this.k.policies.kernelRangeFlush.flushKernelRange(cpu, start, end);
  }

  /** vm_unmap_aliases(): what set_memory_ro/x (a BPF JIT image) calls: _vm_unmap_aliases(ULONG_MAX, 0, 0). */
  *vmUnmapAliases(cpu: Cpu): KGen {
    yield* this._vmUnmapAliases(cpu, Infinity, 0, false);
  }

  /** try_purge_vmap_area_lazy: purge unless another CPU is purging (mutex_trylock). */
  *tryPurgeVmapAreaLazy(cpu: Cpu): KGen {
    if (this.purging) return;
    yield* this.purgeVmapAreaLazy(cpu);
  }

  /**
   * purge_vmap_area_lazy: mutex_lock(&vmap_purge_lock) (sleeping while another CPU
   * purges), then purge; [start, end) is a caller's range the flush must cover too
   * (empty by default).
   */
  *purgeVmapAreaLazy(cpu: Cpu, start = Infinity, end = 0): KGen {
    while (this.purging) {
      const wake = new Completion();
      wake.kind = "sleep";
      wake.add();
      this.purgeLockWaiters.push(wake);
      yield wake;
    }
    this.purging = true;
    try {
      yield* this.__purgeVmapAreaLazy(cpu, start, end);
    } finally {
      this.purging = false;
      const now = this.k.machine.now;
      for (const w of this.purgeLockWaiters.splice(0)) w.done(now);
    }
  }

  /** __purge_vmap_area_lazy(start, end) (v5.4 + 3f8fd02b1bf1): the flush covers the purged areas and [start, end). */
  private *__purgeVmapAreaLazy(cpu: Cpu, start0: number, end0: number): KGen {
    const m = this.k.machine;
    const valist = this.purgeList;
    if (valist.length === 0) return;
    this.purgeList = [];
    this.purges++;
    this.k.counters.values[C.vmalloc_purges]!++;
    // First make sure the mappings are removed from all page tables before they are freed
    // (v5.3 to v5.7; v5.8 syncs at vunmap instead, arch_sync_kernel_mappings).
    const v = this.k.version;
    if (kernelAtLeast(v, KERNEL_CHANGES.vmallocSyncInPurge) && !kernelAtLeast(v, KERNEL_CHANGES.noVmallocSync)) {
      yield* this.k.policies.vmallocSync.vmallocSyncUnmappings(cpu);
    }
    let start = start0;
    let end = end0;
    for (const va of valist) {
      if (va.start < start) start = va.start;
      if (va.end > end) end = va.end;
    }
    yield* this.k.policies.kernelRangeFlush.flushKernelRange(cpu, start, end);
    // From here on the purged areas can be handed out again: every page table must have
    // lost them. (Only the areas: [start, end) also spans live areas and areas freed after
    // this purge took its list.)
    for (const va of valist) m.watch.kernelRangeRecycled(va.start, va.end, "__purge_vmap_area_lazy");
    let cost = 0;
    for (const va of valist) {
      this.vmapLazyNr -= (va.end - va.start) / 4096;
      cost += m.costs.vmapAreaAlloc;
    }
    this.freeVaBatch(valist.map((va) => [va.start, va.end]));
    yield cost;
    this.purgesCompleted++;
  }
}
