import { describe, expect, it } from "vitest";
import { runCli } from "../../test/support/test-io.js";
import { amean, cidiff, hmean, mmtestsSignificant, mmtestsStddev, pdiff, pndiff, QNORM_975 } from "./mmtests.js";
import { formatG, populationStddev, zerodayLine, zerodayStatName, ZERODAY_STAT_NAMES } from "./zeroday.js";

describe("mmtests statistics (MMTests::Stat)", () => {
  it("Hmean and its stddev follow calc_hmean/calc_stddev", () => {
    const xs = [2, 4, 4];
    expect(hmean(xs)).toBeCloseTo(3, 12); // 3 / (1/2 + 1/4 + 1/4)
    // sqrt(Σ(1/x − 1/m)² · m⁴ / n) = sqrt(((1/2−1/3)² + 2(1/4−1/3)²) · 81 / 3)
    expect(mmtestsStddev("hmean", xs)).toBeCloseTo(Math.sqrt(((1 / 6) ** 2 + 2 * (1 / 12) ** 2) * 27), 12);
    expect(amean(xs)).toBeCloseTo(10 / 3, 12);
    expect(mmtestsStddev("amean", xs)).toBeCloseTo(Math.sqrt(((2 - 10 / 3) ** 2 + 2 * (4 - 10 / 3) ** 2) / 2), 12);
    expect(hmean([1, 0])).toBeNaN();
    expect(mmtestsStddev("amean", [5])).toBeNaN();
  });

  it("pdiff and pndiff make an improvement positive", () => {
    expect(pdiff(110, 100)).toBeCloseTo(10, 12); // higher is better, 10% up
    expect(pndiff(90, 100)).toBeCloseTo(10, 12); // lower is better, 10% down
    expect(pndiff(110, 100)).toBeCloseTo(-10, 12);
    expect(pdiff(0, 100)).toBe(0);
    expect(pndiff(5, 0)).toBe(-99);
  });

  it("significance: the means are further apart than both CI half-widths (qnorm(0.975)·stddev) together", () => {
    const base = [100, 102, 98, 101, 99]; // stddev 1.58
    const sd = mmtestsStddev("amean", base);
    const gap = 2 * QNORM_975 * sd; // exactly the two half-widths
    const just = base.map((x) => x + gap * 1.01);
    const notQuite = base.map((x) => x + gap * 0.99);
    expect(mmtestsSignificant("amean", base, just)).toBe(true);
    expect(mmtestsSignificant("amean", base, notQuite)).toBe(false);
    // No spread at all: cidiff falls back to the raw difference, so > 1 is significant.
    expect(cidiff(3, [3, 3], 1, [1, 1])).toBe(2);
    expect(mmtestsSignificant("amean", [1, 1], [1.5, 1.5])).toBe(false);
    expect(mmtestsSignificant("amean", [1, 1], [3, 3])).toBe(true);
    // One run: no stddev, no interval, nothing marked.
    expect(mmtestsSignificant("amean", [1], [100])).toBe(false);
  });
});

describe("0-day statistics and layout (lkp-tests lib/compare.rb)", () => {
  it("formats like C's %g", () => {
    expect(formatG(727_300_000, 4)).toBe("7.273e+08");
    expect(formatG(700_000_000, 4)).toBe("7e+08");
    expect(formatG(123_456, 2)).toBe("1.2e+05");
    expect(formatG(0.5, 4)).toBe("0.5");
  });

  it("uses the population stddev, -1 below two values", () => {
    expect(populationStddev([1, 3])).toBe(1);
    expect(populationStddev([4])).toBe(-1);
  });

  it("prints a stat line in the robot's columns", () => {
    // Two values: the population stddev is half the range. 1550514 / 1742139 = 89.0%,
    // 81627 / 146373 = 55.8% (truncated, as %d does), change (146373 − 1742139) / 1742139 = −91.6%.
    const line = zerodayLine("numa-meminfo.node1.Unevictable", [3_292_653, 191_625], [228_000, 64_746]);
    expect(line).toBe("   1742139 ± 89%     -91.6%     146373 ± 55%  numa-meminfo.node1.Unevictable");
    // ≤ 2% spread: blanks; a name ending in % gets an absolute change.
    expect(zerodayLine("mpstat.cpu.all.usr%", [0.42, 0.42], [0.46, 0.46])).toBe("      0.42            +0.0        0.46        mpstat.cpu.all.usr%");
  });

  it("names stats through an extensible table", () => {
    expect(zerodayStatName("tlb-flush2.ops_per_sec")).toBe("tlb-flush2.ops_per_sec");
    ZERODAY_STAT_NAMES["tlb-flush2.ops_per_sec"] = "will-it-scale.per_thread_ops";
    try {
      expect(zerodayStatName("tlb-flush2.ops_per_sec")).toBe("will-it-scale.per_thread_ops");
    } finally {
      delete ZERODAY_STAT_NAMES["tlb-flush2.ops_per_sec"];
    }
  });
});

describe("flushlab compare --format", () => {
  const argv = ["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "4"];

  it("mmtests: Hmean for a rate, Amean for a cost, every stat block, header split at the first '-'", async () => {
    const r = await runCli([...argv, "--format", "mmtests"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^\s+v5\.17\s+v5\.17$/);
    expect(lines[1]).toMatch(/^\s+baseline\s+lazy-flush$/);
    expect(lines.some((l) => /^Hmean\s+ops_per_sec\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^Amean\s+cycles_per_op\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^HStddev\s+ops_per_sec\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^BAmean\.95\s+cycles_per_op\s/.test(l))).toBe(true);
    for (const l of lines.slice(2)) expect(l).toMatch(/^\S+\s+\S+\s+-?[\d.]+ \(\s+0\.00%\)\s+-?[\d.]+ [(*]\s*-?[\d.]+%[)*]$/);
    // The baseline column of every row compares with itself: 0.00%.
    expect(r.stdout).not.toContain("flushlab compare");
  });

  it("0day: the robot's header and one line per metric", async () => {
    const r = await runCli([...argv, "--format", "0day"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toContain("         %stddev     %change         %stddev");
    expect(lines).toContain("plugins: ");
    expect(lines.some((l) => l.endsWith("  tlb-flush2.ops_per_sec"))).toBe(true);
    expect(lines.some((l) => l.endsWith("  tlb-flush2.cycles_per_op"))).toBe(true);
  });

  it.each([
    [["--format", "xml"], 'flushlab: unknown --format "xml" (known: table, mmtests, 0day)\n'],
    [["--format", "0day", "--json"], "flushlab: --format and --json do not go together (--json prints every figure)\n"],
  ])("%j → one line, exit 2", async (extra, message) => {
    const r = await runCli([...argv, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(message);
  });
});
