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
  pmdLeafLo,
  pteHi,
  pteLo,
  _PAGE_PKEY_SHIFT_HI,
} from "@flushlab/core-mmu";
import { PTE_FLUSH_ON_CHANGE_HI, PTE_FLUSH_ON_CHANGE_LO, PTE_FLUSH_ON_CLEAR_LO, PTE_SOFTWARE_HI, PTE_SOFTWARE_LO, pteNeedsFlush } from "./pte-needs-flush.js";

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
/** The hi-word bits of protection key `pkey` (bits 59..62 of the entry). */
const pkeyToHi = (pkey: number): number => ((pkey & 0xf) << _PAGE_PKEY_SHIFT_HI) >>> 0;
function to64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** A PFN below 2**40. */
const pfnArb = fc.integer({ min: 0, max: 2 ** 40 - 1 });

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

describe("flush classes", () => {
  it("flush classes are disjoint and cover every flag bit of a 4K PTE", () => {
    expect(PTE_FLUSH_ON_CLEAR_LO & PTE_FLUSH_ON_CHANGE_LO).toBe(0);
    expect(PTE_FLUSH_ON_CLEAR_LO & PTE_SOFTWARE_LO).toBe(0);
    expect(PTE_FLUSH_ON_CHANGE_LO & PTE_SOFTWARE_LO).toBe(0);
    expect((PTE_FLUSH_ON_CLEAR_LO | PTE_FLUSH_ON_CHANGE_LO | PTE_SOFTWARE_LO) & PTE_FLAGS_MASK_LO).toBe(0xfff);
    expect(PTE_FLUSH_ON_CHANGE_HI & PTE_SOFTWARE_HI).toBe(0);
    expect(PTE_FLUSH_ON_CHANGE_HI).toBe(0xf8000000);
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
      fc.property(pfnArb, pfnArb, fc.integer({ min: 0, max: 0xfff }), (a, b, flags) => {
        fc.pre(a !== b);
        const flo = flags | _PAGE_PRESENT;
        expect(pteNeedsFlush(pteLo(a, flo), pteHi(a, 0), pteLo(b, flo), pteHi(b, 0), false)).toBe(true);
      }),
    );
  });
});
