/**
 * Descriptions of the x86 paging modes the simulator models: 4-level and 5-level
 * IA-32e paging, and 32-bit PAE paging (Intel SDM Vol. 3A §4.4, §4.5; Linux
 * `arch/x86/include/asm/pgtable_64_types.h`, `pgtable-3level_types.h`).
 *
 * **Address convention.** A virtual address is a JS number holding the address
 * *truncated to `vaBits`*: x86-64 kernel address `0xffffc90000000000` is stored as
 * `0xffffc90000000000 mod 2**48 = 0xc90000000000`. Page-aligned values below 2**57 are
 * exact doubles, so index extraction uses division and `%`, never 32-bit bitwise
 * operators. Canonical (sign-extended) forms exist only for printing and parsing.
 *
 * **Level names** follow Linux: the top level is always `pgd`. With 4-level paging the
 * `p4d` level is folded into `pgd` (PGDIR_SHIFT = 39); with LA57 the new level is the
 * `pgd` at bits 56:48 (PGDIR_SHIFT = 48) and `p4d` takes bits 47:39 (SDM PML5 -> PML4).
 *
 * @module
 */

/** Linux level names. */
export type LevelName = "pgd" | "p4d" | "pud" | "pmd" | "pte";

/** One paging-structure level. */
export interface LevelDesc {
  /** Linux name (`pgd`, `p4d`, `pud`, `pmd`, `pte`). */
  readonly name: LevelName;
  /** Intel SDM name of the table at this level (PML5, PML4, PDPT, PD, PT). */
  readonly sdmName: string;
  /** Lowest VA bit that indexes this level (`*_SHIFT`). */
  readonly shift: number;
  /** Number of entries in a table of this level (`PTRS_PER_*`). */
  readonly entries: number;
  /** Bytes of VA mapped by one entry: `2 ** shift`. */
  readonly span: number;
  /** Whether an entry here may be a PS=1 leaf (2 MiB PMD, 1 GiB PUD). */
  readonly largePage: boolean;
}

/** Paging-mode names. */
export type PagingFormatName = "x86-64" | "x86-64-la57" | "x86-32-pae";

/** A paging mode. All objects are frozen. */
export interface PagingFormat {
  readonly name: PagingFormatName;
  /** Linear-address width; addresses are stored truncated to this many bits. */
  readonly vaBits: number;
  /** `2 ** vaBits`: stored addresses are integers in `[0, vaSpan)`. */
  readonly vaSpan: number;
  /** Levels, top first; the last is the 4 KiB `pte` level. */
  readonly levels: readonly LevelDesc[];
  /** Shift of the top level (`PGDIR_SHIFT`). */
  readonly pgdirShift: number;
  /** Entry size in bytes (8 for every modelled mode). */
  readonly entryBytes: number;
  /** Physical-address width the kernel supports (x86-64: 52; PAE: 44). */
  readonly physBits: number;
  /** `2 ** (physBits - 12)`: every valid PFN is below this. */
  readonly maxPfnExclusive: number;
  /** Whether the XD/NX bit (63) is available (needs PAE or IA-32e paging, EFER.NXE). */
  readonly supportsNx: boolean;
  /** Shifts of the supported large-page sizes (21 = 2 MiB, 30 = 1 GiB). */
  readonly largePageShifts: readonly number[];
  /**
   * Start of the kernel half, truncated: x86-64 4-level `0xffff800000000000` -> 2**47,
   * LA57 `0xff00000000000000` -> 2**56, PAE `PAGE_OFFSET` 0xC0000000 (3 GiB split).
   */
  readonly kernelStart: number;
  /**
   * Whether canonical addresses sign-extend bit `vaBits - 1` to 64 bits (x86-64). PAE
   * addresses are plain 32-bit values.
   */
  readonly signExtended: boolean;
  /** Width in bits of the canonical printed form (64 or 32). */
  readonly canonicalBits: number;
  /**
   * Whether the top-level entries are loaded into CPU registers at CR3 load (PAE
   * PDPTEs, SDM §4.4.1): a PDPTE change takes effect only after a CR3 reload.
   */
  readonly topLoadedAtCr3: boolean;
  /** Nominal vmalloc area start (truncated VA). */
  readonly vmallocStart: number;
  /** Nominal vmalloc area end, exclusive (truncated VA). */
  readonly vmallocEndExclusive: number;
}

