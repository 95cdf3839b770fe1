/**
 * Bit-exact x86 page-table entries (PAE / IA-32e format: 64 bits per entry).
 *
 * An entry is held as two uint32 words so the hot path never touches BigInt:
 *
 * - `lo` = bits 0..31 (flags 0..11, then physical-address bits 12..31),
 * - `hi` = bits 32..63 (physical-address bits 32..51, then bits 52..63: software
 *   bits 57/58, protection key 59..62, NX 63).
 *
 * All functions take and return plain numbers; `lo`/`hi` results are always
 * non-negative uint32 values (`>>> 0`). None of the hot-path helpers allocate.
 *
 * Bit assignments follow `arch/x86/include/asm/pgtable_types.h` (`_PAGE_BIT_*`) and
 * Intel SDM Vol. 3A §4.4 (PAE paging) / §4.5 (4-level and 5-level paging), tables 4-19
 * and 4-20 for PTE / 2 MiB PDE formats.
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Bit numbers and flag values
// ---------------------------------------------------------------------------

/** Present (bit 0). `_PAGE_PRESENT`; SDM "P". */
export const _PAGE_PRESENT = 1 << 0;
/** Read/write (bit 1). `_PAGE_RW`; SDM "R/W". */
export const _PAGE_RW = 1 << 1;
/** User/supervisor (bit 2). `_PAGE_USER`; SDM "U/S". */
export const _PAGE_USER = 1 << 2;
/** Page-level write-through (bit 3). `_PAGE_PWT`. */
export const _PAGE_PWT = 1 << 3;
/** Page-level cache disable (bit 4). `_PAGE_PCD`. */
export const _PAGE_PCD = 1 << 4;
/** Accessed (bit 5), set by the CPU on any access. `_PAGE_ACCESSED`; SDM "A". */
export const _PAGE_ACCESSED = 1 << 5;
/** Dirty (bit 6), set by the CPU on a write; leaf entries only. `_PAGE_DIRTY`; SDM "D". */
export const _PAGE_DIRTY = 1 << 6;
/** Page size (bit 7) in a PMD/PUD: the entry maps a 2 MiB / 1 GiB page. `_PAGE_PSE`; SDM "PS". */
export const _PAGE_PSE = 1 << 7;
/** PAT (bit 7) in a 4 KiB PTE; same bit as {@link _PAGE_PSE}. `_PAGE_PAT`. */
export const _PAGE_PAT = 1 << 7;
/** Global (bit 8): survives a CR3 write (SDM §4.10.2.4). `_PAGE_GLOBAL`; SDM "G". */
export const _PAGE_GLOBAL = 1 << 8;
/** Software bit 9 (`_PAGE_SPECIAL` in Linux). Ignored by hardware. */
export const _PAGE_SOFTW1 = 1 << 9;
/** Software bit 10 (`_PAGE_UFFD_WP`). Ignored by hardware. */
export const _PAGE_SOFTW2 = 1 << 10;
/** Software bit 11 (`_PAGE_SOFT_DIRTY`). Ignored by hardware. */
export const _PAGE_SOFTW3 = 1 << 11;
/**
 * PAT bit of a 2 MiB / 1 GiB leaf (bit 12). `_PAGE_PAT_LARGE`. In a 4 KiB PTE bit 12 is
 * the lowest PFN bit instead.
 */
export const _PAGE_PAT_LARGE = 1 << 12;
/**
 * PROT_NONE marker (bit 8, = {@link _PAGE_GLOBAL}); meaningful only while P is clear.
 * `_PAGE_PROTNONE` in `pgtable_types.h`.
 */
export const _PAGE_PROTNONE = _PAGE_GLOBAL;

/** Software bit 57 (`_PAGE_SOFTW4`, `_PAGE_DEVMAP` in older kernels) as a `hi`-word value (hi bit 25). */
export const _PAGE_SOFTW4_HI = 1 << 25;
/** Software bit 58 (`_PAGE_SOFTW5`, holds `_PAGE_SAVED_DIRTY`) as a `hi`-word value (hi bit 26). */
export const _PAGE_SOFTW5_HI = 1 << 26;
/** `_PAGE_SAVED_DIRTY` (shadow-stack handling) lives in SOFTW5. */
export const _PAGE_SAVED_DIRTY_HI = _PAGE_SOFTW5_HI;
/** Shift of the 4-bit protection key inside the `hi` word (bits 59..62 -> hi bits 27..30). */
export const _PAGE_PKEY_SHIFT_HI = 27;
/** Mask of the protection key inside the `hi` word (`_PAGE_PKEY_BIT0..3`). */
export const _PAGE_PKEY_MASK_HI = 0xf << _PAGE_PKEY_SHIFT_HI;
/**
 * Execute-disable (bit 63 -> hi bit 31) as a `hi`-word value, 0x80000000 (kept unsigned).
 * `_PAGE_NX`; SDM "XD". Needs PAE or IA-32e paging and EFER.NXE.
 */
export const _PAGE_NX_HI = (1 << 31) >>> 0;

