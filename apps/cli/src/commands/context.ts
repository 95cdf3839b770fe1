/**
 * What every command gets (registry, config, the plugin catalogue, the reporter) and the
 * shared resolution of run options: workload, machine, profile, seed, params, plugins.
 * Precedence: flags > flushlab.config > registry defaults.
 */
import { ARCH_NAMES, DEFAULT_KERNEL_VERSION, FlushlabInputError, KERNEL_VERSIONS, MAX_CPUS, MAX_SOCKETS, checkKernelFeatures, findPreset, resolveFeatures, resolveParams, validateKernelVersion, validateMachine, validatePlugins, type EventStream, type KernelVersion, type MachinePreset, type ParamDefaults } from "@flushlab/core-mmu";
import type {
  ArchName,
  FlushlabPlugin,
  MachineOptions,
  RunOptions,
  RunResult,
  WorkloadDefinitionLike,
} from "@flushlab/core-mmu";
import {
  knownList,
  parseNameList,
  parseNonNegativeInt,
  parseParamFlags,
  parsePositiveInt,
} from "../args.js";
import type { OptionSpecs } from "../args.js";
import type { LoadedConfig } from "../config.js";
import type { CliRegistry } from "../registry-types.js";
import type { ReportBus } from "../bus.js";

/** A plugin the CLI can enable, with where it came from. */
export interface CatalogEntry {
  readonly plugin: FlushlabPlugin;
  /** "installed", or the config file name. */
  readonly source: string;
}

export interface CommandContext {
  readonly registry: CliRegistry;
  readonly config: LoadedConfig | undefined;
  /** registry.plugins, then config plugins; names are unique. */
  readonly catalog: readonly CatalogEntry[];
  /** registry.workloads, then config workloads; names are unique. */
  readonly workloads: readonly WorkloadDefinitionLike[];
  /** The command's event stream, which the reporters consume. */
  readonly bus: ReportBus;
}

/** Builds the plugin catalogue; the same name from two different objects is an error. */
export function buildCatalog(registry: CliRegistry, config: LoadedConfig | undefined): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  const add = (plugin: FlushlabPlugin, source: string): void => {
    const existing = entries.find((e) => e.plugin.name === plugin.name);
    if (existing === undefined) entries.push({ plugin, source });
    else if (existing.plugin !== plugin) {
      throw new FlushlabInputError(
        `two different plugins are named "${plugin.name}" (${existing.source === "installed" ? "installed" : `in ${existing.source}`} and ${source === "installed" ? "installed" : `in ${source}`})`,
      );
    }
  };
  for (const p of registry.plugins) add(p, "installed");
  if (config?.config.plugins) for (const p of config.config.plugins) add(p, config.file);
  return entries;
}

export const DEFAULT_PROFILE = "bare-metal";
export const DEFAULT_SEED = 1;

