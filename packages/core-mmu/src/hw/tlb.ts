/**
 * A per-CPU TLB: set-associative, typed arrays, no allocation per lookup.
 *
 * x86 semantics (Intel SDM Vol. 3A §4.10): entries are tagged by PCID unless global;
 * INVLPG drops the address in the current PCID and any global entry for it; a CR3
 * write drops the non-global entries of the PCID; a full flush (CR4.PGE toggle or
 * INVPCID all) drops everything. Not-present entries are never cached.
 *
 * Each entry also remembers, for the hazard oracle, the generation of its frame and
 * its write-protect generation at fill time, and the mm it was filled for.
 */

/** Permission and state bits kept per entry (the combined rights of the walk). */
export const TlbFlag = {
  RW: 1,
  US: 2,
  D: 4,
  G: 8,
  NX: 16,
} as const;

/** Owner id of kernel (init_mm) translations. */
export const OWNER_KERNEL = -1;

export interface TlbParams {
  /** Total entries; a power of two times `ways`. */
  readonly entries: number;
  readonly ways: number;
  /** 12 for 4 KiB pages, 21 for 2 MiB. */
  readonly pageShift: number;
}

export class Tlb {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  readonly pageShift: number;
  readonly pageSize: number;
  private readonly setMask: number;
  /** Virtual page number (va / pageSize) of each entry. */
  readonly vpn: Float64Array;
  readonly pcid: Uint16Array;
  readonly pfn: Float64Array;
  readonly flags: Uint8Array;
  readonly valid: Uint8Array;
  readonly gen: Uint32Array;
  readonly wpGen: Uint32Array;
  readonly owner: Int32Array;
  private readonly stamp: Float64Array;
  private clock = 0;
  /** Number of valid entries (kept exact). */
  live = 0;

