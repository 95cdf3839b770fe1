import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX_HI,
  _PAGE_PAT,
  _PAGE_PAT_LARGE,
  _PAGE_PCD,
  _PAGE_PKEY_MASK_HI,
  _PAGE_PKEY_SHIFT_HI,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SAVED_DIRTY_HI,
  _PAGE_SOFTW1,
  _PAGE_SOFTW2,
  _PAGE_SOFTW3,
  _PAGE_SOFTW4_HI,
  _PAGE_SOFTW5_HI,
  _PAGE_USER,
  PTE_FLAGS_MASK_LO,
  PTE_FLUSH_ON_CHANGE_HI,
  PTE_FLUSH_ON_CHANGE_LO,
  PTE_FLUSH_ON_CLEAR_LO,
  PTE_SOFTWARE_HI,
  PTE_SOFTWARE_LO,
  X86_32_PAE_PHYS_BITS,
  X86_64_PHYS_BITS,
  assertPfn,
  formatPte,
  pkeyToHi,
  pmdLeafFlagsLo,
  pmdLeafLo,
  pmdLeafPfn,
  pteDirty,
  pteFlagsHi,
  pteFlagsLo,
  pteGlobal,
  pteHi,
  pteHuge,
  pteLo,
  pteNeedsFlush,
  pteNone,
  pteNx,
  ptePfn,
  ptePkey,
  ptePresent,
  pteProtNone,
  pteUser,
  pteWrite,
  pteYoung,
  pudLeafLo,
  pudLeafPfn,
} from "./pte.js";

// ---------------------------------------------------------------------------
// Arbitraries and a BigInt reference model (tests only)
// ---------------------------------------------------------------------------

const TWO20 = 2 ** 20;

/** Any PFN below 2**40, built from two 20-bit halves, plus edge values. */
const pfnArb = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: TWO20 - 1 }), fc.integer({ min: 0, max: TWO20 - 1 }))
    .map(([a, b]) => b * TWO20 + a),
  fc.constantFrom(0, 1, 511, 512, TWO20 - 1, TWO20, 2 ** 32 - 1, 2 ** 32, 2 ** 39, 2 ** 40 - 1),
);

const loFlagsRecordArb = fc.record({
  P: fc.boolean(),
  RW: fc.boolean(),
  US: fc.boolean(),
  PWT: fc.boolean(),
  PCD: fc.boolean(),
  A: fc.boolean(),
  D: fc.boolean(),
  PAT: fc.boolean(),
  G: fc.boolean(),
  SW1: fc.boolean(),
  SW2: fc.boolean(),
  SW3: fc.boolean(),
});
type LoFlags = typeof loFlagsRecordArb extends fc.Arbitrary<infer T> ? T : never;

const hiFlagsRecordArb = fc.record({
  SW4: fc.boolean(),
  SW5: fc.boolean(),
  NX: fc.boolean(),
  pkey: fc.integer({ min: 0, max: 15 }),
});
type HiFlags = typeof hiFlagsRecordArb extends fc.Arbitrary<infer T> ? T : never;

function loFlagsValue(f: LoFlags): number {
  return (
    (f.P ? _PAGE_PRESENT : 0) |
    (f.RW ? _PAGE_RW : 0) |
    (f.US ? _PAGE_USER : 0) |
    (f.PWT ? _PAGE_PWT : 0) |
    (f.PCD ? _PAGE_PCD : 0) |
    (f.A ? _PAGE_ACCESSED : 0) |
    (f.D ? _PAGE_DIRTY : 0) |
    (f.PAT ? _PAGE_PAT : 0) |
    (f.G ? _PAGE_GLOBAL : 0) |
    (f.SW1 ? _PAGE_SOFTW1 : 0) |
    (f.SW2 ? _PAGE_SOFTW2 : 0) |
    (f.SW3 ? _PAGE_SOFTW3 : 0)
  );
}

function hiFlagsValue(f: HiFlags): number {
  return ((f.SW4 ? _PAGE_SOFTW4_HI : 0) | (f.SW5 ? _PAGE_SOFTW5_HI : 0) | pkeyToHi(f.pkey) | (f.NX ? _PAGE_NX_HI : 0)) >>> 0;
}

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });

function to64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * Straight BigInt transcription of the kernel's pte_needs_flush / huge_pmd_needs_flush /
 * pte_flags_need_flush (arch/x86/include/asm/tlbflush.h), on 64-bit values.
 */
function refNeedsFlush(oldv: bigint, newv: bigint, huge: boolean): boolean {
  const bit = (n: number): bigint => 1n << BigInt(n);
  const M64 = (1n << 64n) - 1n;
  const PHYS = (1n << 52n) - 1n;
  const PTE_PFN_MASK = PHYS & ~0xfffn;
  const PMD_PFN_MASK = PHYS & ~(bit(21) - 1n);
  const PSE = bit(7);
  const pfnMask = (v: bigint): bigint => (huge && (v & PSE) !== 0n ? PMD_PFN_MASK : PTE_PFN_MASK);
  const pfn = (v: bigint): bigint => (v & pfnMask(v)) >> 12n;
  const flags = (v: bigint): bigint => v & ~pfnMask(v) & M64;

  if ((oldv & bit(0)) === 0n) return false;
  if (pfn(oldv) !== pfn(newv)) return true;
  const oldf = flags(oldv);
  const newf = flags(newv);
  const flushOnClear = bit(6) | bit(0) | bit(5);
  const software = bit(9) | bit(10) | bit(11) | bit(57) | bit(58);
  const flushOnChange =
    bit(1) | bit(2) | bit(3) | bit(4) | bit(7) | bit(8) | bit(12) | bit(59) | bit(60) | bit(61) | bit(62) | bit(63);
  let diff = oldf ^ newf;
  diff &= ~software;
  if (!huge) diff &= ~bit(5);
  if ((diff & oldf & flushOnClear) !== 0n) return true;
  if ((diff & flushOnChange) !== 0n) return true;
  return false;
}

/** A pair (old, new) where new differs from old in a few random bits (or is random). */
const entryPairArb = fc
  .tuple(
    u32Arb,
    u32Arb,
    fc.oneof(
      fc.array(fc.integer({ min: 0, max: 63 }), { maxLength: 3 }).map((bits) => ({ flips: bits, random: null })),
      fc.tuple(u32Arb, u32Arb).map((r) => ({ flips: [] as number[], random: r })),
    ),
  )
  .map(([oldLo, oldHi, mut]) => {
    let newLo = oldLo;
    let newHi = oldHi;
    if (mut.random !== null) {
      [newLo, newHi] = mut.random;
    } else {
      for (const b of mut.flips) {
        if (b < 32) newLo = (newLo ^ (1 << b)) >>> 0;
        else newHi = (newHi ^ (1 << (b - 32))) >>> 0;
      }
    }
    return { oldLo, oldHi, newLo, newHi };
  });

// ---------------------------------------------------------------------------

