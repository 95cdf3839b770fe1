/**
 * The TLB's fast paths (the per-set hint, the tag counters, the fill that follows a
 * scanned miss, the int32 LRU clock and PCID epochs with their renumbering) against
 * the TLB as it was before them (flushlab e66b8f8, hw/tlb.ts, copied below as
 * `RefTlb`: float64 state and stamps, a full scan per lookup). Every operation must
 * return the same thing, down to the way a lookup finds and a fill evicts.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Tlb, TlbFlag } from "./tlb.js";

const G = TlbFlag.G;
const PCID_COUNT = 4096;
const PCID_INITIAL = 8;
const ENTRY_INVALID = -1;
const ENTRY_GLOBAL = -2;
const NOT_LIVE = -1;

/** The reference: hw/tlb.ts's Tlb at e66b8f8, unchanged but for its name and comments. */
class RefTlb {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  readonly pageShift: number;
  readonly pageSize: number;
  private readonly setMask: number;
  readonly vpn: Float64Array;
  private readonly vpnLo: Int32Array;
  private wide = false;
  readonly pcid: Uint16Array;
  readonly pfn: Float64Array;
  readonly flags: Uint8Array;
  readonly gen: Uint32Array;
  readonly wpGen: Uint32Array;
  private readonly stamp: Float64Array;
  private readonly state: Float64Array;
  private pcidEpoch = new Uint32Array(PCID_INITIAL);
  private nonGlobalLive = new Uint32Array(PCID_INITIAL);
  private clock = 0;
  live = 0;
  private staleSeq = 0;
  private readonly sweptAt: Float64Array;

  constructor(p: { entries: number; ways: number; pageShift: number }) {
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
    this.vpnLo = new Int32Array(p.entries);
    this.pcid = new Uint16Array(p.entries);
    this.pfn = new Float64Array(p.entries);
    this.flags = new Uint8Array(p.entries);
    this.gen = new Uint32Array(p.entries);
    this.wpGen = new Uint32Array(p.entries);
    this.stamp = new Float64Array(p.entries);
    this.state = new Float64Array(p.entries).fill(ENTRY_INVALID);
    this.stamp.fill(NOT_LIVE);
    this.sweptAt = new Float64Array(sets);
  }

  private liveKey(pcid: number): number {
    return pcid < this.pcidEpoch.length ? this.pcidEpoch[pcid]! * PCID_COUNT + pcid : ENTRY_INVALID;
  }

  isLive(i: number): boolean {
    const st = this.state[i]!;
    return st === ENTRY_GLOBAL || (st >= 0 && st === this.liveKey(this.pcid[i]!));
  }

  usableIn(i: number, pcid: number): boolean {
    return this.isLive(i) && ((this.flags[i]! & G) !== 0 || this.pcid[i] === pcid);
  }

  lookup(vpn: number, pcid: number): number {
    const lo = vpn | 0;
    const vpnLo = this.vpnLo;
    const base = (lo & this.setMask) * this.ways;
    const end = base + this.ways;
    const confirm = this.wide || lo !== vpn;
    for (let i = base; i < end; i++) {
      if (vpnLo[i] === lo && (!confirm || this.vpn[i] === vpn)) {
        const st = this.state[i]!;
        if (st === ENTRY_GLOBAL || (st >= 0 && st === this.liveKey(pcid))) {
          this.stamp[i] = ++this.clock;
          return i;
        }
      }
    }
    return -1;
  }

