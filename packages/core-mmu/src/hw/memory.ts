/**
 * Physical memory: frames with a life cycle and a generation counter, plus the
 * storage of page-table pages (512 64-bit entries as two 32-bit words each).
 *
 * The generation of a frame changes when it is freed and again when it is handed
 * out: a TLB entry that remembers the generation it was filled with can tell, in one
 * compare, that its frame has been freed or reused since (hazard class 1).
 */

import { FrameState } from "./frame-state.js";
import { NO_WATCH, type HwWatch } from "./watch.js";

export { FrameState, FRAME_STATE_NAMES } from "./frame-state.js";

/** Thrown when the simulated machine runs out of frames: a model sizing error, not a hazard. */
export class OutOfMemoryError extends Error {
  override readonly name = "OutOfMemoryError";
}

export const ENTRIES_PER_TABLE = 512;
/** Frames in a 2 MiB compound page (HPAGE_PMD_NR). */
export const HPAGE_NR = 512;
export const COMPOUND_HEAD = 1;
export const COMPOUND_TAIL = 2;
const WORDS_PER_TABLE = ENTRIES_PER_TABLE * 2;

export class PhysMem {
  readonly nframes: number;
  readonly state: Uint8Array;
  /** Changes on every free and every allocation. */
  readonly gen: Uint32Array;
  /**
   * Write-protect generation: bumped when the kernel starts relying on a frame not
   * being written through old writable translations (write-protect committed,
   * writeback started, page shared for COW). See oracle class 2.
   */
  readonly wpGen: Uint32Array;
  /** Number of PTEs mapping the frame (page_mapcount). */
  readonly mapcount: Int32Array;
  /** Index into `sites` of the kernel path that last freed the frame; time of that free. */
  readonly freedBy: Uint16Array;
  readonly freedAt: Float64Array;
  /** PageDirty, as struct page keeps it (set when D moves from a PTE to the page). */
  readonly pageDirty: Uint8Array;
  /**
   * An anonymous page whose PG_swapbacked MADV_FREE cleared (PageAnon && !PageSwapBacked,
   * v4.12+): lazyfree, reclaim may discard it while its PTEs stay clean.
   */
  readonly lazyfree: Uint8Array;
  /**
   * Compound pages of order 9 (a transparent huge page: 512 frames, 2 MiB aligned):
   * COMPOUND_HEAD on the first frame, COMPOUND_TAIL on the others, 0 elsewhere
   * (PageHead / PageTail of struct page).
   */
  readonly compound: Uint8Array;
  /** Per-node LIFO free lists: node n owns frames [n × framesPerNode, (n + 1) × framesPerNode). */
  readonly nodes: number;
  readonly framesPerNode: number;
  private readonly freeLists: Int32Array[];
  private readonly freeTops: Int32Array;
  private readonly ptSlot: Int32Array;
  private ptWords: Uint32Array;
  private ptSlotsUsed = 0;
  private readonly ptFreeSlots: number[] = [];
  private readonly siteIndex = new Map<string, number>();
  /** The last name `site` was asked for, and its index. */
  private lastSiteName: string | null = null;
  private lastSite = -1;
  /** Kernel paths named by frees and write-protects (index 0: none). */
  readonly sites: string[] = ["(none)"];
  /** Site (index into `sites`) that last write-protected each frame (relyWriteProtected). */
  readonly wpSite: Uint16Array;
  /** Whoever watches frames being freed. */
  watch: HwWatch = NO_WATCH;
  /** Allocation counters by state, for reporting. */
  allocated = 0;
  peakAllocated = 0;

