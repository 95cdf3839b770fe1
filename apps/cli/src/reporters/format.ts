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