  constructor(p: TlbParams) {
    const sets = p.entries / p.ways;
    if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0) {
      throw new RangeError(`TLB entries/ways must be a power of two, got ${p.entries}/${p.ways}`);
    }
    this.entries = p.entries;
    this.ways = p.ways;
    this.sets = sets;
    this.setMask = sets - 1;
    this.pageShift = p.pageShift;
    this.pageSize = 2 ** p.pageShift;
    this.vpn = new Float64Array(p.entries);
    this.pcid = new Uint16Array(p.entries);
    this.pfn = new Float64Array(p.entries);
    this.flags = new Uint8Array(p.entries);
    this.valid = new Uint8Array(p.entries);
    this.gen = new Uint32Array(p.entries);
    this.wpGen = new Uint32Array(p.entries);
    this.owner = new Int32Array(p.entries);
    this.stamp = new Float64Array(p.entries);
  }

  /** Index of the entry translating `vpn` in `pcid` (or a global one), or -1. O(ways). */
  lookup(vpn: number, pcid: number): number {
    const base = (vpn & this.setMask) * this.ways;
    const end = base + this.ways;
    for (let i = base; i < end; i++) {
      if (this.valid[i] === 1 && this.vpn[i] === vpn && (this.pcid[i] === pcid || (this.flags[i]! & TlbFlag.G) !== 0)) {
        this.stamp[i] = ++this.clock;
        return i;
      }
    }
    return -1;
  }

  /** Fills an entry, evicting the least recently used way of the set. Returns its index. */
  insert(vpn: number, pcid: number, pfn: number, flags: number, gen: number, wpGen: number, owner: number): number {
    const base = (vpn & this.setMask) * this.ways;
    let victim = base;
    let oldest = Infinity;
    for (let i = base; i < base + this.ways; i++) {
      if (this.valid[i] === 0) {
        victim = i;
        break;
      }
      // A fill for the same page replaces the old entry (no duplicates).
      if (this.vpn[i] === vpn && (this.pcid[i] === pcid || (this.flags[i]! & TlbFlag.G) !== 0)) {
        victim = i;
        break;
      }
      if (this.stamp[i]! < oldest) {
        oldest = this.stamp[i]!;
        victim = i;
      }
    }
    if (this.valid[victim] === 0) this.live++;
    this.valid[victim] = 1;
    this.vpn[victim] = vpn;
    this.pcid[victim] = pcid;
    this.pfn[victim] = pfn;
    this.flags[victim] = flags;
    this.gen[victim] = gen;
    this.wpGen[victim] = wpGen;
    this.owner[victim] = owner;
    this.stamp[victim] = ++this.clock;
    return victim;
  }

  drop(i: number): void {
    if (this.valid[i] === 1) {
      this.valid[i] = 0;
      this.live--;
    }
  }

  /** INVLPG: drops `vpn` in `pcid` and any global entry for it. Returns entries dropped. */
  invalidatePage(vpn: number, pcid: number): number {
    const base = (vpn & this.setMask) * this.ways;
    let n = 0;
    for (let i = base; i < base + this.ways; i++) {
      if (this.valid[i] === 1 && this.vpn[i] === vpn && (this.pcid[i] === pcid || (this.flags[i]! & TlbFlag.G) !== 0)) {
        this.valid[i] = 0;
        this.live--;
        n++;
      }
    }
    return n;
  }

  /** CR3 write: drops every non-global entry of `pcid`. O(entries). */
  flushNonGlobal(pcid: number): number {
    if (this.live === 0) return 0;
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.valid[i] === 1 && (this.flags[i]! & TlbFlag.G) === 0 && this.pcid[i] === pcid) {
        this.valid[i] = 0;
        n++;
      }
    }
    this.live -= n;
    return n;
  }

  /** CR4.PGE toggle / INVPCID all: drops everything, globals included. */
  flushAll(): number {
    const n = this.live;
    if (n !== 0) this.valid.fill(0);
    this.live = 0;
    return n;
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
 * Paging-structure caches (SDM §4.10.3): small fully associative caches of upper-level
 * entries, tagged by PCID. They let a walk start below the root, which is how a
 * page-table page that was freed while still cached can be reached (KERNEL-FACTS §1.2).
 * INVLPG and CR3 writes drop every entry of the current PCID; a full flush drops all.
 */
export class PagingStructureCache {
  readonly size: number;
  readonly level: Uint8Array;
  readonly key: Float64Array;
  readonly pcid: Uint16Array;
  /** The table the cached entry points at, and that frame's generation at fill. */
  readonly table: Float64Array;
  readonly tableGen: Uint32Array;
  /** Rights accumulated above the cached entry (TlbFlag.RW | TlbFlag.US), and NX. */
  readonly rights: Uint8Array;
  readonly valid: Uint8Array;
  private next = 0;
  live = 0;

  constructor(size: number) {
    this.size = size;
    this.level = new Uint8Array(size);
    this.key = new Float64Array(size);
    this.pcid = new Uint16Array(size);
    this.table = new Float64Array(size);
    this.tableGen = new Uint32Array(size);
    this.rights = new Uint8Array(size);
    this.valid = new Uint8Array(size);
  }

  lookup(level: number, key: number, pcid: number): number {
    if (this.live === 0) return -1;
    for (let i = 0; i < this.size; i++) {
      if (this.valid[i] === 1 && this.key[i] === key && this.level[i] === level && this.pcid[i] === pcid) return i;
    }
    return -1;
  }

  insert(level: number, key: number, pcid: number, table: number, tableGen: number, rights: number): void {
    let i = this.lookup(level, key, pcid);
    if (i < 0) {
      i = this.next;
      this.next = (this.next + 1) % this.size;
      if (this.valid[i] === 0) this.live++;
    }
    this.valid[i] = 1;
    this.level[i] = level;
    this.key[i] = key;
    this.pcid[i] = pcid;
    this.table[i] = table;
    this.tableGen[i] = tableGen;
    this.rights[i] = rights;
  }

  /** INVLPG / CR3 write: all entries of `pcid`, whatever their address (SDM §4.10.4.1). */
  flushPcid(pcid: number): void {
    if (this.live === 0) return;
    for (let i = 0; i < this.size; i++) {
      if (this.valid[i] === 1 && this.pcid[i] === pcid) {
        this.valid[i] = 0;
        this.live--;
      }
    }
  }

  flushAll(): void {
    if (this.live === 0) return;
    this.valid.fill(0);
    this.live = 0;
  }
}
