import type { RunResult } from "@flushlab/core-mmu";

/**
 * Hazards a run found: `counters.hazards_total` (the full count; the list is capped),
 * or the list's length when the engine does not report the counter.
 */
export function hazardCount(result: Pick<RunResult, "counters" | "hazards">): number {
  return Math.max(result.counters["hazards_total"] ?? 0, result.hazards.length);
}
