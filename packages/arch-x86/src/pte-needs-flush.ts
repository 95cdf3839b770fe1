/**
 * Which PTE changes need a TLB flush on x86: pte_flags_need_flush, pte_needs_flush and
 * huge_pmd_needs_flush (arch/x86/include/asm/tlbflush.h, v5.19; Nadav Amit, "x86/mm:
 * avoid TLB flushes if PTE permission is not demoted"). Seed 001 patch 2 calls it from
 * change_pte_range.
 */
import {
  PTE_FLAGS_MASK_LO,
  PTE_PFN_MASK_HI,
  PTE_PFN_MASK_LO,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX_HI,
  _PAGE_PAT_LARGE,
  _PAGE_PCD,
  _PAGE_PKEY_MASK_HI,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SOFTW1,
  _PAGE_SOFTW2,
  _PAGE_SOFTW3,
  _PAGE_SOFTW4_HI,
  _PAGE_SOFTW5_HI,
  _PAGE_USER,
} from "@flushlab/core-mmu";

/** Rule 3 "flush on clear" bits: P, D, A (`flush_on_clear` in `pte_flags_need_flush`). */
export const PTE_FLUSH_ON_CLEAR_LO = _PAGE_PRESENT | _PAGE_DIRTY | _PAGE_ACCESSED;
/** Rule 4 "flush on change" bits of the `lo` word: RW US PWT PCD PSE/PAT G PAT_LARGE. */
export const PTE_FLUSH_ON_CHANGE_LO =
  _PAGE_RW | _PAGE_USER | _PAGE_PWT | _PAGE_PCD | _PAGE_PSE | _PAGE_GLOBAL | _PAGE_PAT_LARGE;
/** Rule 4 "flush on change" bits of the `hi` word: PKEY bits 0..3 and NX. */
export const PTE_FLUSH_ON_CHANGE_HI = (_PAGE_PKEY_MASK_HI | _PAGE_NX_HI) >>> 0;
/** Rule 5 software bits of the `lo` word: SOFTW1..3. */
export const PTE_SOFTWARE_LO = _PAGE_SOFTW1 | _PAGE_SOFTW2 | _PAGE_SOFTW3;
/** Rule 5 software bits of the `hi` word: SOFTW4 and SOFTW5 (SAVED_DIRTY). */
export const PTE_SOFTWARE_HI = _PAGE_SOFTW4_HI | _PAGE_SOFTW5_HI;

/** Address mask of a large leaf's `lo` word when PS is set (physical bits 21..31). */
const PMD_LEAF_ADDR_MASK_LO = 0xffe00000;

/**
 * Does replacing PTE (or huge PMD) `old` by `new` require a TLB flush on x86?
 *
 * Exactly `pte_needs_flush()` (`isHugePmd = false`) / `huge_pmd_needs_flush()`
 * (`isHugePmd = true`) with `pte_flags_need_flush()` from Nadav Amit's mprotect series
 * (`arch/x86/include/asm/tlbflush.h`, v5.19):
 *
 * 1. old not present (hardware P clear; PROT_NONE counts as not present) -> `false`;
 * 2. PFN changed -> `true` (for a huge PMD the PFN is taken with the 2 MiB mask when
 *    that entry has PS set, as `pmd_pfn()` does; otherwise with the 4 KiB mask);
 * 3. a "flush on clear" bit (P, D, A) went 1 -> 0 -> `true`; setting one never flushes.
 *    A is ignored for 4 KiB PTEs (`ignore_access = true`, see `ptep_clear_flush_young`),
 *    but counts for huge PMDs;
 * 4. any change, either direction, of RW US PWT PCD PSE/PAT G PAT_LARGE PKEY[0..3] NX ->
 *    `true` (promotions flush too, so no spurious faults appear);
 * 5. software bits SOFTW1..3, SOFTW4, SOFTW5/SAVED_DIRTY are ignored.
 *
 * Bits no rule classifies (hi bits 52..56, and reserved PMD-leaf bits 13..20) are
 * ignored, as in a `!CONFIG_DEBUG_VM` kernel (a debug kernel warns and flushes).
 * Allocation-free.
 */
export function pteNeedsFlush(
  oldLo: number,
  oldHi: number,
  newLo: number,
  newHi: number,
  isHugePmd: boolean,
): boolean {
  // Rule 1: non-present entries are never cached (SDM §4.10.2.3).
  if ((oldLo & _PAGE_PRESENT) === 0) return false;

  // Rule 2: PFN changed. pte_flags() = everything outside the PFN mask.
  let oldFlagsLo: number;
  let newFlagsLo: number;
  if (isHugePmd) {
    const oldAddrMask = (oldLo & _PAGE_PSE) !== 0 ? PMD_LEAF_ADDR_MASK_LO : PTE_PFN_MASK_LO;
    const newAddrMask = (newLo & _PAGE_PSE) !== 0 ? PMD_LEAF_ADDR_MASK_LO : PTE_PFN_MASK_LO;
    if ((oldLo & oldAddrMask) !== (newLo & newAddrMask)) return true;
    oldFlagsLo = oldLo & ~oldAddrMask;
    newFlagsLo = newLo & ~newAddrMask;
  } else {
    if (oldLo >>> 12 !== newLo >>> 12) return true;
    oldFlagsLo = oldLo & PTE_FLAGS_MASK_LO;
    newFlagsLo = newLo & PTE_FLAGS_MASK_LO;
  }
  if ((oldHi & PTE_PFN_MASK_HI) !== (newHi & PTE_PFN_MASK_HI)) return true;

  // Rule 5: drop software bits; for 4 KiB PTEs also drop A (ignore_access).
  let diffLo = (oldFlagsLo ^ newFlagsLo) & ~PTE_SOFTWARE_LO;
  if (!isHugePmd) diffLo &= ~_PAGE_ACCESSED;

  // Rule 3: a flush-on-clear bit was set in old and differs (so it was cleared).
  if ((diffLo & oldFlagsLo & PTE_FLUSH_ON_CLEAR_LO) !== 0) return true;

  // Rule 4: any change of a flush-on-change bit.
  if ((diffLo & PTE_FLUSH_ON_CHANGE_LO) !== 0) return true;
  if (((oldHi ^ newHi) & PTE_FLUSH_ON_CHANGE_HI) !== 0) return true;

  return false;
}
