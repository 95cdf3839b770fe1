/**
 * The page allocator's watermark logic, after mm/page_alloc.c (v4.2): per-node
 * watermarks from min_free_kbytes (init_per_zone_wmark_min), get_page_from_freelist
 * over the zonelist (local node first) at WMARK_LOW, then __alloc_pages_slowpath:
 * wake every node's kswapd and retry at WMARK_MIN. The caller reclaims directly when
 * that fails too. Frames themselves come from the hardware's free lists (hw/memory.ts).
 */
import type { Cpu } from "../hw/cpu.js";
import { HPAGE_NR, type FrameState, type PhysMem } from "../hw/memory.js";

/** wakeup_kswapd, as the allocator's slow path calls it (mm/vmscan.c implements it). */
export interface KswapdWaker {
  wakeupKswapd(node: number): void;
}

export class PageAlloc {
  /** Per node, in pages: WMARK_MIN, WMARK_LOW, WMARK_HIGH. */
  readonly wmarkMin: Int32Array;
  readonly wmarkLow: Int32Array;
  readonly wmarkHigh: Int32Array;
  readonly nodes: number;
  /** Set when kswapd exists (mm/vmscan.ts). */
  kswapd: KswapdWaker | null = null;

  constructor(private readonly mem: PhysMem) {
    this.nodes = mem.nodes;
    // init_per_zone_wmark_min: min_free_kbytes = sqrt(lowmem_kbytes * 16), clamped to
    // [128, 65536]; split across zones by size; low = min + min/4, high = min + min/2.
    const kb = (mem.nframes * 4096) / 1024;
    const minFreeKb = Math.min(65536, Math.max(128, Math.floor(Math.sqrt(kb * 16))));
    const perNode = Math.floor(minFreeKb / 4 / this.nodes);
    this.wmarkMin = new Int32Array(this.nodes).fill(perNode);
    this.wmarkLow = new Int32Array(this.nodes).fill(perNode + (perNode >> 2));
    this.wmarkHigh = new Int32Array(this.nodes).fill(perNode + (perNode >> 1));
  }

  /**
   * A page for `state`, local node first: ALLOC_WMARK_LOW, then the slow path. Returns
   * -1 when the caller must reclaim directly.
   */
  tryAllocPage(cpu: Cpu, state: Exclude<FrameState, 0>): number {
    const mem = this.mem;
    for (let i = 0; i < this.nodes; i++) {
      const n = (cpu.socket + i) % this.nodes;
      if (mem.nodeFree(n) > this.wmarkLow[n]!) return mem.alloc(state, n);
    }
    for (let n = 0; n < this.nodes; n++) this.kswapd?.wakeupKswapd(n);
    for (let i = 0; i < this.nodes; i++) {
      const n = (cpu.socket + i) % this.nodes;
      if (mem.nodeFree(n) > this.wmarkMin[n]!) return mem.alloc(state, n);
    }
    return -1;
  }

  /**
   * A transparent huge page (alloc_hugepage_vma with HPAGE_PMD_ORDER, v5.17's default
   * defrag=madvise gfp for a VMA without MADV_HUGEPAGE: no direct reclaim or compaction,
   * no kswapd wake-up): 512 contiguous, 2 MiB-aligned frames as one compound page, local
   * node first, only while the node stays above WMARK_LOW. Returns the head frame, or -1
   * (the fault falls back to 4 KiB pages, THP_FAULT_FALLBACK).
   */
  tryAllocHugePage(cpu: Cpu, state: Exclude<FrameState, 0>): number {
    const mem = this.mem;
    for (let i = 0; i < this.nodes; i++) {
      const n = (cpu.socket + i) % this.nodes;
      if (mem.nodeFree(n) - HPAGE_NR <= this.wmarkLow[n]!) continue;
      const head = mem.allocHuge(state, n);
      if (head >= 0) return head;
    }
    return -1;
  }
}