  constructor(nframes: number, nodes = 1) {
    if (!Number.isInteger(nframes) || nframes < 64) throw new RangeError(`nframes must be an integer >= 64, got ${nframes}`);
    if (!Number.isInteger(nodes) || nodes < 1 || nframes % nodes !== 0) throw new RangeError(`nodes (${nodes}) must divide nframes (${nframes})`);
    this.nframes = nframes;
    this.nodes = nodes;
    this.framesPerNode = nframes / nodes;
    this.state = new Uint8Array(nframes);
    this.gen = new Uint32Array(nframes);
    this.wpGen = new Uint32Array(nframes);
    this.mapcount = new Int32Array(nframes);
    this.freedBy = new Uint16Array(nframes);
    this.freedAt = new Float64Array(nframes);
    this.pageDirty = new Uint8Array(nframes);
    this.lazyfree = new Uint8Array(nframes);
    this.compound = new Uint8Array(nframes);
    this.wpSite = new Uint16Array(nframes);
    this.freeLists = [];
    this.freeTops = new Int32Array(nodes);
    for (let n = 0; n < nodes; n++) {
      const list = new Int32Array(this.framesPerNode);
      // Frame 0 is never handed out (a zero PFN in a PTE then always means "none").
      let top = 0;
      for (let pfn = (n + 1) * this.framesPerNode - 1; pfn >= Math.max(1, n * this.framesPerNode); pfn--) list[top++] = pfn;
      this.freeTops[n] = top;
      this.freeLists.push(list);
    }
    this.ptSlot = new Int32Array(nframes).fill(-1);
    this.ptWords = new Uint32Array(WORDS_PER_TABLE * 64);
    this.state[0] = FrameState.KERNEL;
  }

  get freeFrames(): number {
    let n = 0;
    for (let i = 0; i < this.nodes; i++) n += this.freeTops[i]!;
    return n;
  }

  /** Free frames on `node`. */
  nodeFree(node: number): number {
    return this.freeTops[node]!;
  }

  nodeOf(pfn: number): number {
    return Math.floor(pfn / this.framesPerNode);
  }

  /**
   * Allocates a frame for `state`, from `node` first and then the other nodes in
   * order (the zonelist fallback). LIFO, like the per-CPU page lists: a freed frame
   * is reused soon.
   */
  alloc(state: Exclude<FrameState, 0>, node = 0): number {
    let n = node;
    for (let i = 0; i < this.nodes && this.freeTops[n] === 0; i++) n = (n + 1) % this.nodes;
    if (this.freeTops[n] === 0) throw new OutOfMemoryError(`simulated memory exhausted (${this.nframes} frames)`);
    const pfn = this.freeLists[n]![--this.freeTops[n]!]!;
    this.state[pfn] = state;
    this.gen[pfn] = (this.gen[pfn]! + 1) >>> 0;
    this.mapcount[pfn] = 0;
    this.pageDirty[pfn] = 0;
    this.lazyfree[pfn] = 0;
    if (state === FrameState.PAGETABLE) this.attachTable(pfn);
    if (++this.allocated > this.peakAllocated) this.peakAllocated = this.allocated;
    return pfn;
  }

  /**
   * 512 free frames, 2 MiB aligned, on `node` only (an order-9 allocation from the buddy
   * lists, __alloc_pages with HPAGE_PMD_ORDER): marked as one compound page. Returns the
   * head frame, or -1 when no aligned run of 512 free frames is left (fragmentation;
   * the model does no compaction). Not a hot path: one call per 2 MiB faulted.
   */
  allocHuge(state: Exclude<FrameState, 0>, node: number): number {
    const base = node * this.framesPerNode;
    const limit = base + this.framesPerNode;
    let head = -1;
    // The lowest aligned run, as the buddy allocator's lowest free order-9 block.
    for (let h = Math.max(HPAGE_NR, base + ((HPAGE_NR - (base % HPAGE_NR)) % HPAGE_NR)); h + HPAGE_NR <= limit && head < 0; h += HPAGE_NR) {
      let i = 0;
      while (i < HPAGE_NR && this.state[h + i] === FrameState.FREE) i++;
      if (i === HPAGE_NR) head = h;
    }
    if (head < 0) return -1;
    // Take the run off the node's free list, keeping the others' order.
    const list = this.freeLists[node]!;
    let top = 0;
    for (let j = 0, n = this.freeTops[node]!; j < n; j++) {
      const pfn = list[j]!;
      if (pfn < head || pfn >= head + HPAGE_NR) list[top++] = pfn;
    }
    this.freeTops[node] = top;
    for (let pfn = head; pfn < head + HPAGE_NR; pfn++) {
      this.state[pfn] = state;
      this.gen[pfn] = (this.gen[pfn]! + 1) >>> 0;
      this.mapcount[pfn] = 0;
      this.pageDirty[pfn] = 0;
      this.lazyfree[pfn] = 0;
      this.compound[pfn] = pfn === head ? COMPOUND_HEAD : COMPOUND_TAIL;
    }
    this.allocated += HPAGE_NR;
    if (this.allocated > this.peakAllocated) this.peakAllocated = this.allocated;
    return head;
  }

