/**
 * mmu_notifier, as in v4.15 (include/linux/mmu_notifier.h, mm/mmu_notifier.c) before
 * and after "mm/mmu_notifier: avoid call to invalidate_range() in range_end()":
 * - registered notifiers per mm, each with optional invalidate_range_start,
 *   invalidate_range_end and invalidate_range callbacks (mm_has_notifiers);
 * - the *_clear_flush_notify helpers: clear the PTE, flush the CPU TLBs, then call
 *   invalidate_range, all under the page-table lock;
 * - __mmu_notifier_invalidate_range_end(mm, start, end, only_end): for each notifier,
 *   invalidate_range unless only_end, then invalidate_range_end.
 *
 * Which helper a call site uses, and whether it ends with range_end or range_only_end,
 * is the SecondaryTlbNotify extension point (plugin/tokens.ts).
 */
import type { Cpu } from "../hw/cpu.js";
import { C } from "../oracle/counters.js";
import type { Kernel } from "./kernel.js";
import type { MmStruct } from "./mm-types.js";

/** One struct mmu_notifier with its ops; each callback returns the cycles it took on `cpu`. */
export interface MmuNotifier {
  readonly name: string;
  invalidateRangeStart?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
  invalidateRangeEnd?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
  /** For TLBs that walk the CPU page tables (IOMMU ATS/PASID). Runs under the PTL; must not sleep. */
  invalidateRange?(cpu: Cpu, mm: MmStruct, start: number, end: number): number;
}

/**
 * The call sites of v4.15 that bracket a page-table change with range_start/range_end.
 * The first six are the sites the patch converts to range_only_end; the model runs
 * wp_page_copy, copy_page_range (fork) and zap_page_range today.
 */
export const NOTIFIER_SITES = [
  "wp_page_copy",
  "do_huge_pmd_wp_page",
  "do_huge_pmd_wp_page_fallback",
  "__split_huge_pmd",
  "__split_huge_pud",
  "migrate_misplaced_transhuge_page",
  "migrate_vma_pages",
  "copy_page_range",
  "zap_page_range",
] as const;
export type NotifierSite = (typeof NOTIFIER_SITES)[number];

/** mmu_notifier_register: adds `mn` to `mm`'s list. */
export function mmuNotifierRegister(mm: MmStruct, mn: MmuNotifier): void {
  mm.notifiers.push(mn);
}

export function mmuNotifierUnregister(mm: MmStruct, mn: MmuNotifier): void {
  const i = mm.notifiers.indexOf(mn);
  if (i >= 0) mm.notifiers.splice(i, 1);
}

/** mmu_notifier_invalidate_range_start. Returns the cycles. */
export function mmuNotifierInvalidateRangeStart(k: Kernel, cpu: Cpu, mm: MmStruct, start: number, end: number): number {
  if (mm.notifiers.length === 0) return 0;
  const v = k.m.counters.values;
  v[C.mmu_notifier_range_start]!++;
  mm.notifierRanges++;
  let cost = 0;
  for (const mn of mm.notifiers) if (mn.invalidateRangeStart) cost += mn.invalidateRangeStart(cpu, mm, start, end);
  return cost;
}

/** mmu_notifier_invalidate_range: every notifier's invalidate_range. Returns the cycles. */
export function mmuNotifierInvalidateRange(k: Kernel, cpu: Cpu, mm: MmStruct, start: number, end: number): number {
  if (mm.notifiers.length === 0) return 0;
  const v = k.m.counters.values;
  let cost = 0;
  for (const mn of mm.notifiers) {
    if (!mn.invalidateRange) continue;
    v[C.invalidate_range_calls]!++;
    cost += mn.invalidateRange(cpu, mm, start, end);
  }
  return cost;
}

/**
 * __mmu_notifier_invalidate_range_end(mm, start, end, only_end): invalidate_range (unless
 * only_end), then invalidate_range_end, for each notifier. Returns the cycles.
 */
export function mmuNotifierInvalidateRangeEnd(k: Kernel, cpu: Cpu, mm: MmStruct, start: number, end: number, onlyEnd: boolean): number {
  if (mm.notifiers.length === 0) return 0;
  const v = k.m.counters.values;
  v[onlyEnd ? C.mmu_notifier_range_only_end : C.mmu_notifier_range_end]!++;
  mm.notifierRanges--;
  let cost = 0;
  for (const mn of mm.notifiers) {
    if (!onlyEnd && mn.invalidateRange) {
      v[C.invalidate_range_calls]!++;
      cost += mn.invalidateRange(cpu, mm, start, end);
    }
    if (mn.invalidateRangeEnd) cost += mn.invalidateRangeEnd(cpu, mm, start, end);
  }
  return cost;
}
