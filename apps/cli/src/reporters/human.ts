/**
 * The human reporter: short, aligned reports. Prints only when an entity is complete,
 * so a failing command leaves no half report on stdout. No timestamps, no wall-clock.
 */
import type { SweepSummary } from "./types.js";
import type { CounterInfo, HazardReport, MachineOptions, ParamValues } from "@flushlab/core-mmu";
import { DEFAULT_KERNEL_VERSION, describeFeatures, overriddenPoints } from "@flushlab/core-mmu";
import { hazardCount } from "../hazards.js";
import type { TextSink } from "../registry-types.js";
import { changePct } from "../stats.js";
import { displayUnit, formatMean, formatNumber, formatPct, plural, table } from "./format.js";
import type { Align } from "./format.js";
import { describeCase, describeHazard, describeShrink, formatTimeline } from "@flushlab/check";
import { formatCompareAs, type CompareFormat } from "./compare-formats.js";
import { partialLine, type PartialResults } from "../interrupt.js";
import type { CheckReport, CompareSummary, ListReport, Reporter, ReproduceSummary, ReproductionOutcome, RunReport } from "./types.js";
import { robotName } from "./robot-names.js";

/** Hazards listed one by one in a run report; the rest are counted. */
const MAX_HAZARDS_SHOWN = 10;
/** Above this many CPUs the interrupt rows are summarised instead of printed per CPU. */
const MAX_CPU_COLUMNS = 16;

export function describeMachine(m: MachineOptions): string {
  const parts = [
    m.arch + (m.arch === "x86-64" && m.la57 ? " (LA57)" : ""),
    plural(m.cpus, "CPU"),
    plural(m.sockets, "socket"),
    `${formatNumber(m.tlbEntries)}-entry ${m.tlbWays}-way TLB`,
    `${formatNumber(m.memoryMiB)} MiB`,
  ];
  if (m.pcid !== undefined && m.invpcid !== undefined && m.pti !== undefined) parts.push(describeFeatures({ pcid: m.pcid, invpcid: m.invpcid, pti: m.pti }));
  if (m.pteLeakErratum === true) parts.push("KNL A/D erratum (X86_BUG_PTE_LEAK)");
  return parts.join(", ");
}

/** The machine of a run, after the preset it started from (if any). */
export function describeMachineOf(options: { readonly machine: MachineOptions; readonly preset?: string }): string {
  return `${options.preset === undefined ? "" : `preset ${options.preset}: `}${describeMachine(options.machine)}`;
}

/**
 * A figure's result: "ok" in its band; a prediction outside it "not reproduced" (the
 * published figure is not what the model gives); a calibration outside it "OUT".
 */
export function figureResult(f: { readonly ok: boolean; readonly figure: { readonly role?: "calibration" | "prediction" } }): string {
  if (f.ok) return "ok";
  return (f.figure.role ?? "prediction") === "prediction" ? "not reproduced" : "OUT";
}

export function describeParams(params: ParamValues): string {
  const entries = Object.entries(params);
  return entries.length === 0 ? "(none)" : entries.map(([k, v]) => `${k}=${String(v)}`).join(" ");
}

function hazardLine(h: HazardReport): string[] {
  return [
    `  class ${h.class}  cpu ${h.cpu}  ${h.address}  pfn ${h.pfn}  t=${formatNumber(h.time)} cycles  missing ${h.missing}`,
    ...(h.detail ? [`      ${h.detail}`] : []),
  ];
}

