/**
 * `--json`: every command prints exactly one JSON object (2-space indent, trailing newline).
 * Raw numbers; key order fixed by construction, so same inputs give the same bytes.
 */
import { DEFAULT_KERNEL_VERSION, overriddenPoints } from "@flushlab/core-mmu";
import { figureResult } from "./human.js";
import { robotMetrics } from "./robot-names.js";
import type { SweepSummary } from "./types.js";
import type { TextSink } from "../registry-types.js";
import type { PartialResults } from "../interrupt.js";
import type { CheckReport, CompareSummary, ListReport, Reporter, ReproduceSummary, ReproductionOutcome, RunReport } from "./types.js";

/** `robot`: the metrics that have a kernel test robot name, under it (none: no key). */
function robotSection(report: RunReport): { robot?: Record<string, number> } {
  const robot = robotMetrics(report.workload.metrics, report.result.metrics);
  return Object.keys(robot).length > 0 ? { robot } : {};
}

export function runJson(report: RunReport): Record<string, unknown> {
  const { result, options } = report;
  return {
    workload: result.workload,
    arch: result.arch,
    cpus: result.cpus,
    sockets: result.sockets,
    ...(options.preset !== undefined ? { preset: options.preset } : {}),
    profile: result.profile,
    kernel: result.kernel,
    seed: result.seed,
    plugins: [...result.plugins],
    params: { ...options.params },
    counters: { ...result.counters },
    interrupts: { TLB: [...result.interrupts.TLB], CAL: [...result.interrupts.CAL] },
    metrics: { ...result.metrics },
    ...robotSection(report),
    hazards: result.hazards.map((h) => ({
      class: h.class,
      cpu: h.cpu,
      address: h.address,
      pfn: h.pfn,
      time: h.time,
      missing: h.missing,
      detail: h.detail,
    })),
    notes: [...result.notes],
  };
}

/**
 * The runs behind a compare as the human report's header and notes state them: the
 * machine (every field, resolved), its preset, profile, kernel, workload params, seeds
 * and the notes of the first patched run (what was scaled down, which kernel code is
 * mirrored). With these a JSON result can be read, and re-run, on its own.
 */
function runsJson(summary: CompareSummary): Record<string, unknown> {
  const { options } = summary;
  return {
    machine: { ...options.machine },
    ...(options.preset !== undefined ? { preset: options.preset } : {}),
    profile: options.profile,
    kernel: options.kernel ?? DEFAULT_KERNEL_VERSION,
    params: { ...options.params },
    runs: summary.runs,
    seeds: [...summary.seeds],
  };
}

export function compareJson(summary: CompareSummary): Record<string, unknown> {
  return {
    workload: summary.workload.name,
    plugins: summary.plugins.map((p) => p.name),
    ...runsJson(summary),
    metrics: Object.fromEntries(
      summary.metrics.map((m) => [
        m.name,
        {
          baseline: m.baseline,
          patched: m.patched,
          baseline_stddev: m.baselineStddev,
          patched_stddev: m.patchedStddev,
          change_pct: m.changePct,
          significant: m.significant,
        },
      ]),
    ),
    counters: Object.fromEntries(summary.counters.map((c) => [c.name, { baseline: c.baseline, patched: c.patched }])),
    hazards: { baseline: summary.hazards.baseline, patched: summary.hazards.patched },
    notes: [...summary.notes],
  };
}

function reproductionJson(r: ReproductionOutcome): Record<string, unknown> {
  return {
    plugin: r.plugin.name,
    workload: r.compare.workload.name,
    ...runsJson(r.compare),
    figures: r.figures.map((f) => ({
      metric: f.figure.metric,
      kind: f.figure.kind,
      role: f.figure.role ?? "prediction",
      model: f.model,
      published: f.figure.published,
      accept: { min: f.figure.accept.min, max: f.figure.accept.max },
      source: f.figure.source,
      ok: f.ok,
      result: figureResult(f),
    })),
    hazards: { baseline: r.compare.hazards.baseline, patched: r.compare.hazards.patched },
    ok: r.ok,
    notes: [...r.compare.notes],
  };
}

export function reproduceJson(summary: ReproduceSummary): Record<string, unknown> {
  const out: Record<string, unknown> = { reproductions: summary.reproductions.map(reproductionJson) };
  if (summary.demo !== undefined) out["demo"] = runJson(summary.demo);
  return out;
}

