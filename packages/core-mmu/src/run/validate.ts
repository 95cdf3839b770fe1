/**
 * The one place a run is checked before anything is built: the machine, the cost
 * profile, the seed, the workload's parameters, and the plugins (their shape, the arch
 * modes they apply to, and conflicts between them). The CLI calls it to resolve a run
 * and simulate() calls it again; every message is one line naming what is wrong.
 */
import { checkCostModel, type CostModel, type CostParams } from "../cost/cost-model.js";
import { MAX_CPUS, MAX_SOCKETS, type CpuFeatures } from "../hw/machine.js";
import { pagingFormatByName, type PagingFormat } from "../hw/paging-format.js";
import { ARCH_NAMES, overriddenPoints, type ArchLayer, type FlushlabPlugin, type MachineOptions, type MachinePreset, type ParamValues } from "../plugin/define.js";
import { FlushlabInputError } from "../plugin/errors.js";
import { EXTENSION_POINTS } from "../plugin/tokens.js";
import { WATCHDOG_THRESH_MAX } from "../kernel/watchdog.js";
import { DEFAULT_KERNEL_VERSION, KERNEL_CHANGES, KERNEL_VERSIONS, isKernelVersion, kernelAtLeast, type KernelVersion } from "../kernel/version.js";
import type { ParamDefaultFrom, ParamSpec, RunOptions, WorkloadDefinitionLike } from "./types.js";

/** A run that passed validation: what the simulation is built from. */
export interface ValidRun {
  readonly machine: MachineOptions & CpuFeatures;
  readonly format: PagingFormat;
  /** Frames of simulated RAM: memoryMiB, split evenly across the sockets. */
  readonly memoryFrames: number;
  /** The machine preset the run started from, if any. */
  readonly preset?: MachinePreset;
  readonly profile: CostModel;
  readonly seed: number;
  readonly params: ParamValues;
  readonly plugins: readonly FlushlabPlugin[];
  readonly kernel: KernelVersion;
}

export interface RunToValidate {
  readonly options: RunOptions;
  readonly arch: ArchLayer;
  readonly workload: WorkloadDefinitionLike;
  /** The plugin objects for `options.plugins`, in the same order. */
  readonly plugins: readonly FlushlabPlugin[];
}