  probe(vpn: number): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.isLive(i)) return i;
    return -1;
  }

  probeFrame(vpn: number, pfn: number): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    for (let i = base; i < base + this.ways; i++) if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.pfn[i] === pfn && this.isLive(i)) return i;
    return -1;
  }

  insert(vpn: number, pcid: number, pfn: number, flags: number, gen: number, wpGen: number): number {
    const ways = this.ways;
    const lo = vpn | 0;
    const set = lo & this.setMask;
    const base = set * ways;
    const end = base + ways;
    if (this.sweptAt[set] !== this.staleSeq) this.sweep(set);
    const state = this.state;
    const vpnLo = this.vpnLo;
    const vpns = this.vpn;
    const pcids = this.pcid;
    const stamp = this.stamp;
    let victim = base;
    let oldest = Infinity;
    for (let i = base; i < end; i++) {
      if (vpnLo[i] === lo && vpns[i] === vpn) {
        const st = state[i]!;
        if (st === ENTRY_GLOBAL || (st !== ENTRY_INVALID && pcids[i] === pcid)) {
          victim = i;
          oldest = 0;
          break;
        }
      }
      const s = stamp[i]!;
      if (s < oldest) {
        oldest = s;
        victim = i;
        if (s === NOT_LIVE) break;
      }
    }
    const victimLive = oldest !== NOT_LIVE;
    if (victimLive) {
      this.live--;
      if (state[victim] !== ENTRY_GLOBAL) this.nonGlobalLive[pcids[victim]!]!--;
    }
    vpns[victim] = vpn;
    vpnLo[victim] = lo;
    if (lo !== vpn) this.wide = true;
    pcids[victim] = pcid;
    this.pfn[victim] = pfn;
    this.flags[victim] = flags;
    this.gen[victim] = gen;
    this.wpGen[victim] = wpGen;
    stamp[victim] = ++this.clock;
    if (pcid >= this.pcidEpoch.length) this.growPcids();
    this.live++;
    if ((flags & G) === 0) {
      state[victim] = this.pcidEpoch[pcid]! * PCID_COUNT + pcid;
      this.nonGlobalLive[pcid]!++;
    } else {
      state[victim] = ENTRY_GLOBAL;
    }
    return victim;
  }

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

  invalidatePage(vpn: number, pcid: number, globals = true): number {
    const lo = vpn | 0;
    const base = (lo & this.setMask) * this.ways;
    let n = 0;
    for (let i = base; i < base + this.ways; i++) {
      if (this.vpnLo[i] === lo && this.vpn[i] === vpn && this.isLive(i) && (this.pcid[i] === pcid || (globals && (this.flags[i]! & G) !== 0))) {
        this.drop(i);
        n++;
      }
    }
    return n;
  }

  private growPcids(): void {
    const e = new Uint32Array(PCID_COUNT);
    e.set(this.pcidEpoch);
    this.pcidEpoch = e;
    const l = new Uint32Array(PCID_COUNT);
    l.set(this.nonGlobalLive);
    this.nonGlobalLive = l;
  }

  flushNonGlobal(pcid: number): number {
    if (pcid >= this.pcidEpoch.length) return 0; // nothing was ever cached for it
    const n = this.nonGlobalLive[pcid]!;
    if (n === 0) return 0;
    this.pcidEpoch[pcid] = (this.pcidEpoch[pcid]! + 1) >>> 0;
    this.nonGlobalLive[pcid] = 0;
    this.live -= n;
    this.staleSeq++;
    return n;
  }

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

/** hw/tlb.ts's limits (private there): the int32 LRU clock's and the PCID epoch's. */
const CLOCK_LIMIT = 2 ** 31 - 1;
const EPOCH_LIMIT = 2 ** 19;

/** Reaches into a Tlb's counters, to drive them to their limits without 2^31 operations. */
const counters = (t: Tlb) => t as unknown as { clock: number; pcidEpoch: Int32Array };

type Op =
  | { k: "look"; v: number; pcid: number }
  | { k: "ins"; v: number; pcid: number; g: boolean }
  | { k: "inv"; v: number; pcid: number; globals: boolean }
  | { k: "cr3"; pcid: number }
  | { k: "all" }
  | { k: "probe"; v: number }
  | { k: "drop"; i: number };

/** Page numbers that share sets and, for the last ones (2^32 + n), the low 32 bits of 0..3. */
const VPNS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 3, 2 ** 33 + 2];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant("look" as const), v: fc.nat(VPNS.length - 1), pcid: fc.nat(3) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("ins" as const), v: fc.nat(VPNS.length - 1), pcid: fc.nat(3), g: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("inv" as const), v: fc.nat(VPNS.length - 1), pcid: fc.nat(3), globals: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("cr3" as const), pcid: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("all" as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("probe" as const), v: fc.nat(VPNS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("drop" as const), i: fc.nat(15) }) },
);

