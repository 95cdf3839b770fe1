/**
 * What a flush-policy plugin is, and how one declares its policies. A plugin is a
 * plain object made by `definePlugin`: a name, its provenance, the arch modes it
 * applies to, optionally its reproduction, and its policies, declared once with
 * `policy(TOKEN, factory)`. The extension points it overrides are derived from that
 * list. A factory receives the kernel and the implementation it replaces (the
 * pre-patch default, or the policy of a plugin listed before it) and returns the new
 * one; TypeScript checks that it implements the point's interface.
 */
import type { CostModel } from "../cost/cost-model.js";
import type { Kernel } from "../kernel/kernel.js";
import type { KernelVersion } from "../kernel/version.js";
import type { ExtensionPoint, Policies, PolicySlot } from "./tokens.js";

/** The arch modes the model implements. */
export type ArchName = "x86-64" | "x86-32-pae";
export const ARCH_NAMES: readonly ArchName[] = ["x86-64", "x86-32-pae"];

/** The machine a run simulates. */
export interface MachineOptions {
  readonly arch: ArchName;
  readonly cpus: number;
  readonly sockets: number;
  /** 4 KiB TLB entries per CPU (unified STLB; set-associative). The arch's default states its source (ArchLayer.machineSources). */
  readonly tlbEntries: number;
  readonly tlbWays: number;
  /** 2 MiB TLB entries per CPU (at most 4-way: min(4, entries) ways); a power of two. */
  readonly tlb2mEntries: number;
  /**
   * Paging-structure-cache entries per CPU and per cached level (PML4E, PDPTE, PDE
   * caches, Intel SDM Vol. 3A §4.10.3), direct-mapped; a power of two.
   */
  readonly pscEntries: number;
  /**
   * Entries in the IOTLB (ATS translation cache) of a device a workload binds to a
   * process's page tables (notifier-device's): fully associative, round-robin.
   */
  readonly iotlbEntries: number;
  /** Simulated physical memory in MiB (scaled down from the real machine; stated in output). */
  readonly memoryMiB: number;
  /**
   * x86-64 only: 5-level paging (CONFIG_X86_5LEVEL with CR4.LA57): a fifth level (pgd
   * over p4d), 57-bit virtual addresses, LA57's vmalloc area. Shown as "x86-64 (LA57)".
   */
  readonly la57: boolean;
  /**
   * The CPUs have Intel Knights Landing's A/D erratum (X86_BUG_PTE_LEAK, the name the
   * workaround proposed for it in 2016 gives it, "x86/mm: Workaround for Knights Landing
   * erratum"; v5.17 has no such workaround): a
   * write through a cached clean entry whose PTE is no longer present sets D in the
   * cleared entry and completes instead of faulting (hazard class 3). Default false.
   */
  readonly pteLeakErratum?: boolean;
  /** The CPUs have PCID and the kernel uses it (x86-64 only). Default: the profile's. */
  readonly pcid?: boolean;
  /** The CPUs have INVPCID. Default: the profile's. */
  readonly invpcid?: boolean;
  /** Page-table isolation (x86-64 only in the model). Default: the profile's. */
  readonly pti?: boolean;
  /**
   * The transparent_hugepage= boot parameter (mm/huge_memory.c, v5.17): "always" lets an
   * anonymous fault map a 2 MiB huge page; "never" (the default when absent) does not.
   * A workload may still write "always" to /sys/kernel/mm/transparent_hugepage/enabled.
   */
  readonly thp?: "always" | "never";
  /**
   * The soft-lockup watchdog's threshold in seconds (kernel/watchdog.c watchdog_thresh,
   * v5.17; default 10, 0 to 60, 0 disables): a CPU in kernel mode without a schedule for
   * more than 2 × watchdogThresh simulated seconds stops the run with the kernel's report.
   */
  readonly watchdogThresh?: number;
  /**
   * The same in cycles, for scaled-down runs that never reach seconds (default
   * WATCHDOG_CYCLES_DEFAULT, 200,000,000; 0 disables): whichever threshold comes first reports.
   */
  readonly watchdogCycles?: number;
}

/** The machine's sizes whose arch default carries a source (`ArchLayer.machineSources`). */
export type MachineSizeName = "tlbEntries" | "tlbWays" | "tlb2mEntries" | "pscEntries" | "iotlbEntries";
export const MACHINE_SIZE_NAMES: readonly MachineSizeName[] = ["tlbEntries", "tlbWays", "tlb2mEntries", "pscEntries", "iotlbEntries"];

export type ParamValues = Readonly<Record<string, number | boolean | string>>;

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
  /**
   * "calibration": an issue named it as a figure the model's parameters were fitted to
   * (the profile names the parameters); "prediction" (the default): nothing was tuned toward it.
   */
  readonly role?: "calibration" | "prediction";
}

/**
 * A named machine (`--preset NAME`, a config's `preset`, a reproduction's `preset`): the
 * machine fields it sets and its cost profile, each with its source, and what it scales
 * down from the real machine (stated in every run's notes). Explicit flags, a config's
 * machine fields and a reproduction's `machine` override its fields.
 */
