/**
 * The reporter contract (Vitest style): optional `on<Entity><Phase>` hooks, each given a
 * readonly, fully computed entity. Commands compute and publish events on the command's
 * event stream (bus.ts); reporters subscribe to it and only print.
 *
 * Lifecycle per command (each hook is one event of the stream):
 *
 * ```
 * list       onListEnd
 * run        onRunStart → onSimulationStart → onRunEvent* → onRunEnd
 * compare    onCompareStart → (onSimulationStart → onRunEvent*) per run → onCompareEnd
 * reproduce  onReproduceStart → (onSimulationStart → onRunEvent*) per run → onReproduceEnd
 * check      onCheckStart → onCheckProgress* → onCheckEnd
 * ```
 */
import type { Case, Explored, TimelineEvent } from "@flushlab/check";
import type { PartialResults } from "../interrupt.js";
import type {
  ArchLayer,
  ArchName,
  CostParams,
  CounterInfo,
  ExtensionPoint,
  HazardReport,
  FlushlabEvent,
  FlushlabEventName,
  FlushlabPlugin,
  MachineOptions,
  MachinePreset,
  MetricSpec,
  ProfileFeatures,
  PublishedFigure,
  RunOptions,
  RunResult,
  WorkloadDefinitionLike,
} from "@flushlab/core-mmu";

/** A cost profile as the CLI sees it: its costs and their sources (a fake registry may leave them out). */
export interface RegistryProfile {
  readonly name: string;
  readonly description: string;
  readonly features?: ProfileFeatures;
  readonly params?: CostParams;
  readonly sources?: { readonly [K in keyof CostParams]: string };
}

export interface ListedPlugin {
  readonly plugin: FlushlabPlugin;
  /** "installed" or the config file it came from. */
  readonly source: string;
}

export interface ListReport {
  readonly plugins: readonly ListedPlugin[];
  readonly workloads: readonly WorkloadDefinitionLike[];
  readonly profiles: readonly RegistryProfile[];
  readonly extensionPoints: readonly ExtensionPoint[];
  readonly defaultMachine: MachineOptions;
  /** Where each default machine size comes from, when the registry says. */
  readonly machineSources?: ArchLayer["machineSources"];
  /** Machine presets (`--preset NAME`). */
  readonly presets: readonly MachinePreset[];
  readonly configFile: string | undefined;
  /** The result counters: what each counts and its kernel counterpart, or none (the model's own). */
  readonly counters?: Readonly<Record<string, CounterInfo>>;
}

export interface RunReport {
  /** What was simulated (params fully resolved, in declaration order). */
  readonly options: RunOptions;
  readonly workload: WorkloadDefinitionLike;
  readonly plugins: readonly FlushlabPlugin[];
  readonly result: RunResult;
}

export interface MetricComparison {
  readonly name: string;
  /** From the workload's MetricSpec; undefined for a metric the workload did not declare. */
  readonly spec: MetricSpec | undefined;
  readonly baseline: number;
  readonly patched: number;
  readonly baselineStddev: number;
  readonly patchedStddev: number;
  /** Each run's value, in seed order (`CompareSummary.seeds`); a run without the metric is left out. */
  readonly baselineRuns: readonly number[];
  readonly patchedRuns: readonly number[];
  /** (patched − baseline) / baseline × 100, rounded to 2 decimals; null when baseline is 0. */
  readonly changePct: number | null;
  /** Welch's two-sided t-test, p < 0.05. */
  readonly significant: boolean;
  readonly p: number;
  /** The per-run values, seed order (what --format mmtests and 0day summarise their own way). */
  readonly baselineValues: readonly number[];
  readonly patchedValues: readonly number[];
}

/** /proc/interrupts rows, one number per CPU (RunResult.interrupts, or a mean of several). */
export interface CpuInterrupts {
  readonly TLB: readonly number[];
  readonly CAL: readonly number[];
}