function knownList(names: readonly string[]): string {
  return names.length === 0 ? "none" : names.join(", ");
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

function isPowerOfTwo(v: unknown): v is number {
  return isInt(v) && v >= 1 && (v & (v - 1)) === 0 && v <= 1 << 20;
}

/** The largest device IOTLB a machine may have. */
export const MAX_IOTLB_ENTRIES = 4096;

/** What a parameter with `defaultFrom` takes its default from: the run's cost profile and machine. */
export interface ParamDefaults {
  readonly costs: CostParams;
  readonly machine: MachineOptions;
}

/** "the cost profile's readPageSequential", "the machine's iotlbEntries". */
export function describeDefaultFrom(from: ParamDefaultFrom): string {
  return "cost" in from ? `the cost profile's ${from.cost}` : `the machine's ${from.machine}`;
}

/** The value `from` names in `defaults`. */
export function defaultFromValue(from: ParamDefaultFrom, defaults: ParamDefaults): number {
  return "cost" in from ? defaults.costs[from.cost] : defaults.machine[from.machine];
}

/** Checks a machine; `where` prefixes messages (e.g. a config file's name). */
export function validateMachine(machine: MachineOptions, where?: string): { format: PagingFormat; memoryFrames: number } {
  const p = where === undefined ? "" : `${where}: `;
  if (!ARCH_NAMES.includes(machine.arch)) throw new FlushlabInputError(`${p}unknown arch "${String(machine.arch)}" (known: ${ARCH_NAMES.join(", ")})`);
  if (!isInt(machine.cpus) || machine.cpus < 1 || machine.cpus > MAX_CPUS) throw new FlushlabInputError(`${p}cpus must be an integer from 1 to ${MAX_CPUS} (got ${machine.cpus})`);
  if (!isInt(machine.sockets) || machine.sockets < 1 || machine.sockets > MAX_SOCKETS) throw new FlushlabInputError(`${p}sockets must be an integer from 1 to ${MAX_SOCKETS} (got ${machine.sockets})`);
  if (machine.cpus % machine.sockets !== 0) throw new FlushlabInputError(`${p}sockets (${machine.sockets}) must divide cpus (${machine.cpus})`);
  if (!isInt(machine.memoryMiB) || machine.memoryMiB < 1) throw new FlushlabInputError(`${p}memory must be a positive number of MiB (got ${machine.memoryMiB})`);
  const sets = machine.tlbEntries / machine.tlbWays;
  if (!isInt(machine.tlbEntries) || !isInt(machine.tlbWays) || machine.tlbWays < 1 || !Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0) {
    throw new FlushlabInputError(`${p}tlbEntries / tlbWays must be a power of two (got ${machine.tlbEntries} / ${machine.tlbWays})`);
  }
  if (!isPowerOfTwo(machine.tlb2mEntries)) throw new FlushlabInputError(`${p}tlb2mEntries must be a power of two (got ${machine.tlb2mEntries})`);
  if (!isPowerOfTwo(machine.pscEntries)) throw new FlushlabInputError(`${p}pscEntries must be a power of two (got ${machine.pscEntries})`);
  if (!isInt(machine.iotlbEntries) || machine.iotlbEntries < 1 || machine.iotlbEntries > MAX_IOTLB_ENTRIES) {
    throw new FlushlabInputError(`${p}iotlbEntries must be an integer from 1 to ${MAX_IOTLB_ENTRIES} (got ${machine.iotlbEntries})`);
  }
  if (typeof machine.la57 !== "boolean") throw new FlushlabInputError(`${p}la57 must be true or false (got ${String(machine.la57)})`);
  for (const f of ["pcid", "invpcid", "pti", "pteLeakErratum"] as const) {
    if (machine[f] !== undefined && typeof machine[f] !== "boolean") throw new FlushlabInputError(`${p}${f} must be true or false (got ${String(machine[f])})`);
  }
  if (machine.pcid === true && machine.arch !== "x86-64") throw new FlushlabInputError(`${p}pcid needs arch x86-64 (CR4.PCIDE can be set only in IA-32e mode)`);
  if (machine.pti === true && machine.arch !== "x86-64") throw new FlushlabInputError(`${p}pti is modelled for x86-64 only (x86-32 PTI, v4.19, is not)`);
  if (machine.la57 && machine.arch !== "x86-64") throw new FlushlabInputError(`${p}la57 (5-level paging) needs arch x86-64`);
  if (machine.thp !== undefined && machine.thp !== "always" && machine.thp !== "never") throw new FlushlabInputError(`${p}thp must be "always" or "never" (got ${JSON.stringify(machine.thp)})`);
  if (machine.watchdogThresh !== undefined && (!isInt(machine.watchdogThresh) || machine.watchdogThresh < 0 || machine.watchdogThresh > WATCHDOG_THRESH_MAX)) {
    throw new FlushlabInputError(`${p}watchdogThresh must be an integer number of seconds from 0 (off) to ${WATCHDOG_THRESH_MAX}, as the watchdog_thresh sysctl takes (got ${String(machine.watchdogThresh)})`);
  }
  if (machine.watchdogCycles !== undefined && (!isInt(machine.watchdogCycles) || machine.watchdogCycles < 0)) {
    throw new FlushlabInputError(`${p}watchdogCycles must be a non-negative integer number of cycles, 0 for off (got ${String(machine.watchdogCycles)})`);
  }
  const format = pagingFormatByName(machine.arch === "x86-32-pae" ? "x86-32-pae" : machine.la57 ? "x86-64-la57" : "x86-64");
  // Sockets are NUMA nodes; each gets an equal share of the frames.
  const memoryFrames = Math.floor((machine.memoryMiB * 1024 * 1024) / 4096 / machine.sockets) * machine.sockets;
  if (memoryFrames / machine.sockets < 64) throw new FlushlabInputError(`${p}memory of ${machine.memoryMiB} MiB is too small for ${machine.sockets} socket(s) (each node needs at least 64 frames)`);
  return { format, memoryFrames };
}

/**
 * Checks `given` against the workload's ParamSpecs (type, min/max, choices) and fills in
 * defaults: the result has every declared parameter, in declaration order. `source`
 * names where the values came from in messages (e.g. `plugin "x" reproduction`). A
 * parameter whose default is a cost or a machine size (`defaultFrom`) takes it from
 * `defaults`, the run's profile and machine.
 */
export function resolveParams(workload: WorkloadDefinitionLike, given: ParamValues, source?: string, defaults?: ParamDefaults): ParamValues {
  const prefix = source === undefined ? "" : `${source}: `;
  for (const key of Object.keys(given)) {
    if (!workload.params.some((p) => p.name === key)) {
      throw new FlushlabInputError(`${prefix}unknown parameter "${key}" for workload "${workload.name}" (known: ${knownList(workload.params.map((p) => p.name))})`);
    }
  }
  const out: Record<string, number | boolean | string> = {};
  for (const spec of workload.params) {
    let value: number | boolean | string | undefined;
    if (Object.hasOwn(given, spec.name)) value = given[spec.name] as number | boolean | string;
    else if (spec.defaultFrom !== undefined) {
      if (defaults === undefined) throw new FlushlabInputError(`${prefix}parameter "${spec.name}" takes its default from ${describeDefaultFrom(spec.defaultFrom)}, and no profile and machine were given`);
      value = defaultFromValue(spec.defaultFrom, defaults);
      if (typeof value !== "number") throw new FlushlabInputError(`${prefix}parameter "${spec.name}": ${describeDefaultFrom(spec.defaultFrom)} is not set`);
    } else value = spec.default;
    if (value === undefined) throw new FlushlabInputError(`${prefix}workload "${workload.name}" declares parameter "${spec.name}" with neither a default nor defaultFrom`);
    checkParam(spec, value, prefix);
    out[spec.name] = value;
  }
  return out;
}

function checkParam(spec: ParamSpec, value: number | boolean | string, prefix: string): void {
  const name = `${prefix}parameter "${spec.name}"`;
  switch (spec.type) {
    case "int":
      if (!isInt(value)) throw new FlushlabInputError(`${name} must be an integer (got ${String(value)})`);
      break;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw new FlushlabInputError(`${name} must be a number (got ${String(value)})`);
      break;
    case "boolean":
      if (typeof value !== "boolean") throw new FlushlabInputError(`${name} must be true or false (got ${String(value)})`);
      break;
    case "string":
      if (typeof value !== "string") throw new FlushlabInputError(`${name} must be a string (got ${String(value)})`);
      break;
  }
  if (typeof value === "number") {
    if (spec.min !== undefined && value < spec.min) throw new FlushlabInputError(`${name} must be >= ${spec.min} (got ${value})`);
    if (spec.max !== undefined && value > spec.max) throw new FlushlabInputError(`${name} must be <= ${spec.max} (got ${value})`);
  }
  if (spec.choices !== undefined && !spec.choices.includes(String(value))) {
    throw new FlushlabInputError(`${name} must be one of ${spec.choices.join(", ")} (got "${String(value)}")`);
  }
}

/**
 * A plugin's shape, for plugins from config files and paths that TypeScript did not
 * check: a name, provenance, the arch modes, and policies for known extension points.
 * `where` names where the plugin came from.
 */
export function validatePluginShape(plugin: unknown, where: string): asserts plugin is FlushlabPlugin {
  if (plugin === null || typeof plugin !== "object") throw new FlushlabInputError(`${where} is not a plugin object (use definePlugin({ … }))`);
  const p = plugin as Record<string, unknown>;
  if (typeof p["name"] !== "string" || p["name"] === "") throw new FlushlabInputError(`${where} has no name`);
  const name = `plugin "${p["name"]}"`;
  const patch = p["patch"] as Record<string, unknown> | null | undefined;
  if (patch === null || typeof patch !== "object" || typeof patch["title"] !== "string") {
    throw new FlushlabInputError(`${where}: ${name} has no patch provenance (patch.title, patch.commit, patch.kernel)`);
  }
  if (!Array.isArray(p["appliesTo"]) || p["appliesTo"].some((a) => !ARCH_NAMES.includes(a as never))) {
    throw new FlushlabInputError(`${where}: ${name} needs appliesTo, a list of ${ARCH_NAMES.join(", ")}`);
  }
  if ("register" in p || "overrides" in p) {
    throw new FlushlabInputError(`${where}: ${name} uses register/overrides, which are gone: declare policies: [policy(TOKEN, (kernel, replaced) => …)]`);
  }
  if (!Array.isArray(p["policies"])) throw new FlushlabInputError(`${where}: ${name} has no policies array (policies: [policy(TOKEN, factory)])`);
  p["policies"].forEach((q: unknown, i) => {
    const slot = (q as { point?: { slot?: unknown } } | null)?.point?.slot;
    if (!EXTENSION_POINTS.some((e) => e.slot === slot)) {
      throw new FlushlabInputError(`${where}: ${name} policies[${i}] is not policy(TOKEN, factory) for a known extension point (known: ${EXTENSION_POINTS.map((e) => e.name).join(", ")})`);
    }
    if (typeof (q as { build?: unknown }).build !== "function") throw new FlushlabInputError(`${where}: ${name} policies[${i}] has no factory function`);
  });
  for (const field of ["composesWith", "requires"]) {
    const c = p[field];
    if (c !== undefined && (!Array.isArray(c) || c.some((x) => typeof x !== "string"))) throw new FlushlabInputError(`${where}: ${name} ${field} must be a list of plugin names`);
  }
  const kind = p["kind"];
  if (kind !== undefined && kind !== "patch" && kind !== "pre-fix") throw new FlushlabInputError(`${where}: ${name} kind must be "patch" or "pre-fix" (got ${JSON.stringify(kind)})`);
}

/** The plugins are distinct, apply to `arch`, and no two override one point without saying how they compose. */
export function validatePlugins(plugins: readonly FlushlabPlugin[], arch: MachineOptions["arch"]): void {
  const owner = new Map<string, FlushlabPlugin>();
  const names = new Set<string>();
  for (const p of plugins) {
    validatePluginShape(p, `plugin "${p?.name}"`);
    if (names.has(p.name)) throw new FlushlabInputError(`plugin "${p.name}" is enabled twice`);
    names.add(p.name);
    if (!p.appliesTo.includes(arch)) throw new FlushlabInputError(`plugin "${p.name}" does not apply to arch ${arch} (it applies to ${knownList(p.appliesTo)})`);
    for (const r of p.requires ?? []) {
      if (names.has(r)) continue;
      const later = plugins.some((q) => q?.name === r);
      throw new FlushlabInputError(
        later ? `plugin "${p.name}" requires "${r}" listed before it (--plugins ${r},${p.name})` : `plugin "${p.name}" requires plugin "${r}", which is not enabled (--plugins ${r},${p.name})`,
      );
    }
    const own = new Set<string>();
    for (const point of overriddenPoints(p)) {
      if (own.has(point.slot)) throw new FlushlabInputError(`plugin "${p.name}" declares two policies for ${point.name}`);
      own.add(point.slot);
      const prev = owner.get(point.slot);
      if (prev && !(p.composesWith?.includes(prev.name) || prev.composesWith?.includes(p.name) || p.requires?.includes(prev.name))) {
        throw new FlushlabInputError(`plugins "${prev.name}" and "${p.name}" both override ${point.name} and neither declares how they compose (composesWith)`);
      }
      owner.set(point.slot, p);
    }
  }
}

/**
 * The machine with its PCID, INVPCID and PTI settings filled in: what the machine
 * options say, else what the profile declares; on x86-32 PAE neither PCID nor PTI.
 */
export function resolveFeatures(machine: MachineOptions, profile: Pick<CostModel, "features">): MachineOptions & CpuFeatures {
  const f = profile.features;
  const long = machine.arch === "x86-64";
  return {
    ...machine,
    pcid: machine.pcid ?? (long && f?.pcid === true),
    invpcid: machine.invpcid ?? f?.invpcid === true,
    pti: machine.pti ?? (long && f?.pti === true),
  };
}

/** Validates a whole run. */
export function validateRun(input: RunToValidate): ValidRun {
  const { options, arch, workload } = input;
  const profile = arch.profiles[options.profile];
  if (!profile) throw new FlushlabInputError(`unknown profile "${options.profile}" (known: ${knownList(Object.keys(arch.profiles))})`);
  checkCostModel(profile);
  const { format, memoryFrames } = validateMachine(options.machine);
  if (!isInt(options.seed) || options.seed < 0 || options.seed > 0xffffffff) throw new FlushlabInputError(`seed must be an integer from 0 to 4294967295 (got ${options.seed})`);
  if (workload.name !== options.workload) throw new FlushlabInputError(`the workload given (${workload.name}) is not the one named in the options (${options.workload})`);
  const names = input.plugins.map((p) => p?.name);
  if (names.length !== options.plugins.length || names.some((n, i) => n !== options.plugins[i])) {
    throw new FlushlabInputError(`the plugins given (${knownList(names)}) are not the ones named in the options (${knownList(options.plugins)})`);
  }
  validatePlugins(input.plugins, options.machine.arch);
  const params = resolveParams(workload, options.params, undefined, { costs: profile.params, machine: options.machine });
  const kernel = validateKernelVersion(options.kernel);
  const machine = resolveFeatures(options.machine, profile);
  checkKernelFeatures(machine, kernel);
  const preset = options.preset === undefined ? undefined : findPreset(arch.presets ?? {}, options.preset);
  return { machine, format, memoryFrames, profile, seed: options.seed, params, plugins: input.plugins, kernel, ...(preset ? { preset } : {}) };
}

/** A run's kernel release: one of KERNEL_VERSIONS, v5.17 when absent. */
export function validateKernelVersion(v: unknown, where?: string): KernelVersion {
  if (v === undefined) return DEFAULT_KERNEL_VERSION;
  if (isKernelVersion(v)) return v;
  throw new FlushlabInputError(`${where === undefined ? "" : `${where}: `}unknown kernel "${String(v)}" (known: ${KERNEL_VERSIONS.join(", ")})`);
}

/** A kernel older than x86's use of PCID (v4.14) or than PTI (v4.15) cannot run with them on. */
export function checkKernelFeatures(machine: Pick<MachineOptions, "pcid" | "pti">, kernel: KernelVersion): void {
  if (machine.pcid === true && !kernelAtLeast(kernel, KERNEL_CHANGES.x86Pcid)) {
    throw new FlushlabInputError(`kernel ${kernel} does not use PCID (x86 PCID support came in ${KERNEL_CHANGES.x86Pcid}): use --pcid off or a profile without it`);
  }
  if (machine.pti === true && !kernelAtLeast(kernel, KERNEL_CHANGES.x86Pti)) {
    throw new FlushlabInputError(`kernel ${kernel} has no page-table isolation (PTI came in ${KERNEL_CHANGES.x86Pti}): use --pti off or a profile without it`);
  }
}

/** The preset named `name`, or a one-line error listing the valid names; `where` prefixes it. */
export function findPreset(presets: Readonly<Record<string, MachinePreset>>, name: string, where?: string): MachinePreset {
  const p = Object.hasOwn(presets, name) ? presets[name] : undefined;
  if (p === undefined) throw new FlushlabInputError(`${where === undefined ? "" : `${where}: `}unknown preset "${name}" (known: ${knownList(Object.keys(presets))})`);
  return p;
}

/** A preset's shape: a valid machine over `base`, a known profile, and a source for every field it sets. */
export function checkPreset(preset: MachinePreset, base: MachineOptions, profiles: Readonly<Record<string, unknown>>): void {
  const where = `preset "${preset.name}"`;
  validateMachine({ ...base, ...preset.machine }, where);
  if (!Object.hasOwn(profiles, preset.profile)) throw new FlushlabInputError(`${where}: unknown profile "${preset.profile}"`);
  for (const k of [...Object.keys(preset.machine), "profile"]) {
    if (!preset.sources[k]) throw new FlushlabInputError(`${where}: ${k} has no source`);
  }
}
