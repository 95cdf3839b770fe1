import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  LA57_VMALLOC_END_EXCLUSIVE,
  LA57_VMALLOC_START,
  PAE_VMALLOC_END,
  PAE_VMALLOC_START,
  PAGE_SHIFT,
  PAGE_SIZE,
  PAGING_FORMATS,
  PGDIR_SHIFT_X86_32_PAE,
  PGDIR_SHIFT_X86_64,
  PGDIR_SHIFT_X86_64_LA57,
  PMD_SHIFT,
  PMD_SIZE,
  PUD_SHIFT,
  VMALLOC_END,
  VMALLOC_START,
  X86_32_PAE,
  X86_64_4LEVEL,
  X86_64_5LEVEL,
  canonicalToVa,
  findLevel,
  indexAtLevel,
  isKernelVa,
  isValidVa,
  levelIndex,
  pageAlignDown,
  pageAlignUp,
  paePdpteValid,
  pagingFormatByName,
  parseVa,
  vaFromLevelIndices,
  vaToCanonicalString,
} from "./paging-format.js";
import type { PagingFormat } from "./paging-format.js";
import { _PAGE_NX_HI, _PAGE_PCD, _PAGE_PRESENT, _PAGE_PWT, _PAGE_RW, pteHi, pteLo } from "./pte.js";

/** Random stored address of `fmt`: page number x offset; always an exact integer < vaSpan. */
function vaArb(fmt: PagingFormat): fc.Arbitrary<number> {
  const pages = 2 ** (fmt.vaBits - PAGE_SHIFT);
  // Split the page number in two halves so fc.integer stays within 32 bits.
  const half = Math.ceil((fmt.vaBits - PAGE_SHIFT) / 2);
  const loPages = 2 ** half;
  const hiPages = pages / loPages;
  return fc
    .tuple(
      fc.integer({ min: 0, max: hiPages - 1 }),
      fc.integer({ min: 0, max: loPages - 1 }),
      fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
    )
    .map(([h, l, off]) => {
      const page = (h * loPages + l) * PAGE_SIZE;
      // Above 2**53 only even offsets of the right granularity are exact; keep it exact.
      const va = page + off;
      return Number.isSafeInteger(va) ? va : page;
    });
}

const indicesArb = (fmt: PagingFormat): fc.Arbitrary<number[]> =>
  fc.tuple(...fmt.levels.map((d) => fc.integer({ min: 0, max: d.entries - 1 })));