  /** split_huge_page's effect on the frames: the compound page becomes 512 order-0 pages. */
  splitCompound(head: number): void {
    for (let pfn = head; pfn < head + HPAGE_NR; pfn++) this.compound[pfn] = 0;
  }

  /** Frees a frame; `site` names the kernel path (shown when a stale translation to it is used). */
  free(pfn: number, site: string, time: number): void {
    const s = this.state[pfn];
    if (s === undefined || s === FrameState.FREE) throw new Error(`double free of pfn ${pfn} at ${site}`);
    if (s === FrameState.KERNEL) throw new Error(`freeing kernel frame ${pfn} at ${site}`);
    if (s === FrameState.PAGETABLE) this.detachTable(pfn);
    if (this.compound[pfn] !== 0) {
      // A compound page is freed whole through its head (free_compound_page).
      if (this.compound[pfn] === COMPOUND_TAIL) throw new Error(`freeing tail pfn ${pfn} of a compound page at ${site}`);
      for (let t = pfn + HPAGE_NR - 1; t > pfn; t--) {
        this.compound[t] = 0;
        this.free(t, site, time);
      }
      this.compound[pfn] = 0;
    }
    this.state[pfn] = FrameState.FREE;
    this.gen[pfn] = (this.gen[pfn]! + 1) >>> 0;
    this.freedBy[pfn] = this.site(site);
    this.freedAt[pfn] = time;
    const n = this.nodeOf(pfn);
    this.freeLists[n]![this.freeTops[n]!++] = pfn;
    this.allocated--;
    this.watch.frameFreed(pfn, s as FrameState);
  }

  /**
   * The kernel starts relying on `pfn` not being written through translations cached
   * before now (a write-protect committed, writeback started, a page shared for COW):
   * a write through such an entry would be lost. `site` names the kernel path.
   */
  relyWriteProtected(pfn: number, site: string): void {
    this.wpGen[pfn] = (this.wpGen[pfn]! + 1) >>> 0;
    this.wpSite[pfn] = this.site(site);
  }

  /** Reserves a frame for the kernel forever (zero page, kernel page tables). */
  allocKernel(): number {
    return this.alloc(FrameState.KERNEL);
  }

  site(name: string): number {
    // Calls come in runs from one call site (one constant string): skip the Map for a repeat.
    if (name === this.lastSiteName) return this.lastSite;
    let i = this.siteIndex.get(name);
    if (i === undefined) {
      i = this.sites.length;
      this.sites.push(name);
      this.siteIndex.set(name, i);
    }
    this.lastSiteName = name;
    this.lastSite = i;
    return i;
  }

  // ---- page-table storage -------------------------------------------------

  /** Word offset of entry `idx` of the page-table page in frame `pfn` (lo word; hi at +1). */
  entryOffset(pfn: number, idx: number): number {
    const slot = this.ptSlot[pfn]!;
    if (slot < 0) throw new Error(`pfn ${pfn} is not a page-table page`);
    return slot * WORDS_PER_TABLE + idx * 2;
  }

  /** Like entryOffset but -1 when the frame no longer holds a page table (freed, reused). */
  entryOffsetOrNeg(pfn: number, idx: number): number {
    const slot = this.ptSlot[pfn]!;
    return slot < 0 ? -1 : slot * WORDS_PER_TABLE + idx * 2;
  }

  /** The backing words of every page table; index with entryOffset(). Re-read after allocations (it can grow). */
  get words(): Uint32Array {
    return this.ptWords;
  }

  isTable(pfn: number): boolean {
    return this.ptSlot[pfn]! >= 0;
  }

  private attachTable(pfn: number): void {
    let slot = this.ptFreeSlots.pop();
    if (slot === undefined) {
      slot = this.ptSlotsUsed++;
      if ((slot + 1) * WORDS_PER_TABLE > this.ptWords.length) {
        const bigger = new Uint32Array(this.ptWords.length * 2);
        bigger.set(this.ptWords);
        this.ptWords = bigger;
      }
    }
    this.ptSlot[pfn] = slot;
    this.ptWords.fill(0, slot * WORDS_PER_TABLE, (slot + 1) * WORDS_PER_TABLE);
  }

  private detachTable(pfn: number): void {
    const slot = this.ptSlot[pfn]!;
    this.ptFreeSlots.push(slot);
    this.ptSlot[pfn] = -1;
  }
}