/** The run flags `run` and `compare` share. */
export const RUN_OPTIONS = {
  preset: { type: "string", valueName: "NAME", description: "machine preset to start from (see \"flushlab list\"); the other machine flags and --profile override its fields" },
  plugins: { type: "string", valueName: "a,b", description: "plugins to enable, comma-separated (\"\" for none)" },
  arch: { type: "string", valueName: ARCH_NAMES.join("|"), description: "arch mode of the simulated machine" },
  cpus: { type: "string", valueName: "N", description: `number of CPUs, 1 to ${MAX_CPUS}` },
  sockets: { type: "string", valueName: "N", description: `number of sockets, each a NUMA node, 1 to ${MAX_SOCKETS} (must divide the CPU count)` },
  memory: { type: "string", valueName: "MiB", description: "simulated RAM in MiB, split evenly across the nodes (scaled down; stated in the output)" },
  pcid: { type: "string", valueName: "on|off", description: "the CPUs have PCID and the kernel uses it (x86-64; default: the profile's)" },
  invpcid: { type: "string", valueName: "on|off", description: "the CPUs have INVPCID (default: the profile's)" },
  pti: { type: "string", valueName: "on|off", description: "page-table isolation (x86-64; default: the profile's)" },
  thp: { type: "string", valueName: "always|never", description: "transparent_hugepage= boot setting (default never; a workload may enable THP itself, e.g. mprotect-bench thp=1)" },
  profile: { type: "string", valueName: "P", description: `cost profile (default ${DEFAULT_PROFILE}; see "flushlab list")` },
  kernel: { type: "string", valueName: KERNEL_VERSIONS.join("|"), description: `kernel release modelled (default: the one the enabled plugins were written for, else ${DEFAULT_KERNEL_VERSION})` },
  seed: { type: "string", valueName: "N", description: `PRNG seed, non-negative integer (default ${DEFAULT_SEED})` },
  param: { type: "string", multiple: true, valueName: "k=v", description: "workload parameter; repeat for several" },
  json: { type: "boolean", description: "print one JSON object instead of the report" },
} as const satisfies OptionSpecs;

export interface RunFlags {
  readonly preset?: string;
  readonly plugins?: string;
  readonly arch?: string;
  readonly cpus?: string;
  readonly sockets?: string;
  readonly memory?: string;
  readonly pcid?: string;
  readonly invpcid?: string;
  readonly pti?: string;
  readonly thp?: string;
  readonly profile?: string;
  readonly kernel?: string;
  readonly seed?: string;
  readonly param?: readonly string[];
}

/** A fully resolved run: options for `simulate`, plus the objects behind the names. */
export interface RunSetup {
  readonly options: RunOptions;
  readonly workload: WorkloadDefinitionLike;
  readonly plugins: readonly FlushlabPlugin[];
}

/** The workloads a command can run: the registry's, then the config's; a config workload may not reuse a name. */
export function buildWorkloads(registry: CliRegistry, config: LoadedConfig | undefined): WorkloadDefinitionLike[] {
  const out = [...registry.workloads];
  for (const w of config?.config.workloads ?? []) {
    if (out.some((x) => x.name === w.name)) throw new FlushlabInputError(`${config!.file}: workload "${w.name}" is already a built-in workload (choose another name)`);
    out.push(w);
  }
  return out;
}

export function findWorkload(ctx: CommandContext, name: string | undefined, source?: string): WorkloadDefinitionLike {
  const known = knownList(ctx.workloads.map((w) => w.name));
  if (name === undefined) throw new FlushlabInputError(`missing workload (known: ${known})`);
  const workload = ctx.workloads.find((w) => w.name === name);
  if (workload === undefined) throw new FlushlabInputError(`${source === undefined ? "" : `${source}: `}unknown workload "${name}" (known: ${known})`);
  return workload;
}

export function findProfile(registry: CliRegistry, name: string, source?: string): string {
  if (!registry.profiles.some((p) => p.name === name)) {
    throw new FlushlabInputError(
      `${source === undefined ? "" : `${source}: `}unknown profile "${name}" (known: ${knownList(registry.profiles.map((p) => p.name))})`,
    );
  }
  return name;
}

/** The profile used when no flag or config names one: "bare-metal", or the registry's first. */
export function defaultProfile(registry: CliRegistry): string {
  if (registry.profiles.some((p) => p.name === DEFAULT_PROFILE)) return DEFAULT_PROFILE;
  return registry.profiles[0]?.name ?? DEFAULT_PROFILE;
}

/** Looks a plugin up by name in the catalogue. */
export function findPlugin(ctx: CommandContext, name: string): FlushlabPlugin {
  const entry = ctx.catalog.find((e) => e.plugin.name === name);
  if (entry === undefined) {
    const known = ctx.catalog.map((e) => e.plugin.name);
    throw new FlushlabInputError(`unknown plugin "${name}" (${known.length === 0 ? "no plugins installed" : `known: ${known.join(", ")}`})`);
  }
  return entry.plugin;
}