/** Runs `ops` on both TLBs, expecting the same result from every operation. */
function agree(t: Tlb, r: RefTlb, ops: readonly Op[]): void {
  let pfn = 0;
  for (const o of ops) {
    let got: number;
    let want: number;
    switch (o.k) {
      case "look":
        got = t.lookup(VPNS[o.v]!, o.pcid);
        want = r.lookup(VPNS[o.v]!, o.pcid);
        break;
      case "ins":
        pfn++;
        got = t.insert(VPNS[o.v]!, o.pcid, pfn, o.g ? G : TlbFlag.RW, pfn, 0);
        want = r.insert(VPNS[o.v]!, o.pcid, pfn, o.g ? G : TlbFlag.RW, pfn, 0);
        break;
      case "inv":
        got = t.invalidatePage(VPNS[o.v]!, o.pcid, o.globals);
        want = r.invalidatePage(VPNS[o.v]!, o.pcid, o.globals);
        break;
      case "cr3":
        got = t.flushNonGlobal(o.pcid);
        want = r.flushNonGlobal(o.pcid);
        break;
      case "all":
        got = t.flushAll();
        want = r.flushAll();
        break;
      case "probe":
        got = t.probe(VPNS[o.v]!);
        want = r.probe(VPNS[o.v]!);
        break;
      case "drop":
        t.drop(o.i % t.entries);
        r.drop(o.i % r.entries);
        got = want = 0;
        break;
    }
    expect([o, got, t.live]).toEqual([o, want, r.live]);
  }
  for (let i = 0; i < t.entries; i++) {
    expect([i, t.isLive(i)]).toEqual([i, r.isLive(i)]);
    if (r.isLive(i)) expect([t.vpn[i], t.pcid[i], t.pfn[i], t.flags[i], t.gen[i]]).toEqual([r.vpn[i], r.pcid[i], r.pfn[i], r.flags[i], r.gen[i]]);
  }
}

