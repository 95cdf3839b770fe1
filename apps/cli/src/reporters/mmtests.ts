/**
 * `flushlab compare --format mmtests`: the table mmtests' compare-kernels.sh prints
 * (bin/compare-mmtests.pl, "Multiops" summary), so a kernel developer can paste it into a
 * changelog next to real mmtests results and it reads the same way.
 *
 * Mirrors mmtests (gormanm/mmtests, master of 2026-06-25, 638401e07e70):
 * - bin/lib/MMTests/Summarise.pm setSummaryMultiops: the rows, one block per statistic
 *   (min, _mean, stddev-_mean, coeffvar-_mean, max, _mean-95), one row per operation;
 *   runStatFunc/getStatName: `_mean` is the harmonic mean (Hmean) where higher is better,
 *   the arithmetic mean (Amean) otherwise; `_mean-95` is that mean of the best 95% of the
 *   samples (BAmean.95 / BHmean.95).
 * - bin/lib/MMTests/Stat.pm: calc_amean, calc_hmean, calc_stddev (n − 1 for Amean;
 *   sqrt(Σ(1/x − 1/m)² m⁴ / n) for Hmean), calc_coeffvar, pdiff/pndiff (the % column:
 *   improvements are positive either way), stat_compare (Stddev and CoeffVar use pndiff),
 *   _calc_meanci (mean ± qnorm(1 − α/2, sd = stddev), α = 0.05) and cidiff.
 * - bin/lib/MMTests/Compare.pm _generateComparisonTable: a column is significant when
 *   |cidiff| > 1, i.e. the means are further apart than the two confidence half-widths
 *   together (or, with both stddevs 0, differ by more than 1); only the mean row is marked.
 * - Compare.pm _generateRenderTable/_generateHeaderTable and PrintGeneric.pm printRow:
 *   "%-Ns %-Ms" then "%12.2f (%7.2f%%)" per kernel, the parentheses turned into
 *   asterisks on a significant value; headers split each kernel name at its first '-'.
 *
 * flushlab's baseline and patched sides are the two "kernels": the header is the modelled
 * release over "baseline" and over the enabled plugins. A metric that declares no better
 * direction ("none") is averaged arithmetically and its change is the plain pdiff.
 */
import type { MetricSpec } from "@flushlab/core-mmu";
import { DEFAULT_KERNEL_VERSION } from "@flushlab/core-mmu";
import type { CompareSummary, MetricComparison } from "./types.js";

/** qnorm(0.975): the two-sided 95% normal quantile mmtests asks R for (_calc_meanci, α = 0.05). */
export const QNORM_975 = 1.959963984540054;

const FIELD_LENGTH = 12; // Summarise.pm: _FieldLength defaults to 12
const COMPARE_LENGTH = 7; // Compare.pm: _CompareLength defaults to 7
const PRECISION = 2;

type Preferred = "Higher" | "Lower" | "None";
type MeanName = "amean" | "hmean";

function preferredOf(spec: MetricSpec | undefined): Preferred {
  if (spec?.better === "higher") return "Higher";
  if (spec?.better === "lower") return "Lower";
  return "None";
}

/** calc_amean: NaN for no samples. */
export function amean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** calc_hmean: NaN for no samples or any sample ≤ 0. */
export function hmean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of xs) {
    if (!(x > 0)) return Number.NaN;
    sum += 1 / x;
  }
  return xs.length / sum;
}

/** calc_stddev for the given mean: NaN with fewer than two samples. */
export function mmtestsStddev(meanName: MeanName, xs: readonly number[]): number {
  const m = meanName === "amean" ? amean(xs) : hmean(xs);
  if (Number.isNaN(m) || xs.length <= 1) return Number.NaN;
  let diff = 0;
  for (const x of xs) diff += meanName === "amean" ? (x - m) ** 2 : (1 / x - 1 / m) ** 2;
  return meanName === "amean" ? Math.sqrt(diff / (xs.length - 1)) : Math.sqrt((diff * m ** 4) / xs.length);
}