export function formatRunReport(report: RunReport): string[] {
  const { result, options, workload } = report;
  const lines: string[] = [];
  lines.push(`flushlab run ${result.workload}`);
  lines.push(
    ...table(
      [
        ["machine", describeMachineOf(options)],
        ["profile", result.profile],
        ["kernel", result.kernel],
        ["seed", String(result.seed)],
        ["plugins", result.plugins.length === 0 ? "none (baseline)" : result.plugins.join(", ")],
        ["params", describeParams(options.params)],
      ],
      ["left", "left"],
    ),
  );

  const counters = Object.entries(result.counters);
  lines.push("", "Counters");
  if (counters.length === 0) lines.push("  (none)");
  else lines.push(...table(counters.map(([k, v]) => [k, formatNumber(v)]), ["left", "right"]));

  const { TLB, CAL } = result.interrupts;
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  lines.push("", "Interrupts (/proc/interrupts)");
  const ncpu = Math.max(TLB.length, CAL.length);
  if (ncpu <= MAX_CPU_COLUMNS) {
    const header = ["", ...Array.from({ length: ncpu }, (_, i) => `CPU${i}`), "total"];
    const row = (name: string, xs: readonly number[]): string[] => [
      `${name}:`,
      ...Array.from({ length: ncpu }, (_, i) => formatNumber(xs[i] ?? 0)),
      formatNumber(sum(xs)),
    ];
    lines.push(...table([header, row("TLB", TLB), row("CAL", CAL)], ["left", ...Array<Align>(ncpu + 1).fill("right")]));
  } else {
    const row = (name: string, xs: readonly number[]): string[] => [
      `${name}:`,
      `total ${formatNumber(sum(xs))}`,
      `min ${formatNumber(xs.length ? Math.min(...xs) : 0)}`,
      `max ${formatNumber(xs.length ? Math.max(...xs) : 0)} per CPU`,
    ];
    lines.push(...table([row("TLB", TLB), row("CAL", CAL)], ["left", "left", "left", "left"]));
  }

  lines.push("", "Metrics");
  const metricNames = [
    ...workload.metrics.map((m) => m.name).filter((n) => Object.hasOwn(result.metrics, n)),
    ...Object.keys(result.metrics).filter((n) => !workload.metrics.some((m) => m.name === n)),
  ];
  if (metricNames.length === 0) lines.push("  (none)");
  else {
    lines.push(
      ...table(
        metricNames.map((name) => {
          const spec = workload.metrics.find((m) => m.name === name);
          const better = spec && spec.better !== "none" ? `(${spec.better} is better)` : "";
          const robot = robotName(workload.metrics, name);
          return [name, formatNumber(result.metrics[name] ?? Number.NaN), spec?.unit ?? "", better, robot !== undefined ? `robot: ${robot}` : ""];
        }),
        ["left", "right", "left", "left", "left"],
      ),
    );
  }

  const total = hazardCount(result);
  lines.push("");
  if (total === 0) lines.push("Hazards: none");
  else {
    const byClass = new Map<number, number>();
    for (const h of result.hazards) byClass.set(h.class, (byClass.get(h.class) ?? 0) + 1);
    const classes = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([c, n]) => `class ${c}: ${formatNumber(n)}`);
    const listed = result.hazards.length < total ? ` of the ${formatNumber(result.hazards.length)} recorded` : "";
    lines.push(`Hazards: ${formatNumber(total)}${classes.length > 0 ? ` (${classes.join(", ")}${listed})` : ""}`);
    const shown = result.hazards.slice(0, MAX_HAZARDS_SHOWN);
    for (const h of shown) lines.push(...hazardLine(h));
    if (total > shown.length) lines.push(`  … and ${formatNumber(total - shown.length)} more`);
  }

  if (result.notes.length > 0) {
    lines.push("", "Notes");
    for (const n of result.notes) lines.push(`  - ${n}`);
  }
  return lines;
}

