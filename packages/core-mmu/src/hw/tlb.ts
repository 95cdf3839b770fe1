/**
 * A per-CPU TLB: set-associative, typed arrays, no allocation per lookup.
 *
 * x86 semantics (Intel SDM Vol. 3A §4.10): entries are tagged by PCID unless global;
 * INVLPG drops the address in the current PCID and any global entry for it; a CR3
 * write drops the non-global entries of the PCID; a full flush (CR4.PGE toggle or
 * INVPCID all) drops everything. Not-present entries are never cached.
 *
 * Each entry also remembers what it was filled from: the generation of its frame and
 * the frame's write-protect generation at fill time (a watcher compares them with the
 * frame's current ones; see hw/watch.ts).
 */

/** Permission and state bits kept per entry (the combined rights of the walk). */
export const TlbFlag = {
  RW: 1,
  US: 2,
  D: 4,
  G: 8,
  NX: 16,
} as const;

export interface TlbParams {
  /** Total entries; a power of two times `ways`. */
  readonly entries: number;
  readonly ways: number;
  /** 12 for 4 KiB pages, 21 for 2 MiB. */
  readonly pageShift: number;
}

/** PCIDs (12 bits) and the per-PCID arrays' first size. */
const PCID_COUNT = 4096;
const PCID_INITIAL = 8;

/** `Tlb.state` of an entry that holds nothing. */
const ENTRY_INVALID = -1;
/** `Tlb.state` of a global entry (live in every PCID until INVLPG or a full flush). */
const ENTRY_GLOBAL = -2;
/** `Tlb.stamp` of an entry that is not live (every live one has a stamp of at least 1). */
const NOT_LIVE = -1;
/**
 * A PCID's epoch stays below this, so that `epoch * 4096 + pcid` is an int32 (the
 * largest, 2^19 - 1 times 4096 plus 4095, is 2^31 - 1). The CR3 write that would reach
 * it renumbers the PCID's epoch to 0 (`restartEpoch`).
 */
const EPOCH_LIMIT = 2 ** 19;
/** A `Tlb.tagCount` counter that reaches this (a byte's largest) stays there. */
const TAG_COUNT_STUCK = 255;
/** The LRU clock stays below this (an int32); reaching it renumbers the stamps (`renumberStamps`). */
const CLOCK_LIMIT = 2 ** 31 - 1;