/** Looks plugins up by name; checks they apply to `arch` and do not conflict (core-mmu's validation). */
export function resolvePlugins(ctx: CommandContext, names: readonly string[], arch: ArchName): FlushlabPlugin[] {
  const plugins = names.map((name) => findPlugin(ctx, name));
  validatePlugins(plugins, arch);
  return plugins;
}

/** Checks a machine with core-mmu's validation; `where` prefixes messages about values that did not come from flags. */
export function checkMachine(machine: MachineOptions, where?: string): MachineOptions {
  validateMachine(machine, where);
  return machine;
}

/** --thp: the transparent_hugepage= boot setting. */
function parseThp(text: string): "always" | "never" {
  if (text !== "always" && text !== "never") throw new FlushlabInputError(`--thp must be "always" or "never" (got "${text}")`);
  return text;
}

/** Resolves the shared run flags for `workloadName`; without --plugins the config's plugins are enabled. */
export function resolveRunSetup(ctx: CommandContext, workloadName: string | undefined, flags: RunFlags): RunSetup {
  const { registry, config } = ctx;
  const workload = findWorkload(ctx, workloadName);
  const cfg = config?.config;

  const preset =
    flags.preset !== undefined ? findCliPreset(registry, flags.preset) : cfg?.preset !== undefined ? findCliPreset(registry, cfg.preset, config?.file) : undefined;
  let arch: ArchName = cfg?.machine?.arch ?? preset?.machine.arch ?? registry.defaultMachine.arch;
  if (flags.arch !== undefined) {
    if (!ARCH_NAMES.includes(flags.arch as ArchName)) {
      throw new FlushlabInputError(`unknown arch "${flags.arch}" (known: ${ARCH_NAMES.join(", ")})`);
    }
    arch = flags.arch as ArchName;
  }
  const machine0 = checkMachine({
    ...registry.defaultMachine,
    ...preset?.machine,
    ...cfg?.machine,
    arch,
    ...(flags.cpus !== undefined ? { cpus: parsePositiveInt(flags.cpus, "--cpus") } : {}),
    ...(flags.sockets !== undefined ? { sockets: parsePositiveInt(flags.sockets, "--sockets") } : {}),
    ...(flags.memory !== undefined ? { memoryMiB: parsePositiveInt(flags.memory, "--memory") } : {}),
    ...(flags.thp !== undefined ? { thp: parseThp(flags.thp) } : {}),
  });

  const profile =
    flags.profile !== undefined
      ? findProfile(registry, flags.profile)
      : cfg?.profile !== undefined
        ? findProfile(registry, cfg.profile, config?.file)
        : preset !== undefined
          ? findProfile(registry, preset.profile, `preset "${preset.name}"`)
          : defaultProfile(registry);
  const seed = flags.seed !== undefined ? parseNonNegativeInt(flags.seed, "--seed") : (cfg?.seed ?? DEFAULT_SEED);
  const params = resolveParams(workload, parseParamFlags(workload, flags.param ?? []), undefined, paramDefaults(registry, profile, machine0));
  const machine = withFeatures(registry, checkMachine({ ...machine0, ...onOff(flags) }), profile);

  const pluginNames =
    flags.plugins !== undefined ? parseNameList(flags.plugins, "--plugins") : (cfg?.plugins ?? []).map((p) => p.name);
  const plugins = resolvePlugins(ctx, pluginNames, machine.arch);
  const kernel =
    flags.kernel !== undefined
      ? validateKernelVersion(flags.kernel, "--kernel")
      : cfg?.kernel !== undefined
        ? validateKernelVersion(cfg.kernel, config?.file)
        : pluginsKernel(plugins);
  checkKernelFeatures(machine, kernel);

  return {
    workload,
    plugins,
    options: { workload: workload.name, machine, profile, seed, plugins: plugins.map((p) => p.name), params, kernel, ...(preset ? { preset: preset.name } : {}) },
  };
}