export function formatCompare(summary: CompareSummary, title = `flushlab compare ${summary.workload.name}`): string[] {
  const { options } = summary;
  const first = summary.seeds[0] ?? options.seed;
  const last = summary.seeds[summary.seeds.length - 1] ?? first;
  const lines: string[] = [];
  lines.push(title);
  lines.push(
    ...table(
      [
        ["machine", describeMachineOf(options)],
        ["profile", options.profile],
        ["kernel", options.kernel ?? DEFAULT_KERNEL_VERSION],
        ["runs", `${summary.runs} per side (${first === last ? `seed ${first}` : `seeds ${first}..${last}`})`],
        ["baseline", "no plugins"],
        ["patched", summary.plugins.map((p) => p.name).join(", ")],
        ["params", describeParams(options.params)],
      ],
      ["left", "left"],
    ),
  );
  lines.push("");
  const rows: string[][] = [["metric", "baseline", "", "patched", "", "change", ""]];
  rows.push(["", "mean", "± stddev", "mean", "± stddev", "", ""]);
  for (const m of summary.metrics) {
    // Seconds too small to read as such are shown in ms or µs, the row's unit saying which.
    const { unit, factor } = displayUnit(m.spec?.unit, [m.baseline, m.patched]);
    rows.push([
      m.name + (unit ? ` (${unit})` : ""),
      formatMean(m.baseline * factor),
      `± ${formatMean(m.baselineStddev * factor)}`,
      formatMean(m.patched * factor),
      `± ${formatMean(m.patchedStddev * factor)}`,
      formatPct(m.changePct),
      m.significant ? "*" : "",
    ]);
  }
  if (summary.metrics.length === 0) rows.push(["(no metrics)", "", "", "", "", "", ""]);
  lines.push(...table(rows, ["left", "right", "right", "right", "right", "right", "left"]));
  lines.push("  * significant: Welch's two-sided t-test, p < 0.05" + (summary.runs < 2 ? " (needs 2+ runs)" : ""));

  if (summary.counters.length > 0) {
    lines.push("", "Counters (mean per run)");
    const crows: string[][] = [["counter", "baseline", "patched", "change"]];
    for (const c of summary.counters) {
      const fmt = Number.isInteger(c.baseline) && Number.isInteger(c.patched) ? formatNumber : formatMean;
      crows.push([
        c.name,
        fmt(c.baseline),
        fmt(c.patched),
        formatPct(changePct(c.baseline, c.patched)),
      ]);
    }
    lines.push(...table(crows, ["left", "right", "right", "right"]));
  }
  lines.push("", `Hazards (all runs): baseline ${formatNumber(summary.hazards.baseline)}, patched ${formatNumber(summary.hazards.patched)}`);
  if (summary.notes.length > 0) {
    lines.push("", "Notes");
    for (const n of summary.notes) lines.push(`  - ${n}`);
  }
  return lines;
}

export function formatFigureValue(kind: string, x: number | null): string {
  if (x === null) return "n/a";
  if (kind === "change_pct") return formatPct(x);
  if (kind === "ratio" || kind === "patched_ratio") return Number.isFinite(x) ? `${x.toFixed(3)}x` : "n/a";
  return formatNumber(x);
}

export function formatReproduction(r: ReproductionOutcome): string[] {
  const { plugin, compare } = r;
  const lines: string[] = [];
  lines.push(`Reproduction: ${plugin.name} — ${plugin.patch.title} (commit ${plugin.patch.commit}, ${plugin.patch.kernel})`);
  lines.push(
    ...table(
      [
        ["workload", `${compare.workload.name}  ${describeParams(compare.options.params)}`],
        ["machine", describeMachineOf(compare.options)],
        ["profile", compare.options.profile],
        ["kernel", compare.options.kernel ?? DEFAULT_KERNEL_VERSION],
        ["runs", `${compare.runs} per side (${compare.seeds.length === 1 ? "seed" : "seeds"} ${compare.seeds.join(", ")})`],
      ],
      ["left", "left"],
    ),
  );
  lines.push("");
  const rows: string[][] = [["metric", "kind", "role", "model", "published", "accept", "result", "source"]];
  for (const f of r.figures) {
    const { figure } = f;
    rows.push([
      figure.metric,
      figure.kind,
      figure.role ?? "prediction",
      formatFigureValue(figure.kind, f.model),
      figure.published === null ? "none" : formatFigureValue(figure.kind, figure.published),
      `[${formatFigureValue(figure.kind, figure.accept.min)}, ${formatFigureValue(figure.kind, figure.accept.max)}]`,
      figureResult(f),
      figure.source,
    ]);
  }
  lines.push(...table(rows, ["left", "left", "left", "right", "right", "left", "left", "left"]));
  const hz = compare.hazards;
  const hazardsOk = !r.requireNoHazards || (hz.baseline === 0 && hz.patched === 0);
  lines.push(
    `  hazards: baseline ${formatNumber(hz.baseline)}, patched ${formatNumber(hz.patched)}` +
      (r.requireNoHazards ? ` (required: none)  ${hazardsOk ? "ok" : "OUT"}` : ""),
  );
  lines.push(`  => ${r.ok ? "reproduced" : "NOT reproduced"}`);
  return lines;
}

