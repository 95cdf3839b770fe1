/**
 * `--html FILE` (compare, reproduce, check): one self-contained HTML file that loads
 * nothing from the network. Tables and text are rendered here; the charts are drawn in
 * the browser by uPlot, whose JS and CSS are read from its npm package and inlined,
 * from the chart data embedded in the page as JSON. A Content-Security-Policy meta tag
 * forbids every fetch, so a page that tried one would fail rather than phone home.
 *
 * Same inputs, same bytes: no timestamps, no wall clock, no machine-dependent text.
 */
import { accessSync, constants, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { DEFAULT_KERNEL_VERSION, FlushlabInputError, HAZARD_CLASS_NAMES } from "@flushlab/core-mmu";
import type { PublishedFigure } from "@flushlab/core-mmu";
import { describeCase, describeShrink, type TimelineEvent } from "@flushlab/check";
import { changePct } from "../stats.js";
import { formatFixed2, formatNumber, formatPct, plural } from "./format.js";
import { describeMachineOf, describeParams, figureResult, formatFigureValue } from "./human.js";
import { attachReporter, type ReportBus } from "../bus.js";
import type { CheckReport, CompareSummary, CpuInterrupts, Reporter, ReproduceSummary, ReproductionOutcome, RunReport } from "./types.js";

/** The option `compare`, `reproduce` and `check` take. */
export const HTML_OPTION = {
  html: { type: "string", valueName: "FILE", description: "also write the report as one self-contained HTML file with charts (nothing loaded from the network)" },
} as const;

// ---- chart data: what the page's script draws (see assets/html-report.js) ----

export interface MetricChart {
  readonly type: "metric";
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly better: "higher" | "lower" | "none";
  /** One label per run of each side, e.g. "seed 3". */
  readonly baselineLabels: readonly string[];
  readonly patchedLabels: readonly string[];
  readonly baseline: readonly number[];
  readonly patched: readonly number[];
  readonly baselineMean: number;
  readonly patchedMean: number;
  readonly baselineStddev: number;
  readonly patchedStddev: number;
}

export interface HeatmapChart {
  readonly type: "heatmap";
  readonly id: string;
  readonly title: string;
  readonly cpus: number;
  /** Rows top to bottom; rows of one `kind` share a colour scale. */
  readonly rows: readonly { readonly label: string; readonly kind: string; readonly values: readonly number[] }[];
}

export interface FigureChart {
  readonly type: "figure";
  readonly id: string;
  readonly title: string;
  readonly kind: PublishedFigure["kind"];
  readonly role: "calibration" | "prediction";
  readonly model: number | null;
  readonly published: number | null;
  readonly min: number;
  readonly max: number;
  readonly ok: boolean;
}

export interface TimelineChart {
  readonly type: "timeline";
  readonly id: string;
  readonly title: string;
  readonly cpus: number;
  readonly events: readonly TimelineEvent[];
}

export type ChartSpec = MetricChart | HeatmapChart | FigureChart | TimelineChart;

/** A page: its title, its body (HTML), and the charts the body has placeholders for. */
export interface HtmlPage {
  readonly title: string;
  readonly body: string;
  readonly charts: readonly ChartSpec[];
}

// ---- HTML helpers ----

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function tableHtml(head: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[] = [], cls = ""): string {
  const cell = (tag: string, text: string, i: number): string => `<${tag}${numeric[i] === true ? ' class="num"' : ""}>${text}</${tag}>`;
  return [
    `<table${cls === "" ? "" : ` class="${cls}"`}>`,
    `<thead><tr>${head.map((h, i) => cell("th", esc(h), i)).join("")}</tr></thead>`,
    "<tbody>",
    ...rows.map((r) => `<tr>${r.map((c, i) => cell("td", c, i)).join("")}</tr>`),
    "</tbody></table>",
  ].join("\n");
}

function facts(rows: readonly (readonly [string, string])[]): string {
  return `<dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`;
}

function chartDiv(id: string): string {
  return `<div class="chart" id="${id}"></div>`;
}

/** Chart ids: a prefix and a counter, so the same report gives the same ids. */
class Ids {
  private n = 0;
  next(kind: string): string {
    return `${kind}-${this.n++}`;
  }
}

// ---- sections ----

const SIG4 = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });

/** A mean or stddev: 2 decimals from 1,000 up (as the text report), else 4 significant digits (a 0.0042 s mean is not "0.00"). */
function formatValue(x: number): string {
  if (!Number.isFinite(x)) return formatFixed2(x);
  return Math.abs(x) >= 1000 ? formatFixed2(x) : SIG4.format(x);
}