/** calc_coeffvar: stddev × 100 / mean, 0 when the mean is 0 (a NaN stddev counts as 0). */
function coeffvar(meanName: MeanName, xs: readonly number[]): number {
  const m = meanName === "amean" ? amean(xs) : hmean(xs);
  const sd = mmtestsStddev(meanName, xs);
  const s = Number.isNaN(sd) ? 0 : sd;
  const mm = Number.isNaN(m) ? 0 : m;
  return mm ? (s * 100) / mm : 0;
}

/** pdiff(new, base): % by which new exceeds base (higher is better). */
export function pdiff(a: number, b: number): number {
  if (a === b || a === 0) return 0;
  if (b === 0 || Number.isNaN(b)) return 100;
  return (a * 100) / b - 100;
}

/** pndiff(new, base): % by which new is below base (lower is better). */
export function pndiff(a: number, b: number): number {
  if (a === b) return 0;
  if (a === 0) return 100;
  if (b === 0) return -99;
  return 100 - (a * 100) / b;
}

/** cidiff(new, newCI, base, baseCI): the difference in units of the two CI half-widths facing each other. */
export function cidiff(a: number, aci: readonly [number, number], b: number, bci: readonly [number, number]): number {
  const diff = a - b;
  const cisum = a < b ? aci[1] - a + b - bci[0] : a - aci[0] + bci[1] - b;
  if (cisum === 0) return diff;
  return diff / cisum;
}

/** The confidence interval of the mean mmtests uses: mean ± qnorm(0.975) × stddev; undefined when it is NaN. */
function meanCi(meanName: MeanName, xs: readonly number[]): readonly [number, number] | undefined {
  const m = meanName === "amean" ? amean(xs) : hmean(xs);
  const q = QNORM_975 * mmtestsStddev(meanName, xs);
  if (Number.isNaN(m) || Number.isNaN(q)) return undefined;
  return [m - q, m + q];
}

/** mmtests' significance of patched against baseline on the mean row: |cidiff| > 1. */
export function mmtestsSignificant(meanName: MeanName, baseline: readonly number[], patched: readonly number[]): boolean {
  const bci = meanCi(meanName, baseline);
  const pci = meanCi(meanName, patched);
  if (bci === undefined || pci === undefined) return false;
  const b = meanName === "amean" ? amean(baseline) : hmean(baseline);
  const p = meanName === "amean" ? amean(patched) : hmean(patched);
  return Math.abs(cidiff(p, pci, b, bci)) > 1;
}

type StatKey = "min" | "_mean" | "stddev" | "coeffvar" | "max" | "_mean-95";
const MULTIOPS: readonly StatKey[] = ["min", "_mean", "stddev", "coeffvar", "max", "_mean-95"];

function statName(key: StatKey, meanName: MeanName): string {
  const h = meanName === "hmean";
  switch (key) {
    case "min":
      return "Min";
    case "max":
      return "Max";
    case "_mean":
      return h ? "Hmean" : "Amean";
    case "stddev":
      return h ? "HStddev" : "Stddev";
    case "coeffvar":
      return h ? "HCoeffVar" : "CoeffVar";
    case "_mean-95":
      return h ? "BHmean.95" : "BAmean.95";
  }
}

/** The samples sorted best first, as extractSummary sorts them (ascending where lower is better). */
function bestFirst(xs: readonly number[], preferred: Preferred): number[] {
  return [...xs].sort((a, b) => (preferred === "Lower" ? a - b : b - a));
}

