/**
 * The command's event stream: the spine of the CLI's output. Commands publish what they
 * compute (`cli:*` events) and pass on each simulation's model events (progress, hazards,
 * flushes, …) that somebody wants; the reporters (human or JSON on stdout, a progress
 * line on stderr) and any test subscriber consume the one stream. The model emits an
 * event type only when a subscriber wants it, so a plain run pays for nothing.
 */
import { EventStream, type EventOf, type FlushlabEventMap, type FlushlabEventName, type RunOptions } from "@flushlab/core-mmu";
import type { SweepSummary } from "./reporters/types.js";
import type { Subscription } from "rxjs";
import type { Explored } from "@flushlab/check";
import type { CompareFormat } from "./reporters/compare-formats.js";
import type { CheckReport, CheckStart, CompareSummary, ListReport, Reporter, ReproduceSummary, RunReport, SimulationStart, TraceSummary } from "./reporters/types.js";

/** What commands publish, beside the model's events. */
export interface CommandEventMap {
  "cli:list": { readonly report: ListReport };
  "cli:run_start": { readonly options: RunOptions };
  "cli:simulation": SimulationStart;
  /** Independent runs went to a pool of worker threads. */
  "cli:pool": { readonly workers: number; readonly what: string };
  "cli:run_end": { readonly report: RunReport };
  "cli:compare_start": { readonly options: RunOptions; readonly runs: number };
  "cli:compare_end": { readonly summary: CompareSummary; readonly format?: CompareFormat };
  "cli:reproduce_start": { readonly plugins: readonly string[] };
  "cli:reproduce_end": { readonly summary: ReproduceSummary };
  "cli:sweep_end": { readonly summary: SweepSummary };
  "cli:check_start": CheckStart;
  "cli:check_progress": { readonly explored: Explored };
  "cli:check_end": { readonly report: CheckReport };
  /** A --trace file was written (the CLI names it on stderr). */
  "cli:trace": { readonly trace: TraceSummary };
  /** Lines a command prints as they are (new-plugin's summary). */
  "cli:text": { readonly lines: readonly string[] };
}

export type CliEventMap = FlushlabEventMap & CommandEventMap;
export type CliEvent = EventOf<CliEventMap>;

const COMMAND_EVENTS: readonly (keyof CommandEventMap)[] = [
  "cli:list",
  "cli:run_start",
  "cli:simulation",
  "cli:pool",
  "cli:run_end",
  "cli:compare_start",
  "cli:compare_end",
  "cli:reproduce_start",
  "cli:reproduce_end",
  "cli:sweep_end",
  "cli:check_start",
  "cli:check_progress",
  "cli:check_end",
  "cli:text",
];

/** Every model event type a simulation can emit (the oracle's `hazard` included). */
export const MODEL_EVENTS: readonly FlushlabEventName[] = [
  "phase",
  "progress",
  "hazard",
  "tlb_flush",
  "ipi_send",
  "ipi_recv",
  "csd_queue",
  "syscall_enter",
  "syscall_exit",
  "page_fault_enter",
  "page_fault_exit",
  "cpu_task",
  "kthread_enter",
  "kthread_exit",
  "tlb_occupancy",
  "machine",
];

export class ReportBus extends EventStream<CliEventMap> {
  /** The model event types some subscriber wants now. */
  wantedModelEvents(): FlushlabEventName[] {
    return MODEL_EVENTS.filter((t) => this.wants(t));
  }
}

/** Subscribes `reporter` to the bus: each `cli:*` event, and the model events it names, to its hook. */
export function attachReporter(bus: ReportBus, reporter: Reporter): Subscription {
  const model = reporter.modelEvents ?? [];
  return bus.select(...COMMAND_EVENTS, ...model).subscribe((e: CliEvent) => {
    switch (e.type) {
      case "cli:list":
        return reporter.onListEnd?.(e.report);
      case "cli:run_start":
        return reporter.onRunStart?.(e.options);
      case "cli:simulation":
        return reporter.onSimulationStart?.(e);
      case "cli:pool":
        return reporter.onPool?.(e.workers, e.what);
      case "cli:run_end":
        return reporter.onRunEnd?.(e.report);
      case "cli:compare_start":
        return reporter.onCompareStart?.(e.options, e.runs);
      case "cli:compare_end":
        return reporter.onCompareEnd?.(e.summary, e.format);
      case "cli:reproduce_start":
        return reporter.onReproduceStart?.(e.plugins);
      case "cli:reproduce_end":
        return reporter.onReproduceEnd?.(e.summary);
      case "cli:sweep_end":
        return reporter.onSweepEnd?.(e.summary);
      case "cli:check_start":
        return reporter.onCheckStart?.(e);
      case "cli:check_progress":
        return reporter.onCheckProgress?.(e.explored);
      case "cli:check_end":
        return reporter.onCheckEnd?.(e.report);
      case "cli:trace":
        return;
      case "cli:text":
        return reporter.onText?.(e.lines);
      default:
        return reporter.onRunEvent?.(e);
    }
  });
}