function seedLabels(summary: CompareSummary, count: number): string[] {
  // A run without the metric is left out of baselineRuns/patchedRuns, so seeds only label a full set.
  return count === summary.seeds.length ? summary.seeds.map((s) => `seed ${s}`) : Array.from({ length: count }, (_, i) => `run ${i + 1}`);
}

function heatmapOf(ids: Ids, title: string, sides: readonly (readonly [string, CpuInterrupts])[]): HeatmapChart {
  const cpus = Math.max(0, ...sides.flatMap(([, i]) => [i.TLB.length, i.CAL.length]));
  const rows: HeatmapChart["rows"][number][] = [];
  for (const kind of ["TLB", "CAL"] as const) for (const [side, irq] of sides) rows.push({ label: `${kind} ${side}`.trim(), kind, values: [...irq[kind]] });
  return { type: "heatmap", id: ids.next("heatmap"), title, cpus, rows };
}

const HEATMAP_NOTE =
  "Rows are the /proc/interrupts lines: TLB (TLB shootdowns) and CAL (function call interrupts); each cell is one CPU's count, " +
  "mean per run. Rows of one line share a colour scale; hover a cell for its number.";

/** A compare's sections: setup, metrics (table and one chart per metric), interrupts heat map, counters, hazards, notes. */
function compareSections(summary: CompareSummary, ids: Ids, charts: ChartSpec[], level: 2 | 3): string {
  const { options } = summary;
  const h = `h${level}`;
  const parts: string[] = [];
  parts.push(
    facts([
      ["workload", `${summary.workload.name}  ${describeParams(options.params)}`],
      ["machine", describeMachineOf(options)],
      ["profile", options.profile],
      ["kernel", options.kernel ?? DEFAULT_KERNEL_VERSION],
      ["runs", `${summary.runs} per side (${summary.seeds.length === 1 ? "seed" : "seeds"} ${summary.seeds.join(", ")})`],
      ["baseline", "no plugins"],
      ["patched", summary.plugins.map((p) => p.name).join(", ")],
    ]),
  );
  parts.push(`<${h}>Metrics</${h}>`);
  parts.push(
    tableHtml(
      ["metric", "unit", "baseline mean", "± stddev", "patched mean", "± stddev", "change", "p (Welch)", ""],
      summary.metrics.map((m) => [
        esc(m.name),
        esc(m.spec?.unit ?? ""),
        esc(formatValue(m.baseline)),
        esc(formatValue(m.baselineStddev)),
        esc(formatValue(m.patched)),
        esc(formatValue(m.patchedStddev)),
        esc(formatPct(m.changePct)),
        esc(Number.isFinite(m.p) ? m.p.toPrecision(3) : "n/a"),
        m.significant ? "*" : "",
      ]),
      [false, false, true, true, true, true, true, true, false],
    ),
  );
  parts.push(`<p class="note">* significant: Welch's two-sided t-test, p &lt; 0.05${summary.runs < 2 ? " (needs 2+ runs)" : ""}. Each chart: one dot per run (seed), the bar at each side its mean ± sample stddev.</p>`);
  const metricDivs: string[] = [];
  for (const m of summary.metrics) {
    const chart: MetricChart = {
      type: "metric",
      id: ids.next("metric"),
      title: m.name,
      unit: m.spec?.unit ?? "",
      better: m.spec?.better ?? "none",
      baselineLabels: seedLabels(summary, m.baselineRuns.length),
      patchedLabels: seedLabels(summary, m.patchedRuns.length),
      baseline: [...m.baselineRuns],
      patched: [...m.patchedRuns],
      baselineMean: m.baseline,
      patchedMean: m.patched,
      baselineStddev: m.baselineStddev,
      patchedStddev: m.patchedStddev,
    };
    charts.push(chart);
    metricDivs.push(chartDiv(chart.id));
  }
  parts.push(`<div class="grid">${metricDivs.join("")}</div>`);

  parts.push(`<${h}>Interrupts per CPU</${h}>`);
  const heat = heatmapOf(ids, "interrupts per CPU, mean per run", [
    ["baseline", summary.interrupts.baseline],
    ["patched", summary.interrupts.patched],
  ]);
  charts.push(heat);
  parts.push(`<p class="note">${esc(HEATMAP_NOTE)}</p>`, chartDiv(heat.id));

  parts.push(`<p class="hazards">Hazards (all runs): baseline ${esc(formatNumber(summary.hazards.baseline))}, patched ${esc(formatNumber(summary.hazards.patched))}</p>`);
  if (summary.counters.length > 0) {
    parts.push(
      `<details><summary>Counters (mean per run)</summary>`,
      tableHtml(
        ["counter", "baseline", "patched", "change"],
        summary.counters.map((c) => {
          const fmt = Number.isInteger(c.baseline) && Number.isInteger(c.patched) ? formatNumber : formatFixed2;
          return [esc(c.name), esc(fmt(c.baseline)), esc(fmt(c.patched)), esc(formatPct(changePct(c.baseline, c.patched)))];
        }),
        [false, true, true, true],
      ),
      `</details>`,
    );
  }
  if (summary.notes.length > 0) parts.push(`<details><summary>Notes</summary><ul>${summary.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></details>`);
  return parts.join("\n");
}