describe("flag constants (pgtable_types.h bit numbers)", () => {
  it.each([
    ["_PAGE_PRESENT", _PAGE_PRESENT, 0],
    ["_PAGE_RW", _PAGE_RW, 1],
    ["_PAGE_USER", _PAGE_USER, 2],
    ["_PAGE_PWT", _PAGE_PWT, 3],
    ["_PAGE_PCD", _PAGE_PCD, 4],
    ["_PAGE_ACCESSED", _PAGE_ACCESSED, 5],
    ["_PAGE_DIRTY", _PAGE_DIRTY, 6],
    ["_PAGE_PSE", _PAGE_PSE, 7],
    ["_PAGE_PAT", _PAGE_PAT, 7],
    ["_PAGE_GLOBAL", _PAGE_GLOBAL, 8],
    ["_PAGE_PROTNONE", _PAGE_PROTNONE, 8],
    ["_PAGE_SOFTW1", _PAGE_SOFTW1, 9],
    ["_PAGE_SOFTW2", _PAGE_SOFTW2, 10],
    ["_PAGE_SOFTW3", _PAGE_SOFTW3, 11],
    ["_PAGE_PAT_LARGE", _PAGE_PAT_LARGE, 12],
    ["_PAGE_SOFTW4_HI", _PAGE_SOFTW4_HI, 57 - 32],
    ["_PAGE_SOFTW5_HI", _PAGE_SOFTW5_HI, 58 - 32],
  ])("%s is bit %i", (_name, value, bitNo) => {
    expect(value).toBe(2 ** bitNo);
  });

  it("NX is 0x80000000 in the hi word, unsigned", () => {
    expect(_PAGE_NX_HI).toBe(0x80000000);
    expect(_PAGE_NX_HI).toBeGreaterThan(0);
  });

  it("PKEY occupies hi bits 27..30 (bits 59..62)", () => {
    expect(_PAGE_PKEY_SHIFT_HI).toBe(27);
    expect(_PAGE_PKEY_MASK_HI).toBe(0x78000000);
    expect(pkeyToHi(15)).toBe(0x78000000);
    expect(_PAGE_SAVED_DIRTY_HI).toBe(_PAGE_SOFTW5_HI);
  });

  it("flush classes are disjoint and cover every flag bit of a 4K PTE", () => {
    expect(PTE_FLUSH_ON_CLEAR_LO & PTE_FLUSH_ON_CHANGE_LO).toBe(0);
    expect(PTE_FLUSH_ON_CLEAR_LO & PTE_SOFTWARE_LO).toBe(0);
    expect(PTE_FLUSH_ON_CHANGE_LO & PTE_SOFTWARE_LO).toBe(0);
    expect((PTE_FLUSH_ON_CLEAR_LO | PTE_FLUSH_ON_CHANGE_LO | PTE_SOFTWARE_LO) & PTE_FLAGS_MASK_LO).toBe(0xfff);
    expect(PTE_FLUSH_ON_CHANGE_HI & PTE_SOFTWARE_HI).toBe(0);
    expect(PTE_FLUSH_ON_CHANGE_HI).toBe(0xf8000000);
  });
});