/** log2 of the base page size. */
export const PAGE_SHIFT = 12;
/** Base page size, 4 KiB. */
export const PAGE_SIZE = 4096;
/** Shift of a PMD entry's span (2 MiB). */
export const PMD_SHIFT = 21;
/** Bytes mapped by one PMD entry (2 MiB). */
export const PMD_SIZE = 2 ** PMD_SHIFT;
/** Shift of a PUD entry's span (1 GiB). */
export const PUD_SHIFT = 30;
/** Bytes mapped by one PUD entry (1 GiB). */
export const PUD_SIZE = 2 ** PUD_SHIFT;
/** Shift of a P4D entry's span (512 GiB), x86-64 only. */
export const P4D_SHIFT = 39;
/** `PGDIR_SHIFT` of 4-level x86-64 (P4D folded). */
export const PGDIR_SHIFT_X86_64 = 39;
/** `PGDIR_SHIFT` of 5-level x86-64 (LA57). */
export const PGDIR_SHIFT_X86_64_LA57 = 48;
/** `PGDIR_SHIFT` of x86-32 PAE (PDPT entries map 1 GiB). */
export const PGDIR_SHIFT_X86_32_PAE = 30;

/**
 * x86-64 4-level vmalloc start, `0xffffc90000000000` truncated to 48 bits
 * (`Documentation/arch/x86/x86_64/mm.rst`, no KASLR).
 */
export const VMALLOC_START = 0xc90000000000;
/**
 * x86-64 4-level `VMALLOC_END`, `0xffffe8ffffffffff` truncated: **inclusive**, as in the
 * kernel (`VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1`). 32 TiB = 64 PGD entries.
 */
export const VMALLOC_END = 0xe8ffffffffff;

/** x86-64 LA57 vmalloc start, `0xffa0000000000000` truncated to 57 bits (mm.rst). */
export const LA57_VMALLOC_START = 0x1a0000000000000;
/**
 * x86-64 LA57 vmalloc end, **exclusive**: `0xffd2000000000000` truncated (the kernel's
 * inclusive `0xffd1ffffffffffff` is not an exact double once truncated to 57 bits).
 */
export const LA57_VMALLOC_END_EXCLUSIVE = 0x1d2000000000000;

/**
 * x86-32 PAE nominal vmalloc start (approximation). The kernel computes
 * `VMALLOC_START = ALIGN(high_memory + VMALLOC_OFFSET, VMALLOC_OFFSET)` with
 * `VMALLOC_OFFSET` = 8 MiB (`pgtable_32_areas.h`). With the classic 896 MiB lowmem,
 * `high_memory` = 0xC0000000 + 0x38000000 = 0xF8000000, so the start is **0xF8800000**
 * (0xF8000000 is `high_memory` itself, before the 8 MiB guard gap). This matches the
 * classic boot log line `vmalloc : 0xf8800000 - 0xff7fe000`. PMD aligned.
 */
export const PAE_VMALLOC_START = 0xf8800000;
/**
 * x86-32 PAE nominal `VMALLOC_END`, **exclusive** as on 32-bit kernels: with HIGHMEM it is
 * `PKMAP_BASE - 2 * PAGE_SIZE`; taking the classic `PKMAP_BASE` = 0xFF800000 gives
 * 0xFF7FE000. The real value depends on fixmap/cpu_entry_area size (NR_CPUS), so treat
 * it as an approximation; only PMD granularity matters to the simulator, and the last
 * vmalloc PMD is 0xFF600000..0xFF7FFFFF either way.
 */