describe("format descriptions", () => {
  it.each(PAGING_FORMATS.map((f) => [f.name, f] as const))("%s: levels tile the VA exactly", (_n, fmt) => {
    const last = fmt.levels[fmt.levels.length - 1]!;
    expect(last.name).toBe("pte");
    expect(last.shift).toBe(PAGE_SHIFT);
    for (let i = 0; i + 1 < fmt.levels.length; i++) {
      const upper = fmt.levels[i]!;
      const lower = fmt.levels[i + 1]!;
      expect(upper.shift).toBe(lower.shift + Math.log2(lower.entries));
    }
    const top = fmt.levels[0]!;
    expect(top.name).toBe("pgd");
    expect(top.shift + Math.log2(top.entries)).toBe(fmt.vaBits);
    expect(fmt.pgdirShift).toBe(top.shift);
    expect(fmt.vaSpan).toBe(2 ** fmt.vaBits);
    expect(fmt.maxPfnExclusive).toBe(2 ** (fmt.physBits - PAGE_SHIFT));
    for (const d of fmt.levels) expect(d.span).toBe(2 ** d.shift);
    expect(Object.isFrozen(fmt)).toBe(true);
    expect(Object.isFrozen(fmt.levels)).toBe(true);
    expect(fmt.levels.every((d) => Object.isFrozen(d))).toBe(true);
  });

  it("x86-64 4-level: PGD(47:39) PUD(38:30) PMD(29:21) PTE(20:12), 512 entries, 52-bit phys", () => {
    expect(X86_64_4LEVEL.name).toBe("x86-64");
    expect(X86_64_4LEVEL.levels.map((d) => [d.name, d.shift, d.entries])).toEqual([
      ["pgd", 39, 512],
      ["pud", 30, 512],
      ["pmd", 21, 512],
      ["pte", 12, 512],
    ]);
    expect(X86_64_4LEVEL.vaBits).toBe(48);
    expect(X86_64_4LEVEL.physBits).toBe(52);
    expect(X86_64_4LEVEL.maxPfnExclusive).toBe(2 ** 40);
    expect(X86_64_4LEVEL.supportsNx).toBe(true);
    expect(X86_64_4LEVEL.largePageShifts).toEqual([PMD_SHIFT, PUD_SHIFT]);
    expect(X86_64_4LEVEL.levels.filter((d) => d.largePage).map((d) => d.name)).toEqual(["pud", "pmd"]);
    expect(X86_64_4LEVEL.kernelStart).toBe(2 ** 47);
    expect(PGDIR_SHIFT_X86_64).toBe(39);
  });

  it("x86-64 LA57: pgd(56:48) on top of the 4-level layout, 57-bit VA", () => {
    expect(X86_64_5LEVEL.name).toBe("x86-64-la57");
    expect(X86_64_5LEVEL.levels.map((d) => [d.name, d.shift, d.entries])).toEqual([
      ["pgd", 48, 512],
      ["p4d", 39, 512],
      ["pud", 30, 512],
      ["pmd", 21, 512],
      ["pte", 12, 512],
    ]);
    expect(X86_64_5LEVEL.vaBits).toBe(57);
    expect(X86_64_5LEVEL.kernelStart).toBe(2 ** 56);
    expect(PGDIR_SHIFT_X86_64_LA57).toBe(48);
  });

  it("x86-32 PAE: exactly 4 top entries, 44-bit phys, 2 MiB pages at PMD only, PDPTEs loaded at CR3", () => {
    expect(X86_32_PAE.name).toBe("x86-32-pae");
    expect(X86_32_PAE.levels[0]!.entries).toBe(4);
    expect(X86_32_PAE.levels.map((d) => [d.name, d.shift, d.entries])).toEqual([
      ["pgd", 30, 4],
      ["pmd", 21, 512],
      ["pte", 12, 512],
    ]);
    expect(X86_32_PAE.vaBits).toBe(32);
    expect(X86_32_PAE.physBits).toBe(44);
    expect(X86_32_PAE.maxPfnExclusive).toBe(2 ** 32);
    expect(X86_32_PAE.supportsNx).toBe(true);
    expect(X86_32_PAE.largePageShifts).toEqual([PMD_SHIFT]);
    expect(X86_32_PAE.kernelStart).toBe(0xc0000000);
    expect(X86_32_PAE.topLoadedAtCr3).toBe(true);
    expect(PGDIR_SHIFT_X86_32_PAE).toBe(30);
    // Every 32-bit address indexes one of the 4 PDPTEs; 3 GiB is the first kernel entry.
    expect(levelIndex(X86_32_PAE, 0, 0xffffffff)).toBe(3);
    expect(levelIndex(X86_32_PAE, "pgd", 0xc0000000)).toBe(3);
    expect(levelIndex(X86_32_PAE, "pgd", 0xbfffffff)).toBe(2);
  });

  it("PAE PDPTEs accept only P, PWT, PCD (RW/US/A/D/NX reserved)", () => {
    expect(paePdpteValid(pteLo(0x1234, _PAGE_PRESENT | _PAGE_PWT | _PAGE_PCD), pteHi(0x1234, 0))).toBe(true);
    expect(paePdpteValid(pteLo(0x1234, _PAGE_PRESENT | _PAGE_RW), 0)).toBe(false);
    expect(paePdpteValid(pteLo(0x1234, _PAGE_PRESENT), _PAGE_NX_HI)).toBe(false);
  });

  it("pagingFormatByName and findLevel", () => {
    expect(pagingFormatByName("x86-64-la57")).toBe(X86_64_5LEVEL);
    expect(() => pagingFormatByName("x86-32")).toThrow(RangeError);
    expect(findLevel(X86_64_4LEVEL, "pmd").shift).toBe(21);
    expect(() => findLevel(X86_64_4LEVEL, "p4d")).toThrow(RangeError);
    expect(() => findLevel(X86_32_PAE, 3)).toThrow(RangeError);
  });
});