describe("Tlb fast paths agree with the reference TLB", () => {
  for (const geometry of [
    { entries: 16, ways: 4, pageShift: 12 },
    { entries: 8, ways: 8, pageShift: 12 },
    { entries: 4, ways: 1, pageShift: 12 },
  ]) {
    it(`property: same result from every operation, ${geometry.entries} entries × ${geometry.ways} ways`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => agree(new Tlb(geometry), new RefTlb(geometry), ops)),
        { numRuns: 300 },
      );
    });
  }

  it("property: the same with the LRU clock and the PCID epochs started next to their limits (renumbered mid-sequence)", () => {
    const geometry = { entries: 16, ways: 4, pageShift: 12 };
    fc.assert(
      fc.property(fc.nat(40), fc.nat(2), fc.array(opArb, { maxLength: 300 }), (clockGap, epochGap, ops) => {
        const t = new Tlb(geometry);
        counters(t).clock = CLOCK_LIMIT - 1 - clockGap;
        counters(t).pcidEpoch.fill(EPOCH_LIMIT - 1 - epochGap);
        agree(t, new RefTlb(geometry), ops);
      }),
      { numRuns: 300 },
    );
  });

  it("the LRU clock's renumbering keeps each set's LRU order", () => {
    const geometry = { entries: 8, ways: 4, pageShift: 12 }; // 2 sets
    const t = new Tlb(geometry);
    const r = new RefTlb(geometry);
    const both = (f: (x: Tlb | RefTlb) => number) => {
      const got = f(t);
      expect(got).toBe(f(r));
      return got;
    };
    for (let v = 0; v < 8; v++) both((x) => x.insert(v, 0, v, 0, 0, 0));
    counters(t).clock = CLOCK_LIMIT - 3;
    // Touch set 0's ways across the limit: 6, 2, 0 (the last ticks are past it).
    for (const v of [6, 2, 0, 4, 2]) expect(both((x) => x.lookup(v, 0))).toBeGreaterThanOrEqual(0);
    expect(counters(t).clock).toBeLessThan(16); // renumbered: 1..4 per set, then ticks on
    // Set 0's LRU order is now 6, 0, 4, 2: fills evict them in that order.
    const wayOf = (v: number) => t.probe(v);
    const order = [6, 0, 4, 2].map(wayOf);
    expect([10, 12, 14, 16].map((v) => both((x) => x.insert(v, 0, v, 0, 0, 0)))).toEqual(order);
  });

  it("a PCID's epoch restarts after 2^19 CR3 writes without bringing back an entry of its first epoch", () => {
    const t = new Tlb({ entries: 4, ways: 2, pageShift: 12 }); // 2 sets
    t.insert(1, 1, 100, TlbFlag.RW, 0, 0); // set 1, epoch 0: left dead but never swept below
    let dropped = 0;
    for (let n = 0; n < EPOCH_LIMIT; n++) {
      t.insert(2, 1, 200, TlbFlag.RW, 0, 0); // set 0
      dropped += t.flushNonGlobal(1);
    }
    expect(dropped).toBe(EPOCH_LIMIT + 1); // each write drops the fill before it, the first one entry 1 too
    // The epoch went 0 → 2^19 - 1 → 0: the first entry's state is the key of epoch 0 again.
    expect(counters(t).pcidEpoch[1]).toBe(0);
    expect(t.lookup(1, 1)).toBe(-1);
    expect(t.probe(1)).toBe(-1);
    expect(t.live).toBe(0);
    const i = t.insert(3, 1, 300, TlbFlag.RW, 0, 0);
    expect(t.lookup(3, 1)).toBe(i);
    expect(t.live).toBe(1);
    expect(t.flushNonGlobal(1)).toBe(1);
    expect(t.lookup(3, 1)).toBe(-1);
  });

  it("a set of 512 ways: a tag counter stuck at its byte's limit never makes a filled page miss", () => {
    const geometry = { entries: 512, ways: 512, pageShift: 12 }; // one set: the tag bits are the low 5
    const t = new Tlb(geometry);
    const r = new RefTlb(geometry);
    // 256 pages with the same tag bits (1): their counter reaches 255 and sticks there
    // (a byte that counted on would be back at 0).
    const pages = Array.from({ length: 256 }, (_, k) => k * 32 + 1);
    for (const v of pages) expect(t.insert(v, 0, v, TlbFlag.RW, 0, 0)).toBe(r.insert(v, 0, v, TlbFlag.RW, 0, 0));
    for (const v of pages) expect([v, t.lookup(v, 0)]).toEqual([v, r.lookup(v, 0)]);
    // Evict 156 of them (LRU: the 256 were just touched in order; 256 ways are free first).
    for (let k = 0; k < 412; k++) expect(t.insert(20_000 + k * 32 + 2, 0, 0, TlbFlag.RW, 0, 0)).toBe(r.insert(20_000 + k * 32 + 2, 0, 0, TlbFlag.RW, 0, 0));
    for (const v of pages) expect([v, t.lookup(v, 0)]).toEqual([v, r.lookup(v, 0)]);
    expect(pages.filter((v) => t.lookup(v, 0) >= 0).length).toBe(100);
  });

  it("agrees with the reference over 300,000 accesses of a tlb_ref.c-like stream with CR3 writes and INVLPGs", () => {
    const geometry = { entries: 1536, ways: 12, pageShift: 12 };
    const t = new Tlb(geometry);
    const r = new RefTlb(geometry);
    let x = 88172645;
    let base = 0;
    let hits = 0;
    let differ = 0;
    let first = "";
    const same = (n: number, what: string, got: number, want: number) => {
      if (got !== want && differ++ === 0) first = `access ${n}: ${what} ${got}, reference ${want}`;
    };
    for (let n = 0; n < 300_000; n++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      const u = x >>> 8;
      if ((u & 1023) < 5) base = (u >>> 10) & 0xfffff;
      const vpn = base + ((u >>> 10) & 63);
      const pcid = (u >>> 20) & 1;
      if ((u & 4095) === 7) {
        same(n, "flushNonGlobal", t.flushNonGlobal(pcid), r.flushNonGlobal(pcid));
        continue;
      }
      if ((u & 4095) === 9) {
        same(n, "invalidatePage", t.invalidatePage(vpn, pcid), r.invalidatePage(vpn, pcid));
        continue;
      }
      const i = t.lookup(vpn, pcid);
      same(n, "lookup", i, r.lookup(vpn, pcid));
      if (i >= 0) hits++;
      else same(n, "insert", t.insert(vpn, pcid, vpn, (u & 7) === 0 ? G : TlbFlag.RW, 0, 0), r.insert(vpn, pcid, vpn, (u & 7) === 0 ? G : TlbFlag.RW, 0, 0));
      same(n, "live", t.live, r.live);
    }
    expect(first).toBe("");
    expect(hits).toBeGreaterThan(100_000);
  });
});
