/**
 * Number and table formatting for human output. Locale is fixed (en-US) so that output
 * is the same on every machine.
 */

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const TWO = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SMALL = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 });

/** Integers with thousands separators; other values with 2 decimals (3 significant digits below 1). */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "n/a";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (Number.isInteger(x)) return INT.format(x);
  if (Math.abs(x) < 1) return SMALL.format(x);
  return TWO.format(x);
}

/** Always 2 decimals with separators (table columns of means). */
export function formatFixed2(x: number): string {
  if (Number.isNaN(x)) return "n/a";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return TWO.format(x);
}

/**
 * A mean or stddev in a table column: 2 decimals, and 3 significant digits below 1 so a
 * small value is not printed as 0.00 ("0.0557", "0.00123"); 0 is "0.00".
 */
export function formatMean(x: number): string {
  if (Number.isNaN(x)) return "n/a";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const a = Math.abs(x);
  if (a === 0 || a >= 1) return TWO.format(x);
  const digits = Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(a))));
  return new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(x);
}

/**
 * The unit a column of values in seconds reads best in: ms below 1 s, µs below 1 ms
 * (judged by the largest magnitude, so a column keeps one unit). Other units stay.
 */
export function displayUnit(unit: string | undefined, values: readonly number[]): { readonly unit: string | undefined; readonly factor: number } {
  if (unit !== "s") return { unit, factor: 1 };
  const max = Math.max(0, ...values.filter((v) => Number.isFinite(v)).map(Math.abs));
  if (max === 0 || max >= 1) return { unit, factor: 1 };
  return max >= 1e-3 ? { unit: "ms", factor: 1e3 } : { unit: "µs", factor: 1e6 };
}

/** Signed percentage, 2 decimals: "+12.34%", "-0.50%", "n/a". */
export function formatPct(x: number | null): string {
  if (x === null || Number.isNaN(x)) return "n/a";
  const s = TWO.format(Math.abs(x));
  return `${x > 0 ? "+" : x < 0 ? "-" : " "}${s}%`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}


export type Align = "left" | "right";

/** Renders rows as aligned columns, two spaces apart, each line prefixed by `indent`. */
export function table(rows: readonly (readonly string[])[], align: readonly Align[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => {
    const cells = row.map((cell, i) => {
      const w = widths[i] ?? 0;
      return (align[i] ?? "left") === "right" ? cell.padStart(w) : cell.padEnd(w);
    });
    return (indent + cells.join("  ")).trimEnd();
  });
}