describe("levelIndex", () => {
  it.each(PAGING_FORMATS.map((f) => [f.name, f] as const))(
    "%s: rebuilding va from all level indices gives pageAlignDown(va, 12)",
    (_n, fmt) => {
      fc.assert(
        fc.property(vaArb(fmt), (va) => {
          expect(isValidVa(fmt, va)).toBe(true);
          const idx = fmt.levels.map((_d, i) => levelIndex(fmt, i, va));
          fmt.levels.forEach((d, i) => {
            expect(idx[i]).toBeGreaterThanOrEqual(0);
            expect(idx[i]).toBeLessThan(d.entries);
            expect(indexAtLevel(d, va)).toBe(idx[i]);
            expect(levelIndex(fmt, d.name, va)).toBe(idx[i]);
          });
          expect(vaFromLevelIndices(fmt, idx)).toBe(pageAlignDown(va, PAGE_SHIFT));
          expect(vaFromLevelIndices(fmt, idx, va % PAGE_SIZE)).toBe(va);
        }),
        { numRuns: 1000 },
      );
    },
  );

  it.each(PAGING_FORMATS.map((f) => [f.name, f] as const))("%s: indices -> va -> indices", (_n, fmt) => {
    fc.assert(
      fc.property(indicesArb(fmt), (idx) => {
        const va = vaFromLevelIndices(fmt, idx);
        expect(isValidVa(fmt, va)).toBe(true);
        expect(fmt.levels.map((_d, i) => levelIndex(fmt, i, va))).toEqual(idx);
      }),
    );
  });

  it("extremes of each format", () => {
    for (const fmt of PAGING_FORMATS) {
      const top = fmt.vaSpan - PAGE_SIZE;
      expect(fmt.levels.map((_d, i) => levelIndex(fmt, i, top))).toEqual(fmt.levels.map((d) => d.entries - 1));
      expect(fmt.levels.map((_d, i) => levelIndex(fmt, i, 0))).toEqual(fmt.levels.map(() => 0));
    }
    expect(() => vaFromLevelIndices(X86_32_PAE, [4, 0, 0])).toThrow(RangeError);
    expect(() => vaFromLevelIndices(X86_32_PAE, [0, 0])).toThrow(RangeError);
  });
});

describe("alignment helpers", () => {
  it("pageAlignDown / pageAlignUp", () => {
    expect(pageAlignDown(0x12345, PAGE_SHIFT)).toBe(0x12000);
    expect(pageAlignUp(0x12345, PAGE_SHIFT)).toBe(0x13000);
    expect(pageAlignUp(0x12000, PAGE_SHIFT)).toBe(0x12000);
    expect(pageAlignDown(VMALLOC_END, PMD_SHIFT)).toBe(VMALLOC_END + 1 - PMD_SIZE);
    // Exact above 2**32 and above 2**53 (LA57 page-aligned values).
    expect(pageAlignDown(2 ** 56 + 3 * PMD_SIZE + PAGE_SIZE, PMD_SHIFT)).toBe(2 ** 56 + 3 * PMD_SIZE);
  });
});

describe("canonical addresses", () => {
  it.each([
    [X86_64_4LEVEL, VMALLOC_START, "0xffffc90000000000"],
    [X86_64_4LEVEL, VMALLOC_END, "0xffffe8ffffffffff"],
    [X86_64_4LEVEL, 2 ** 47, "0xffff800000000000"],
    [X86_64_4LEVEL, 2 ** 47 - 1, "0x00007fffffffffff"],
    [X86_64_4LEVEL, 0, "0x0000000000000000"],
    [X86_64_4LEVEL, 0xffffffff80000000 - 2 ** 64 + 2 ** 48, "0xffffffff80000000"],
    [X86_64_5LEVEL, 2 ** 56, "0xff00000000000000"],
    [X86_64_5LEVEL, LA57_VMALLOC_START, "0xffa0000000000000"],
    [X86_64_5LEVEL, 2 ** 57 - PAGE_SIZE, "0xfffffffffffff000"],
    [X86_64_5LEVEL, 2 ** 47, "0x0000800000000000"],
    [X86_32_PAE, 0xc0000000, "0xc0000000"],
    [X86_32_PAE, 0x1000, "0x00001000"],
  ] as const)("%# %s prints and parses", (fmt, va, text) => {
    expect(vaToCanonicalString(fmt, va)).toBe(text);
    expect(parseVa(fmt, text)).toBe(va);
    expect(parseVa(fmt, text.toUpperCase().replace("0X", "0x"))).toBe(va);
  });

  it.each(PAGING_FORMATS.map((f) => [f.name, f] as const))("%s: print/parse round trip", (_n, fmt) => {
    fc.assert(
      fc.property(vaArb(fmt), (va) => {
        const text = vaToCanonicalString(fmt, va);
        expect(text).toMatch(fmt.canonicalBits === 64 ? /^0x[0-9a-f]{16}$/ : /^0x[0-9a-f]{8}$/);
        expect(parseVa(fmt, text)).toBe(va);
        expect(isKernelVa(fmt, va)).toBe(fmt.signExtended ? text.startsWith("0xf") : va >= 0xc0000000);
      }),
      { numRuns: 1000 },
    );
  });

  it("kernel addresses sign-extend; user addresses do not", () => {
    fc.assert(
      fc.property(vaArb(X86_64_4LEVEL), (va) => {
        const text = vaToCanonicalString(X86_64_4LEVEL, va);
        expect(text.startsWith(va >= 2 ** 47 ? "0xffff" : "0x0000")).toBe(true);
      }),
    );
  });

  it.each([
    [X86_64_4LEVEL, "0x0000800000000000"],
    [X86_64_4LEVEL, "0xffff7fffffffffff"],
    [X86_64_4LEVEL, "0x8000000000000000"],
    [X86_64_4LEVEL, "0x10000000000000000"],
    [X86_64_5LEVEL, "0x0100000000000000"],
    [X86_64_5LEVEL, "0xfeffffffffffffff"],
    [X86_32_PAE, "0x100000000"],
    [X86_64_4LEVEL, "xyz"],
    [X86_64_4LEVEL, ""],
    [X86_64_4LEVEL, "-0x1000"],
  ] as const)("%# rejects %s", (fmt, text) => {
    expect(() => parseVa(fmt, text)).toThrow(RangeError);
  });

  it("accepts a bare hex number and _ separators", () => {
    expect(parseVa(X86_64_4LEVEL, "ffff_c900_0000_0000")).toBe(VMALLOC_START);
  });

  it("rejects LA57 values a double cannot hold and invalid stored addresses", () => {
    expect(() => canonicalToVa(X86_64_5LEVEL, 0xff00000000000001n)).toThrow(RangeError);
    expect(() => vaToCanonicalString(X86_64_4LEVEL, 2 ** 48)).toThrow(RangeError);
    expect(() => vaToCanonicalString(X86_64_4LEVEL, -1)).toThrow(RangeError);
    expect(() => vaToCanonicalString(X86_32_PAE, 0.5)).toThrow(RangeError);
  });
});