export class Tlb {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  readonly pageShift: number;
  readonly pageSize: number;
  private readonly setMask: number;
  /** log2(sets): a page number's tag bits (what a set's ways differ in) are `vpnLo >>> setBits`. */
  private readonly setBits: number;
  /** Virtual page number (va / pageSize) of each entry. Written by `insert` only. */
  readonly vpn: Float64Array;
  /**
   * The low 32 bits of `vpn` (ToInt32), what `lookup` scans: V8 compares int32 lanes
   * much faster than float64 ones (docs/performance.md); a match is confirmed on `vpn`.
   */
  private readonly vpnLo: Int32Array;
  /** 1 once some page number filled was not an int32 (then a `vpnLo` match is confirmed on `vpn`); a number, not a boolean, for a one-compare test (docs/performance.md). */
  private wide = 0;
  readonly pcid: Uint16Array;
  readonly pfn: Float64Array;
  readonly flags: Uint8Array;
  readonly gen: Uint32Array;
  readonly wpGen: Uint32Array;
  /**
   * When each live entry was last used (the TLB's own clock, an int32), for LRU;
   * NOT_LIVE once it is dropped. Only the order of the stamps within a set matters.
   */
  private readonly stamp: Int32Array;
  /**
   * Whether each entry is valid, and for a non-global one the epoch of its PCID it was
   * filled in: ENTRY_INVALID, ENTRY_GLOBAL, or epoch * 4096 + pcid (an int32: epochs stay
   * below EPOCH_LIMIT). A CR3 write invalidates every non-global entry of a PCID in O(1):
   * it bumps the PCID's epoch, and a non-global entry is live only while its state
   * equals its PCID's current key. One array, so that a lookup reads one word to know
   * whether a match is usable.
   */
  private readonly state: Int32Array;
  /**
   * Per set, a way that is the only live entry of the set with its `vpnLo`, or -1. Set
   * by `insert`, the only writer of `vpnLo` and the only way an entry becomes live (so
   * nothing else can make the hint wrong: other operations only make entries not
   * live). A lookup whose page number has that `vpnLo` needs to look at no other way:
   * that way is the first match of a full scan, or there is none. Exact, not a guess:
   * what `lookup` returns is what the scan returns.
   */
  private readonly hint: Int32Array;
  /**
   * Per set, 32 counters: how many of its ways have a `vpnLo` whose tag bits end in
   * each 5-bit value (`(vpnLo >>> setBits) & 31`), whatever the way's state. A page whose counter is 0
   * is in no way of the set: `lookup` misses without a scan (most misses: a set's 12
   * ways fill at most 12 of the 32). Kept by `insert`, the only writer of `vpnLo`. A
   * count that reaches TAG_COUNT_STUCK (a set of 255 ways or more) stays there: never
   * 0 again, so never a wrong miss, only a scan.
   */
  private readonly tagCount: Uint8Array;
  /**
   * `absent` 1: no way of the set of `absentLo` has that `vpnLo` (seen by a `lookup` that
   * scanned the set and missed; only `insert` writes `vpnLo`, and it clears this). Then
   * the fill that follows the miss needs no duplicate check: its scan reads the stamps
   * only, as tlb_ref.c's.
   */
  private absent = 0;
  private absentLo = 0;
  /**
   * Per-PCID epoch and live non-global count. Sized for the PCIDs a run without PTI
   * uses (0 without PCID; kern_pcid(asid) = 1..6 with it) and grown to all 4096 on the
   * first higher one (PTI's user PCIDs have bit 11 set).
   */
  private pcidEpoch = new Int32Array(PCID_INITIAL);
  private nonGlobalLive = new Uint32Array(PCID_INITIAL);
  /** The LRU clock: the last stamp given; below CLOCK_LIMIT. */
  private clock = 0;
  /** Number of live entries (kept exact). */
  live = 0;
  /**
   * Counts the CR3 writes that left entries valid but dead (an older epoch). A set whose
   * `sweptAt` is behind it may hold such entries: `insert` marks them invalid first
   * (which nothing can tell from dead), so that its scan of the set needs no epoch.
   */
  private staleSeq = 0;
  private readonly sweptAt: Float64Array;