export function formatList(list: ListReport): string[] {
  const lines: string[] = [];
  lines.push(`Plugins${list.configFile ? ` (installed, and from ${list.configFile})` : ""}`);
  if (list.plugins.length === 0) lines.push("  (none installed)");
  for (const { plugin, source } of list.plugins) {
    lines.push(`  ${plugin.name}${plugin.package ? `  ${plugin.package}` : ""}${source === "installed" ? "" : `  [${source}]`}`);
    lines.push(`    ${plugin.description}`);
    lines.push(`    ${plugin.kind === "pre-fix" ? "pre-fix of:" : "patch:     "} ${plugin.patch.title}`);
    lines.push(`    commit:     ${plugin.patch.commit} (${plugin.patch.kernel})${plugin.patch.author ? `, ${plugin.patch.author}` : ""}`);
    lines.push(`    applies to: ${plugin.appliesTo.join(", ")}`);
    lines.push(`    overrides:  ${plugin.policies.length === 0 ? "(nothing)" : overriddenPoints(plugin).map((p) => p.name).join(", ")}`);
    if (plugin.composesWith && plugin.composesWith.length > 0) lines.push(`    composes with: ${plugin.composesWith.join(", ")}`);
    if (plugin.requires && plugin.requires.length > 0) lines.push(`    requires:   ${plugin.requires.join(", ")}`);
    if (plugin.reproduction) lines.push(`    reproduction: ${plugin.reproduction.workload}, ${plural(plugin.reproduction.figures.length, "published figure")}`);
  }
  lines.push("", "Workloads");
  if (list.workloads.length === 0) lines.push("  (none)");
  for (const w of list.workloads) {
    lines.push(`  ${w.name}`, `    ${w.description}`);
    if (w.params.length > 0) {
      lines.push("    params:");
      lines.push(
        ...table(
          w.params.map((p) => {
            const range =
              p.choices !== undefined
                ? p.choices.join("|")
                : p.min !== undefined || p.max !== undefined
                  ? `${p.min !== undefined ? formatNumber(p.min) : ""}..${p.max !== undefined ? formatNumber(p.max) : ""}`
                  : "";
            const def = p.defaultFrom !== undefined ? `default: ${"cost" in p.defaultFrom ? `profile's ${p.defaultFrom.cost}` : `machine's ${p.defaultFrom.machine}`}` : `default ${String(p.default)}`;
            return [p.name, p.type, def, range, p.description];
          }),
          ["left", "left", "left", "left", "left"],
          "      ",
        ),
      );
    }
    for (const p of w.params) if (p.defaultSource !== undefined) lines.push(`    ${p.name}'s default: ${p.defaultSource}`);
    if (w.metrics.length > 0) {
      lines.push("    metrics:");
      lines.push(
        ...table(
          w.metrics.map((m) => [m.name, m.unit, m.better === "none" ? "" : `${m.better} is better`, m.robot !== undefined ? `${m.description} (robot: ${m.robot})` : m.description]),
          ["left", "left", "left", "left"],
          "      ",
        ),
      );
    }
  }
  lines.push("", "Profiles");
  if (list.profiles.length === 0) lines.push("  (none)");
  lines.push(...table(list.profiles.map((p) => [p.name, p.description]), ["left", "left"]));
  // The costs workload parameters default to (a --param overrides each for one run).
  const workloadCosts = [...new Set(list.workloads.flatMap((w) => w.params.flatMap((p) => (p.defaultFrom !== undefined && "cost" in p.defaultFrom ? [p.defaultFrom.cost] : []))))];
  for (const p of list.profiles) {
    if (p.features !== undefined) lines.push(`  ${p.name}: ${describeFeatures(p.features)} by default (--pcid, --invpcid, --pti override)`);
    if (p.params === undefined || workloadCosts.length === 0) continue;
    lines.push(`  ${p.name}: costs workload parameters default to (cycles):`);
    for (const c of workloadCosts) lines.push(`    ${c} ${formatNumber(p.params[c])}  ${p.sources?.[c] ?? "(no source given)"}`);
  }
  lines.push("", "Machine presets (--preset NAME; the other machine flags and --profile override its fields)");
  if (list.presets.length === 0) lines.push("  (none)");
  for (const p of list.presets) {
    lines.push(`  ${p.name}  ${p.description}`);
    lines.push(`    machine: ${describeMachine({ ...list.defaultMachine, ...p.machine })}; profile ${p.profile}`);
    lines.push(`    scaled down: ${p.scaled.length === 0 ? "nothing" : p.scaled.join("; ")}`);
    for (const k of [...Object.keys(p.machine), "profile"]) lines.push(`    ${k}: ${p.sources[k] ?? "(no source)"}`);
  }
  lines.push("", "Extension points (a plugin replaces one with policy(TOKEN, (kernel, replaced) => …))");
  for (const e of list.extensionPoints) {
    lines.push(`  ${e.name}  (kernel.policies.${e.slot}; default from ${e.defaultFrom === "core" ? "core-mmu" : "the arch layer"}, mirrors ${e.kernel})`);
    lines.push(`    ${e.description}`, `    called from: ${e.callSite}`);
  }
  lines.push("", `Default machine: ${describeMachine(list.defaultMachine)}`);
  const m = list.defaultMachine;
  lines.push(`  sizes: ${m.tlb2mEntries}-entry 2 MiB TLB, ${m.pscEntries}-entry paging-structure caches per level, ${m.iotlbEntries}-entry device IOTLB (set in flushlab.config machine: tlbEntries, tlbWays, tlb2mEntries, pscEntries, iotlbEntries)`);
  if (list.machineSources !== undefined) {
    for (const [k, v] of Object.entries(list.machineSources)) lines.push(`    ${k} ${String(m[k as keyof typeof m])}  ${v}`);
  }
  if (list.counters !== undefined) lines.push("", ...formatCounterInfo(list.counters));
  return lines;
}