/**
 * The registry's preset `name`, or a one-line error listing the valid ones. A preset
 * sets the machine and the profile a run starts from: the registry's default machine,
 * then the preset, then the config's machine fields and profile, then the flags.
 */
export function findCliPreset(registry: CliRegistry, name: string, source?: string): MachinePreset {
  return findPreset(Object.fromEntries((registry.presets ?? []).map((p) => [p.name, p])), name, source);
}

/** --pcid, --invpcid, --pti (on|off) as machine options; `run`, `compare` and `check` share them. */
export function onOff(flags: Partial<Record<"pcid" | "invpcid" | "pti", string>>): { pcid?: boolean; invpcid?: boolean; pti?: boolean } {
  const out: { pcid?: boolean; invpcid?: boolean; pti?: boolean } = {};
  for (const f of ["pcid", "invpcid", "pti"] as const) {
    const v = flags[f];
    if (v === undefined) continue;
    if (v !== "on" && v !== "off") throw new FlushlabInputError(`--${f} must be on or off (got "${v}")`);
    out[f] = v === "on";
  }
  return out;
}

/**
 * What workload parameters that default to a hardware cost or size take it from: the
 * profile's costs and the machine (undefined when the registry's profile states no costs).
 */
export function paramDefaults(registry: CliRegistry, profile: string, machine: MachineOptions): ParamDefaults | undefined {
  const costs = registry.profiles.find((p) => p.name === profile)?.params;
  return costs === undefined ? undefined : { costs, machine };
}

/** The machine with its PCID, INVPCID and PTI settings resolved against the profile (what its line shows). */
export function withFeatures(registry: CliRegistry, machine: MachineOptions, profile: string): MachineOptions {
  const found = registry.profiles.find((p) => p.name === profile);
  return resolveFeatures(machine, { ...(found?.features ? { features: found.features } : {}) });
}

/** `setup` with other plugins (and optionally another seed). */
export function withPlugins(setup: RunSetup, plugins: readonly FlushlabPlugin[], seed = setup.options.seed): RunSetup {
  return { ...setup, plugins, options: { ...setup.options, seed, plugins: plugins.map((p) => p.name) } };
}

/** Which simulation of the command this is, for the progress line. */
export interface SimulationLabel {
  readonly index: number;
  readonly total: number;
  readonly label: string;
}

/**
 * Runs `setup` through the registry, announcing it on the bus and passing on the
 * model events that some subscriber of the bus wants.
 */
export function simulate(ctx: CommandContext, setup: RunSetup, which: SimulationLabel): RunResult {
  const bus = ctx.bus;
  bus.emit("cli:simulation", which);
  const wanted = bus.wantedModelEvents();
  const onEvents = wanted.length === 0 ? undefined : (events: EventStream) => void events.select(...wanted).subscribe((e) => bus.forward(e));
  return ctx.registry.simulate(setup.options, { workload: setup.workload, plugins: setup.plugins }, onEvents);
}

/**
 * The kernel a run takes when neither --kernel nor the config names one: the release the
 * enabled plugins' reproductions declare (a patch applies to the kernel of its time), else
 * the default. Plugins written for different releases need --kernel.
 */
export function pluginsKernel(plugins: readonly FlushlabPlugin[]): KernelVersion {
  const declared = plugins.filter((p) => p.reproduction?.kernel !== undefined);
  const kernels = [...new Set(declared.map((p) => p.reproduction!.kernel!))];
  if (kernels.length > 1) {
    throw new FlushlabInputError(`plugins ${declared.map((p) => `${p.name} (${p.reproduction!.kernel})`).join(", ")} were written for different kernels: choose one with --kernel`);
  }
  return kernels[0] ?? DEFAULT_KERNEL_VERSION;
}