  constructor(p: TlbParams) {
    const sets = p.entries / p.ways;
    if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0) {
      throw new RangeError(`TLB entries/ways must be a power of two, got ${p.entries}/${p.ways}`);
    }
    this.entries = p.entries;
    this.ways = p.ways;
    this.sets = sets;
    this.setMask = sets - 1;
    this.setBits = 31 - Math.clz32(sets);
    this.pageShift = p.pageShift;
    this.pageSize = 2 ** p.pageShift;
    this.vpn = new Float64Array(p.entries);
    this.vpnLo = new Int32Array(p.entries);
    this.pcid = new Uint16Array(p.entries);
    this.pfn = new Float64Array(p.entries);
    this.flags = new Uint8Array(p.entries);
    this.gen = new Uint32Array(p.entries);
    this.wpGen = new Uint32Array(p.entries);
    this.stamp = new Int32Array(p.entries).fill(NOT_LIVE);
    this.state = new Int32Array(p.entries).fill(ENTRY_INVALID);
    this.hint = new Int32Array(sets).fill(-1);
    this.tagCount = new Uint8Array(sets * 32);
    // Every way starts with vpnLo 0.
    for (let set = 0; set < sets; set++) this.tagCount[set * 32] = Math.min(p.ways, TAG_COUNT_STUCK);
    this.sweptAt = new Float64Array(sets);
  }

  /** The state a live non-global entry of `pcid` has now; ENTRY_INVALID if `pcid` never had one. */
  private liveKey(pcid: number): number {
    return pcid < this.pcidEpoch.length ? this.pcidEpoch[pcid]! * PCID_COUNT + pcid : ENTRY_INVALID;
  }

  /** Whether entry `i` holds a translation the CPU can use. */
  isLive(i: number): boolean {
    const st = this.state[i]!;
    return st === ENTRY_GLOBAL || (st >= 0 && st === this.liveKey(this.pcid[i]!));
  }

  /** Whether entry `i` is live and the CPU can use it while CR3 holds `pcid` (its own PCID's, or global). */
  usableIn(i: number, pcid: number): boolean {
    return this.isLive(i) && ((this.flags[i]! & TlbFlag.G) !== 0 || this.pcid[i] === pcid);
  }

  /**
   * Index of the entry translating `vpn` in `pcid` (or a global one), or -1: the first
   * way of the set that matches. O(ways), O(1) for the page the set's `hint` names
   * and for a page the set's `tagCount` rules out.
   * The hot path of every simulated access (docs/performance.md).
   */
  lookup(vpn: number, pcid: number): number {
    const lo = vpn | 0;
    const vpnLo = this.vpnLo;
    const set = lo & this.setMask;
    const h = this.hint[set]!;
    if (h >= 0 && vpnLo[h] === lo) {
      // The only way of the set that can match.
      if (lo === vpn && this.wide === 0) return this.use(h, pcid);
      return this.vpn[h] === vpn ? this.use(h, pcid) : -1;
    }
    if (this.tagCount[(set << 5) | ((lo >>> this.setBits) & 31)] === 0) {
      this.absentLo = lo;
      this.absent = 1;
      return -1;
    }
    const base = set * this.ways;
    const end = base + this.ways;
    // With every page number filled an int32, equal low words are equal page numbers.
    const confirm = this.wide === 1 || lo !== vpn;
    let seen = false;
    for (let i = base; i < end; i++) {
      if (vpnLo[i] === lo) {
        seen = true;
        if (!confirm || this.vpn[i] === vpn) {
          const st = this.state[i]!;
          if (st === ENTRY_GLOBAL || (st >= 0 && st === this.liveKey(pcid))) {
            this.stamp[i] = this.tick();
            return i;
          }
        }
      }
    }
    if (!seen) {
      this.absentLo = lo;
      this.absent = 1;
    }
    return -1;
  }

  /** `lookup`'s end for the one way that can match: `i` if it is usable in `pcid` (then stamped), else -1. */
  private use(i: number, pcid: number): number {
    const st = this.state[i]!;
    if (st === ENTRY_GLOBAL || (st >= 0 && st === this.liveKey(pcid))) {
      this.stamp[i] = this.tick();
      return i;
    }
    return -1;
  }

  /** The next LRU stamp. */
  private tick(): number {
    const c = this.clock + 1;
    if (c !== CLOCK_LIMIT) return (this.clock = c);
    return (this.clock = this.renumberStamps() + 1);
  }

  /**
   * Renumbers the stamps of each set 1, 2, ... in their order (the LRU order: the only
   * thing a stamp is compared for, within its set) and returns the largest, the clock's
   * new value. Runs once per 2^31 - 1 ticks.
   */
  private renumberStamps(): number {
    const stamp = this.stamp;
    const ways = this.ways;
    const order = new Int32Array(ways);
    let max = 0;
    for (let base = 0; base < this.entries; base += ways) {
      // Insertion sort of the set's stamped ways by stamp (stamps are distinct).
      let k = 0;
      for (let i = base; i < base + ways; i++) {
        const s = stamp[i]!;
        if (s === NOT_LIVE) continue;
        let j = k++;
        while (j > 0 && stamp[order[j - 1]!]! > s) {
          order[j] = order[j - 1]!;
          j--;
        }
        order[j] = i;
      }
      for (let j = 0; j < k; j++) stamp[order[j]!] = j + 1;
      if (k > max) max = k;
    }
    return max;
  }

  /**
   * Like `lookup`, but with no side effect on the replacement state: what an observer
   * uses to look into a TLB without changing what the hardware will do. Any PCID.
   */
  probe(vpn: number): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.isLive(i)) return i;
    return -1;
  }

  /** Like `probe`, for the entry of `vpn` that maps `pfn` (with PCIDs, one page number can be cached for several address spaces). */
  probeFrame(vpn: number, pfn: number): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.pfn[i] === pfn && this.isLive(i)) return i;
    return -1;
  }

  /**
   * Fills an entry, evicting the least recently used way of the set (the first way
   * that is not live, else the one with the oldest stamp). Returns its index. `isLive`
   * and `drop` are written out here: this runs on every TLB miss.
   */
  insert(vpn: number, pcid: number, pfn: number, flags: number, gen: number, wpGen: number): number {
    const ways = this.ways;
    const lo = vpn | 0;
    const set = lo & this.setMask;
    const base = set * ways;
    if (this.sweptAt[set] !== this.staleSeq) this.sweep(set);
    const state = this.state;
    const vpnLo = this.vpnLo;
    const vpns = this.vpn;
    const pcids = this.pcid;
    const stamp = this.stamp;
    const end = base + ways;
    // The first way that is not live (stamp -1: the set was swept) or holds the same
    // page (a fill replaces it: no duplicates), else the least recently used one. Two
    // reads a way, as tlb_ref.c's miss path. `sameLo` counts the live ways with the
    // same `vpnLo` (the rest of the set is read for them after a break).
    let victim = base;
    let oldest = 0x7fffffff;
    if (this.absent === 1 && this.absentLo === lo) {
      // No way has `lo`: no duplicate, and the victim will be the set's only way with `lo`.
      // The first way with the smallest stamp (NOT_LIVE, -1, is below every live one),
      // without a branch on the stamps: `d` is -1 where s < oldest, else 0. s - oldest
      // lies in [-2^31, 2^31 - 1] (stamps in [-1, CLOCK_LIMIT), oldest from 0x7fffffff
      // down), so `>> 31` reads its sign exactly. A branch there is taken at random
      // (LRU order is the stream's), and V8 does not turn it into a conditional move.
      for (let i = base; i < end; i++) {
        const s = stamp[i]!;
        const d = (s - oldest) >> 31;
        oldest += (s - oldest) & d;
        victim += (i - victim) & d;
      }
      this.hint[set] = victim;
    } else {
      let sameLo = 0;
      let i = base;
      for (; i < end; i++) {
        if (vpnLo[i] === lo) {
          const st = state[i]!;
          if (st !== ENTRY_INVALID) {
            sameLo++;
            if (vpns[i] === vpn && (st === ENTRY_GLOBAL || pcids[i] === pcid)) {
              victim = i;
              oldest = 0;
              break;
            }
          }
        }
        const s = stamp[i]!;
        if (s < oldest) {
          oldest = s;
          victim = i;
          if (s === NOT_LIVE) break;
        }
      }
      for (i++; i < end; i++) if (vpnLo[i] === lo && state[i] !== ENTRY_INVALID) sameLo++;
      // The victim's own `vpnLo` is overwritten: it no longer counts.
      if (oldest !== NOT_LIVE && vpnLo[victim] === lo) sameLo--;
      // The victim is now the set's only live way with `lo` (its hint), or the set's
      // hint stays unless the victim was it or another way shares `lo` with the victim.
      const hint = this.hint[set]!;
      if (sameLo === 0) this.hint[set] = victim;
      else if (hint === victim || (hint >= 0 && vpnLo[hint] === lo)) this.hint[set] = -1;
    }
    this.absent = 0;
    const nonGlobal = (flags & TlbFlag.G) === 0;
    if (pcid >= this.pcidEpoch.length) this.growPcids();
    const nonGlobalLive = this.nonGlobalLive;
    if (oldest !== NOT_LIVE) {
      // drop(victim); nothing to count when the fill puts back what it takes (a
      // non-global entry of the same PCID, as every fill of the bench).
      const was = state[victim] !== ENTRY_GLOBAL ? pcids[victim]! : -1;
      if (was !== (nonGlobal ? pcid : -1)) {
        if (was >= 0) nonGlobalLive[was]!--;
        if (nonGlobal) nonGlobalLive[pcid]!++;
      }
    } else {
      this.live++;
      if (nonGlobal) nonGlobalLive[pcid]!++;
    }
    const tagCount = this.tagCount;
    const from = (set << 5) | ((vpnLo[victim]! >>> this.setBits) & 31);
    const to = (set << 5) | ((lo >>> this.setBits) & 31);
    const c = tagCount[from]!;
    if (c !== TAG_COUNT_STUCK) tagCount[from] = c - 1;
    const d = tagCount[to]!;
    if (d !== TAG_COUNT_STUCK) tagCount[to] = d + 1;
    vpns[victim] = vpn;
    vpnLo[victim] = lo;
    if (lo !== vpn) this.wide = 1;
    pcids[victim] = pcid;
    this.pfn[victim] = pfn;
    this.flags[victim] = flags;
    this.gen[victim] = gen;
    this.wpGen[victim] = wpGen;
    stamp[victim] = this.tick();
    state[victim] = nonGlobal ? this.pcidEpoch[pcid]! * PCID_COUNT + pcid : ENTRY_GLOBAL;
    return victim;
  }

  /** Marks invalid the set's dead entries (non-global, of an older epoch of their PCID). */
  private sweep(set: number): void {
    const base = set * this.ways;
    for (let i = base; i < base + this.ways; i++) {
      if (this.state[i]! >= 0 && !this.isLive(i)) {
        this.state[i] = ENTRY_INVALID;
        this.stamp[i] = NOT_LIVE;
      }
    }
    this.sweptAt[set] = this.staleSeq;
  }

  drop(i: number): void {
    const live = this.isLive(i);
    if (live && this.state[i] !== ENTRY_GLOBAL) this.nonGlobalLive[this.pcid[i]!]!--;
    this.state[i] = ENTRY_INVALID;
    this.stamp[i] = NOT_LIVE;
    if (live) this.live--;
  }

  /**
   * INVLPG: drops `vpn` in `pcid` and any global entry for it. With `globals` false,
   * INVPCID's individual-address type: `vpn` in `pcid` only (SDM Vol. 2A, INVPCID).
   * Returns entries dropped.
   */
  invalidatePage(vpn: number, pcid: number, globals = true): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    let n = 0;
    for (let i = base; i < base + this.ways; i++) {
      if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.isLive(i) && (this.pcid[i] === pcid || (globals && (this.flags[i]! & TlbFlag.G) !== 0))) {
        this.drop(i);
        n++;
      }
    }
    return n;
  }

  private growPcids(): void {
    const e = new Int32Array(PCID_COUNT);
    e.set(this.pcidEpoch);
    this.pcidEpoch = e;
    const l = new Uint32Array(PCID_COUNT);
    l.set(this.nonGlobalLive);
    this.nonGlobalLive = l;
  }

  /** CR3 write: drops every non-global entry of `pcid`. O(1). */
  flushNonGlobal(pcid: number): number {
    if (pcid >= this.pcidEpoch.length) return 0; // nothing was ever cached for it
    const n = this.nonGlobalLive[pcid]!;
    if (n === 0) return 0;
    const epoch = this.pcidEpoch[pcid]! + 1;
    if (epoch === EPOCH_LIMIT) this.restartEpoch(pcid);
    else this.pcidEpoch[pcid] = epoch;
    this.nonGlobalLive[pcid] = 0;
    this.live -= n;
    this.staleSeq++;
    return n;
  }

  /**
   * The CR3 write of `pcid` whose epoch would reach EPOCH_LIMIT: marks invalid every
   * non-global entry of `pcid` (all of them are dead after this write: the live ones
   * of the current epoch it drops, and those of older epochs) and starts the PCID's
   * epochs again from 0, which no entry of `pcid` then holds. O(entries), once per
   * 2^19 CR3 writes of one PCID.
   */
  private restartEpoch(pcid: number): void {
    const state = this.state;
    for (let i = 0; i < this.entries; i++) {
      if (state[i]! >= 0 && this.pcid[i] === pcid) {
        state[i] = ENTRY_INVALID;
        this.stamp[i] = NOT_LIVE;
      }
    }
    this.pcidEpoch[pcid] = 0;
  }

  /** CR4.PGE toggle / INVPCID all: drops everything, globals included. */
  flushAll(): number {
    const n = this.live;
    if (n !== 0) {
      this.state.fill(ENTRY_INVALID);
      this.stamp.fill(NOT_LIVE);
      this.nonGlobalLive.fill(0);
    }
    this.live = 0;
    return n;
  }
}