/**
 * The counters of a run, each with the kernel's counter it is or "model-only": a counter
 * named as the kernel names it counts what the kernel's counts; a model-only one is the
 * model's own accounting, with nothing in the kernel to compare it with.
 */
export function formatCounterInfo(counters: Readonly<Record<string, CounterInfo>>): string[] {
  return [
    "Counters (a run's \"counters\"; kernel: where the kernel shows the same count; model-only: the model's own, no kernel counterpart)",
    ...Object.entries(counters).flatMap(([name, c]) => [`  ${name}  ${c.kernel === null ? "model-only" : `kernel: ${c.kernel}`}`, `    ${c.what}`]),
  ];
}

/** check's report: what was explored, then the counterexample (hazard, scenario, timeline) or what was not found. */
export function formatCheckReport(r: CheckReport): string[] {
  const lines: string[] = [];
  const plugins = r.plugins.length === 0 ? "no plugins" : `plugins ${r.plugins.join(", ")}`;
  if (r.replay !== null) {
    lines.push(`flushlab check --replay ${r.replay}: ${plugins}, ${r.arch}, kernel ${r.kernel}`);
  } else {
    const cpus = r.cpus === null ? "" : r.cpus.min === r.cpus.max ? `${r.cpus.min} CPUs` : `${r.cpus.min}..${r.cpus.max} CPUs`;
    lines.push(`flushlab check: ${plugins}, ${r.arch}, kernel ${r.kernel}, ${cpus}, seed ${r.seed}, budget ${formatNumber(r.budget)} schedules`);
    const e = r.explored;
    lines.push(
      `explored: ${plural(e.scenarios, "scenario")} (${formatNumber(e.exhaustive)} with every single-delay schedule` +
        (r.plugins.length > 0 ? `, ${formatNumber(e.skipped)} not explored further: the plugins' code never ran in them` : "") +
        `), ${plural(e.schedules, "schedule")}`,
    );
  }
  const cx = r.counterexample;
  if (r.stopped !== null) {
    lines.push(`THE KERNEL STOPPED in a case: ${r.stopped.message}`, "", "scenario:", ...describeCase(r.stopped.case).map((l) => `  ${l}`));
    if (r.saved !== undefined) lines.push("", `saved: ${r.saved} (flushlab check --replay ${r.saved})`);
    return lines;
  }
  if (cx === null) {
    lines.push(r.replay !== null ? "no hazard: the saved case runs clean now" : "no hazard found (this is not a proof: only the scenarios and schedules above were run)");
    return lines;
  }
  lines.push(r.replay !== null ? "hazard reproduced" : `HAZARD FOUND; ${describeShrink(cx.found, cx.case, cx.shrinkRuns)}`, "");
  lines.push(...describeHazard(cx.hazard));
  const others = cx.hazards.filter((h) => h !== cx.hazard);
  if (others.length > 0) lines.push(`  also in this run: ${others.map((h) => `class ${h.class} on ${h.cpu < 0 ? "a device or page table" : `CPU ${h.cpu}`} at cycle ${h.time}`).join("; ")}`);
  lines.push("", "scenario:", ...describeCase(cx.case).map((l) => `  ${l}`), "");
  lines.push("timeline (simulated cycles; ** marks the hazard):", ...formatTimeline(cx.timeline, cx.case.scenario.threads.length, cx.hazard).map((l) => `  ${l}`));
  if (r.saved !== undefined) lines.push("", `saved: ${r.saved} (flushlab check --replay ${r.saved})`);
  else if (r.replay === null) lines.push("", "to replay: add --save FILE, then flushlab check --replay FILE");
  return lines;
}