export const PAE_VMALLOC_END = 0xff800000 - 2 * PAGE_SIZE;

function level(name: LevelName, sdmName: string, shift: number, entries: number, largePage: boolean): LevelDesc {
  return Object.freeze({ name, sdmName, shift, entries, span: 2 ** shift, largePage });
}

/** 4-level IA-32e paging: PGD(47:39) -> PUD(38:30) -> PMD(29:21) -> PTE(20:12), 48-bit VA. */
export const X86_64_4LEVEL: PagingFormat = Object.freeze({
  name: "x86-64",
  vaBits: 48,
  vaSpan: 2 ** 48,
  levels: Object.freeze([
    level("pgd", "PML4", 39, 512, false),
    level("pud", "PDPT", 30, 512, true),
    level("pmd", "PD", 21, 512, true),
    level("pte", "PT", 12, 512, false),
  ]),
  pgdirShift: PGDIR_SHIFT_X86_64,
  entryBytes: 8,
  physBits: 52,
  maxPfnExclusive: 2 ** 40,
  supportsNx: true,
  largePageShifts: Object.freeze([PMD_SHIFT, PUD_SHIFT]),
  kernelStart: 2 ** 47,
  signExtended: true,
  canonicalBits: 64,
  topLoadedAtCr3: false,
  vmallocStart: VMALLOC_START,
  vmallocEndExclusive: VMALLOC_END + 1,
} satisfies PagingFormat);

/**
 * 5-level IA-32e paging (LA57): PGD(56:48) -> P4D(47:39) -> PUD -> PMD -> PTE, 57-bit VA.
 * Linux names the new top level `pgd` and the old PML4 level `p4d`.
 */
export const X86_64_5LEVEL: PagingFormat = Object.freeze({
  name: "x86-64-la57",
  vaBits: 57,
  vaSpan: 2 ** 57,
  levels: Object.freeze([
    level("pgd", "PML5", 48, 512, false),
    level("p4d", "PML4", 39, 512, false),
    level("pud", "PDPT", 30, 512, true),
    level("pmd", "PD", 21, 512, true),
    level("pte", "PT", 12, 512, false),
  ]),
  pgdirShift: PGDIR_SHIFT_X86_64_LA57,
  entryBytes: 8,
  physBits: 52,
  maxPfnExclusive: 2 ** 40,
  supportsNx: true,
  largePageShifts: Object.freeze([PMD_SHIFT, PUD_SHIFT]),
  kernelStart: 2 ** 56,
  signExtended: true,
  canonicalBits: 64,
  topLoadedAtCr3: false,
  vmallocStart: LA57_VMALLOC_START,
  vmallocEndExclusive: LA57_VMALLOC_END_EXCLUSIVE,
} satisfies PagingFormat);

/**
 * 32-bit PAE paging: PDPT ("pgd", 4 entries, 31:30) -> PMD (29:21) -> PTE (20:12),
 * 32-bit VA, 44 physical bits (PFN < 2**32), NX, 2 MiB pages at PMD level only.
 * PDPTEs only use P, PWT, PCD (see {@link paePdpteValid}) and are loaded into four
 * registers at CR3 load (SDM §4.4.1).
 */
export const X86_32_PAE: PagingFormat = Object.freeze({
  name: "x86-32-pae",
  vaBits: 32,
  vaSpan: 2 ** 32,
  levels: Object.freeze([
    level("pgd", "PDPT", 30, 4, false),
    level("pmd", "PD", 21, 512, true),
    level("pte", "PT", 12, 512, false),
  ]),
  pgdirShift: PGDIR_SHIFT_X86_32_PAE,
  entryBytes: 8,
  physBits: 44,
  maxPfnExclusive: 2 ** 32,
  supportsNx: true,
  largePageShifts: Object.freeze([PMD_SHIFT]),
  kernelStart: 0xc0000000,
  signExtended: false,
  canonicalBits: 32,
  topLoadedAtCr3: true,
  vmallocStart: PAE_VMALLOC_START,
  vmallocEndExclusive: PAE_VMALLOC_END,
} satisfies PagingFormat);