export function compareHtml(summary: CompareSummary): HtmlPage {
  const ids = new Ids();
  const charts: ChartSpec[] = [];
  const title = `flushlab compare ${summary.workload.name}: ${summary.plugins.map((p) => p.name).join(", ")}`;
  const body = `<h1>${esc(title)}</h1>\n${compareSections(summary, ids, charts, 2)}`;
  return { title, body, charts };
}

function reproductionSection(r: ReproductionOutcome, ids: Ids, charts: ChartSpec[]): string {
  const { plugin } = r;
  const parts: string[] = [];
  parts.push(`<section class="reproduction ${r.ok ? "ok" : "not-ok"}">`);
  parts.push(`<h2>${esc(plugin.name)} <span class="verdict">${r.ok ? "reproduced" : "NOT reproduced"}</span></h2>`);
  parts.push(`<p class="patch">${esc(plugin.patch.title)} (commit ${esc(plugin.patch.commit)}, ${esc(plugin.patch.kernel)})</p>`);
  parts.push("<h3>Figures: the model beside the published value and its accept band</h3>");
  const rows = r.figures.map((f) => {
    const { figure } = f;
    const chart: FigureChart = {
      type: "figure",
      id: ids.next("figure"),
      title: `${figure.metric} (${figure.kind})`,
      kind: figure.kind,
      role: figure.role ?? "prediction",
      model: f.model,
      published: figure.published,
      min: figure.accept.min,
      max: figure.accept.max,
      ok: f.ok,
    };
    charts.push(chart);
    const result = figureResult(f);
    return [
      esc(figure.metric),
      esc(figure.kind),
      `<span class="role ${chart.role}">${esc(chart.role)}</span>`,
      esc(formatFigureValue(figure.kind, f.model)),
      esc(figure.published === null ? "none" : formatFigureValue(figure.kind, figure.published)),
      esc(`[${formatFigureValue(figure.kind, figure.accept.min)}, ${formatFigureValue(figure.kind, figure.accept.max)}]`),
      `<span class="result ${f.ok ? "ok" : "out"}">${esc(result)}</span>`,
      chartDiv(chart.id),
      `<span class="source">${esc(figure.source)}</span>`,
    ];
  });
  parts.push(tableHtml(["metric", "kind", "role", "model", "published", "accept", "result", "band", "source"], rows, [false, false, false, true, true, false, false, false, false], "figures"));
  const hz = r.compare.hazards;
  const hazardsOk = !r.requireNoHazards || (hz.baseline === 0 && hz.patched === 0);
  parts.push(
    `<p class="hazards">Hazards: baseline ${esc(formatNumber(hz.baseline))}, patched ${esc(formatNumber(hz.patched))}${r.requireNoHazards ? ` (required: none) ${hazardsOk ? "ok" : "OUT"}` : ""}</p>`,
  );
  parts.push(`<p class="note">A calibration figure is one a cost parameter was fitted to; only predictions decide whether the reproduction holds.</p>`);
  parts.push(`<h3>The compare behind it</h3>`, compareSections(r.compare, ids, charts, 3));
  parts.push("</section>");
  return parts.join("\n");
}

function demoSection(demo: RunReport, ids: Ids, charts: ChartSpec[]): string {
  const { result } = demo;
  const heat = heatmapOf(ids, "interrupts per CPU", [["", result.interrupts]]);
  charts.push(heat);
  return [
    `<p>No enabled plugin declares a reproduction; here is a demo run of ${esc(result.workload)} with defaults.</p>`,
    facts([
      ["machine", describeMachineOf(demo.options)],
      ["profile", result.profile],
      ["kernel", result.kernel],
      ["seed", String(result.seed)],
    ]),
    "<h2>Metrics</h2>",
    tableHtml(["metric", "value"], Object.entries(result.metrics).map(([k, v]) => [esc(k), esc(formatNumber(v))]), [false, true]),
    "<h2>Interrupts per CPU</h2>",
    chartDiv(heat.id),
  ].join("\n");
}

