/**
 * The page cache, after mm/filemap.c (v4.2): which frame caches which page of which
 * file (struct address_space, page->mapping, page->index), add_to_page_cache_lru,
 * __delete_from_page_cache, and filemap_fault filling a missing page. Files are sparse:
 * a missing page is filled with zeroes, no I/O (as vm-scalability's sparse files are).
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState } from "../hw/memory.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import { FileMapping } from "./mm-types.js";
import type { PageAlloc } from "./page-alloc.js";
import type { Lru } from "./swap.js";

export class PageCache {
  readonly files: FileMapping[] = [];
  /** The file and index of each page-cache frame (page->mapping, page->index). */
  private readonly cacheFile: Int32Array;
  private readonly cacheIndex: Int32Array;

  constructor(
    private readonly k: KernelCore,
    private readonly pageAlloc: PageAlloc,
    private readonly lru: Lru,
  ) {
    const nframes = k.machine.mem.nframes;
    this.cacheFile = new Int32Array(nframes).fill(-1);
    this.cacheIndex = new Int32Array(nframes);
  }

  /** A sparse file of `bytes` (rounded up to pages), empty page cache. */
  createFile(bytes: number): FileMapping {
    const f = new FileMapping(this.files.length + 1, Math.ceil(bytes / 4096));
    this.files.push(f);
    return f;
  }

  /**
   * add_to_page_cache_lru: the frame caches page `index` of `file` and goes to the
   * inactive file list through this CPU's LRU-add pagevec (lru_cache_add).
   */
  addToPageCacheLru(cpu: Cpu, file: FileMapping, index: number, pfn: number): void {
    file.pages[index] = pfn;
    file.nrpages++;
    this.cacheFile[pfn] = file.id;
    this.cacheIndex[pfn] = index;
    this.lru.lruCacheAdd(cpu, pfn);
  }

  /** __delete_from_page_cache (the frame is freed by the caller). */
  /** page->mapping and page->index of a page-cache frame (null when it is not in the cache). */
  ownerOf(pfn: number): { file: FileMapping; index: number } | null {
    const f = this.files[this.cacheFile[pfn]! - 1];
    return f === undefined ? null : { file: f, index: this.cacheIndex[pfn]! };
  }

  deleteFromPageCache(pfn: number): void {
    const f = this.files[this.cacheFile[pfn]! - 1];
    if (f === undefined) throw new Error(`pfn ${pfn} is not in the page cache`);
    f.pages[this.cacheIndex[pfn]!] = -1;
    f.nrpages--;
    this.cacheFile[pfn] = -1;
  }

  /**
   * filemap_fault: the page-cache page for `index`, filled (zeroes: a sparse file) if it
   * was not cached. Returns the frame (-1: no free page, reclaim first) and the cycles it took.
   */
  filemapFault(cpu: Cpu, file: FileMapping, index: number): [pfn: number, cycles: number] {
    if (index >= file.sizePages) throw new SegmentationFault(`access beyond the end of file ${file.id} (page ${index})`);
    const cached = file.pages[index]!;
    if (cached >= 0) return [cached, 0];
    const pfn = this.pageAlloc.tryAllocPage(cpu, FrameState.PAGECACHE);
    if (pfn < 0) return [-1, 0];
    this.k.counters.values[C.pgcache_fill]!++;
    this.addToPageCacheLru(cpu, file, index, pfn);
    return [pfn, this.k.machine.costs.allocZeroPage];
  }
}

/** A fault the model cannot serve: the workload touched memory it has not mapped. */
export class SegmentationFault extends Error {
  override readonly name = "SegmentationFault";
}
