/**
 * Deterministic pseudo-random numbers for the simulator. Never use `Math.random`:
 * a run must be a pure function of its seed.
 *
 * Generator: **xoshiro128\*\*** 1.1 by David Blackman and Sebastiano Vigna
 * ("Scrambled Linear Pseudorandom Number Generators", ACM TOMS 47(4), 2021;
 * reference C at https://prng.di.unimi.it/xoshiro128starstar.c). 128 bits of state,
 * period 2^128 - 1, 32-bit outputs; the `**` scrambler (`rotl(s1 * 5, 7) * 9`) makes all
 * 32 output bits pass BigCrush. The state must never be all zero.
 *
 * Seeding: the four state words are the first four outputs of **splitmix32** started at
 * the 32-bit seed, as Blackman & Vigna recommend (seed xoshiro from a SplitMix generator).
 * splitmix32 adds the golden-ratio increment `0x9e3779b9` (SplitMix: Steele, Lea & Flood,
 * OOPSLA 2014) and finalises with the 32-bit mixer `x ^= x >>> 16; x *= 0x21f0aaad;
 * x ^= x >>> 15; x *= 0x735a2d97; x ^= x >>> 15` (constants from Chris Wellons' hash
 * prospector). The mixer is a bijection, so the four words are distinct and never all zero.
 *
 * All arithmetic is 32-bit via `Math.imul`, `| 0` and `>>> 0`; no BigInt, no allocation
 * per draw.
 */

/** 2^-32: scales a uint32 into [0, 1). */
const TWO_POW_NEG_32 = 2.3283064365386963e-10;
/** 2^32 as a double. */
const TWO_POW_32 = 4294967296;
/** Largest `n` for which a uint32 times `n` is exact in a double (2^32 * 2^21 = 2^53). */
const LEMIRE_MAX_N = 2 ** 21;
/** Golden-ratio increment of splitmix32. */
const GOLDEN = 0x9e3779b9;

/** splitmix32's output mixer: a bijection on uint32 values, returned as int32. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return x ^ (x >>> 15);
}

/**
 * A seeded xoshiro128** stream.
 *
 * @example
 * ```ts
 * const root = new Prng(42);
 * const cpu3 = root.fork(3); // same stream every run for label 3
 * if (cpu3.chance(0.01)) injectSpuriousFault();
 * const jitter = cpu3.range(0, 40); // cycles, inclusive
 * ```
 */