export interface CounterComparison {
  readonly name: string;
  readonly baseline: number;
  readonly patched: number;
  /** The per-run values, seed order (0 where a run did not count it). */
  readonly baselineValues: readonly number[];
  readonly patchedValues: readonly number[];
}

/** `compare --format`: flushlab's table, mmtests' compare-kernels table, or the 0-day robot's block. */
export type CompareFormat = "table" | "mmtests" | "0day";

export interface CompareSummary {
  /** The baseline options of the first run (seed = first seed, no plugins). */
  readonly options: RunOptions;
  readonly workload: WorkloadDefinitionLike;
  readonly plugins: readonly FlushlabPlugin[];
  readonly runs: number;
  readonly seeds: readonly number[];
  readonly metrics: readonly MetricComparison[];
  readonly counters: readonly CounterComparison[];
  /** Hazards summed over all runs of each side. */
  readonly hazards: { readonly baseline: number; readonly patched: number };
  /** The /proc/interrupts TLB and CAL rows per CPU, mean per run of each side. */
  readonly interrupts: { readonly baseline: CpuInterrupts; readonly patched: CpuInterrupts };
  /** The notes of the first patched run. */
  readonly notes: readonly string[];
  /** Present when a SIGINT stopped the compare: how many of its runs finished (the summary covers those). */
  readonly partial?: PartialResults;
}

export interface FigureOutcome {
  readonly figure: PublishedFigure;
  /** The model's value of the figure; null when it cannot be computed (unknown metric, baseline 0). */
  readonly model: number | null;
  readonly ok: boolean;
}

export interface ReproductionOutcome {
  readonly plugin: FlushlabPlugin;
  readonly compare: CompareSummary;
  readonly figures: readonly FigureOutcome[];
  readonly requireNoHazards: boolean;
  /**
   * Reproduced: it has predictions, every prediction is within its band, and no hazards
   * on either side if the reproduction requires none. Calibration figures (parameters
   * were fitted to them) are shown and judged, but never make a reproduction.
   */
  readonly ok: boolean;
}

export interface ReproduceSummary {
  readonly reproductions: readonly ReproductionOutcome[];
  /** Present when a SIGINT stopped the command: the runs that finished of all it would have run. */
  readonly partial?: PartialResults;
  /** When no selected plugin declares a reproduction: a default run of the first workload. */
  readonly demo: RunReport | undefined;
}

/** One simulation a command is about to run: which of how many, and what. */
export interface SimulationStart {
  readonly index: number;
  readonly total: number;
  /** e.g. "compare tlb-flush2 patched seed 3". */
  readonly label: string;
}

export interface Reporter {
  /**
   * The model's events this reporter wants during each simulation (onRunEvent). None by
   * default: the model emits an event type only when somebody wants it.
   */
  readonly modelEvents?: readonly FlushlabEventName[];
  onListEnd?(list: ListReport): void;
  onRunStart?(options: RunOptions): void;
  onSimulationStart?(simulation: SimulationStart): void;
  /** Independent runs went to `workers` worker threads. */
  onPool?(workers: number, what: string): void;
  /** An event of the running simulation, of a type in `modelEvents`. */
  onRunEvent?(event: FlushlabEvent): void;
  onRunEnd?(report: RunReport): void;
  onCompareStart?(options: RunOptions, runs: number): void;
  /** `format`: compare --format (undefined: the default table). */
  onCompareEnd?(summary: CompareSummary, format?: CompareFormat): void;
  /** Plain lines a command prints (new-plugin). */
  onText?(lines: readonly string[]): void;
  onReproduceStart?(plugins: readonly string[]): void;
  onReproduceEnd?(summary: ReproduceSummary): void;
  onSweepEnd?(summary: SweepSummary): void;
  onCheckStart?(start: CheckStart): void;
  onCheckProgress?(explored: Explored): void;
  onCheckEnd?(report: CheckReport): void;
}