function emit(out: TextSink, lines: readonly string[]): void {
  out.write(`${lines.join("\n")}\n`);
}

/**
 * The sweep as one compare table: a row per grid point and metric, the baseline's mean,
 * then each plugin set's mean with its % change (* where Welch's t-test finds p < 0.05).
 */
export function formatSweep(s: SweepSummary): string[] {
  const lines = [
    ...(s.partial ? [partialLine(s.partial), ""] : []),
    `flushlab sweep ${s.workload}: ${plural(s.runs, "run")} in the grid; ${formatNumber(s.fromFile)} already in ${s.out}, ${formatNumber(s.ran)} run now`,
  ];
  if (!s.complete) {
    if (s.shard !== undefined) {
      lines.push(
        s.shardDone
          ? `shard ${s.shard} (${plural(s.shardRuns ?? 0, "run")}) is complete; concatenate the shards' files and run the sweep again without --shard to print the grid.`
          : `shard ${s.shard} is not complete: run the same command again to continue.`,
      );
      return lines;
    }
    lines.push(`${plural(s.runs - s.fromFile - s.ran, "run")} still to do: run the same command again to continue.`);
    return lines;
  }
  const variants = s.cells[0]?.compares.map((c) => c.variant) ?? [];
  if (variants.length === 0) {
    lines.push("No --plugins set: the grid has the baseline only (its runs are the lines of the file).");
    return lines;
  }
  const first = s.cells[0]!.compares[0]!.summary;
  lines.push(`  ${first.options.machine.arch}, profile ${first.options.profile}, kernel ${first.options.kernel}; ${first.runs} seeds per grid point (the machine of each point: its JSON lines)`, "");
  const rows: string[][] = [["grid point", "metric", "baseline", ...variants]];
  for (const cell of s.cells) {
    const names = cell.compares[0]?.summary.metrics.map((m) => m.name) ?? [];
    names.forEach((name, i) => {
      const base = cell.compares[0]!.summary.metrics.find((m) => m.name === name)!;
      const patched = cell.compares.map((c) => c.summary.metrics.find((x) => x.name === name));
      const { unit, factor } = displayUnit(base.spec?.unit, [base.baseline, ...patched.map((m) => m?.patched ?? 0)]);
      rows.push([
        i === 0 ? cell.cell : "",
        `${name}${unit ? ` (${unit})` : ""}`,
        formatMean(base.baseline * factor),
        ...patched.map((m) => (m === undefined ? "n/a" : `${formatMean(m.patched * factor)} (${formatPct(m.changePct)}${m.significant ? "*" : " "})`)),
      ]);
    });
  }
  lines.push(...table(rows, ["left", "left", "right", ...variants.map(() => "right" as const)]));
  lines.push("  * significant: Welch's two-sided t-test, p < 0.05");
  return lines;
}