/**
 * Machine-wide index of which paging-structure-cache slots point at which page-table
 * frame: each slot of each CPU's cache is a node of a doubly linked list headed by its
 * table, in typed arrays, so that filling a slot costs no allocation and a watcher of a
 * freed table visits exactly the slots that point at it.
 */
export class PscHolders {
  /** Slots per CPU (3 levels × entries per level). */
  readonly slotsPerCpu: number;
  private readonly head: Int32Array;
  /** Heads of tables outside [0, frames) (a PTE pointing past memory). */
  private readonly farHead = new Map<number, number>();
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly tableOf: Float64Array;

  constructor(cpus: number, entriesPerLevel: number, frames: number) {
    this.slotsPerCpu = entriesPerLevel * 3;
    const n = cpus * this.slotsPerCpu;
    this.head = new Int32Array(frames).fill(-1);
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.tableOf = new Float64Array(n);
  }

  private headOf(table: number): number {
    return table < this.head.length ? this.head[table]! : (this.farHead.get(table) ?? -1);
  }

  private setHead(table: number, node: number): void {
    if (table < this.head.length) this.head[table] = node;
    else if (node < 0) this.farHead.delete(table);
    else this.farHead.set(table, node);
  }

  link(node: number, table: number): void {
    const h = this.headOf(table);
    this.tableOf[node] = table;
    this.prev[node] = -1;
    this.next[node] = h;
    if (h >= 0) this.prev[h] = node;
    this.setHead(table, node);
  }