describe("PFN field encode/decode", () => {
  it("round-trips every PFN in range with every flag combination, bit-exact vs a BigInt model", () => {
    fc.assert(
      fc.property(pfnArb, loFlagsRecordArb, hiFlagsRecordArb, (pfn, lf, hf) => {
        const flo = loFlagsValue(lf);
        const fhi = hiFlagsValue(hf);
        const lo = pteLo(pfn, flo);
        const hi = pteHi(pfn, fhi);
        expect(Number.isInteger(lo) && lo >= 0 && lo <= 0xffffffff).toBe(true);
        expect(Number.isInteger(hi) && hi >= 0 && hi <= 0xffffffff).toBe(true);
        expect(ptePfn(lo, hi)).toBe(pfn);
        expect(pteFlagsLo(lo)).toBe(flo);
        expect(pteFlagsHi(hi)).toBe(fhi);
        const ref = (BigInt(pfn) << 12n) | BigInt(flo) | (BigInt(fhi) << 32n);
        expect(to64(lo, hi)).toBe(ref);
        expect(ptePresent(lo, hi)).toBe(lf.P);
        expect(pteWrite(lo, hi)).toBe(lf.RW);
        expect(pteUser(lo, hi)).toBe(lf.US);
        expect(pteYoung(lo, hi)).toBe(lf.A);
        expect(pteDirty(lo, hi)).toBe(lf.D);
        expect(pteGlobal(lo, hi)).toBe(lf.G);
        expect(pteHuge(lo, hi)).toBe(lf.PAT);
        expect(pteNx(lo, hi)).toBe(hf.NX);
        expect(ptePkey(lo, hi)).toBe(hf.pkey);
        expect(pteProtNone(lo, hi)).toBe(!lf.P && lf.G);
        expect(pteNone(lo, hi)).toBe(pfn === 0 && flo === 0 && fhi === 0);
      }),
      { numRuns: 2000 },
    );
  });

  it("PFN high bits never bleed into flags and flags never bleed into the PFN", () => {
    fc.assert(
      fc.property(pfnArb, u32Arb, u32Arb, (pfn, junkLo, junkHi) => {
        // All-ones / random garbage in the flag arguments cannot reach the PFN field...
        const lo = pteLo(pfn, junkLo);
        const hi = pteHi(pfn, junkHi);
        expect(ptePfn(lo, hi)).toBe(pfn);
        expect(pteFlagsLo(lo)).toBe(junkLo & 0xfff);
        expect(pteFlagsHi(hi)).toBe((junkHi & 0xfff00000) >>> 0);
        // ...and a PFN with no flags leaves every flag bit clear.
        const lo0 = pteLo(pfn, 0);
        const hi0 = pteHi(pfn, 0);
        expect(pteFlagsLo(lo0)).toBe(0);
        expect(pteFlagsHi(hi0)).toBe(0);
      }),
    );
    expect(pteFlagsLo(pteLo(2 ** 40 - 1, 0))).toBe(0);
    expect(pteFlagsHi(pteHi(2 ** 40 - 1, 0))).toBe(0);
    expect(ptePfn(pteLo(2 ** 40 - 1, 0xffffffff), pteHi(2 ** 40 - 1, 0xffffffff))).toBe(2 ** 40 - 1);
    expect(ptePfn(pteLo(0, 0xffffffff), pteHi(0, 0xffffffff))).toBe(0);
  });

  it("NX survives as bit 63", () => {
    fc.assert(
      fc.property(pfnArb, u32Arb, (pfn, flo) => {
        const lo = pteLo(pfn, flo);
        const hi = pteHi(pfn, _PAGE_NX_HI);
        expect(to64(lo, hi) >> 63n).toBe(1n);
        expect(pteNx(lo, hi)).toBe(true);
        expect(pteNx(lo, pteHi(pfn, 0))).toBe(false);
      }),
    );
    expect(pteHi(0, _PAGE_NX_HI)).toBe(0x80000000);
  });

  it("PFN crossing the 2**20 boundary splits between lo and hi", () => {
    expect(pteLo(TWO20, 0)).toBe(0);
    expect(pteHi(TWO20, 0)).toBe(1);
    expect(pteLo(TWO20 - 1, 0)).toBe(0xfffff000);
    expect(pteHi(2 ** 40 - 1, 0)).toBe(0xfffff);
  });

  it("assertPfn enforces the x86-64 (52-bit) and PAE (44-bit) limits", () => {
    expect(() => assertPfn(0, X86_64_PHYS_BITS)).not.toThrow();
    expect(() => assertPfn(2 ** 40 - 1, X86_64_PHYS_BITS)).not.toThrow();
    expect(() => assertPfn(2 ** 40, X86_64_PHYS_BITS)).toThrow(RangeError);
    expect(() => assertPfn(2 ** 32 - 1, X86_32_PAE_PHYS_BITS)).not.toThrow();
    expect(() => assertPfn(2 ** 32, X86_32_PAE_PHYS_BITS)).toThrow(RangeError);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => assertPfn(bad, X86_64_PHYS_BITS)).toThrow(RangeError);
    }
    expect(() => assertPfn(0, 53)).toThrow(RangeError);
    expect(() => assertPfn(0, 11)).toThrow(RangeError);
  });
});