export const NO_REPRODUCTION_LINE = "No enabled plugin declares a reproduction yet; here is a demo run with defaults instead.";

export class HumanReporter implements Reporter {
  constructor(private readonly out: TextSink) {}

  onListEnd(list: ListReport): void {
    emit(this.out, formatList(list));
  }
  onRunEnd(report: RunReport): void {
    emit(this.out, formatRunReport(report));
  }
  onCompareEnd(summary: CompareSummary, format: CompareFormat = "table"): void {
    emit(this.out, [...partialHead(summary.partial), ...(format === "table" ? formatCompare(summary) : formatCompareAs(summary, format))]);
  }
  onCheckEnd(report: CheckReport): void {
    emit(this.out, [...partialHead(report.partial, "schedules"), ...formatCheckReport(report)]);
  }
  onSweepEnd(summary: SweepSummary): void {
    emit(this.out, formatSweep(summary));
  }
  onText(lines: readonly string[]): void {
    emit(this.out, lines);
  }

  onReproduceEnd(summary: ReproduceSummary): void {
    const head = partialHead(summary.partial);
    if (head.length > 0 && summary.reproductions.length === 0) {
      emit(this.out, head);
      return;
    }
    if (summary.reproductions.length === 0) {
      emit(this.out, [NO_REPRODUCTION_LINE, "", ...(summary.demo ? formatRunReport(summary.demo) : [])]);
      return;
    }
    const lines: string[] = [...head];
    summary.reproductions.forEach((r, i) => {
      if (i > 0) lines.push("");
      lines.push(...formatReproduction(r));
    });
    const bad = summary.reproductions.filter((r) => !r.ok).length;
    lines.push("", bad === 0
        ? `${summary.reproductions.length === 1 ? "The reproduction" : `All ${summary.reproductions.length} reproductions`} ok.`
        : `${bad} of ${plural(summary.reproductions.length, "reproduction")} NOT reproduced.`);
    emit(this.out, lines);
  }
}

/** A report's first lines when a SIGINT cut it short: what finished of what would have run. */
function partialHead(p: PartialResults | undefined, what = "runs"): string[] {
  return p === undefined ? [] : [partialLine(p, what), ""];
}
