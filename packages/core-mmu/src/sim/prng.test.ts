import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { Prng } from "./prng.js";

const seedArb = fc.integer({ min: 0, max: 0xffffffff });

function take(prng: Prng, n: number): number[] {
  return Array.from({ length: n }, () => prng.nextU32());
}

describe("Prng known answers", () => {
  // Produced by the reference C (prng.di.unimi.it/xoshiro128starstar.c), seeded by a C
  // splitmix32 with the same constants, compiled with gcc on uint32_t.
  it("matches reference xoshiro128** from state (1, 2, 3, 4)", () => {
    expect(take(Prng.fromState(1, 2, 3, 4), 8)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849,
    ]);
  });

  it("matches reference splitmix32 seeding", () => {
    expect(take(new Prng(0), 6)).toEqual([
      1789933344, 44971166, 2521387044, 3848737593, 1138324114, 749234105,
    ]);
    expect(take(new Prng(42), 6)).toEqual([
      660444221, 3652823732, 77672526, 910233633, 2297337756, 3786072677,
    ]);
    expect(take(new Prng(0xdeadbeef), 6)).toEqual([
      3842467093, 879304004, 3694663928, 2788030634, 934155191, 702880729,
    ]);
  });
});

describe("Prng determinism (property)", () => {
  it("the same seed gives the same sequence", () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        expect(take(new Prng(seed), 32)).toEqual(take(new Prng(seed), 32));
      }),
    );
  });

  it("different seeds give different sequences", () => {
    fc.assert(
      fc.property(seedArb, seedArb, (a, b) => {
        fc.pre(a !== b);
        expect(take(new Prng(a), 4)).not.toEqual(take(new Prng(b), 4));
      }),
    );
  });

  it("seeds are taken modulo 2^32", () => {
    expect(take(new Prng(-1), 4)).toEqual(take(new Prng(0xffffffff), 4));
    expect(take(new Prng(2 ** 32 + 5), 4)).toEqual(take(new Prng(5), 4));
  });
});

describe("Prng ranges (property)", () => {
  it("nextU32 is a uint32 and next is in [0, 1)", () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const prng = new Prng(seed);
        for (let i = 0; i < 100; i++) {
          const u = prng.nextU32();
          expect(Number.isInteger(u) && u >= 0 && u <= 0xffffffff).toBe(true);
          const x = prng.next();
          expect(x >= 0 && x < 1).toBe(true);
        }
      }),
    );
  });

  it("int(n) is an integer in [0, n)", () => {
    const nArb = fc.oneof(
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 2 ** 32 }),
      fc.constantFrom(1, 2, 3, 2 ** 21 - 1, 2 ** 21, 2 ** 21 + 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32),
    );
    fc.assert(
      fc.property(seedArb, nArb, (seed, n) => {
        const prng = new Prng(seed);
        for (let i = 0; i < 50; i++) {
          const k = prng.int(n);
          expect(Number.isInteger(k) && k >= 0 && k < n).toBe(true);
        }
      }),
    );
  });

  it("range(lo, hi) is an integer in [lo, hi], both ends reachable", () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: -1000, max: 1000 }), fc.nat(5), (seed, lo, width) => {
        const prng = new Prng(seed);
        const hi = lo + width;
        const seen = new Set<number>();
        for (let i = 0; i < 200; i++) {
          const k = prng.range(lo, hi);
          expect(Number.isInteger(k) && k >= lo && k <= hi).toBe(true);
          seen.add(k);
        }
        expect(seen.size).toBe(width + 1);
      }),
    );
  });

  it("chance(0) is never true and chance(1) always", () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const prng = new Prng(seed);
        for (let i = 0; i < 50; i++) {
          expect(prng.chance(0)).toBe(false);
          expect(prng.chance(1)).toBe(true);
        }
      }),
    );
  });
});

describe("Prng.fork", () => {
  it("gives a stream that differs from the parent and is reproducible (property)", () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 0, max: 0xffffffff }), (seed, label) => {
        const parent = new Prng(seed);
        const child = take(parent.fork(label), 16);
        expect(take(new Prng(seed).fork(label), 16)).toEqual(child);
        expect(take(parent, 16)).not.toEqual(child);
      }),
    );
  });

  it("gives distinct streams for distinct labels and does not advance the parent", () => {
    const parent = new Prng(7);
    const streams = Array.from({ length: 64 }, (_, cpu) => take(parent.fork(cpu), 4).join(","));
    expect(new Set(streams).size).toBe(64);
    expect(take(parent, 8)).toEqual(take(new Prng(7), 8));
  });

  it("depends on the parent's current state", () => {
    const prng = new Prng(7);
    const before = take(prng.fork(1), 8);
    prng.nextU32();
    expect(take(prng.fork(1), 8)).not.toEqual(before);
  });
});

describe("Prng distribution", () => {
  it("int(10) fills each bucket within 5% of 10000 over 100000 draws", () => {
    const prng = new Prng(20240601);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const k = prng.int(10);
      buckets[k] = buckets[k]! + 1;
    }
    for (const count of buckets) {
      expect(count).toBeGreaterThanOrEqual(9_500);
      expect(count).toBeLessThanOrEqual(10_500);
    }
    // Pearson chi-square, 9 degrees of freedom: the 0.999 quantile is 27.88.
    const chi2 = buckets.reduce((s, c) => s + (c - 10_000) ** 2 / 10_000, 0);
    expect(chi2).toBeLessThan(27.88);
  });

  it("int(n) rejects instead of folding the tail block (n = 3 * 2^30)", () => {
    // 2^32 mod n = 2^30: with a plain modulo, [0, 2^30) would get half the mass instead of a third.
    const n = 3 * 2 ** 30;
    const prng = new Prng(5);
    let low = 0;
    const draws = 30_000;
    for (let i = 0; i < draws; i++) if (prng.int(n) < 2 ** 30) low++;
    expect(Math.abs(low / draws - 1 / 3)).toBeLessThan(0.02);
  });

  it("next() has a mean near 1/2", () => {
    const prng = new Prng(99);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += prng.next();
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
  });
});

describe("Prng argument checks", () => {
  it("throws RangeError naming the bad value", () => {
    const prng = new Prng(1);
    expect(() => new Prng(1.5)).toThrow(/1\.5/);
    expect(() => prng.int(0)).toThrow(RangeError);
    expect(() => prng.int(2.5)).toThrow(/2\.5/);
    expect(() => prng.int(2 ** 32 + 1)).toThrow(RangeError);
    expect(() => prng.range(3, 2)).toThrow(RangeError);
    expect(() => prng.range(0, 2 ** 32)).toThrow(RangeError);
    expect(() => prng.chance(1.1)).toThrow(/1\.1/);
    expect(() => prng.chance(Number.NaN)).toThrow(RangeError);
    expect(() => prng.fork(-1)).toThrow(RangeError);
    expect(() => Prng.fromState(0, 0, 0, 0)).toThrow(RangeError);
  });
});