/** Mask of the flag bits in the `lo` word of a 4 KiB PTE (bits 0..11). */
export const PTE_FLAGS_MASK_LO = 0xfff;
/** Mask of the flag bits in the `lo` word of a 2 MiB / 1 GiB leaf (bits 0..12, PAT_LARGE included). */
export const PTE_LARGE_FLAGS_MASK_LO = 0x1fff;
/** Mask of the non-address bits in the `hi` word (bits 52..63 -> hi bits 20..31). */
export const PTE_FLAGS_MASK_HI = 0xfff00000;
/** Mask of the address bits in the `hi` word (physical bits 32..51 -> hi bits 0..19). */
export const PTE_PFN_MASK_HI = 0x000fffff;
/** PFN bits of the `lo` word of a 4 KiB PTE or non-leaf entry (physical bits 12..31). */
export const PTE_PFN_MASK_LO = 0xfffff000;

/** Number of 4 KiB frames in a 2 MiB page: a PMD leaf's PFN must be a multiple of this. */
export const PMD_LEAF_PFN_ALIGN = 512;

/** Physical-address width of x86-64 (`__PHYSICAL_MASK_SHIFT` = 52): PFN < 2**40. */
export const X86_64_PHYS_BITS = 52;
/**
 * Effective physical-address width of x86-32 PAE. The PTE format holds 52 bits (used for
 * the L1TF inverted PROT_NONE trick) but the kernel limits memory to 44 bits so the PFN
 * fits a 32-bit `unsigned long`: PFN < 2**32.
 */
export const X86_32_PAE_PHYS_BITS = 44;

const TWO_POW_20 = 0x100000;

// ---------------------------------------------------------------------------
// PFN field
// ---------------------------------------------------------------------------

/**
 * `lo` word of a 4 KiB PTE (or a non-leaf entry): PFN bits 0..19 at bits 12..31, plus
 * `flagsLo & 0xfff`. Flag bits above 11 are dropped so they cannot bleed into the PFN.
 * `pfn` must be an integer below 2**(physBits - 12); `pfn << 12` uses ToInt32,
 * i.e. `pfn mod 2**32`, which keeps exactly PFN bits 0..19.
 */
export function pteLo(pfn: number, flagsLo: number): number {
  return ((pfn << 12) | (flagsLo & PTE_FLAGS_MASK_LO)) >>> 0;
}

/**
 * `hi` word: PFN bits 20..39 (physical bits 32..51) at hi bits 0..19, plus
 * `flagsHi & 0xfff00000` (SOFTW4/5, PKEY, NX). The high PFN part is computed by
 * division (truncated by ToInt32), never by shifting the PFN.
 */
export function pteHi(pfn: number, flagsHi: number): number {
  return (((pfn / TWO_POW_20) & PTE_PFN_MASK_HI) | (flagsHi & PTE_FLAGS_MASK_HI)) >>> 0;
}

/**
 * PFN of a 4 KiB PTE or non-leaf entry: physical-address bits 12..51, i.e.
 * `(lo >>> 12) + (hi & 0xfffff) * 2**20` (arithmetic, so it never overflows int32).
 * Kernel `pte_pfn()` with `PTE_PFN_MASK`.
 */
export function ptePfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & PTE_PFN_MASK_HI) * TWO_POW_20;
}

/**
 * `lo` word of a 2 MiB PMD leaf (SDM table 4-18 / 4-10: PDE mapping a 2 MiB page).
 * Sets PS ({@link _PAGE_PSE}), keeps flag bits 0..12 (bit 12 = PAT_LARGE), and throws a
 * `RangeError` unless `pfn` is a non-negative multiple of 512 (bits 13..20 of a 2 MiB
 * PDE are reserved, so the frame must be 2 MiB aligned). Kernel `pfn_pmd()` + `pmd_mkhuge()`.
 * Pair with {@link pteHi} for the `hi` word.
 */
export function pmdLeafLo(pfn: number, flagsLo: number): number {
  if (!(pfn >= 0) || pfn % PMD_LEAF_PFN_ALIGN !== 0) {
    throw new RangeError(`PMD leaf pfn ${pfn} is not 512-aligned (2 MiB)`);
  }
  return ((pfn << 12) | (flagsLo & PTE_LARGE_FLAGS_MASK_LO) | _PAGE_PSE) >>> 0;
}

/**
 * PFN of a 2 MiB leaf: physical bits 21..51 (bit 12 is PAT_LARGE, bits 13..20 reserved).
 * Kernel `pmd_pfn()` with `PHYSICAL_PMD_PAGE_MASK`.
 */
export function pmdLeafPfn(lo: number, hi: number): number {
  return (lo >>> 21) * PMD_LEAF_PFN_ALIGN + (hi & PTE_PFN_MASK_HI) * TWO_POW_20;
}

// ---------------------------------------------------------------------------
// Predicates (kernel pte_*() helpers from arch/x86/include/asm/pgtable.h)
// ---------------------------------------------------------------------------

/**
 * Hardware present bit P. Note: the kernel's `pte_present()` also accepts PROT_NONE
 * entries (`P | PROTNONE`); use `ptePresent(lo, hi) || pteProtNone(lo, hi)` for that.
 */