/** All modelled formats. */
export const PAGING_FORMATS: readonly PagingFormat[] = Object.freeze([X86_64_4LEVEL, X86_64_5LEVEL, X86_32_PAE]);

/** Format by name; throws `RangeError` on an unknown name. */
export function pagingFormatByName(name: string): PagingFormat {
  for (const f of PAGING_FORMATS) if (f.name === name) return f;
  throw new RangeError(`unknown paging format ${JSON.stringify(name)}`);
}

/**
 * Reserved `lo` bits of a PAE PDPTE: RW, US (bits 2:1) and bits 8:5 (A, D, PS, G).
 * Only P, PWT, PCD and the ignored bits 11:9 may be set (SDM §4.4.1, table 4-8).
 */
export const PAE_PDPTE_RESERVED_LO = 0x1e6;
/** Reserved `hi` bits of a PAE PDPTE: 63:52 at least (NX included; 63:MAXPHYADDR in general). */
export const PAE_PDPTE_RESERVED_HI = 0xfff00000;

/**
 * Whether a present PAE PDPTE has no reserved bit set. Loading a PDPTE with reserved
 * bits raises #GP at CR3 load (SDM §4.4.1). Linux writes `_PAGE_PRESENT | __pa(pmd)`.
 */
export function paePdpteValid(lo: number, hi: number): boolean {
  return (lo & PAE_PDPTE_RESERVED_LO) === 0 && (hi & PAE_PDPTE_RESERVED_HI) === 0;
}

/** Level descriptor by index (0 = top) or Linux name; throws `RangeError` if absent. */
export function findLevel(fmt: PagingFormat, lvl: number | LevelName): LevelDesc {
  if (typeof lvl === "number") {
    const d = fmt.levels[lvl];
    if (d !== undefined) return d;
  } else {
    for (const d of fmt.levels) if (d.name === lvl) return d;
  }
  throw new RangeError(`${fmt.name} has no level ${String(lvl)}`);
}

/**
 * Index of `va` in the table at level `lvl` (index into `fmt.levels`, 0 = top, or a
 * Linux name): `Math.floor(va / 2**shift) % entries` (kernel `pgd_index()` etc.).
 */
export function levelIndex(fmt: PagingFormat, lvl: number | LevelName, va: number): number {
  const d = findLevel(fmt, lvl);
  return Math.floor(va / d.span) % d.entries;
}

/** Hot-path variant of {@link levelIndex} with the descriptor already in hand. */
export function indexAtLevel(d: LevelDesc, va: number): number {
  return Math.floor(va / d.span) % d.entries;
}

/**
 * Rebuilds a truncated VA from one index per level (top first) plus a byte offset
 * inside the 4 KiB page. Throws `RangeError` on a wrong count or out-of-range index.
 */
export function vaFromLevelIndices(fmt: PagingFormat, indices: readonly number[], offset = 0): number {
  if (indices.length !== fmt.levels.length) {
    throw new RangeError(`${fmt.name} needs ${fmt.levels.length} indices, got ${indices.length}`);
  }
  let va = offset;
  for (let i = 0; i < indices.length; i++) {
    const d = fmt.levels[i]!;
    const ix = indices[i]!;
    if (!Number.isInteger(ix) || ix < 0 || ix >= d.entries) {
      throw new RangeError(`index ${ix} out of range for ${d.name} (${d.entries} entries)`);
    }
    va += ix * d.span;
  }
  return va;
}

