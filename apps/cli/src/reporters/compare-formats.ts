/**
 * `compare --format`: which table the human reporter prints for a compare. "table" is
 * flushlab's own (the default); "mmtests" and "0day" are the layouts kernel developers
 * paste from mmtests' compare-kernels and from the 0-day robot's reports.
 */
import { FlushlabInputError } from "@flushlab/core-mmu";
import { formatMmtests } from "./mmtests.js";
import { formatZeroday } from "./zeroday.js";
import type { CompareFormat, CompareSummary } from "./types.js";

export type { CompareFormat } from "./types.js";
export const COMPARE_FORMATS: readonly CompareFormat[] = ["table", "mmtests", "0day"];

/** --format's value, or a one-line error naming the known ones. */
export function parseCompareFormat(text: string): CompareFormat {
  if (!(COMPARE_FORMATS as readonly string[]).includes(text)) {
    throw new FlushlabInputError(`unknown --format "${text}" (known: ${COMPARE_FORMATS.join(", ")})`);
  }
  return text as CompareFormat;
}

/** The lines of `summary` in one of the foreign formats. */
export function formatCompareAs(summary: CompareSummary, format: Exclude<CompareFormat, "table">): string[] {
  return format === "mmtests" ? formatMmtests(summary) : formatZeroday(summary);
}