export function ptePresent(lo: number, _hi: number): boolean {
  return (lo & _PAGE_PRESENT) !== 0;
}

/** RW bit (`pte_write()`). */
export function pteWrite(lo: number, _hi: number): boolean {
  return (lo & _PAGE_RW) !== 0;
}

/** US bit: user-accessible (`pte_flags() & _PAGE_USER`). */
export function pteUser(lo: number, _hi: number): boolean {
  return (lo & _PAGE_USER) !== 0;
}

/** Hardware dirty bit D (`pte_hw_dirty()`; the kernel's `pte_dirty()` also counts SAVED_DIRTY). */
export function pteDirty(lo: number, _hi: number): boolean {
  return (lo & _PAGE_DIRTY) !== 0;
}

/** Accessed bit A (`pte_young()`). */
export function pteYoung(lo: number, _hi: number): boolean {
  return (lo & _PAGE_ACCESSED) !== 0;
}

/** Global bit G (`pte_global()`). Only meaningful when P is set (else it is PROTNONE). */
export function pteGlobal(lo: number, _hi: number): boolean {
  return (lo & _PAGE_GLOBAL) !== 0;
}

/** Execute-disable bit 63 (`pte_flags() & _PAGE_NX`). */
export function pteNx(_lo: number, hi: number): boolean {
  return (hi & _PAGE_NX_HI) !== 0;
}

/**
 * PS bit (`pmd_leaf()` / `pud_leaf()` / `pte_huge()`). Only meaningful for PMD/PUD
 * entries; in a 4 KiB PTE bit 7 is PAT.
 */
export function pteHuge(lo: number, _hi: number): boolean {
  return (lo & _PAGE_PSE) !== 0;
}

/** Entirely zero entry (`pte_none()`). */
export function pteNone(lo: number, hi: number): boolean {
  return lo === 0 && hi === 0;
}

/** 4-bit protection key, bits 59..62 (`pte_flags_pkey()`). */
export function ptePkey(_lo: number, hi: number): number {
  return (hi >>> _PAGE_PKEY_SHIFT_HI) & 0xf;
}

/** PROT_NONE entry: P clear and PROTNONE (bit 8) set (`pte_protnone()`). */
export function pteProtNone(lo: number, _hi: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;
}

/**
 * pte_present() as the x86 kernel defines it (arch/x86/include/asm/pgtable.h): P, or
 * PROTNONE (a PROT_NONE page the hardware cannot reach but the kernel still maps).
 * ptePresent is the hardware's view.
 */
export function pteMapped(lo: number, _hi: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}


// ---------------------------------------------------------------------------
// Printing (not hot path)
// ---------------------------------------------------------------------------

function hex8(x: number): string {
  return (x >>> 0).toString(16).padStart(8, "0");
}

/**
 * Human-readable entry, e.g. `"0x8000000123456067 [P RW US A D NX] pfn=0x123456"`.
 *
 * With `large = false` (4 KiB PTE) bit 7 prints as `PAT` and bit 12 belongs to the PFN.
 * With `large = true` (PMD/PUD entry) bit 7 prints as `PS`, and when PS is set bit 12
 * prints as `PAT_LARGE` and the PFN is read with the 2 MiB mask. Bit 8 prints as
 * `PROTNONE` when P is clear, else `G`.
 */
export function formatPte(lo: number, hi: number, large = false): string {
  const names: string[] = [];
  const present = (lo & _PAGE_PRESENT) !== 0;
  const leafLarge = large && (lo & _PAGE_PSE) !== 0;
  if (present) names.push("P");
  if (lo & _PAGE_RW) names.push("RW");
  if (lo & _PAGE_USER) names.push("US");
  if (lo & _PAGE_PWT) names.push("PWT");
  if (lo & _PAGE_PCD) names.push("PCD");
  if (lo & _PAGE_ACCESSED) names.push("A");
  if (lo & _PAGE_DIRTY) names.push("D");
  if (lo & _PAGE_PSE) names.push(large ? "PS" : "PAT");
  if (lo & _PAGE_GLOBAL) names.push(present ? "G" : "PROTNONE");
  if (lo & _PAGE_SOFTW1) names.push("SW1");
  if (lo & _PAGE_SOFTW2) names.push("SW2");
  if (lo & _PAGE_SOFTW3) names.push("SW3");
  if (leafLarge && lo & _PAGE_PAT_LARGE) names.push("PAT_LARGE");
  if (hi & _PAGE_SOFTW4_HI) names.push("SW4");
  if (hi & _PAGE_SOFTW5_HI) names.push("SW5");
  const pkey = ptePkey(lo, hi);
  if (pkey !== 0) names.push(`PKEY=${pkey}`);
  if (hi & _PAGE_NX_HI) names.push("NX");
  const pfn = leafLarge ? pmdLeafPfn(lo, hi) : ptePfn(lo, hi);
  return `0x${hex8(hi)}${hex8(lo)} [${names.join(" ")}] pfn=0x${pfn.toString(16)}`;
}