export function listJson(list: ListReport): Record<string, unknown> {
  return {
    plugins: list.plugins.map(({ plugin, source }) => ({
      name: plugin.name,
      description: plugin.description,
      package: plugin.package ?? null,
      source,
      patch: {
        title: plugin.patch.title,
        commit: plugin.patch.commit,
        kernel: plugin.patch.kernel,
        author: plugin.patch.author ?? null,
      },
      appliesTo: [...plugin.appliesTo],
      overrides: overriddenPoints(plugin).map((p) => p.name),
      composesWith: [...(plugin.composesWith ?? [])],
      kind: plugin.kind ?? "patch",
      requires: [...(plugin.requires ?? [])],
      reproduction: plugin.reproduction
        ? { workload: plugin.reproduction.workload, figures: plugin.reproduction.figures.map((f) => `${f.metric} (${f.kind})`) }
        : null,
    })),
    workloads: list.workloads.map((w) => ({
      name: w.name,
      description: w.description,
      params: w.params.map((p) => ({
        name: p.name,
        description: p.description,
        type: p.type,
        ...(p.default !== undefined ? { default: p.default } : {}),
        ...(p.defaultFrom !== undefined ? { defaultFrom: { ...p.defaultFrom } } : {}),
        ...(p.defaultSource !== undefined ? { defaultSource: p.defaultSource } : {}),
        ...(p.min !== undefined ? { min: p.min } : {}),
        ...(p.max !== undefined ? { max: p.max } : {}),
        ...(p.choices !== undefined ? { choices: [...p.choices] } : {}),
      })),
      metrics: w.metrics.map((m) => ({ name: m.name, description: m.description, unit: m.unit, better: m.better, ...(m.robot !== undefined ? { robot: m.robot } : {}) })),
    })),
    profiles: list.profiles.map((p) => ({
      name: p.name,
      description: p.description,
      ...(p.features ? { features: { pcid: p.features.pcid, invpcid: p.features.invpcid, pti: p.features.pti } } : {}),
      ...(p.params ? { costs: Object.fromEntries(Object.entries(p.params).map(([k, v]) => [k, { value: v, source: (p.sources as Record<string, string> | undefined)?.[k] ?? null }])) } : {}),
    })),
    extensionPoints: list.extensionPoints.map((e) => ({ name: e.name, slot: e.slot, description: e.description, callSite: e.callSite, kernel: e.kernel, defaultFrom: e.defaultFrom })),
    defaultMachine: { ...list.defaultMachine },
    ...(list.machineSources ? { machineSources: { ...list.machineSources } } : {}),
    presets: list.presets.map((p) => ({
      name: p.name,
      description: p.description,
      machine: { ...p.machine },
      profile: p.profile,
      sources: { ...p.sources },
      scaled: [...p.scaled],
    })),
    ...(list.counters ? { counters: Object.fromEntries(Object.entries(list.counters).map(([k, v]) => [k, { kernel: v.kernel, what: v.what }])) } : {}),
  };
}

export function stringifyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export class JsonReporter implements Reporter {
  constructor(private readonly out: TextSink) {}

  onListEnd(list: ListReport): void {
    this.out.write(stringifyJson(listJson(list)));
  }
  onRunEnd(report: RunReport): void {
    this.out.write(stringifyJson(runJson(report)));
  }
  onCompareEnd(summary: CompareSummary): void {
    this.out.write(stringifyJson({ ...(compareJson(summary) as object), ...partialJson(summary.partial) }));
  }
  onReproduceEnd(summary: ReproduceSummary): void {
    this.out.write(stringifyJson({ ...(reproduceJson(summary) as object), ...partialJson(summary.partial) }));
  }
  onCheckEnd(report: CheckReport): void {
    this.out.write(stringifyJson({ ...(checkJson(report) as object), ...partialJson(report.partial) }));
  }
  onSweepEnd(summary: SweepSummary): void {
    const { cells, ...rest } = summary;
    this.out.write(stringifyJson({ ...rest, cells: cells.map((c) => ({ cell: c.cell, compares: c.compares.map((x) => ({ variant: x.variant, ...compareJson(x.summary) })) })) }));
  }
}

/** check's report as JSON: the same facts as the human report; `counterexample.replay` is what --replay reads. */
export function checkJson(r: CheckReport): unknown {
  const cx = r.counterexample;
  return {
    command: "check",
    arch: r.arch,
    kernel: r.kernel,
    plugins: r.plugins,
    seed: r.seed,
    budget: r.budget,
    cpus: r.cpus,
    replay: r.replay,
    explored: r.explored,
    found: cx !== null,
    stopped: r.stopped,
    counterexample:
      cx === null
        ? null
        : {
            hazard: cx.hazard,
            hazards: cx.hazards,
            case: cx.case,
            found: cx.found,
            shrinkRuns: cx.shrinkRuns,
            timeline: cx.timeline,
            replay: cx.replay,
          },
    ...(r.saved !== undefined ? { saved: r.saved } : {}),
  };
}

/** A SIGINT cut the command short: `"partial": true` and how many runs (check: schedules) finished of how many. */
function partialJson(p: PartialResults | undefined): object {
  return p === undefined ? {} : { partial: true, finished: p.finished, total: p.total };
}
