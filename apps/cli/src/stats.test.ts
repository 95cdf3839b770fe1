import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  lnGamma,
  mean,
  regularizedIncompleteBeta,
  sampleStddev,
  studentTCdf,
  studentTTwoSidedP,
  welchTTest,
} from "./stats.js";

// Reference values computed with scipy 1.17 (scipy.stats.t.sf, scipy.special.betainc, ttest_ind(equal_var=False)).

describe("mean and sample stddev", () => {
  it("uses the n - 1 denominator", () => {
    expect(mean([2, 4, 4, 4, 5, 5, 7, 9])).toBe(5);
    expect(sampleStddev([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935, 9);
  });
  it("is 0 for one value, NaN mean for none", () => {
    expect(sampleStddev([3])).toBe(0);
    expect(mean([])).toBeNaN();
  });
});

describe("lnGamma", () => {
  it("matches factorials and Γ(1/2) = √π", () => {
    expect(lnGamma(1)).toBeCloseTo(0, 12);
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(lnGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(lnGamma(101)).toBeCloseTo(363.73937555556347, 9);
  });
});

describe("regularizedIncompleteBeta", () => {
  it("matches known values", () => {
    expect(regularizedIncompleteBeta(2, 3, 0.4)).toBeCloseTo(0.5248, 12);
    expect(regularizedIncompleteBeta(0.5, 5, 0.2)).toBeCloseTo(0.8550723945959195, 10);
    expect(regularizedIncompleteBeta(10, 20, 0.3)).toBeCloseTo(0.3640040810719437, 10);
    expect(regularizedIncompleteBeta(7, 7, 0.5)).toBeCloseTo(0.5, 12);
  });
  it("is 0 and 1 at the ends", () => {
    expect(regularizedIncompleteBeta(3, 4, 0)).toBe(0);
    expect(regularizedIncompleteBeta(3, 4, 1)).toBe(1);
  });
  it("satisfies I_x(a,b) = 1 - I_{1-x}(b,a)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.1, max: 50, noNaN: true }),
        fc.double({ min: 0.1, max: 50, noNaN: true }),
        fc.double({ min: 0.001, max: 0.999, noNaN: true }),
        (a, b, x) => {
          const lhs = regularizedIncompleteBeta(a, b, x);
          const rhs = 1 - regularizedIncompleteBeta(b, a, 1 - x);
          return Math.abs(lhs - rhs) < 1e-9 && lhs >= 0 && lhs <= 1;
        },
      ),
    );
  });
});

describe("Student t", () => {
  it("two-sided p matches known values", () => {
    expect(studentTTwoSidedP(2.0, 10)).toBeCloseTo(0.07338803477074037, 10);
    expect(studentTTwoSidedP(1.0, 1)).toBeCloseTo(0.5, 12);
    expect(studentTTwoSidedP(3.5, 2.5)).toBeCloseTo(0.052345546960320344, 10);
    expect(studentTTwoSidedP(0.5, 30)).toBeCloseTo(0.6207230048851272, 10);
    expect(studentTTwoSidedP(2.228138851986274, 10)).toBeCloseTo(0.05, 10);
    expect(studentTTwoSidedP(0, 7)).toBe(1);
  });
  it("approaches the normal for large df", () => {
    expect(studentTTwoSidedP(1.959963984540054, 1e7)).toBeCloseTo(0.05, 5);
    expect(studentTTwoSidedP(1.959963984540054, Number.POSITIVE_INFINITY)).toBeCloseTo(0.05, 6);
  });
  it("CDF is symmetric and monotone", () => {
    expect(studentTCdf(0, 5)).toBeCloseTo(0.5, 12);
    expect(studentTCdf(2, 10) + studentTCdf(-2, 10)).toBeCloseTo(1, 12);
    fc.assert(
      fc.property(
        fc.double({ min: -20, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.double({ min: 0.5, max: 200, noNaN: true }),
        (t, dt, df) => studentTCdf(t + dt, df) >= studentTCdf(t, df) - 1e-12,
      ),
    );
  });
});

describe("welchTTest", () => {
  it("matches scipy ttest_ind(equal_var=False)", () => {
    const a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
    const b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];
    const r = welchTTest(a, b);
    expect(r.t).toBeCloseTo(2.455356398286006, 9); // sign: b relative to a
    expect(r.df).toBeCloseTo(24.988529290231416, 9);
    expect(r.p).toBeCloseTo(0.021378001462866992, 9);
    expect(r.significant).toBe(true);

    const c = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8];
    const d = [21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8];
    const s = welchTTest(c, d);
    expect(s.df).toBeCloseTo(9.904741248650831, 9);
    expect(s.p).toBeCloseTo(0.14884169660532817, 9);
    expect(s.significant).toBe(false);
  });
  it("one side with zero variance still works", () => {
    const r = welchTTest([1, 2, 3], [10, 10, 10]);
    expect(r.df).toBeCloseTo(2, 12);
    expect(r.p).toBeCloseTo(0.005167993252386085, 9);
    expect(r.significant).toBe(true);
  });
  it("identical samples are not significant", () => {
    const r = welchTTest([1, 2, 3, 4], [1, 2, 3, 4]);
    expect(r.p).toBeCloseTo(1, 12);
    expect(r.significant).toBe(false);
    expect(welchTTest([5, 5, 5], [5, 5, 5]).significant).toBe(false);
  });
  it("zero variance in both with different means is significant", () => {
    const r = welchTTest([5, 5, 5], [6, 6, 6]);
    expect(r.significant).toBe(true);
    expect(r.p).toBe(0);
  });
  it("one run per side is never significant", () => {
    expect(welchTTest([1], [100]).significant).toBe(false);
    expect(welchTTest([1], [100]).p).toBeNaN();
  });
  it("is symmetric in its samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 12 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 12 }),
        (a, b) => {
          const ab = welchTTest(a, b);
          const ba = welchTTest(b, a);
          if (Number.isNaN(ab.p)) return Number.isNaN(ba.p);
          return Math.abs(ab.p - ba.p) < 1e-12 && ab.p >= 0 && ab.p <= 1 && ab.significant === ba.significant;
        },
      ),
    );
  });
});
