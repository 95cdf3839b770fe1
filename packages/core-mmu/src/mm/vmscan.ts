/**
 * Page reclaim, after mm/vmscan.c of v4.2 (just before seed 003), the file LRU only:
 * kswapd per node and direct reclaim (try_to_free_pages, with do_try_to_free_pages'
 * priority passes from DEF_PRIORITY down); shrink_lruvec →
 * shrink_inactive_list isolating up to SWAP_CLUSTER_MAX pages → shrink_page_list
 * (page_check_references, try_to_unmap, __remove_mapping) with the pages freed only
 * after the list is processed and try_to_unmap_flush has run; shrink_active_list
 * refilling the inactive list. The file LRU also holds MADV_FREE's lazyfree anonymous
 * pages (v4.12+); shrink_page_list discards them as v4.13 does, or keeps one written
 * since MADV_FREE (swap itself is not modelled).
 */
import type { Cpu } from "../hw/cpu.js";
import { OutOfMemoryError } from "../hw/memory.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import type { PageCache } from "./filemap.js";
import type { PteLocks } from "./ptlock.js";
import { newTlbUbc, type TlbUbc } from "./mm-types.js";
import type { KswapdWaker, PageAlloc } from "./page-alloc.js";
import type { Rmap } from "./rmap.js";
import { ISOLATED, ISOLATED_GATHERED, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, NOT_ISOLATED, type Lru } from "./swap.js";

/** SWAP_CLUSTER_MAX: pages isolated per shrink_inactive_list pass (32 in v4.2 and v4.3). */
export const SWAP_CLUSTER_MAX = 32;

/** DEF_PRIORITY: a reclaim pass at priority p scans each LRU list's size >> p (v4.2). */
export const DEF_PRIORITY = 12;

/**
 * get_scan_count's target for a list of `size` pages at `priority`: size >> priority, but
 * at least SWAP_CLUSTER_MAX (or the whole list). Scaled: the model's RAM is scaled down
 * (each run states by how much), and at the sizes the kernel's lists have on the
 * machines it mirrors (512 MiB or more per node) size >> DEF_PRIORITY is already 32 pages
 * or more; without the floor a scaled-down list would be scanned a page or two at a time.
 */
export function scanTarget(size: number, priority: number): number {
  return Math.max(Math.floor(size / 2 ** priority), Math.min(size, SWAP_CLUSTER_MAX));
}

/** page_check_references outcomes (v4.2). */
type PageRef = "PAGEREF_RECLAIM" | "PAGEREF_RECLAIM_CLEAN" | "PAGEREF_KEEP" | "PAGEREF_ACTIVATE";


export class Reclaim implements KswapdWaker {
  /** kswapd per node: running (a balance_pgdat in progress). */
  private readonly kswapdRunning: Uint8Array;
  /** kswapd's current->tlb_ubc per node; direct reclaimers' per CPU. */
  private readonly kswapdUbc: TlbUbc[];
  private readonly directUbc: TlbUbc[];
  readonly nodes: number;
  private readonly cpusPerNode: number;
  /** Consecutive direct reclaims that freed nothing, per CPU. */
  private readonly noProgress: Int32Array;

  constructor(
    private readonly k: KernelCore,
    private readonly pageAlloc: PageAlloc,
    readonly lru: Lru,
    readonly rmap: Rmap,
    private readonly pageCache: PageCache,
    private readonly ptl: PteLocks,
  ) {
    const m = k.machine;
    this.nodes = m.mem.nodes;
    this.cpusPerNode = m.cpus.length / this.nodes;
    this.kswapdRunning = new Uint8Array(this.nodes);
    this.kswapdUbc = Array.from({ length: this.nodes }, () => newTlbUbc(m.cpus.length));
    this.directUbc = m.cpus.map(() => newTlbUbc(m.cpus.length));
    this.noProgress = new Int32Array(m.cpus.length);
  }

  /** The CPU kswapd of `node` runs on: the node's first CPU. */
  kswapdCpu(node: number): Cpu {
    return this.k.machine.cpus[node * this.cpusPerNode]!;
  }

  /**
   * A fault found no free page: try_to_free_pages, then the access faults again.
   * When reclaim keeps freeing nothing (the rest is anonymous memory, and swap is not
   * modelled) the kernel would invoke the OOM killer; the model stops the run.
   */
  *directReclaimForFault(cpu: Cpu, faultCost: number): KGen {
    yield faultCost;
    const freed = yield* this.tryToFreePages(cpu);
    // should_reclaim_retry: keep going while reclaimable pages remain (referenced
    // pages age, pagevecs drain); only with nothing left to reclaim is it out of memory.
    this.noProgress[cpu.id] = freed > 0 || this.reclaimablePages() > 0 ? 0 : this.noProgress[cpu.id]! + 1;
    if (this.noProgress[cpu.id]! > 16) {
      throw new OutOfMemoryError(`out of memory: reclaim frees nothing (${this.k.machine.mem.freeFrames} free frames; anonymous memory is not reclaimable because swap is not modelled)`);
    }
  }

