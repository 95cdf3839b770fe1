import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PagingStructureCache, PscHolders, PscLevel, Tlb, TlbFlag } from "./tlb.js";

const tlb = () => new Tlb({ entries: 64, ways: 4, pageShift: 12 });

describe("Tlb (SDM §4.10.4 semantics)", () => {
  it("INVLPG drops the address in the current PCID and a global entry for it, not other PCIDs", () => {
    const t = tlb();
    t.insert(10, 1, 100, TlbFlag.RW, 0, 0);
    t.insert(10, 2, 101, TlbFlag.RW, 0, 0);
    t.insert(11, 1, 102, TlbFlag.G, 0, 0);
    expect(t.invalidatePage(10, 1)).toBe(1);
    expect(t.lookup(10, 1)).toBe(-1);
    expect(t.lookup(10, 2)).toBeGreaterThanOrEqual(0);
    expect(t.invalidatePage(11, 5)).toBe(1); // global: any PCID
    expect(t.lookup(11, 1)).toBe(-1);
  });

  it("a fill after a CR3 write takes the way the write killed, not the least recently used live one", () => {
    const t = new Tlb({ entries: 4, ways: 4, pageShift: 12 }); // one set
    expect([t.insert(0, 1, 0, 0, 0, 0), t.insert(1, 2, 1, 0, 0, 0), t.insert(2, 2, 2, 0, 0, 0), t.insert(3, 2, 3, 0, 0, 0)]).toEqual([0, 1, 2, 3]);
    expect(t.lookup(0, 1)).toBe(0); // way 0 most recently used, way 1 least
    expect(t.flushNonGlobal(1)).toBe(1);
    expect(t.insert(4, 2, 4, 0, 0, 0)).toBe(0);
    expect(t.live).toBe(4);
    expect(t.insert(5, 2, 5, 0, 0, 0)).toBe(1); // now the LRU one
    expect(t.lookup(1, 2)).toBe(-1);
    expect(t.live).toBe(4);
  });

  it("a CR3 write keeps global entries; a full flush drops them", () => {
    const t = tlb();
    t.insert(1, 0, 1, 0, 0, 0);
    t.insert(2, 0, 2, TlbFlag.G, 0, 0);
    expect(t.flushNonGlobal(0)).toBe(1);
    expect(t.lookup(1, 0)).toBe(-1);
    expect(t.lookup(2, 0)).toBeGreaterThanOrEqual(0);
    expect(t.flushAll()).toBe(1);
    expect(t.live).toBe(0);
  });

  it("evicts the least recently used way of a full set", () => {
    const t = new Tlb({ entries: 4, ways: 4, pageShift: 12 });
    for (let v = 0; v < 4; v++) t.insert(v * 1, 0, v, 0, 0, 0);
    t.lookup(0, 0); // 1 is now the oldest
    t.insert(99, 0, 99, 0, 0, 0);
    expect(t.lookup(1, 0)).toBe(-1);
    expect(t.lookup(0, 0)).toBeGreaterThanOrEqual(0);
  });

  it("rejects a geometry that is not a power of two", () => {
    expect(() => new Tlb({ entries: 48, ways: 4, pageShift: 12 })).toThrow(RangeError);
  });

  it("property: a model map agrees with the TLB after any operation sequence (no false hits, live count exact)", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("ins" as const), vpn: fc.integer({ min: 0, max: 2 ** 36 }), pcid: fc.integer({ min: 0, max: 3 }), g: fc.boolean() }),
      fc.record({ k: fc.constant("inv" as const), vpn: fc.integer({ min: 0, max: 2 ** 36 }), pcid: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("cr3" as const), pcid: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant("all" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const t = new Tlb({ entries: 16, ways: 2, pageShift: 12 });
        const model = new Map<string, number>(); // key vpn:pcid|G -> pfn (superset: evictions allowed)
        let pfn = 0;
        for (const o of ops) {
          if (o.k === "ins") {
            pfn++;
            for (const k of [...model.keys()]) if (k.startsWith(`${o.vpn}:`) && (k.endsWith(`:${o.pcid}`) || k.endsWith(":G") || o.g)) model.delete(k);
            model.set(`${o.vpn}:${o.g ? "G" : o.pcid}`, pfn);
            t.insert(o.vpn, o.pcid, pfn, o.g ? TlbFlag.G : 0, 0, 0);
          } else if (o.k === "inv") {
            model.delete(`${o.vpn}:${o.pcid}`);
            model.delete(`${o.vpn}:G`);
            t.invalidatePage(o.vpn, o.pcid);
          } else if (o.k === "cr3") {
            for (const k of [...model.keys()]) if (k.endsWith(`:${o.pcid}`)) model.delete(k);
            t.flushNonGlobal(o.pcid);
          } else {
            model.clear();
            t.flushAll();
          }
        }
        let valid = 0;
        for (let i = 0; i < t.entries; i++) {
          if (!t.isLive(i)) continue;
          valid++;
          const key = `${t.vpn[i]}:${(t.flags[i]! & TlbFlag.G) !== 0 ? "G" : t.pcid[i]}`;
          // Every cached entry is one the model still allows: nothing survives a flush.
          expect(model.get(key)).toBe(t.pfn[i]);
        }
        expect(t.live).toBe(valid);
      }),
      { numRuns: 300 },
    );
  });
});