  unlink(node: number): void {
    const p = this.prev[node]!;
    const n = this.next[node]!;
    if (p >= 0) this.next[p] = n;
    else this.setHead(this.tableOf[node]!, n);
    if (n >= 0) this.prev[n] = p;
  }

  /** The slots (cpu × slotsPerCpu + slot) pointing at `table`, ascending: CPU order, then slot order. */
  slotsOf(table: number): number[] {
    const out: number[] = [];
    for (let n = this.headOf(table); n >= 0; n = this.next[n]!) out.push(n);
    return out.sort((a, b) => a - b);
  }
}

/** Levels a paging-structure cache entry can skip to (which table the cached entry points at). */
export const PscLevel = {
  /** Cached PDE (PMD entry): points at a PTE page; key is va >> 21. */
  PDE: 0,
  /** Cached PDPTE (PUD entry): points at a PMD page; key is va >> 30. */
  PDPTE: 1,
  /** Cached PML4E (PGD entry): points at a PUD page; key is va >> 39. */
  PML4E: 2,
} as const;

/**
 * Paging-structure caches (SDM §4.10.3): small caches of upper-level entries, tagged
 * by PCID, one per level (PDE, PDPTE, PML4E), each direct-mapped by address. They let
 * a walk start below the root, which is how a page-table page that was freed while
 * still cached can be reached (SDM §4.10.3.1: the caches may be used speculatively at any time). INVLPG and CR3 writes drop every
 * entry of the current PCID; a full flush drops all.
 */
