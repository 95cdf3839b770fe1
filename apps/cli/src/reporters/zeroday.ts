/**
 * `flushlab compare --format 0day`: the comparison table of the 0-day / LKP kernel test
 * robot's performance reports ("%stddev %change %stddev"), so a developer answering a
 * robot report can paste flushlab's figures in the same shape.
 *
 * Mirrors intel/lkp-tests (master of 2026-07-22, bbbc29c495d9):
 * - lib/compare.rb show_group_header: the axes block between "=" rules, the compared
 *   axis ("commit:", here "plugins:") with one value per column, the column labels
 *   ("%16s " then "%27s "), dashes under them;
 * - show_perf_header: "%stddev %change %stddev" and the "\ | \" line;
 * - show_perf_change: per column the average ("%10.2f" below 1000, "%10.4g" above 1e8,
 *   else "%10d"), " ±NNN%" when the stddev is more than 2% of the average (else blanks),
 *   and before each later column the change ("%+10.1f%% ", "%+10.2g%% " from 100000%);
 *   stats whose name ends in "%" get the absolute change instead (use_absolute_changes);
 * - calc_avg_stddev / lib/statistics.rb standard_deviation: the population stddev (1/n);
 * - calc_perf_change: 100 × (avg − avg0) / avg0, avg0 = 1e-100 when it is 0.
 *
 * The robot lists only the stats it finds changed; here every metric is listed (but one
 * that is 0 on both sides), and the counters whose means differ. Stat names: see ZERODAY_STAT_NAMES.
 */
import { DEFAULT_KERNEL_VERSION } from "@flushlab/core-mmu";
import type { CompareSummary } from "./types.js";

/**
 * The robot's name for a flushlab stat, keyed "<workload>.<metric>" for metrics and by
 * counter name for counters. A stat not in the table is printed as that key (metrics take
 * the robot's "<testcase>.<stat>" shape). Add rows here to print the robot's own names
 * for stats whose workload does not declare them: a metric's own `robot` name (its
 * MetricSpec, e.g. tlb-flush2's "will-it-scale.per_thread_ops") comes first.
 */
export const ZERODAY_STAT_NAMES: Record<string, string> = {};

const ABS_WIDTH = 10;
const REL_WIDTH = 10;
const ERR_WIDTH = 6;

/** $stat_absolute_changes: stats whose change is printed as a difference, not a percentage. */
const ABSOLUTE_CHANGES: readonly RegExp[] = [/^perf-profile/, /%$/];

export function zerodayStatName(key: string): string {
  return Object.hasOwn(ZERODAY_STAT_NAMES, key) ? (ZERODAY_STAT_NAMES[key] as string) : key;
}

/** C's %.Pg (Ruby's printf): P significant digits, exponent form below 1e-4 or from 10^P, trailing zeros dropped. */
export function formatG(x: number, precision: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "NaN" : x > 0 ? "Inf" : "-Inf";
  if (x === 0) return "0";
  const p = Math.max(1, precision);
  const [mant, expText] = x.toExponential(p - 1).split("e") as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= p) {
    const m = mant.includes(".") ? mant.replace(/0+$/, "").replace(/\.$/, "") : mant;
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const fixedText = x.toFixed(Math.max(0, p - 1 - exp));
  return fixedText.includes(".") ? fixedText.replace(/0+$/, "").replace(/\.$/, "") : fixedText;
}

function signed(text: string, x: number): string {
  return x >= 0 && !text.startsWith("-") ? `+${text}` : text;
}

