/**
 * What every command gets (registry, config, the plugin catalogue, the reporter) and the
 * shared resolution of run options: workload, machine, profile, seed, params, plugins.
 * Precedence: flags > flushlab.config > registry defaults.
 */
import { ARCH_NAMES, DEFAULT_KERNEL_VERSION, FlushlabInputError, KERNEL_VERSIONS, MAX_CPUS, MAX_SOCKETS, checkKernelFeatures, defaultMemoryMiB, findPreset, resolveFeatures, resolveParams, validateKernelVersion, validateMachine, validatePlugins, type EventStream, type KernelVersion, type MachinePreset, type ParamDefaults } from "@flushlab/core-mmu";
import type {
  ArchName,
  FlushlabPlugin,
  MachineOptions,
  RunOptions,
  RunResult,
  WorkloadDefinitionLike,
} from "@flushlab/core-mmu";
import { knownList, nameList, nonNegativeInt, parseParamFlags, positiveInt } from "../args.js";
import type { OptionSpecs, ParsedOptions } from "../args.js";
import { archText, onOffText, thpText } from "../schemas.js";
import type { LoadedConfig } from "../config.js";
import type { CliRegistry } from "../registry-types.js";
import type { ReportBus } from "../bus.js";
import { createRunPool, defaultJobs } from "../pool/pool.js";
import { NO_INTERRUPT, type Interrupt } from "../interrupt.js";
import { MACHINE_ON_OFF_OPTIONS, machineOnOff } from "../machine-flags.js";

/** A plugin the CLI can enable, with where it came from. */
export interface CatalogEntry {
  readonly plugin: FlushlabPlugin;
  /** "installed", the config file name, or the path or package it was loaded from. */
  readonly source: string;
  /** The paths or package names (`--plugins ./x`) that name this plugin besides its name. */
  readonly refs?: readonly string[];
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
  /** The directory the config was looked for in (workers load it again from there); relative plugin paths are relative to it. */
  readonly cwd: string;
  /** What --plugins named (names, paths, packages): workers load the same plugins. */
  readonly pluginRefs?: readonly string[];
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
  plugins: nameList("a,b", "plugins to enable, comma-separated: installed names, paths (./my-policy) or packages in node_modules (\"\" for none)"),
  arch: { type: "string", valueName: ARCH_NAMES.join("|"), description: "arch mode of the simulated machine", schema: archText },
  cpus: positiveInt("N", `number of CPUs, 1 to ${MAX_CPUS}`),
  sockets: positiveInt("N", `number of sockets, each a NUMA node, 1 to ${MAX_SOCKETS} (must divide the CPU count)`),
  memory: positiveInt("MiB", "simulated RAM in MiB, split evenly across the nodes (default 64, 1 MiB per CPU above 64 CPUs; scaled down; stated in the output)"),
  pcid: { type: "string", valueName: "on|off", description: "the CPUs have PCID and the kernel uses it (x86-64; default: the profile's)", schema: onOffText },
  invpcid: { type: "string", valueName: "on|off", description: "the CPUs have INVPCID (default: the profile's)", schema: onOffText },
  pti: { type: "string", valueName: "on|off", description: "page-table isolation (x86-64; default: the profile's)", schema: onOffText },
  thp: { type: "string", valueName: "always|never", description: "transparent_hugepage= boot setting (default never; a workload may enable THP itself, e.g. mprotect-bench thp=1)", schema: thpText },
  ...MACHINE_ON_OFF_OPTIONS,
  profile: { type: "string", valueName: "P", description: `cost profile (default ${DEFAULT_PROFILE}; see "flushlab list")` },
  kernel: { type: "string", valueName: KERNEL_VERSIONS.join("|"), description: `kernel release modelled (default: the one the enabled plugins were written for, else ${DEFAULT_KERNEL_VERSION})` },
  seed: nonNegativeInt("N", `PRNG seed, non-negative integer (default ${DEFAULT_SEED})`),
  param: { type: "string", multiple: true, valueName: "k=v", description: "workload parameter; repeat for several" },
  json: { type: "boolean", description: "print one JSON object instead of the report" },
} as const satisfies OptionSpecs;

/** The run flags as parsed (each value checked by its schema). */
export type RunFlags = Omit<ParsedOptions<typeof RUN_OPTIONS>, "json">;

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
  const entry = ctx.catalog.find((e) => e.plugin.name === name) ?? ctx.catalog.find((e) => e.refs?.includes(name));
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

/**
 * `machine` as it stands when a flag, the config or a preset gave its memory size
 * (`given`); else with defaultMemoryMiB for its CPU count: more than the default's 64 MiB
 * once the CPUs need it (the run's notes say so).
 */
export function withDefaultMemory(machine: MachineOptions, given: number | undefined): MachineOptions {
  return given !== undefined ? machine : { ...machine, memoryMiB: defaultMemoryMiB(machine.memoryMiB, machine.cpus) };
}