  /** Pages on the file LRU lists and in the CPUs' LRU-add pagevecs. */
  reclaimablePages(): number {
    let n = this.lru.pendingLruAdds();
    for (let node = 0; node < this.nodes; node++) n += this.lru.size(node, LRU_INACTIVE_FILE) + this.lru.size(node, LRU_ACTIVE_FILE);
    return n;
  }

  /** wakeup_kswapd */
  wakeupKswapd(node: number): void {
    if (this.kswapdRunning[node] === 1) return;
    if (this.k.machine.mem.nodeFree(node) >= this.pageAlloc.wmarkHigh[node]!) return;
    this.kswapdRunning[node] = 1;
    this.k.counters.values[C.mm_vmscan_wakeup_kswapd]!++; // trace_mm_vmscan_wakeup_kswapd
    const cpu = this.kswapdCpu(node);
    if (!this.k.sched.wakeKthread(cpu, this.balancePgdat(cpu, node))) this.kswapdRunning[node] = 0;
  }

  /** kswapd's balance_pgdat: reclaim until the node is above its high watermark. */
  private *balancePgdat(cpu: Cpu, node: number): KGen {
    const mem = this.k.machine.mem;
    try {
      let idle = 0;
      while (mem.nodeFree(node) < this.pageAlloc.wmarkHigh[node]! && idle < 4) {
        const freed = yield* this.shrinkLruvec(cpu, node, this.kswapdUbc[node]!, true);
        idle = freed === 0 ? idle + 1 : 0;
      }
    } finally {
      this.kswapdRunning[node] = 0;
    }
  }

  /**
   * try_to_free_pages → do_try_to_free_pages (v4.2): passes from DEF_PRIORITY down to 0,
   * each shrink_zones over the nodes, local first, each scanning its file lists' size >>
   * priority, until SWAP_CLUSTER_MAX pages are reclaimed. A list whose pages are all
   * young is aged by the early passes and reclaimed by a later one, within one call.
   */
  *tryToFreePages(cpu: Cpu): KGen<number> {
    // do_try_to_free_pages (v4.2): if (global_reclaim(sc)) count_vm_event(ALLOCSTALL);
    this.k.counters.values[C.allocstall]!++;
    let freed = 0;
    for (let priority = DEF_PRIORITY; priority >= 0 && freed < SWAP_CLUSTER_MAX; priority--) {
      for (let i = 0; i < this.nodes && freed < SWAP_CLUSTER_MAX; i++) {
        freed += yield* this.shrinkLruvecDirect(cpu, (cpu.socket + i) % this.nodes, this.directUbc[cpu.id]!, priority);
      }
    }
    return freed;
  }

  /**
   * shrink_lruvec for direct reclaim at `priority` (v4.2, file lists only): get_scan_count's
   * targets are each list's size >> priority; the inactive list is shrunk and the active
   * one refills it (when the inactive is the smaller) SWAP_CLUSTER_MAX at a time, until the
   * targets are scanned or, below DEF_PRIORITY (scan_adjusted), SWAP_CLUSTER_MAX pages
   * are reclaimed.
   */
  private *shrinkLruvecDirect(cpu: Cpu, node: number, ubc: TlbUbc, priority: number): KGen<number> {
    ubc.flushRequired = false;
    // lru_add_drain, which shrink_inactive_list runs first, before the targets are read: on
    // a scaled-down list the pages still in this CPU's pagevec can be all there is.
    this.lru.lruAddDrain(cpu);
    let nrInactive = scanTarget(this.lru.size(node, LRU_INACTIVE_FILE), priority);
    let nrActive = scanTarget(this.lru.size(node, LRU_ACTIVE_FILE), priority);
    const scanAdjusted = priority === DEF_PRIORITY;
    let reclaimed = 0;
    while (nrInactive > 0 || nrActive > 0) {
      if (nrInactive > 0) {
        const n = Math.min(nrInactive, SWAP_CLUSTER_MAX);
        nrInactive -= n;
        reclaimed += yield* this.shrinkInactiveList(cpu, node, ubc, n);
      }
      if (nrActive > 0) {
        const n = Math.min(nrActive, SWAP_CLUSTER_MAX);
        nrActive -= n;
        // shrink_list on an active list: only when inactive_list_is_low.
        if (this.lru.size(node, LRU_INACTIVE_FILE) < this.lru.size(node, LRU_ACTIVE_FILE)) yield* this.shrinkActiveList(cpu, node, n);
      }
      if (reclaimed >= SWAP_CLUSTER_MAX && !scanAdjusted) break;
    }
    return reclaimed;
  }