describe("large-page leaves", () => {
  it("pmdLeafLo sets PS, keeps PAT_LARGE out of the PFN, and round-trips 512-aligned PFNs", () => {
    fc.assert(
      fc.property(pfnArb, fc.integer({ min: 0, max: 0x1fff }), (pfn, flags) => {
        const aligned = pfn - (pfn % 512);
        const lo = pmdLeafLo(aligned, flags);
        const hi = pteHi(aligned, 0);
        expect(pmdLeafPfn(lo, hi)).toBe(aligned);
        expect(pmdLeafFlagsLo(lo)).toBe((flags | _PAGE_PSE) & 0x1fff);
        expect(pteHuge(lo, hi)).toBe(true);
        expect(to64(lo, hi)).toBe((BigInt(aligned) << 12n) | BigInt((flags | _PAGE_PSE) & 0x1fff));
      }),
    );
  });

  it("pmdLeafLo rejects PFNs that are not 2 MiB aligned", () => {
    fc.assert(
      fc.property(pfnArb.filter((p) => p % 512 !== 0), (pfn) => {
        expect(() => pmdLeafLo(pfn, _PAGE_PRESENT)).toThrow(RangeError);
      }),
    );
    expect(() => pmdLeafLo(-512, 0)).toThrow(RangeError);
    expect(() => pmdLeafLo(512.5, 0)).toThrow(RangeError);
  });

  it("pudLeafLo requires 1 GiB alignment and round-trips", () => {
    expect(() => pudLeafLo(512, 0)).toThrow(RangeError);
    const pfn = 3 * 2 ** 18 + 5 * 2 ** 30; // crosses into the hi word
    const lo = pudLeafLo(pfn, _PAGE_PRESENT | _PAGE_PAT_LARGE);
    const hi = pteHi(pfn, 0);
    expect(pudLeafPfn(lo, hi)).toBe(pfn);
    expect(lo & 0x1fff).toBe(_PAGE_PRESENT | _PAGE_PSE | _PAGE_PAT_LARGE);
  });
});

describe("predicates", () => {
  it("pteNone only for an all-zero entry", () => {
    expect(pteNone(0, 0)).toBe(true);
    expect(pteNone(0, _PAGE_NX_HI)).toBe(false);
    expect(pteNone(0x1000, 0)).toBe(false);
  });

  it("pteProtNone needs P clear and bit 8 set; present+G is global, not PROT_NONE", () => {
    expect(pteProtNone(_PAGE_PROTNONE, 0)).toBe(true);
    expect(pteProtNone(_PAGE_PROTNONE | _PAGE_PRESENT, 0)).toBe(false);
    expect(pteGlobal(_PAGE_PROTNONE | _PAGE_PRESENT, 0)).toBe(true);
    expect(pteProtNone(0, 0)).toBe(false);
  });

  it("ptePkey reads bits 59..62 only", () => {
    expect(ptePkey(0xffffffff, pkeyToHi(9) | _PAGE_NX_HI | 0xfffff)).toBe(9);
  });
});

describe("formatPte", () => {
  it("prints the documented example", () => {
    const pfn = 0x123456;
    const lo = pteLo(pfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY);
    const hi = pteHi(pfn, _PAGE_NX_HI);
    expect(formatPte(lo, hi)).toBe("0x8000000123456067 [P RW US A D NX] pfn=0x123456");
  });

  it("prints PROT_NONE, software bits and pkeys", () => {
    const lo = pteLo(0x42, _PAGE_PROTNONE | _PAGE_SOFTW1 | _PAGE_ACCESSED);
    const hi = pteHi(0x42, pkeyToHi(3) | _PAGE_SOFTW5_HI);
    expect(formatPte(lo, hi)).toBe("0x1c00000000042320 [A PROTNONE SW1 SW5 PKEY=3] pfn=0x42");
    expect(formatPte(0, 0)).toBe("0x0000000000000000 [] pfn=0x0");
  });

  it("reads a large leaf with PS and PAT_LARGE", () => {
    const lo = pmdLeafLo(0x200, _PAGE_PRESENT | _PAGE_RW | _PAGE_PAT_LARGE | _PAGE_GLOBAL);
    expect(formatPte(lo, 0, true)).toBe("0x0000000000201183 [P RW PS G PAT_LARGE] pfn=0x200");
    expect(formatPte(lo, 0)).toBe("0x0000000000201183 [P RW PAT G] pfn=0x201");
  });
});