/** Resolves the shared run flags for `workloadName`; without --plugins the config's plugins are enabled. */
export function resolveRunSetup(ctx: CommandContext, workloadName: string | undefined, flags: RunFlags): RunSetup {
  const { registry, config } = ctx;
  const workload = findWorkload(ctx, workloadName);
  const cfg = config?.config;

  const preset =
    flags.preset !== undefined ? findCliPreset(registry, flags.preset) : cfg?.preset !== undefined ? findCliPreset(registry, cfg.preset, config?.file) : undefined;
  const arch: ArchName = flags.arch ?? cfg?.machine?.arch ?? preset?.machine.arch ?? registry.defaultMachine.arch;
  const machine0 = checkMachine(withDefaultMemory({
    ...registry.defaultMachine,
    ...preset?.machine,
    ...cfg?.machine,
    arch,
    ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
    ...(flags.sockets !== undefined ? { sockets: flags.sockets } : {}),
    ...(flags.memory !== undefined ? { memoryMiB: flags.memory } : {}),
    ...(flags.thp !== undefined ? { thp: flags.thp } : {}),
    ...machineOnOff(flags),
  }, flags.memory ?? cfg?.machine?.memoryMiB ?? preset?.machine.memoryMiB));

  const profile =
    flags.profile !== undefined
      ? findProfile(registry, flags.profile)
      : cfg?.profile !== undefined
        ? findProfile(registry, cfg.profile, config?.file)
        : preset !== undefined
          ? findProfile(registry, preset.profile, `preset "${preset.name}"`)
          : defaultProfile(registry);
  const seed = flags.seed ?? cfg?.seed ?? DEFAULT_SEED;
  const params = resolveParams(workload, parseParamFlags(workload, flags.param ?? []), undefined, paramDefaults(registry, profile, machine0));
  const machine = withFeatures(registry, checkMachine({ ...machine0, ...onOff(flags) }), profile);

  const pluginNames =
    flags.plugins ?? (cfg?.plugins ?? []).map((p) => p.name);
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

/** --pcid, --invpcid, --pti as machine options; `run`, `compare` and `check` share them. */
export function onOff(flags: Partial<Record<"pcid" | "invpcid" | "pti", boolean>>): { pcid?: boolean; invpcid?: boolean; pti?: boolean } {
  const out: { pcid?: boolean; invpcid?: boolean; pti?: boolean } = {};
  for (const f of ["pcid", "invpcid", "pti"] as const) if (flags[f] !== undefined) out[f] = flags[f];
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

/** One run of a command's many: what to run, and its label for the progress line. */
export interface RunJob {
  readonly setup: RunSetup;
  readonly label: string;
}

/** --jobs: worker threads for runs that do not depend on each other. */
export const JOBS_OPTION = {
  jobs: positiveInt("N", `worker threads for independent runs (default: one per core, here ${defaultJobs()}); the output is the same for every N`),
} as const satisfies OptionSpecs;

/** Model events a worker cannot pass on (all but progress): a subscriber that wants them keeps the runs in this thread. */
function wantsLiveEvents(ctx: CommandContext): boolean {
  return ctx.bus.wantedModelEvents().some((t) => t !== "progress");
}

/**
 * Runs `jobs` and returns their results in order. With more than one job and `jobs`
 * (the --jobs value, default one per core) above 1, they go to a pool of worker threads
 * when the registry can be rebuilt there (the real one) and nobody wants live model
 * events; otherwise one after another in this thread. Either way the results are the
 * same: a run is a function of its options. A SIGINT (`interrupt`) stops the dispatch:
 * the runs in progress finish, and the results returned are the jobs' first ones.
 */
export async function simulateAll(
  ctx: CommandContext,
  jobs: readonly RunJob[],
  requested: number | undefined,
  what: string,
  onResult?: (index: number, result: RunResult) => void,
  interrupt: Interrupt = NO_INTERRUPT,
): Promise<RunResult[]> {
  const size = Math.min(requested ?? defaultJobs(), jobs.length);
  if (size <= 1 || ctx.registry.workers !== true || wantsLiveEvents(ctx)) {
    const results: RunResult[] = [];
    for (const [index, job] of jobs.entries()) {
      if (await interrupt.checkpoint()) break;
      const result = simulate(ctx, job.setup, { index, total: jobs.length, label: job.label });
      onResult?.(index, result);
      results.push(result);
    }
    return results;
  }
  const pool = createRunPool(size, ctx.cwd, ctx.pluginRefs ?? []);
  ctx.bus.emit("cli:pool", { workers: size, what: `${jobs.length} runs` });
  const label = `${what} on ${size} workers`;
  const results: RunResult[] = [];
  let done = 0;
  let next = 0;
  ctx.bus.emit("cli:simulation", { index: 0, total: jobs.length, label });
  try {
    // `size` runs in flight; each that finishes starts the next, until all are started or a SIGINT came.
    const worker = async (): Promise<void> => {
      while (next < jobs.length && !interrupt.requested) {
        const index = next++;
        const result = await pool.run(jobs[index]!.setup.options);
        results[index] = result;
        onResult?.(index, result);
        done++;
        if (done < jobs.length) ctx.bus.emit("cli:simulation", { index: done, total: jobs.length, label });
      }
    };
    await Promise.all(Array.from({ length: size }, worker));
  } finally {
    await pool.destroy();
  }
  // After a SIGINT every run started has finished: the results are the jobs' first ones.
  return results.slice(0, next);
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