  /**
   * shrink_lruvec: init_tlb_ubc (flush_required = false; the cpumask is left as it
   * was), refill the inactive list from the active one when it is the smaller, and
   * shrink one batch of the inactive list. `kswapd`: current_is_kswapd(), which decides
   * whether the pages scanned and reclaimed count as pgscan_kswapd / pgsteal_kswapd or
   * pgscan_direct / pgsteal_direct.
   */
  *shrinkLruvec(cpu: Cpu, node: number, ubc: TlbUbc, kswapd = false): KGen<number> {
    ubc.flushRequired = false;
    if (this.lru.size(node, LRU_INACTIVE_FILE) < this.lru.size(node, LRU_ACTIVE_FILE)) yield* this.shrinkActiveList(cpu, node);
    return yield* this.shrinkInactiveList(cpu, node, ubc, SWAP_CLUSTER_MAX, kswapd);
  }

  /** shrink_active_list: move up to `nrToScan` pages from the active tail to the inactive list. */
  private *shrinkActiveList(cpu: Cpu, node: number, nrToScan = SWAP_CLUSTER_MAX): KGen {
    let cost = 0;
    for (let i = 0; i < nrToScan; i++) {
      const pfn = this.lru.tail(node, LRU_ACTIVE_FILE);
      if (pfn < 0) break;
      this.lru.del(pfn, node);
      this.rmap.pageReferenced(pfn); // clears the young bits (ptep_clear_flush_young: no flush on x86)
      this.lru.referenced[pfn] = 0;
      this.lru.add(pfn, node, LRU_INACTIVE_FILE);
      cost += this.k.machine.costs.lruScanPage;
    }
    void cpu;
    if (cost > 0) yield cost;
  }

  /** shrink_inactive_list: isolate up to SWAP_CLUSTER_MAX pages from the inactive tail, shrink them. */
  private *shrinkInactiveList(cpu: Cpu, node: number, ubc: TlbUbc, nrToScan = SWAP_CLUSTER_MAX, kswapd = false): KGen<number> {
    this.lru.lruAddDrain(cpu);
    const isolated: number[] = [];
    for (let i = 0; i < nrToScan; i++) {
      const pfn = this.lru.tail(node, LRU_INACTIVE_FILE);
      if (pfn < 0) break;
      this.lru.del(pfn, node);
      this.lru.isolated[pfn] = ISOLATED;
      isolated.push(pfn);
    }
    if (isolated.length === 0) return 0;
    // v4.2 counts these per zone (pgscan_kswapd_normal, …); v4.8+ per node, the names used here.
    const values = this.k.counters.values;
    values[kswapd ? C.pgscan_kswapd : C.pgscan_direct]! += isolated.length;
    const reclaimed = yield* this.shrinkPageList(cpu, node, isolated, ubc);
    values[kswapd ? C.pgsteal_kswapd : C.pgsteal_direct]! += reclaimed;
    return reclaimed;
  }

  /** page_check_references (v4.2), for file pages. */
  private pageCheckReferences(pfn: number): PageRef {
    const referencedPtes = this.rmap.pageReferenced(pfn);
    const referencedPage = this.lru.referenced[pfn] === 1;
    this.lru.referenced[pfn] = 0;
    if (referencedPtes > 0) {
      this.lru.referenced[pfn] = 1;
      if (referencedPage || referencedPtes > 1) return "PAGEREF_ACTIVATE";
      return "PAGEREF_KEEP";
    }
    return referencedPage ? "PAGEREF_RECLAIM_CLEAN" : "PAGEREF_RECLAIM";
  }