export class PagingStructureCache {
  /** Entries per level. */
  readonly size: number;
  private readonly mask: number;
  /** Arrays are [level * size + slot]. */
  readonly key: Float64Array;
  readonly pcid: Uint16Array;
  /** The table the cached entry points at, and that frame's generation at fill. */
  readonly table: Float64Array;
  readonly tableGen: Uint32Array;
  /** Rights accumulated above the cached entry (TlbFlag.RW | TlbFlag.US), and NX. */
  readonly rights: Uint8Array;
  readonly valid: Uint8Array;
  private readonly epoch: Uint32Array;
  private pcidEpoch = new Uint32Array(PCID_INITIAL);
  /** 0 only while nothing was ever cached since the last full flush (a fast-path hint). */
  live = 0;
  /** The machine-wide index of occupied slots by table (see `attach`), and this cache's first node in it. */
  private holders: PscHolders | null = null;
  private nodeBase = 0;

  constructor(size: number) {
    if ((size & (size - 1)) !== 0 || size < 1) throw new RangeError(`paging-structure cache size must be a power of two, got ${size}`);
    this.size = size;
    this.mask = size - 1;
    const n = size * 3;
    this.key = new Float64Array(n);
    this.pcid = new Uint16Array(n);
    this.table = new Float64Array(n);
    this.tableGen = new Uint32Array(n);
    this.rights = new Uint8Array(n);
    this.valid = new Uint8Array(n);
    this.epoch = new Uint32Array(n);
  }

