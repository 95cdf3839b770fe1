/**
 * The public shapes of a flushlab run: what goes in (machine, workload, plugins, seed)
 * and what comes out (counters, interrupts, metrics, hazards). The CLI and the
 * reporters see only these.
 */
import type { DependencyContainer, InjectionToken } from "tsyringe";

/** The arch modes the model implements. */
export type ArchName = "x86-64" | "x86-32-pae";
export const ARCH_NAMES: readonly ArchName[] = ["x86-64", "x86-32-pae"];

/** A workload parameter: declared with its type and default so the CLI can validate `--param k=v`. */
export interface ParamSpec {
  readonly name: string;
  readonly description: string;
  readonly type: "int" | "number" | "boolean" | "string";
  readonly default: number | boolean | string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
}

export type ParamValues = Readonly<Record<string, number | boolean | string>>;

/** A metric a workload reports; `better` tells reporters which direction is an improvement. */
export interface MetricSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly better: "higher" | "lower" | "none";
}

/** The machine a run simulates. */
export interface MachineOptions {
  readonly arch: ArchName;
  readonly cpus: number;
  readonly sockets: number;
  /** 4 KiB TLB entries per CPU (unified STLB; set-associative). */
  readonly tlbEntries: number;
  readonly tlbWays: number;
  /** Simulated physical memory in MiB (scaled down from the real machine; stated in output). */
  readonly memoryMiB: number;
  /** x86-64 only: 5-level paging (LA57). */
  readonly la57: boolean;
}

/** Everything a run is a function of. Same RunOptions → byte-identical RunResult. */
export interface RunOptions {
  readonly workload: string;
  readonly machine: MachineOptions;
  readonly profile: string;
  readonly seed: number;
  readonly plugins: readonly string[];
  readonly params: ParamValues;
}

/** One hazard the oracle found (DESIGN.md "The hazard oracle"). */
export interface HazardReport {
  /** 1..6 as in DESIGN.md. */
  readonly class: 1 | 2 | 3 | 4 | 5 | 6;
  /** The CPU that used the stale entry; -1 for a device (class 6). */
  readonly cpu: number;
  /** Canonical virtual address, hex. */
  readonly address: string;
  readonly pfn: number;
  /** Simulated time in cycles. */
  readonly time: number;
  /** The flush that was missing, named after the kernel path that should have done it. */
  readonly missing: string;
  /** One human sentence. */
  readonly detail: string;
}

export interface RunResult {
  readonly workload: string;
  readonly arch: ArchName;
  readonly cpus: number;
  readonly sockets: number;
  readonly profile: string;
  readonly seed: number;
  readonly plugins: readonly string[];
  readonly params: ParamValues;
  /** Kernel-named counters (nr_tlb_remote_flush, …) plus page faults and cycles by category. */
  readonly counters: Readonly<Record<string, number>>;
  /** /proc/interrupts rows, one number per CPU. */
  readonly interrupts: { readonly TLB: readonly number[]; readonly CAL: readonly number[] };
  readonly metrics: Readonly<Record<string, number>>;
  /** Every hazard found (the list is capped; `counters.hazards_total` has the full count). */
  readonly hazards: readonly HazardReport[];
  /** Lines stating what was scaled down and the kernel versions mirrored. */
  readonly notes: readonly string[];
}

/** A figure a patch's authors published, to print beside the model's. */
export interface PublishedFigure {
  readonly metric: string;
  /**
   * What the figure is: a baseline value, a patched value, a % change, baseline/patched
   * (`ratio`) or patched/baseline (`patched_ratio`).
   */
  readonly kind: "baseline" | "patched" | "change_pct" | "ratio" | "patched_ratio";
  /** The published number; null when none was published and only the band applies. */
  readonly published: number | null;
  /** Accepted band for the model's figure: absolute range. */
  readonly accept: { readonly min: number; readonly max: number };
  readonly source: string;
}

/** The compare a plugin declares as its reproduction of the published result. */
export interface Reproduction {
  readonly workload: string;
  readonly machine?: Partial<MachineOptions>;
  readonly profile?: string;
  readonly params?: ParamValues;
  readonly runs?: number;
  readonly figures: readonly PublishedFigure[];
  /** Must all be zero in both runs for the reproduction to pass. */
  readonly requireNoHazards: boolean;
}

/** Provenance of the upstream patch a plugin models. */
export interface PatchProvenance {
  readonly title: string;
  readonly commit: string;
  /** The kernel release the patch went into (or "not merged"). */
  readonly kernel: string;
  readonly author?: string;
}

/**
 * A flush-policy plugin: a plain object (Rollup/Vite style). `overrides` lists the
 * extension-point tokens `register` re-registers; two enabled plugins overriding the
 * same token is an error unless one names the other in `composesWith`.
 */
export interface FlushlabPlugin {
  readonly name: string;
  readonly description: string;
  /** npm package the plugin ships in (shown by `flushlab list`). */
  readonly package?: string;
  readonly patch: PatchProvenance;
  readonly appliesTo: readonly ArchName[];
  readonly overrides: readonly InjectionToken<unknown>[];
  /** Plugins whose overrides of the same tokens this plugin knows how to stack on. */
  readonly composesWith?: readonly string[];
  readonly register: (container: DependencyContainer) => void;
  readonly reproduction?: Reproduction;
}

/** Identity helper for type inference. */
export function definePlugin<const P extends FlushlabPlugin>(plugin: P): P {
  return plugin;
}

/** `flushlab.config.ts`: optional, all fields optional. */
export interface FlushlabConfig {
  readonly plugins?: readonly FlushlabPlugin[];
  readonly machine?: Partial<MachineOptions>;
  readonly profile?: string;
  readonly seed?: number;
  readonly workloads?: readonly WorkloadDefinitionLike[];
}

/** Identity helper for type inference. */
export function defineConfig<const C extends FlushlabConfig>(config: C): C {
  return config;
}

/** What the CLI needs to know about a workload (the full type lives in the workload API). */
export interface WorkloadDefinitionLike {
  readonly name: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  readonly metrics: readonly MetricSpec[];
}

/** A configuration or input error: the CLI prints `message` on one line and exits 2. */
export class FlushlabInputError extends Error {
  override readonly name = "FlushlabInputError";
}