/** `va` rounded down to a multiple of `2**shift` (exact for integers below 2**53). */
export function pageAlignDown(va: number, shift: number): number {
  return va - (va % 2 ** shift);
}

/** `va` rounded up to a multiple of `2**shift`. */
export function pageAlignUp(va: number, shift: number): number {
  const size = 2 ** shift;
  const rem = va % size;
  return rem === 0 ? va : va - rem + size;
}

/** Whether `va` is a valid stored (truncated) address: an integer in `[0, vaSpan)`. */
export function isValidVa(fmt: PagingFormat, va: number): boolean {
  return Number.isInteger(va) && va >= 0 && va < fmt.vaSpan;
}

/** Whether a stored address lies in the kernel half (`va >= kernelStart`). */
export function isKernelVa(fmt: PagingFormat, va: number): boolean {
  return va >= fmt.kernelStart;
}

/**
 * Canonical 64-bit (x86-64) or 32-bit (PAE) value of a stored address, as a BigInt:
 * x86-64 sign-extends bit `vaBits - 1` into bits 63..vaBits (SDM §3.3.7.1). Not hot path.
 */
export function vaToCanonical(fmt: PagingFormat, va: number): bigint {
  if (!isValidVa(fmt, va)) throw new RangeError(`${va} is not a valid ${fmt.name} address`);
  const v = BigInt(va);
  if (!fmt.signExtended) return v;
  const top = 1n << BigInt(fmt.vaBits - 1);
  return v >= top ? v + ((1n << 64n) - (1n << BigInt(fmt.vaBits))) : v;
}

/**
 * Canonical hex string of a stored address, zero-padded to 16 (x86-64) or 8 (PAE)
 * digits: e.g. x86-64 stored `0xc90000000000` -> `"0xffffc90000000000"`.
 */
export function vaToCanonicalString(fmt: PagingFormat, va: number): string {
  return "0x" + vaToCanonical(fmt, va).toString(16).padStart(fmt.canonicalBits / 4, "0");
}

/**
 * Stored (truncated) address of a canonical value. Throws `RangeError` when `value`
 * does not fit `canonicalBits`, when (x86-64) bits 63..vaBits-1 are not all equal, or
 * when the truncated value is not an exact double.
 */
export function canonicalToVa(fmt: PagingFormat, value: bigint): number {
  const width = BigInt(fmt.canonicalBits);
  if (value < 0n || value >= 1n << width) {
    throw new RangeError(`0x${value.toString(16)} does not fit ${fmt.canonicalBits} bits`);
  }
  const low = value & ((1n << BigInt(fmt.vaBits)) - 1n);
  if (fmt.signExtended) {
    const upper = value >> BigInt(fmt.vaBits - 1); // bits 63..vaBits-1
    const ones = (1n << (width - BigInt(fmt.vaBits) + 1n)) - 1n;
    if (upper !== 0n && upper !== ones) {
      throw new RangeError(`0x${value.toString(16)} is not canonical for ${fmt.name} (${fmt.vaBits}-bit VA)`);
    }
  }
  const n = Number(low);
  if (BigInt(n) !== low) {
    throw new RangeError(`0x${value.toString(16)} is not exactly representable as a stored address (above 2**53, not aligned)`);
  }
  return n;
}

/**
 * Parses a hex address (`0x` prefix optional, `_` separators allowed), checks that it is
 * canonical for `fmt`, and returns the stored truncated number. Throws `RangeError` on
 * malformed or non-canonical input, or (LA57 only) on a truncated value above 2**53 that
 * a double cannot hold exactly.
 */
export function parseVa(fmt: PagingFormat, text: string): number {
  const t = text.trim().replace(/_/g, "");
  const m = /^(?:0x)?([0-9a-f]+)$/i.exec(t);
  if (m === null || m[1] === undefined) throw new RangeError(`not a hex address: ${JSON.stringify(text)}`);
  return canonicalToVa(fmt, BigInt("0x" + m[1]));
}