describe("PagingStructureCache", () => {
  it("INVLPG/CR3 drop every entry of the PCID whatever the address", () => {
    const p = new PagingStructureCache(4);
    p.insert(PscLevel.PDE, 5, 0, 77, 1, 3);
    p.insert(PscLevel.PDE, 6, 1, 78, 1, 3);
    p.flushPcid(0);
    expect(p.lookup(PscLevel.PDE, 5, 0)).toBe(-1);
    expect(p.lookup(PscLevel.PDE, 6, 1)).toBeGreaterThanOrEqual(0);
    p.flushAll();
    expect(p.live).toBe(0);
  });
});

describe("PscHolders (the machine-wide index of slots by table)", () => {
  /** What the index must answer: every valid slot pointing at `table`, CPU order then slot order. */
  function scan(pscs: PagingStructureCache[], table: number): number[] {
    const out: number[] = [];
    pscs.forEach((p, cpu) => {
      for (let i = 0; i < p.valid.length; i++) if (p.valid[i] === 1 && p.table[i] === table) out.push(cpu * p.size * 3 + i);
    });
    return out;
  }

  it("lists exactly the valid slots pointing at a table, through refills, evictions, drops and flushes", () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant("insert" as const), cpu: fc.nat(2), level: fc.nat(2), key: fc.nat(11), pcid: fc.nat(2), table: fc.nat(9) }),
      fc.record({ k: fc.constant("drop" as const), cpu: fc.nat(2), slot: fc.nat(11) }),
      fc.record({ k: fc.constant("flushPcid" as const), cpu: fc.nat(2), pcid: fc.nat(2) }),
      fc.record({ k: fc.constant("flushAll" as const), cpu: fc.nat(2) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        // Tables 0..7 are frames; 8 and 9 lie past memory (the map fallback).
        const holders = new PscHolders(3, 4, 8);
        const pscs = [0, 1, 2].map((cpu) => {
          const p = new PagingStructureCache(4);
          p.attach(holders, cpu);
          return p;
        });
        for (const o of ops) {
          const p = pscs[o.cpu]!;
          if (o.k === "insert") p.insert(o.level, o.key, o.pcid, o.table, 0, 0);
          else if (o.k === "drop") p.drop(o.slot);
          else if (o.k === "flushPcid") p.flushPcid(o.pcid);
          else p.flushAll();
          for (let t = 0; t < 10; t++) expect(holders.slotsOf(t)).toEqual(scan(pscs, t));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a cache whose size does not match the index", () => {
    expect(() => new PagingStructureCache(8).attach(new PscHolders(1, 4, 8), 0)).toThrow(RangeError);
  });
});
