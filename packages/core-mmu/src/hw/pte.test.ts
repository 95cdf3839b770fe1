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
  X86_32_PAE_PHYS_BITS,
  X86_64_PHYS_BITS,
  formatPte,
  pmdLeafLo,
  pmdLeafPfn,
  pteDirty,
  pteGlobal,
  pteHi,
  pteHuge,
  pteLo,
  pteNone,
  ptePkey,
  pteNx,
  ptePfn,
  ptePresent,
  pteProtNone,
  pteUser,
  pteWrite,
  pteYoung,
  PTE_FLAGS_MASK_HI,
  PTE_LARGE_FLAGS_MASK_LO,
} from "./pte.js";

// Field readers the model does not need, written out for the tests.
const pkeyToHi = (pkey: number): number => ((pkey & 0xf) << _PAGE_PKEY_SHIFT_HI) >>> 0;
const pteFlagsLo = (lo: number): number => lo & PTE_FLAGS_MASK_LO;
const pteFlagsHi = (hi: number): number => (hi & PTE_FLAGS_MASK_HI) >>> 0;

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

});

describe("large-page leaves", () => {
  it("pmdLeafLo sets PS, keeps PAT_LARGE out of the PFN, and round-trips 512-aligned PFNs", () => {
    fc.assert(
      fc.property(pfnArb, fc.integer({ min: 0, max: 0x1fff }), (pfn, flags) => {
        const aligned = pfn - (pfn % 512);
        const lo = pmdLeafLo(aligned, flags);
        const hi = pteHi(aligned, 0);
        expect(pmdLeafPfn(lo, hi)).toBe(aligned);
        expect(lo & PTE_LARGE_FLAGS_MASK_LO).toBe((flags | _PAGE_PSE) & 0x1fff);
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