export function reproduceHtml(summary: ReproduceSummary): HtmlPage {
  const ids = new Ids();
  const charts: ChartSpec[] = [];
  const names = summary.reproductions.map((r) => r.plugin.name);
  const title = `flushlab reproduce${names.length > 0 ? `: ${names.join(", ")}` : ""}`;
  const parts = [`<h1>${esc(title)}</h1>`];
  if (summary.reproductions.length > 0) {
    parts.push(
      tableHtml(
        ["plugin", "workload", "predictions in band", "calibrations in band", "result"],
        summary.reproductions.map((r) => {
          const of = (role: string): string => {
            const fs = r.figures.filter((f) => (f.figure.role ?? "prediction") === role);
            return `${fs.filter((f) => f.ok).length} of ${fs.length}`;
          };
          return [esc(r.plugin.name), esc(r.compare.workload.name), of("prediction"), of("calibration"), `<span class="result ${r.ok ? "ok" : "out"}">${r.ok ? "reproduced" : "NOT reproduced"}</span>`];
        }),
      ),
    );
  }
  for (const r of summary.reproductions) parts.push(reproductionSection(r, ids, charts));
  if (summary.demo !== undefined) parts.push(demoSection(summary.demo, ids, charts));
  return { title, body: parts.join("\n"), charts };
}

export function checkHtml(r: CheckReport): HtmlPage {
  const ids = new Ids();
  const charts: ChartSpec[] = [];
  const plugins = r.plugins.length === 0 ? "no plugins" : r.plugins.join(", ");
  const title = r.replay !== null ? `flushlab check --replay ${r.replay}` : `flushlab check: ${plugins}`;
  const parts = [`<h1>${esc(title)}</h1>`];
  const e = r.explored;
  parts.push(
    facts([
      ["plugins", plugins],
      ["arch", r.arch],
      ["kernel", r.kernel],
      ...(r.replay === null
        ? ([
            ["CPUs", r.cpus === null ? "" : r.cpus.min === r.cpus.max ? String(r.cpus.min) : `${r.cpus.min}..${r.cpus.max}`],
            ["seed", String(r.seed)],
            ["budget", `${formatNumber(r.budget)} schedules`],
            ["explored", `${plural(e.scenarios, "scenario")} (${formatNumber(e.exhaustive)} with every single-delay schedule), ${plural(e.schedules, "schedule")}`],
          ] as const)
        : []),
    ]),
  );
  if (r.stopped !== null) {
    parts.push(`<p class="verdict out">The kernel stopped in a case: ${esc(r.stopped.message)}</p>`, "<h2>Scenario</h2>", `<ul>${describeCase(r.stopped.case).map((l) => `<li>${esc(l)}</li>`).join("")}</ul>`);
    return { title, body: parts.join("\n"), charts };
  }
  const cx = r.counterexample;
  if (cx === null) {
    parts.push(`<p class="verdict ok">${r.replay !== null ? "No hazard: the saved case runs clean now." : "No hazard found (not a proof: only the scenarios and schedules above were run)."}</p>`);
    return { title, body: parts.join("\n"), charts };
  }
  const h = cx.hazard;
  parts.push(`<p class="verdict out">${r.replay !== null ? "Hazard reproduced" : `Hazard found; ${esc(describeShrink(cx.found, cx.case, cx.shrinkRuns))}`}</p>`);
  parts.push(
    "<h2>Hazard</h2>",
    facts([
      ["class", `${h.class} (${HAZARD_CLASS_NAMES[h.class]})`],
      ["where", `${h.cpu < 0 ? "a device or page table" : `CPU ${h.cpu}`}, address ${h.address}, pfn ${h.pfn}, cycle ${formatNumber(h.time)}`],
      ["missing", h.missing],
      ["detail", h.detail],
    ]),
    "<h2>Scenario</h2>",
    `<ul>${describeCase(cx.case).map((l) => `<li>${esc(l)}</li>`).join("")}</ul>`,
  );
  const cpus = cx.case.scenario.threads.length;
  // Up to and including the headline hazard, as the text report shows it.
  const end = cx.timeline.findIndex((ev) => ev.kind === "hazard" && ev.time === h.time && ev.cpu === h.cpu && ev.text.includes(h.detail));
  const events = end < 0 ? cx.timeline : cx.timeline.slice(0, end + 1);
  const chart: TimelineChart = { type: "timeline", id: ids.next("timeline"), title: "counterexample timeline", cpus, events: events.map((ev) => ({ ...ev })) };
  charts.push(chart);
  parts.push("<h2>Timeline</h2>", `<p class="note">One lane per CPU (and one for the machine: frees, devices); the events left to right in the order they happened, each axis label its simulated cycle; an IPI is drawn from its sender to its target. Hover a mark for its event; the table below lists the same events.</p>`, chartDiv(chart.id));
  const machine = events.some((ev) => ev.cpu < 0);
  const cols = [...Array.from({ length: cpus }, (_, i) => `CPU ${i}`), ...(machine ? ["machine"] : [])];
  parts.push(
    tableHtml(
      ["cycle", ...cols],
      events.map((ev) => {
        const col = ev.cpu < 0 ? cpus : ev.cpu;
        return [esc(formatNumber(ev.time)), ...cols.map((_, i) => (i === col ? `<span class="ev ${esc(ev.kind)}">${esc(ev.text)}</span>` : ""))];
      }),
      [true],
      "timeline",
    ),
  );
  return { title, body: parts.join("\n"), charts };
}