function statValue(key: StatKey, meanName: MeanName, preferred: Preferred, xs: readonly number[]): number {
  const mean = meanName === "amean" ? amean : hmean;
  switch (key) {
    case "min":
      return xs.length === 0 ? Number.NaN : Math.min(...xs);
    case "max":
      return xs.length === 0 ? Number.NaN : Math.max(...xs);
    case "_mean":
      return mean(xs);
    case "stddev":
      return mmtestsStddev(meanName, xs);
    case "coeffvar":
      return coeffvar(meanName, xs);
    case "_mean-95": {
      // runStatFunc: a numeric argument is the percentage of the (best-first sorted) data used.
      const count = Math.max(1, Math.floor((xs.length * 95) / 100));
      return mean(bestFirst(xs, preferred).slice(0, count));
    }
  }
}

/** getStatCompareFunc: Stddev and CoeffVar use pndiff; the rest follow the preferred direction. */
function compareFunc(key: StatKey, preferred: Preferred): (a: number, b: number) => number {
  if (key === "stddev" || key === "coeffvar") return pndiff;
  return preferred === "Lower" ? pndiff : pdiff;
}

/** Perl's printf("%W.Pf") for a value that may be NaN or infinite. */
function fixed(x: number, width: number, precision: number): string {
  const s = Number.isNaN(x) ? "NaN" : !Number.isFinite(x) ? (x > 0 ? "Inf" : "-Inf") : x.toFixed(precision);
  return s.padStart(width);
}

interface Operation {
  readonly name: string;
  readonly meanName: MeanName;
  readonly preferred: Preferred;
  readonly baseline: readonly number[];
  readonly patched: readonly number[];
}

function operationOf(m: MetricComparison): Operation {
  const preferred = preferredOf(m.spec);
  return { name: m.name, meanName: preferred === "Higher" ? "hmean" : "amean", preferred, baseline: m.baselineValues, patched: m.patchedValues };
}

/** The two header rows of a kernel column: the name split at its first '-' (Compare.pm _generateHeaderTable). */
function headerParts(testName: string): [string, string] {
  const i = testName.indexOf("-");
  return i === -1 ? [testName, ""] : [testName.slice(0, i), testName.slice(i + 1)];
}

/** The compare-kernels table of `summary`'s metrics, as lines. */
export function formatMmtests(summary: CompareSummary): string[] {
  const kernel = summary.options.kernel ?? DEFAULT_KERNEL_VERSION;
  const columns = [`${kernel}-baseline`, `${kernel}-${summary.plugins.map((p) => p.name).join("+")}`];
  const ops = summary.metrics.map(operationOf);
  if (ops.length === 0) return ["(no metrics)"];

  const statLength = Math.max(...ops.flatMap((o) => MULTIOPS.map((k) => statName(k, o.meanName).length)));
  const opLength = Math.max(...ops.map((o) => o.name.length));
  const operationLength = statLength + opLength + 1;
  const columnWidth = FIELD_LENGTH + COMPARE_LENGTH + 4;

  const lines: string[] = [];
  for (const row of [0, 1] as const) {
    lines.push("".padStart(operationLength) + columns.map((c) => headerParts(c)[row].padStart(columnWidth)).join(""));
  }
  for (const key of MULTIOPS) {
    for (const o of ops) {
      const cmp = compareFunc(key, o.preferred);
      const base = statValue(key, o.meanName, o.preferred, o.baseline);
      const values = [o.baseline, o.patched].map((xs) => statValue(key, o.meanName, o.preferred, xs));
      let line = statName(key, o.meanName).padEnd(statLength) + " " + o.name.padEnd(opLength);
      values.forEach((v, i) => {
        // Compare.pm pushes 0 for a value or baseline it has not got (NaN here).
        const have = !Number.isNaN(v) && !Number.isNaN(base);
        const pct = have ? cmp(v, base) : 0;
        const sig = key === "_mean" && i > 0 && mmtestsSignificant(o.meanName, o.baseline, o.patched);
        const [open, close] = sig ? ["*", "*"] : ["(", ")"];
        line += fixed(have ? v : 0, FIELD_LENGTH, PRECISION) + ` ${open}${fixed(pct, COMPARE_LENGTH, 2)}%${close}`;
      });
      lines.push(line);
    }
  }
  return lines;
}
