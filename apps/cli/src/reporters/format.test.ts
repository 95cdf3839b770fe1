import { describe, expect, it } from "vitest";
import { formatFixed2, formatNumber, formatPct, table } from "./format.js";

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