export interface MachinePreset {
  readonly name: string;
  readonly description: string;
  readonly machine: {
    readonly cpus: number;
    readonly sockets: number;
    /** Scaled down from the real machine's RAM (the preset says by how much). */
    readonly memoryMiB: number;
    readonly tlbEntries: number;
    readonly tlbWays: number;
  } & Partial<MachineOptions>;
  readonly profile: string;
  /** The source of every machine field the preset sets, and of "profile". */
  readonly sources: Readonly<Record<string, string>>;
  /** What is scaled down from the real machine, one sentence each. */
  readonly scaled: readonly string[];
}

/** The compare a plugin declares as its reproduction of the published result. */
export interface Reproduction {
  readonly workload: string;
  /** The kernel release of the patch's time, which both sides of the compare run (default v5.17). */
  readonly kernel?: KernelVersion;
  /** A machine preset of the arch layer the reproduction runs on; `machine` overrides its fields. */
  readonly preset?: string;
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

/** Builds a plugin's implementation of an extension point from the kernel and what it replaces. */
export type PolicyFactory<K extends PolicySlot> = (kernel: Kernel, replaced: Policies[K]) => Policies[K];

/** One policy a plugin declares: the extension point and the factory that implements it. */
export interface Policy<K extends PolicySlot = PolicySlot> {
  readonly point: ExtensionPoint<K>;
  readonly build: PolicyFactory<K>;
}

/** Any one plugin policy (a union over the points, so each keeps its own types). */
export type AnyPolicy = { [K in PolicySlot]: Policy<K> }[PolicySlot];

/** Declares the policy for `point`: `policy(MMU_GATHER_FLUSH, (kernel, replaced) => ({ … }))`. */
export function policy<K extends PolicySlot>(point: ExtensionPoint<K>, build: PolicyFactory<K>): Policy<K> {
  return { point, build };
}

/** A pre-patch default, as core-mmu and the arch layer provide them: built from the kernel alone. */
export interface DefaultPolicy<K extends PolicySlot = PolicySlot> {
  readonly point: ExtensionPoint<K>;
  readonly build: (kernel: Kernel) => Policies[K];
}
export type AnyDefaultPolicy = { [K in PolicySlot]: DefaultPolicy<K> }[PolicySlot];

export function defaultPolicy<K extends PolicySlot>(point: ExtensionPoint<K>, build: (kernel: Kernel) => Policies[K]): DefaultPolicy<K> {
  return { point, build };
}

/** A flush-policy plugin: a plain object (Rollup/Vite style). */
export interface FlushlabPlugin {
  readonly name: string;
  readonly description: string;
  /** npm package the plugin ships in (shown by `flushlab list`). */
  readonly package?: string;
  /**
   * The upstream patch the plugin models. For a `pre-fix` plugin, the fix whose absence
   * it models: the plugin is the code as it was before that commit.
   */
  readonly patch: PatchProvenance;
  /** `patch` (default): the plugin applies the patch; `pre-fix`: it restores the code the patch fixed. */
  readonly kind?: "patch" | "pre-fix";
  readonly appliesTo: readonly ArchName[];
  /** The plugin's policies, one per extension point it overrides. */
  readonly policies: readonly AnyPolicy[];
  /**
   * Plugins whose policies for the same extension points this one stacks on: listed
   * after them, it receives theirs as `replaced`. Without it, two plugins overriding
   * one point are refused, naming both.
   */
  readonly composesWith?: readonly string[];
  /**
   * Plugins this one needs (a fix to a patch needs the patch): each must be enabled and
   * listed before it. A required plugin's policies for the same points are stacked on
   * as with composesWith.
   */
  readonly requires?: readonly string[];
  readonly reproduction?: Reproduction;
}

/** Identity helper for type inference. */
export function definePlugin<const P extends FlushlabPlugin>(plugin: P): P {
  return plugin;
}

/** The extension points a plugin overrides, derived from its policies. */
export function overriddenPoints(plugin: FlushlabPlugin): ExtensionPoint[] {
  return plugin.policies.map((p) => p.point as ExtensionPoint);
}

/** What an arch package provides to a run. */
export interface ArchLayer {
  readonly name: string;
  readonly profiles: Readonly<Record<string, CostModel>>;
  readonly defaultMachine: MachineOptions;
  /** Where each of the default machine's hardware sizes comes from ("[U] …" when unsourced). */
  readonly machineSources: { readonly [K in MachineSizeName]: string };
  /** Named machines (`--preset`), by name. */
  readonly presets?: Readonly<Record<string, MachinePreset>>;
  /** The pre-patch defaults of the arch's extension points (ArchTlb, ArchMm, VmallocSync). */
  readonly defaults: readonly AnyDefaultPolicy[];
  /** Kernel versions the arch layer mirrors, for the run's notes. */
  readonly notes: readonly string[];
}
