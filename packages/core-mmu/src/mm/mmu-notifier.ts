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
 * is the SecondaryTlbNotify extension point.
 */
import type { Cpu } from "../hw/cpu.js";
import { C, type Counters } from "../kernel/counters.js";
import type { MmStruct, MmuNotifier } from "./mm-types.js";

/** mmu_notifier_register: adds `mn` to `mm`'s list. */
export function mmuNotifierRegister(mm: MmStruct, mn: MmuNotifier): void {
  mm.notifiers.push(mn);
}

export function mmuNotifierUnregister(mm: MmStruct, mn: MmuNotifier): void {
  const i = mm.notifiers.indexOf(mn);
  if (i >= 0) mm.notifiers.splice(i, 1);
}

/** mmu_notifier_invalidate_range_start. Returns the cycles. */
export function mmuNotifierInvalidateRangeStart(counters: Counters, cpu: Cpu, mm: MmStruct, start: number, end: number): number {
  if (mm.notifiers.length === 0) return 0;
  counters.values[C.mmu_notifier_range_start]!++;
  mm.notifierRanges++;
  let cost = 0;
  for (const mn of mm.notifiers) if (mn.invalidateRangeStart) cost += mn.invalidateRangeStart(cpu, mm, start, end);
  return cost;
}

/** mmu_notifier_invalidate_range: every notifier's invalidate_range. Returns the cycles. */
export function mmuNotifierInvalidateRange(counters: Counters, cpu: Cpu, mm: MmStruct, start: number, end: number): number {
  if (mm.notifiers.length === 0) return 0;
  const v = counters.values;
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
export function mmuNotifierInvalidateRangeEnd(counters: Counters, cpu: Cpu, mm: MmStruct, start: number, end: number, onlyEnd: boolean): number {
  if (mm.notifiers.length === 0) return 0;
  const v = counters.values;
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