export function average(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** lib/statistics.rb standard_deviation (population); -1 with fewer than two values, as calc_avg_stddev says. */
export function populationStddev(xs: readonly number[]): number {
  if (xs.length < 2) return -1;
  const avg = average(xs);
  let sum = 0;
  for (const x of xs) sum += (x - avg) ** 2;
  return Math.sqrt(sum / xs.length);
}

function formatAvg(avg: number): string {
  const a = Math.abs(avg);
  const text = a < 1000 ? avg.toFixed(2) : a > 100_000_000 ? formatG(avg, 4) : String(Math.trunc(avg));
  return text.padStart(ABS_WIDTH);
}

function formatErr(avg: number, stddev: number): string {
  const pct = avg !== 0 ? (100 * stddev) / avg : stddev;
  return pct > 2 ? ` ±${String(Math.trunc(pct)).padStart(ERR_WIDTH - 3)}%` : " ".repeat(ERR_WIDTH);
}

function formatChange(change: number, absolute: boolean): string {
  const text = Math.abs(change) < 100_000 ? change.toFixed(1) : formatG(change, 2);
  return signed(text, change).padStart(REL_WIDTH) + (absolute ? "  " : "% ");
}

/** One stat line: baseline avg ± err, change, patched avg ± err, the name. */
export function zerodayLine(name: string, baseline: readonly number[], patched: readonly number[]): string {
  const avgs = [average(baseline), average(patched)] as const;
  const stddevs = [populationStddev(baseline), populationStddev(patched)] as const;
  const absolute = ABSOLUTE_CHANGES.some((re) => re.test(name));
  const avg0 = avgs[0] === 0 ? 1e-100 : avgs[0];
  const change = absolute ? avgs[1] - avgs[0] : (100 * (avgs[1] - avg0)) / avg0;
  return (
    formatAvg(avgs[0]) + formatErr(avgs[0], stddevs[0]) +
    formatChange(change, absolute) +
    formatAvg(avgs[1]) + formatErr(avgs[1], stddevs[1]) +
    `  ${name}`
  );
}

/** The robot's comparison block for `summary`, as lines. */
export function formatZeroday(summary: CompareSummary): string[] {
  const { options } = summary;
  const m = options.machine;
  const axes: [string, string][] = [
    ["arch", m.arch],
    ["cpus", String(m.cpus)],
    ["kernel", options.kernel ?? DEFAULT_KERNEL_VERSION],
    ["params", Object.entries(options.params).map(([k, v]) => `${k}=${String(v)}`).join(",") || "(none)"],
    ["profile", options.profile],
    ["runs", String(summary.runs)],
    ["seed", String(summary.seeds[0] ?? options.seed)],
    ["testcase", summary.workload.name],
  ];
  const labels = ["(none)", summary.plugins.map((p) => p.name).join(",")];
  const firstWidth = ABS_WIDTH + ERR_WIDTH;
  const width = firstWidth + REL_WIDTH + 1;
  const lines: string[] = [
    "=".repeat(89),
    `${axes.map(([k]) => k).join("/")}:`,
    `  ${axes.map(([, v]) => v).join("/")}`,
    "",
    "plugins: ",
    ...labels.map((l) => `  ${l}`),
    "",
    `${(labels[0] ?? "").slice(0, firstWidth).padStart(firstWidth)} ${(labels[1] ?? "").slice(0, width).padStart(width)} `,
    `${"-".repeat(firstWidth)} ${"-".repeat(width)} `,
    "         %stddev     %change         %stddev",
    "             \\          |                \\  ",
  ];
  for (const metric of summary.metrics) {
    // Both sides 0: the robot's formula would print -100% (avg0 = 1e-100); it never lists an unchanged stat.
    if (metric.baseline === 0 && metric.patched === 0) continue;
    // The robot's own name when the workload's metric declares one (will-it-scale.per_thread_ops, vmstat.system.in, …).
    lines.push(zerodayLine(metric.spec?.robot ?? zerodayStatName(`${summary.workload.name}.${metric.name}`), metric.baselineValues, metric.patchedValues));
  }
  for (const counter of summary.counters) {
    if (counter.baseline === counter.patched) continue;
    lines.push(zerodayLine(zerodayStatName(counter.name), counter.baselineValues, counter.patchedValues));
  }
  return lines;
}