  /**
   * shrink_page_list: keep or activate referenced pages; unmap the rest
   * (try_to_unmap with TTU_BATCH_FLUSH), remove them from the page cache (a lazyfree
   * page: discard it, v4.13), then try_to_unmap_flush and free them all at the end.
   * Returns the pages freed.
   */
  private *shrinkPageList(cpu: Cpu, node: number, pages: number[], ubc: TlbUbc): KGen<number> {
    const m = this.k.machine;
    const policy = this.k.policies.unmapFlush;
    const toFree: number[] = [];
    let cost = 0;
    for (const pfn of pages) {
      cost += m.costs.lruScanPage;
      const ref = this.pageCheckReferences(pfn);
      if (ref === "PAGEREF_ACTIVATE") {
        this.lru.add(pfn, node, LRU_ACTIVE_FILE);
        continue;
      }
      if (ref === "PAGEREF_KEEP") {
        this.lru.add(pfn, node, LRU_INACTIVE_FILE);
        continue;
      }
      if (this.rmap.mapped(pfn)) {
        if (cost > 0) yield cost;
        cost = 0;
        if (!(yield* this.rmap.tryToUnmap(cpu, pfn, ubc))) {
          // A lazyfree page written since MADV_FREE is swap-backed again (activate_locked:
          // it goes to the anon LRU, which the model does not keep).
          this.lru.isolated[pfn] = NOT_ISOLATED;
          continue;
        }
        if (this.rmap.mapped(pfn)) {
          // SWAP_AGAIN: a mapping could not be unmapped (its PTE changed under us); keep the page.
          this.lru.add(pfn, node, LRU_INACTIVE_FILE);
          continue;
        }
      }
      if (m.mem.lazyfree[pfn] === 1) {
        // PageAnon && !PageSwapBacked (v4.13): page_ref_freeze(page, 1) fails while a zap's
        // gather still holds the page (it frees the page itself) and a dirty page is kept;
        // otherwise the page is discarded, no writeback (PGLAZYFREED).
        if (this.lru.isolated[pfn] === ISOLATED_GATHERED || this.lru.gatherRefs[pfn]! > 0 || m.mem.pageDirty[pfn] === 1) {
          this.lru.add(pfn, node, LRU_INACTIVE_FILE);
          continue;
        }
        this.k.counters.add("pglazyfreed");
        toFree.push(pfn);
        continue;
      }
      if (m.mem.pageDirty[pfn] === 1) {
        // A writable PTE whose flush is still pending must be flushed before IO starts
        // (try_to_unmap_flush_dirty; the seed flushes dirty PTEs at once instead).
        if (cost > 0) yield cost;
        cost = 0;
        yield* policy.tryToUnmapFlushDirty(cpu, ubc);
        yield* this.pageout(cpu, pfn);
        this.lru.add(pfn, node, LRU_INACTIVE_FILE);
        continue;
      }
      // __remove_mapping: page_ref_freeze fails while someone else holds a reference
      // (an mmu_gather that has not flushed yet): the page is kept.
      if (this.lru.gatherRefs[pfn]! > 0) {
        this.lru.add(pfn, node, LRU_INACTIVE_FILE);
        continue;
      }
      this.pageCache.deleteFromPageCache(pfn);
      toFree.push(pfn);
    }
    if (cost > 0) yield cost;
    // try_to_unmap_flush, then free_hot_cold_page_list.
    yield* policy.tryToUnmapFlush(cpu, ubc);
    let freeCost = 0;
    for (const pfn of toFree) {
      this.lru.isolated[pfn] = NOT_ISOLATED;
      m.mem.free(pfn, "shrink_page_list (reclaim)", m.now);
      freeCost += m.costs.freePage;
    }
    this.k.counters.values[C.pages_freed]! += toFree.length;
    if (freeCost > 0) yield freeCost;
    return toFree.length;
  }

  /**
   * clear_page_dirty_for_io → page_mkclean → rmap_walk_file: every VMA that maps the
   * page's file index, in every mm, has its PTE page's lock taken (page_vma_mapped_walk)
   * even where the PTE is gone; so a zap that cleared a dirty PTE and has not flushed it
   * yet (it holds the lock until its forced flush) is waited for.
   */
  private *pageMkcleanWalk(cpu: Cpu, pfn: number): KGen {
    const owner = this.pageCache.ownerOf(pfn);
    if (owner === null) return;
    const k = this.k;
    for (const mm of k.mms) {
      for (const vma of [...mm.vmas, ...mm.unlinking]) {
        if (vma.file !== owner.file) continue;
        const va = vma.start + (owner.index - vma.pgoff) * 4096;
        if (va < vma.start || va >= vma.end) continue;
        const off = k.pgtables.pteOffset(mm.pgd, va);
        if (off >= 0 && this.ptl.held(off)) {
          yield* this.ptl.lock(cpu, off);
          this.ptl.unlock(cpu, off);
        }
      }
    }
  }

  /**
   * pageout: clear_page_dirty_for_io and ->writepage. Writeback snapshots the page
   * from here on: a write through an old writable translation would be lost (class 2).
   * The model completes the IO at once; the clean page is reclaimed on a later pass.
   */
  private *pageout(cpu: Cpu, pfn: number): KGen {
    yield* this.pageMkcleanWalk(cpu, pfn);
    const m = this.k.machine;
    m.mem.pageDirty[pfn] = 0;
    m.mem.relyWriteProtected(pfn, "pageout (writeback started)");
    this.k.counters.values[C.nr_vmscan_write]!++; // pageout: inc_zone_page_state(page, NR_VMSCAN_WRITE)
    yield m.costs.writepage;
  }
}
