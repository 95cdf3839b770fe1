/**
 * The public shapes of a flushlab run: what goes in (machine, workload, plugins, seed)
 * and what comes out (counters, interrupts, metrics, hazards). The CLI and the
 * reporters see only these.
 */
import type { HazardReport } from "../oracle/hazard.js";
import type { KernelVersion } from "../kernel/version.js";
import type { CostParamName } from "../cost/cost-model.js";
import type { MachineOptions, MachineSizeName, ParamValues } from "../plugin/define.js";

/**
 * Where a parameter's default comes from when it is hardware, not the workload's
 * behaviour: a cost of the run's profile or a size of its machine, each with its
 * source. The parameter then overrides that value for one run.
 */
export type ParamDefaultFrom = { readonly cost: CostParamName } | { readonly machine: MachineSizeName };

/** A workload parameter: declared with its type and default so the CLI can validate `--param k=v`. */
export interface ParamSpec {
  readonly name: string;
  readonly description: string;
  readonly type: "int" | "number" | "boolean" | "string";
  /** The default; absent when `defaultFrom` names the profile's cost or the machine's size it comes from. */
  readonly default?: number | boolean | string;
  readonly defaultFrom?: ParamDefaultFrom;
  /** Where a workload's own default comes from ("unsourced: …" when nothing measured it); stated by `list`. */
  readonly defaultSource?: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

/** A metric a workload reports; `better` tells reporters which direction is an improvement. */
export interface MetricSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly better: "higher" | "lower" | "none";
  /** The kernel test robot's (LKP's) name for the same figure, e.g. "mpstat.cpu.all.idle%" (see ROBOT_METRIC_NAMES). */
  readonly robot?: string;
}

/** What the CLI needs to know about a workload (the full type lives in the workload API). */
export interface WorkloadDefinitionLike {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly metrics: readonly MetricSpec[];
}

/** Everything a run is a function of. Same RunOptions → byte-identical RunResult. */
export interface RunOptions {
  readonly workload: string;
  readonly machine: MachineOptions;
  readonly profile: string;
  readonly seed: number;
  readonly plugins: readonly string[];
  readonly params: ParamValues;
  /** The kernel release modelled (default v5.17); a reproduction runs its patch's. */
  readonly kernel?: KernelVersion;
  /** The machine preset the machine and profile started from (named in the notes); absent: none. */
  readonly preset?: string;
}

export interface RunResult {
  readonly workload: string;
  readonly arch: MachineOptions["arch"];
  readonly cpus: number;
  readonly sockets: number;
  readonly profile: string;
  /** The kernel release modelled. */
  readonly kernel: KernelVersion;
  readonly seed: number;
  readonly plugins: readonly string[];
  readonly params: ParamValues;
  /** Kernel-named counters (nr_tlb_remote_flush, …), hardware event counts, cycles by CPU state. */
  readonly counters: Readonly<Record<string, number>>;
  /** /proc/interrupts rows, one number per CPU. */
  readonly interrupts: { readonly TLB: readonly number[]; readonly CAL: readonly number[] };
  readonly metrics: Readonly<Record<string, number>>;
  /** Every hazard found (the list is capped; `counters.hazards_total` has the full count). */
  readonly hazards: readonly HazardReport[];
  /** Lines stating what was scaled down and the kernel versions mirrored. */
  readonly notes: readonly string[];
}