describe("vmalloc ranges", () => {
  it("x86-64 4-level: 0xffffc90000000000..0xffffe8ffffffffff, 32 TiB = 64 PGD entries", () => {
    expect(VMALLOC_START).toBe(parseVa(X86_64_4LEVEL, "0xffffc90000000000"));
    expect(VMALLOC_END).toBe(parseVa(X86_64_4LEVEL, "0xffffe8ffffffffff"));
    expect(VMALLOC_END + 1 - VMALLOC_START).toBe(32 * 2 ** 40);
    const first = levelIndex(X86_64_4LEVEL, "pgd", VMALLOC_START);
    const last = levelIndex(X86_64_4LEVEL, "pgd", VMALLOC_END);
    expect(first).toBe(402);
    expect(last - first + 1).toBe(64);
    expect(X86_64_4LEVEL.vmallocStart).toBe(VMALLOC_START);
    expect(X86_64_4LEVEL.vmallocEndExclusive).toBe(VMALLOC_END + 1);
    expect(isKernelVa(X86_64_4LEVEL, VMALLOC_START)).toBe(true);
  });

  it("x86-64 LA57: 0xffa0000000000000..0xffd1ffffffffffff", () => {
    expect(LA57_VMALLOC_START).toBe(parseVa(X86_64_5LEVEL, "0xffa0000000000000"));
    expect(LA57_VMALLOC_END_EXCLUSIVE).toBe(parseVa(X86_64_5LEVEL, "0xffd2000000000000"));
    expect(X86_64_5LEVEL.vmallocStart).toBe(LA57_VMALLOC_START);
  });

  it("x86-32 PAE nominal range sits in the last PDPTE, below pkmap, PMD-aligned start", () => {
    expect(PAE_VMALLOC_START).toBe(0xf8800000);
    expect(PAE_VMALLOC_END).toBe(0xff7fe000);
    expect(PAE_VMALLOC_START % PMD_SIZE).toBe(0);
    expect(levelIndex(X86_32_PAE, "pgd", PAE_VMALLOC_START)).toBe(3);
    expect(levelIndex(X86_32_PAE, "pgd", PAE_VMALLOC_END - 1)).toBe(3);
    expect(pageAlignDown(PAE_VMALLOC_END - 1, PMD_SHIFT)).toBe(0xff600000);
    expect(X86_32_PAE.vmallocStart).toBe(PAE_VMALLOC_START);
    expect(X86_32_PAE.vmallocEndExclusive).toBe(PAE_VMALLOC_END);
  });
});