  /** Index of the entry for (level, key, pcid), or -1. O(1). */
  lookup(level: number, key: number, pcid: number): number {
    const i = level * this.size + (key & this.mask);
    return this.valid[i] === 1 && this.key[i] === key && this.pcid[i] === pcid && this.epoch[i] === this.pcidEpoch[pcid] ? i : -1;
  }

  insert(level: number, key: number, pcid: number, table: number, tableGen: number, rights: number): void {
    const i = level * this.size + (key & this.mask);
    if (pcid >= this.pcidEpoch.length) {
      const e = new Uint32Array(PCID_COUNT);
      e.set(this.pcidEpoch);
      this.pcidEpoch = e;
    }
    this.epoch[i] = this.pcidEpoch[pcid]!;
    this.live = 1;
    this.key[i] = key;
    this.pcid[i] = pcid;
    this.tableGen[i] = tableGen;
    this.rights[i] = rights;
    const h = this.holders;
    if (this.valid[i] === 1) {
      // The common refill after a flush of the PCID (its epoch moved on): the slot still
      // points at the same table, so the index stays as it is.
      if (this.table[i] === table) return;
      if (h !== null) h.unlink(this.nodeBase + i);
    }
    this.valid[i] = 1;
    this.table[i] = table;
    if (h !== null) h.link(this.nodeBase + i, table);
  }

  drop(i: number): void {
    if (this.valid[i] !== 1) return;
    this.valid[i] = 0;
    if (this.holders !== null) this.holders.unlink(this.nodeBase + i);
  }

  /**
   * Joins the machine-wide index of occupied slots by table (the machine keeps it, so
   * that a watcher of a freed table looks at the slots pointing at it only).
   */
  attach(holders: PscHolders, cpuId: number): void {
    if (holders.slotsPerCpu !== this.size * 3) throw new RangeError(`paging-structure cache of ${this.size} entries per level attached to an index of ${holders.slotsPerCpu / 3}`);
    this.holders = holders;
    this.nodeBase = cpuId * holders.slotsPerCpu;
  }

  /** INVLPG / CR3 write: all entries of `pcid`, whatever their address (SDM §4.10.4.1). O(1). */
  flushPcid(pcid: number): void {
    if (pcid >= this.pcidEpoch.length) return; // nothing was ever cached for it
    this.pcidEpoch[pcid] = (this.pcidEpoch[pcid]! + 1) >>> 0;
  }

  flushAll(): void {
    if (this.live === 0) return;
    const h = this.holders;
    if (h !== null) {
      for (let i = 0; i < this.valid.length; i++) if (this.valid[i] === 1) h.unlink(this.nodeBase + i);
    }
    this.valid.fill(0);
    this.live = 0;
  }
}