export class Prng {
  // State words, held as int32.
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * @param seed - any integer; it is reduced to 32 bits (`seed >>> 0`), so seeds that are
   *   equal modulo 2^32 give the same stream.
   * @throws RangeError if `seed` is not an integer.
   */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) {
      throw new RangeError(`Prng: seed must be an integer, got ${String(seed)}`);
    }
    let z = seed | 0;
    z = (z + GOLDEN) | 0;
    this.s0 = mix32(z);
    z = (z + GOLDEN) | 0;
    this.s1 = mix32(z);
    z = (z + GOLDEN) | 0;
    this.s2 = mix32(z);
    z = (z + GOLDEN) | 0;
    this.s3 = mix32(z);
  }

  /**
   * Builds a generator from raw state words (each taken modulo 2^32), e.g. to check
   * against the reference implementation's outputs.
   *
   * @throws RangeError if all four words are zero (xoshiro's one forbidden state).
   */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    if (((s0 | s1 | s2 | s3) | 0) === 0) {
      throw new RangeError("Prng.fromState: the state must not be all zero");
    }
    const prng = new Prng(0);
    prng.s0 = s0 | 0;
    prng.s1 = s1 | 0;
    prng.s2 = s2 | 0;
    prng.s3 = s3 | 0;
    return prng;
  }

  /** Next raw output: a uniform integer in [0, 2^32). O(1). */
  nextU32(): number {
    const s1 = this.s1;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const s2 = this.s2 ^ this.s0;
    const s3 = this.s3 ^ s1;
    this.s1 = s1 ^ s2;
    this.s0 = this.s0 ^ s3;
    this.s2 = s2 ^ t;
    this.s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  /** A uniform double in [0, 1) with 32 bits of resolution (one draw). O(1). */
  next(): number {
    return this.nextU32() * TWO_POW_NEG_32;
  }

  /**
   * A uniform integer in [0, n), without modulo bias. O(1) expected, fewer than 2 draws.
   *
   * - `n <= 2^21`: Lemire's multiply-shift with rejection ("Fast Random Integer Generation
   *   in an Interval", ACM TOMS 29(1), 2019). `x * n` stays below 2^53, so the product is
   *   exact in a double; the high 32 bits are the result, and a draw is redrawn only when
   *   the low 32 bits fall below `2^32 mod n` (the only place a `%` is computed).
   * - larger `n`: draws at or above the largest multiple of `n` that fits in 2^32 are
   *   rejected, then `x % n`.
   *
   * @param n - integer in [1, 2^32].
   * @throws RangeError if `n` is not an integer in that range.
   */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= TWO_POW_32)) {
      throw new RangeError(`Prng.int: n must be an integer in [1, 2^32], got ${String(n)}`);
    }
    if (n <= LEMIRE_MAX_N) {
      let m = this.nextU32() * n;
      let high = Math.floor(m * TWO_POW_NEG_32);
      let low = m - high * TWO_POW_32;
      if (low < n) {
        const threshold = (TWO_POW_32 - n) % n; // = 2^32 mod n
        while (low < threshold) {
          m = this.nextU32() * n;
          high = Math.floor(m * TWO_POW_NEG_32);
          low = m - high * TWO_POW_32;
        }
      }
      return high;
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /**
   * A uniform integer in [lo, hi], both ends inclusive. O(1) expected.
   *
   * @throws RangeError if `lo`/`hi` are not safe integers, `lo > hi`, or the range holds
   *   more than 2^32 values.
   */
  range(lo: number, hi: number): number {
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi)) {
      throw new RangeError(
        `Prng.range: need integers lo <= hi, got lo=${String(lo)} hi=${String(hi)}`,
      );
    }
    const span = hi - lo + 1;
    if (span > TWO_POW_32) {
      throw new RangeError(
        `Prng.range: at most 2^32 values, got lo=${String(lo)} hi=${String(hi)}`,
      );
    }
    return lo + this.int(span);
  }

  /**
   * `true` with probability `p` (one draw). `chance(0)` is always `false` and
   * `chance(1)` always `true`. O(1).
   *
   * @throws RangeError if `p` is not in [0, 1].
   */
  chance(p: number): boolean {
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`Prng.chance: p must be in [0, 1], got ${String(p)}`);
    }
    return this.next() < p;
  }

  /**
   * Derives a new generator from this one's current state and `label`, e.g. one stream
   * per simulated CPU. O(1).
   *
   * The parent is not advanced, so `fork` is pure: the same state and label always give
   * the same child, whatever order forks are taken in, and different labels give
   * different children. Each child word is a splitmix32 mix of the matching parent word
   * keyed by a hash of the label and all four parent words, so the child's state is a
   * non-linear function of the parent's (no shared linear trajectory with it) and keeps
   * the full 128 bits of state.
   *
   * @param label - integer in [0, 2^32).
   * @throws RangeError if `label` is not an integer in that range.
   */
  fork(label: number): Prng {
    if (!(Number.isInteger(label) && label >= 0 && label < TWO_POW_32)) {
      throw new RangeError(
        `Prng.fork: label must be an integer in [0, 2^32), got ${String(label)}`,
      );
    }
    // Key: absorb the label and the four state words, one mix per word.
    let key = mix32((label ^ 0x6a09e667) + GOLDEN);
    key = mix32((key ^ this.s0) + GOLDEN);
    key = mix32((key ^ this.s1) + GOLDEN);
    key = mix32((key ^ this.s2) + GOLDEN);
    key = mix32((key ^ this.s3) + GOLDEN);
    const child = new Prng(0);
    child.s0 = mix32((this.s0 ^ key) + GOLDEN);
    child.s1 = mix32((this.s1 ^ key) + Math.imul(GOLDEN, 2));
    child.s2 = mix32((this.s2 ^ key) + Math.imul(GOLDEN, 3));
    child.s3 = mix32((this.s3 ^ key) + Math.imul(GOLDEN, 4));
    if ((child.s0 | child.s1 | child.s2 | child.s3) === 0) child.s0 = GOLDEN | 0;
    return child;
  }
}