/** What `check` starts with. */
export interface CheckStart {
  readonly arch: ArchName;
  readonly plugins: readonly string[];
  /** CPUs per scenario; null for a replay. */
  readonly cpus: { readonly min: number; readonly max: number } | null;
  readonly budget: number;
  readonly seed: number | null;
  /** The file a replay reads; null for a search. */
  readonly replay: string | null;
}

/** A hazard `check` found, shrunk, with the timeline of its replay. */
export interface CheckCounterexample {
  readonly case: Case;
  /** The case as the search found it. */
  readonly found: Case;
  readonly shrinkRuns: number;
  readonly hazard: HazardReport;
  readonly hazards: readonly HazardReport[];
  readonly timeline: readonly TimelineEvent[];
  /** What --save writes and --replay reads. */
  readonly replay: { readonly flushlab: "check-counterexample"; readonly arch: ArchName; readonly plugins: readonly string[]; readonly case: Case };
}

export interface CheckReport {
  readonly arch: ArchName;
  /** The kernel release the cases ran. */
  readonly kernel: string;
  readonly plugins: readonly string[];
  readonly seed: number | null;
  readonly budget: number;
  readonly cpus: { readonly min: number; readonly max: number } | null;
  readonly explored: Explored;
  readonly replay: string | null;
  readonly counterexample: CheckCounterexample | null;
  /** A case in which the modelled kernel stopped (an oops, a model invariant), and its message. */
  readonly stopped: { readonly case: Case; readonly message: string } | null;
  /** Present when a SIGINT stopped the search: the schedules run of the budget. */
  readonly partial?: PartialResults;
  /** Where --save wrote the counterexample. */
  readonly saved?: string;
}

/** What a finished --trace file holds (reporters/trace.ts). */
export interface TraceSummary {
  readonly file: string;
  /** What was simulated, e.g. "compare tlb-flush2: baseline, seed 1". */
  readonly label: string;
  readonly events: number;
  readonly maxEvents: number;
  /** Model events left out once the bound was reached. */
  readonly dropped: number;
  /** Simulated µs at which the trace was cut; null when it holds the whole run. */
  readonly cutAtUs: number | null;
  /** Simulated µs of the whole run (its last event). */
  readonly endUs: number;
}

/** One run's line in --out. */
export interface SweepLine {
  readonly key: string;
  readonly variant: string;
  readonly cell: string;
  readonly seed: number;
  /**
   * What the run was, spelled out (the key encodes the same, compactly), and its notes:
   * a line can be read on its own. Absent in lines written before these were added.
   */
  readonly workload?: string;
  readonly machine?: RunOptions["machine"];
  readonly preset?: string;
  readonly profile?: string;
  readonly kernel?: string;
  readonly plugins?: readonly string[];
  readonly params?: RunOptions["params"];
  readonly metrics: Readonly<Record<string, number>>;
  readonly counters: Readonly<Record<string, number>>;
  readonly hazards: number;
  /** /proc/interrupts rows per CPU. */
  readonly interrupts: { readonly TLB: readonly number[]; readonly CAL: readonly number[] };
  /** The run's notes (RunResult.notes). */
  readonly notes?: readonly string[];
}

export interface SweepCell {
  readonly cell: string;
  /** Each plugin set against the baseline, in --plugins order. */
  readonly compares: readonly { readonly variant: string; readonly summary: CompareSummary }[];
}

export interface SweepSummary {
  readonly workload: string;
  readonly out: string;
  readonly runs: number;
  readonly fromFile: number;
  readonly ran: number;
  /** False when --max-runs stopped the sweep, or --shard ran a part, before the grid was complete. */
  readonly complete: boolean;
  /** A SIGINT stopped the sweep: of the runs it set out to do, how many finished (and are in the file). */
  readonly partial?: { readonly finished: number; readonly total: number };
  /** With --shard: which part, its runs, and whether they are all in the file. */
  readonly shard?: string;
  readonly shardRuns?: number;
  readonly shardDone?: boolean;
  readonly cells: readonly SweepCell[];
}