// ---- the file ----

const require = createRequire(import.meta.url);

function asset(file: string): string {
  return readFileSync(new URL(`../../assets/${file}`, import.meta.url), "utf8");
}

/** Inline script text: a "</script" inside would end the element early. */
function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1");
}

/** JSON safe inside a <script> element. */
function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

export function renderHtml(page: HtmlPage): string {
  const uplotJs = readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8");
  const uplotCss = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    // Nothing from the network: no fetch, no image, no font, no frame; only what is inline.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(page.title)}</title>`,
    `<style>\n${uplotCss}\n${asset("html-report.css")}</style>`,
    "</head>",
    "<body>",
    "<main>",
    page.body,
    `<footer>Made by flushlab; charts drawn with uPlot (MIT), inlined in this file.</footer>`,
    "</main>",
    `<script type="application/json" id="flushlab-data">${inlineJson({ charts: page.charts })}</script>`,
    `<script>\n${inlineScript(uplotJs)}\n</script>`,
    `<script>\n${inlineScript(asset("html-report.js"))}\n</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/**
 * Checks before the work starts that `file` can be written: its directory exists and is
 * writable, and it is not a directory or a read-only file. Returns the absolute path.
 */
export function checkHtmlPath(file: string, cwd = process.cwd()): string {
  if (file === "") throw new FlushlabInputError("--html needs a file name");
  const path = resolve(cwd, file);
  const dir = dirname(path);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw new FlushlabInputError(`--html ${file}: cannot write there: directory ${dir} ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : `is not readable (${(e as NodeJS.ErrnoException).code ?? String(e)})`}`);
  }
  if (!isDir) throw new FlushlabInputError(`--html ${file}: cannot write there: ${dir} is not a directory`);
  let existing: ReturnType<typeof statSync> | undefined;
  try {
    existing = statSync(path);
  } catch {
    existing = undefined;
  }
  if (existing?.isDirectory() === true) throw new FlushlabInputError(`--html ${file}: is a directory`);
  try {
    accessSync(existing === undefined ? dir : path, constants.W_OK);
  } catch {
    throw new FlushlabInputError(`--html ${file}: cannot write there: ${existing === undefined ? `directory ${dir}` : path} is not writable`);
  }
  return path;
}

/** Collects the command's report from the bus and renders it; `finish` writes the file. */
export class HtmlReporter implements Reporter {
  private page: HtmlPage | undefined;

  constructor(readonly path: string) {}

  onCompareEnd(summary: CompareSummary): void {
    this.page = compareHtml(summary);
  }
  onReproduceEnd(summary: ReproduceSummary): void {
    this.page = reproduceHtml(summary);
  }
  onCheckEnd(report: CheckReport): void {
    this.page = checkHtml(report);
  }

  /** Writes the page (when the command reported one); a failed write is a one-line error. */
  finish(): void {
    if (this.page === undefined) return;
    // Rendered first: a missing asset is an internal error, not a write error.
    const html = renderHtml(this.page);
    try {
      writeFileSync(this.path, html);
    } catch (e) {
      throw new FlushlabInputError(`--html ${this.path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
}

/**
 * `--html FILE` of a command: checks FILE can be written (before any work), attaches an
 * HtmlReporter to the bus, and returns it (call `finish` after the command's end event).
 */
export function attachHtml(bus: ReportBus, file: string | undefined): HtmlReporter | undefined {
  if (file === undefined) return undefined;
  const reporter = new HtmlReporter(checkHtmlPath(file));
  attachReporter(bus, reporter);
  return reporter;
}