describe("pteNeedsFlush (Amit, pte_flags_need_flush)", () => {
  const pfn = 0x12345;
  const base = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
  const L = (flags: number, p = pfn): number => pteLo(p, flags);
  const H = (flags: number, p = pfn): number => pteHi(p, flags);
  const hugeBase = pmdLeafLo(0x200, base);

  type Row = [rule: string, oldLo: number, oldHi: number, newLo: number, newHi: number, huge: boolean, expected: boolean];
  const rows: Row[] = [
    ["1: old not present -> anything", L(_PAGE_RW), H(0), L(base, 999), H(_PAGE_NX_HI, 999), false, false],
    ["1: old PROT_NONE counts as not present", L(_PAGE_PROTNONE | _PAGE_ACCESSED), H(0), L(base), H(0), false, false],
    ["1: old none -> present", 0, 0, L(base), H(0), false, false],
    ["1: huge old not present", hugeBase & ~_PAGE_PRESENT, 0, 0, 0, true, false],
    ["2: PFN changed (lo part)", L(base), H(0), L(base, pfn + 1), H(0, pfn + 1), false, true],
    ["2: PFN changed (hi part)", L(base), H(0), L(base, pfn + 2 ** 20), H(0, pfn + 2 ** 20), false, true],
    ["2: huge PFN changed", hugeBase, 0, pmdLeafLo(0x400, base), 0, true, true],
    ["3: P cleared", L(base), H(0), L(base & ~_PAGE_PRESENT), H(0), false, true],
    ["3: P cleared, entry zeroed", L(base), H(0), 0, 0, false, true],
    ["3: D cleared", L(base), H(0), L(base & ~_PAGE_DIRTY), H(0), false, true],
    ["3: A cleared on 4K PTE is ignored", L(base), H(0), L(base & ~_PAGE_ACCESSED), H(0), false, false],
    ["3: A cleared on huge PMD flushes", hugeBase, 0, hugeBase & ~_PAGE_ACCESSED, 0, true, true],
    ["3: D set needs no flush", L(base & ~_PAGE_DIRTY), H(0), L(base), H(0), false, false],
    ["3: A set needs no flush (huge)", hugeBase & ~_PAGE_ACCESSED, 0, hugeBase, 0, true, false],
    ["4: RW cleared", L(base), H(0), L(base & ~_PAGE_RW), H(0), false, true],
    ["4: RW set (promotion) still flushes", L(base & ~_PAGE_RW), H(0), L(base), H(0), false, true],
    ["4: US changed", L(base), H(0), L(base & ~_PAGE_USER), H(0), false, true],
    ["4: PWT changed", L(base), H(0), L(base | _PAGE_PWT), H(0), false, true],
    ["4: PCD changed", L(base), H(0), L(base | _PAGE_PCD), H(0), false, true],
    ["4: PAT (bit 7) changed on 4K", L(base), H(0), L(base | _PAGE_PAT), H(0), false, true],
    ["4: PSE cleared on huge PMD", hugeBase, 0, hugeBase & ~_PAGE_PSE, 0, true, true],
    ["4: G changed", L(base), H(0), L(base | _PAGE_GLOBAL), H(0), false, true],
    ["4: PAT_LARGE changed on huge PMD", hugeBase, 0, hugeBase | _PAGE_PAT_LARGE, 0, true, true],
    ["4: NX set", L(base), H(0), L(base), H(_PAGE_NX_HI), false, true],
    ["4: NX cleared (promotion) still flushes", L(base), H(_PAGE_NX_HI), L(base), H(0), false, true],
    ["4: PKEY changed", L(base), H(pkeyToHi(1)), L(base), H(pkeyToHi(2)), false, true],
    ["5: SOFTW1..3 toggled", L(base), H(0), L(base | _PAGE_SOFTW1 | _PAGE_SOFTW2 | _PAGE_SOFTW3), H(0), false, false],
    ["5: SOFTW4 toggled", L(base), H(0), L(base), H(_PAGE_SOFTW4_HI), false, false],
    ["5: SAVED_DIRTY set while D cleared still flushes (D rule)", L(base), H(0), L(base & ~_PAGE_DIRTY), H(_PAGE_SAVED_DIRTY_HI), false, true],
    ["5: SOFTW5 toggled on huge PMD", hugeBase, 0, hugeBase | _PAGE_SOFTW1, _PAGE_SOFTW5_HI, true, false],
    ["identical entry", L(base), H(_PAGE_NX_HI), L(base), H(_PAGE_NX_HI), false, false],
  ];

  it.each(rows)("rule %s", (_rule, oldLo, oldHi, newLo, newHi, huge, expected) => {
    expect(pteNeedsFlush(oldLo, oldHi, newLo, newHi, huge)).toBe(expected);
    expect(refNeedsFlush(to64(oldLo, oldHi), to64(newLo, newHi), huge)).toBe(expected);
  });

  it("matches a BigInt transcription of the kernel code on random entry pairs", () => {
    fc.assert(
      fc.property(entryPairArb, fc.boolean(), ({ oldLo, oldHi, newLo, newHi }, huge) => {
        expect(pteNeedsFlush(oldLo, oldHi, newLo, newHi, huge)).toBe(
          refNeedsFlush(to64(oldLo, oldHi), to64(newLo, newHi), huge),
        );
      }),
      { numRuns: 5000 },
    );
  });

  it("property: old not present -> false", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, u32Arb, u32Arb, fc.boolean(), (oldLo, oldHi, newLo, newHi, huge) => {
        const lo = (oldLo & ~_PAGE_PRESENT) >>> 0;
        expect(pteNeedsFlush(lo, oldHi, newLo, newHi, huge)).toBe(false);
      }),
    );
  });

  it("property: identical -> false", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, fc.boolean(), (lo, hi, huge) => {
        expect(pteNeedsFlush(lo, hi, lo, hi, huge)).toBe(false);
      }),
    );
  });

  it("property: only software bits differ -> false", () => {
    fc.assert(
      fc.property(
        u32Arb,
        u32Arb,
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (lo, hi, swLo, swHi, huge) => {
          const newLo = (lo ^ (swLo << 9)) >>> 0;
          const newHi = (hi ^ (swHi << 25)) >>> 0;
          expect(pteNeedsFlush(lo, hi, newLo, newHi, huge)).toBe(false);
        },
      ),
    );
  });

  it("property: clearing A -> false on a 4K PTE, true on a huge PMD", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, (lo0, hi) => {
        const lo = (lo0 | _PAGE_PRESENT | _PAGE_ACCESSED) >>> 0;
        const cleared = (lo & ~_PAGE_ACCESSED) >>> 0;
        expect(pteNeedsFlush(lo, hi, cleared, hi, false)).toBe(false);
        expect(pteNeedsFlush(lo, hi, cleared, hi, true)).toBe(true);
      }),
    );
  });

  it("property: setting P, A or D never flushes by itself", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, fc.integer({ min: 0, max: 3 }), fc.boolean(), (lo0, hi, which, huge) => {
        const lo = (lo0 | _PAGE_PRESENT) & ~(_PAGE_ACCESSED | _PAGE_DIRTY);
        const set = [_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_ACCESSED | _PAGE_DIRTY, 0][which]!;
        expect(pteNeedsFlush(lo >>> 0, hi, (lo | set) >>> 0, hi, huge)).toBe(false);
      }),
    );
  });

  it("property: any RW change on a present entry -> true", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, fc.boolean(), (lo0, hi, huge) => {
        const lo = (lo0 | _PAGE_PRESENT) >>> 0;
        expect(pteNeedsFlush(lo, hi, (lo ^ _PAGE_RW) >>> 0, hi, huge)).toBe(true);
      }),
    );
  });

  it("property: NX or PKEY change on a present entry -> true", () => {
    fc.assert(
      fc.property(u32Arb, u32Arb, fc.integer({ min: 27, max: 31 }), fc.boolean(), (lo0, hi, bitNo, huge) => {
        const lo = (lo0 | _PAGE_PRESENT) >>> 0;
        expect(pteNeedsFlush(lo, hi, lo, (hi ^ (1 << bitNo)) >>> 0, huge)).toBe(true);
      }),
    );
  });

  it("property: PFN change on a present 4K PTE -> true", () => {
    fc.assert(
      fc.property(pfnArb, pfnArb, loFlagsRecordArb, (a, b, lf) => {
        fc.pre(a !== b);
        const flo = loFlagsValue(lf) | _PAGE_PRESENT;
        expect(pteNeedsFlush(pteLo(a, flo), pteHi(a, 0), pteLo(b, flo), pteHi(b, 0), false)).toBe(true);
      }),
    );
  });
});
