/**
 * The statistics behind `flushlab compare`: sample mean and standard deviation, and
 * Welch's two-sided t-test (unequal variances) with the Welch–Satterthwaite degrees of
 * freedom. The Student t CDF goes through the regularized incomplete beta function,
 * evaluated with the continued fraction of Numerical Recipes (`betacf`, `betai`).
 * Pure functions, no dependencies, deterministic.
 */

/** Arithmetic mean; NaN for an empty sample. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** Sample variance (n − 1 denominator); 0 for fewer than two values. */
export function sampleVariance(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return ss / (n - 1);
}

/** Sample standard deviation (n − 1 denominator); 0 for fewer than two values. */
export function sampleStddev(xs: readonly number[]): number {
  return Math.sqrt(sampleVariance(xs));
}

/** (patched − baseline) / baseline × 100, rounded to 2 decimals; null when baseline is 0 (or either is not finite). */
export function changePct(baseline: number, patched: number): number | null {
  if (baseline === 0 || !Number.isFinite(baseline) || !Number.isFinite(patched)) return null;
  return Math.round(((patched - baseline) / baseline) * 100 * 100) / 100;
}

// Lanczos approximation, g = 7, n = 9 (relative error about 1e-15 for x > 0).
const LANCZOS_G = 7;
const LANCZOS_COEF = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;

/** ln Γ(x) for x > 0 (reflection formula below 0.5). */
export function lnGamma(x: number): number {
  if (x < 0.5) {
    // Γ(x) Γ(1 − x) = π / sin(πx)
    return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  }
  const z = x - 1;
  let a = LANCZOS_COEF[0];
  const t = z + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS_COEF.length; i++) a += (LANCZOS_COEF[i] ?? 0) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const BETACF_EPS = 1e-15;
const BETACF_FPMIN = 1e-300;

/**
 * Continued fraction for the incomplete beta function, modified Lentz's method
 * (Numerical Recipes `betacf`). Converges quickly for x < (a + 1) / (a + b + 2).
 */
export function betacf(a: number, b: number, x: number): number {
  const maxIterations = Math.max(300, Math.ceil(10 * Math.sqrt(Math.max(a, b))) + 100);
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < BETACF_FPMIN) d = BETACF_FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= maxIterations; m++) {
    const m2 = 2 * m;
    // even step
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < BETACF_FPMIN) d = BETACF_FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < BETACF_FPMIN) c = BETACF_FPMIN;
    d = 1 / d;
    h *= d * c;
    // odd step
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < BETACF_FPMIN) d = BETACF_FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < BETACF_FPMIN) c = BETACF_FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < BETACF_EPS) return h;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1 (Numerical Recipes `betai`). */
export function regularizedIncompleteBeta(a: number, b: number, x: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  if (x < (a + 1) / (a + b + 2)) return (front * betacf(a, b, x)) / a;
  return 1 - (front * betacf(b, a, 1 - x)) / b;
}

/** Complementary error function (Numerical Recipes `erfcc`, fractional error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Two-sided tail probability P(|T| ≥ |t|) of Student's t with `df` degrees of freedom. */
export function studentTTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || !(df > 0)) return Number.NaN;
  if (!Number.isFinite(t)) return 0;
  if (!Number.isFinite(df)) return erfc(Math.abs(t) / Math.SQRT2);
  return regularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t));
}

/** Student's t cumulative distribution function P(T ≤ t). */
export function studentTCdf(t: number, df: number): number {
  const p = studentTTwoSidedP(t, df);
  if (Number.isNaN(p)) return Number.NaN;
  return t >= 0 ? 1 - p / 2 : p / 2;
}

export interface WelchResult {
  /** Welch's t statistic, (mean(b) − mean(a)) / sqrt(va/na + vb/nb). */
  readonly t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
  /** Two-sided p-value; NaN when the test cannot be made (a sample has fewer than two values). */
  readonly p: number;
  /** p < alpha. */
  readonly significant: boolean;
}

/**
 * Welch's two-sided t-test of `a` against `b`. With fewer than two values in either
 * sample nothing can be said (significant: false). With zero variance on both sides the
 * difference is significant exactly when the means differ.
 */
export function welchTTest(a: readonly number[], b: readonly number[], alpha = 0.05): WelchResult {
  const na = a.length;
  const nb = b.length;
  if (na < 2 || nb < 2) return { t: Number.NaN, df: Number.NaN, p: Number.NaN, significant: false };
  const ma = mean(a);
  const mb = mean(b);
  const sa = sampleVariance(a) / na;
  const sb = sampleVariance(b) / nb;
  const se2 = sa + sb;
  if (se2 === 0) {
    if (ma === mb) return { t: 0, df: na + nb - 2, p: 1, significant: false };
    return { t: mb > ma ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY, df: na + nb - 2, p: 0, significant: true };
  }
  const t = (mb - ma) / Math.sqrt(se2);
  const df = (se2 * se2) / ((sa * sa) / (na - 1) + (sb * sb) / (nb - 1));
  const p = studentTTwoSidedP(t, df);
  return { t, df, p, significant: p < alpha };
}
