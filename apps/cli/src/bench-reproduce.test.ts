import { describe, expect, it } from "vitest";
import { mmuNotifierOnlyEnd } from "@flushlab/patch-mmu-notifier";
import { inOrderMakespan, reproductionTimes } from "./bench-reproduce.js";

describe("inOrderMakespan", () => {
  it("is the sum on one worker and the longest run on as many workers as runs", () => {
    expect(inOrderMakespan([3, 1, 2], 1)).toBe(6);
    expect(inOrderMakespan([3, 1, 2], 3)).toBe(3);
  });

  it("gives each run, in order, to the worker free first, not the longest run first", () => {
    // 1 → w0, 1 → w1, 1 → w0 (free first among equals: the lowest), 3 → w1: 1 + 3 = 4.
    // Longest-first would give 3 (3 | 1 + 1 + 1).
    expect(inOrderMakespan([1, 1, 1, 3], 2)).toBe(4);
    // 2 → w0, 1 → w1, 1 → w1 (free at 1): both end at 2.
    expect(inOrderMakespan([2, 1, 1], 2)).toBe(2);
  });

  it("refuses a worker count that is not a positive integer", () => {
    expect(() => inOrderMakespan([1], 0)).toThrow(/positive integer/);
    expect(() => inOrderMakespan([1], 1.5)).toThrow(/positive integer/);
  });
});

describe("reproductionTimes", () => {
  it("times each run of a reproduction, baseline and patched per seed, with its machine", () => {
    const [row, ...rest] = reproductionTimes([mmuNotifierOnlyEnd]);
    expect(rest).toEqual([]);
    expect(row!.plugin).toBe(mmuNotifierOnlyEnd.name);
    expect(row!.workload).toBe(mmuNotifierOnlyEnd.reproduction!.workload);
    expect(row!.cpuMs).toHaveLength(2 * (mmuNotifierOnlyEnd.reproduction!.runs ?? 3));
    for (const ms of row!.cpuMs) expect(ms).toBeGreaterThan(0);
    expect(row!.cpus).toBeGreaterThan(0);
  });
});
