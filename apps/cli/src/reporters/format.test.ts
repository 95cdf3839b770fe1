import { describe, expect, it } from "vitest";
import { displayUnit, formatFixed2, formatMean, formatNumber, formatPct, table } from "./format.js";

describe("number formatting", () => {
  it("uses thousands separators and sensible decimals", () => {
    expect(formatNumber(1234567)).toBe("1,234,567");
    expect(formatNumber(-1234)).toBe("-1,234");
    expect(formatNumber(1234.5678)).toBe("1,234.57");
    expect(formatNumber(0.012345)).toBe("0.0123");
    expect(formatNumber(Number.NaN)).toBe("n/a");
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe("inf");
    expect(formatFixed2(3)).toBe("3.00");
  });
  it("means: 2 decimals, and 3 significant digits below 1 instead of 0.00", () => {
    expect(formatMean(1234.5678)).toBe("1,234.57");
    expect(formatMean(0.0557)).toBe("0.0557");
    expect(formatMean(0.00123456)).toBe("0.00123");
    expect(formatMean(0.5)).toBe("0.500");
    expect(formatMean(-0.0042)).toBe("-0.00420");
    expect(formatMean(0)).toBe("0.00");
    expect(formatMean(Number.NaN)).toBe("n/a");
  });
  it("seconds below 1 read in ms or µs; other units stay", () => {
    expect(displayUnit("s", [0.0557, 0.0556])).toEqual({ unit: "ms", factor: 1e3 });
    expect(displayUnit("s", [0.00004, 0])).toEqual({ unit: "µs", factor: 1e6 });
    expect(displayUnit("s", [2.5, 0.1])).toEqual({ unit: "s", factor: 1 });
    expect(displayUnit("ops/s", [0.001])).toEqual({ unit: "ops/s", factor: 1 });
  });
  it("signs percentages", () => {
    expect(formatPct(12.3)).toBe("+12.30%");
    expect(formatPct(-0.5)).toBe("-0.50%");
    expect(formatPct(0)).toBe(" 0.00%");
    expect(formatPct(null)).toBe("n/a");
  });
});


describe("table", () => {
  it("aligns columns", () => {
    expect(
      table(
        [
          ["a", "1"],
          ["long", "1,000"],
        ],
        ["left", "right"],
      ),
    ).toEqual(["  a         1", "  long  1,000"]);
  });
});
