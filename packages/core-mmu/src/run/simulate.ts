/**
 * One simulation run: validate the options, build the machine and a child container,
 * register the pre-patch defaults, the arch layer and the plugins, run the workload,
 * and collect the result. A run is a function of its options: no wall clock, one
 * seeded PRNG.
 */
import { container as rootContainer, type DependencyContainer, type InjectionToken } from "tsyringe";
import type { Observable } from "rxjs";
import type { CostModel } from "../cost/cost-model.js";
import { checkCostModel } from "../cost/cost-model.js";
import type { FlushlabEvent } from "../events/event-map.js";
import type { AccessRun, TaskGen } from "../hw/cpu.js";
import { Machine } from "../hw/machine.js";
import { OutOfMemoryError } from "../hw/memory.js";
import { pagingFormatByName, type PagingFormat } from "../hw/paging-format.js";
import { Kernel } from "../mm/kernel.js";
import { C } from "../oracle/counters.js";
import { SegmentationFault, syscall } from "../mm/memory.js";
import { exitTask, forkChild, forkCow, switchToTask } from "../mm/fork.js";
import { registerCoreDefaults } from "../plugin/defaults.js";
import { ARCH_TLB, CONTEXT_TRACKING_ENTRY, COST_MODEL, KERNEL_RANGE_FLUSH, MACHINE, MMU_GATHER_FLUSH, PROTECTION_CHANGE_FLUSH, SECONDARY_TLB_NOTIFY, UNMAP_FLUSH, VMALLOC_SYNC, tokenName } from "../plugin/tokens.js";
import type { TaskApi, WorkloadContext, WorkloadDefinition } from "../workload/types.js";
import { FlushlabInputError, type FlushlabPlugin, type MachineOptions, type ParamSpec, type ParamValues, type RunOptions, type RunResult } from "./types.js";

/** What an arch package provides to a run. */
export interface ArchLayer {
  readonly name: string;
  readonly profiles: Readonly<Record<string, CostModel>>;
  readonly defaultMachine: MachineOptions;
  /** Registers the arch's defaults (ARCH_TLB, …) in the run container. */
  register(container: DependencyContainer): void;
  /** Kernel versions the arch layer mirrors, for the run's notes. */
  readonly notes: readonly string[];
}

export interface SimulateInput {
  readonly options: RunOptions;
  readonly arch: ArchLayer;
  readonly workload: WorkloadDefinition;
  /** The enabled plugins, in the order the user gave them. */
  readonly plugins: readonly FlushlabPlugin[];
  /** Called before the run starts, so reporters can subscribe. */
  readonly onEvents?: (events$: Observable<FlushlabEvent>) => void;
  /** Safety limit on simulated time, in cycles (default: 1e12). */
  readonly maxCycles?: number;
}

/** Thrown when a plugin's code throws during registration or a run. */
export class PluginError extends FlushlabInputError {}

/** Resolves `params` against the workload's specs: defaults filled in, types checked. */
export function resolveParams(specs: readonly ParamSpec[], given: ParamValues, workload: string): ParamValues {
  const out: Record<string, number | boolean | string> = {};
  for (const k of Object.keys(given)) {
    if (!specs.some((s) => s.name === k)) {
      throw new FlushlabInputError(`unknown parameter "${k}" for workload ${workload} (known: ${specs.map((s) => s.name).join(", ") || "none"})`);
    }
  }
  for (const s of specs) {
    const v = Object.prototype.hasOwnProperty.call(given, s.name) ? given[s.name]! : s.default;
    if (s.type === "int" || s.type === "number") {
      if (typeof v !== "number" || !Number.isFinite(v) || (s.type === "int" && !Number.isInteger(v))) {
        throw new FlushlabInputError(`parameter ${s.name} must be ${s.type === "int" ? "an integer" : "a number"}, got ${JSON.stringify(v)}`);
      }
      if ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max)) {
        throw new FlushlabInputError(`parameter ${s.name} must be in [${s.min ?? "-inf"}, ${s.max ?? "inf"}], got ${v}`);
      }
    } else if (s.type === "boolean") {
      if (typeof v !== "boolean") throw new FlushlabInputError(`parameter ${s.name} must be true or false, got ${JSON.stringify(v)}`);
    } else if (typeof v !== "string" || (s.choices && !s.choices.includes(v))) {
      throw new FlushlabInputError(`parameter ${s.name} must be one of ${s.choices?.join(", ") ?? "a string"}, got ${JSON.stringify(v)}`);
    }
    out[s.name] = v;
  }
  return out;
}

/** Checks that no two plugins override one token without declaring how they compose. */
export function checkPluginConflicts(plugins: readonly FlushlabPlugin[]): void {
  const owner = new Map<InjectionToken<unknown>, FlushlabPlugin>();
  const names = new Set<string>();
  for (const p of plugins) {
    if (names.has(p.name)) throw new FlushlabInputError(`plugin "${p.name}" is enabled twice`);
    names.add(p.name);
    for (const t of p.overrides) {
      const prev = owner.get(t);
      if (prev && !(p.composesWith?.includes(prev.name) || prev.composesWith?.includes(p.name))) {
        throw new FlushlabInputError(`plugins "${prev.name}" and "${p.name}" both override ${tokenName(t)} and neither declares how they compose (composesWith)`);
      }
      owner.set(t, p);
    }
  }
}

function pagingFormatFor(machine: MachineOptions): PagingFormat {
  if (machine.arch === "x86-32-pae") {
    if (machine.la57) throw new FlushlabInputError("la57 (5-level paging) needs --arch x86-64");
    return pagingFormatByName("x86-32-pae");
  }
  return pagingFormatByName(machine.la57 ? "x86-64-la57" : "x86-64");
}

/** Wraps an instance a plugin registered so that anything it throws names the plugin. */
function tagErrors<T extends object>(obj: T, plugin: string, token: string): T {
  return new Proxy(obj, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      const name = `${token}.${String(prop)}`;
      return function (this: unknown, ...args: unknown[]) {
        const fail = (e: unknown): never => {
          if (e instanceof PluginError) throw e;
          throw new PluginError(`plugin "${plugin}" failed in ${name}: ${e instanceof Error ? e.message : String(e)}`);
        };
        let r: unknown;
        try {
          r = v.apply(target, args);
        } catch (e) {
          fail(e);
        }
        if (r !== null && typeof r === "object" && typeof (r as Generator).next === "function" && typeof (r as Generator)[Symbol.iterator] === "function") {
          const g = r as Generator<unknown, unknown, unknown>;
          return (function* () {
            try {
              return yield* g;
            } catch (e) {
              return fail(e);
            }
          })();
        }
        return r;
      };
    },
  });
}

export function simulate(input: SimulateInput): RunResult {
  const { options, arch, workload } = input;
  const machineOpts = options.machine;
  const profile = arch.profiles[options.profile];
  if (!profile) throw new FlushlabInputError(`unknown profile "${options.profile}" (known: ${Object.keys(arch.profiles).join(", ")})`);
  checkCostModel(profile);
  if (!Number.isInteger(machineOpts.cpus) || machineOpts.cpus < 1 || machineOpts.cpus > 256) throw new FlushlabInputError(`--cpus must be an integer from 1 to 256, got ${machineOpts.cpus}`);
  if (!Number.isInteger(machineOpts.sockets) || machineOpts.sockets < 1 || machineOpts.cpus % machineOpts.sockets !== 0) {
    throw new FlushlabInputError(`--sockets must divide --cpus (${machineOpts.cpus}), got ${machineOpts.sockets}`);
  }
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > 0xffffffff) throw new FlushlabInputError(`--seed must be an integer from 0 to 4294967295, got ${options.seed}`);
  for (const p of input.plugins) {
    if (!p.appliesTo.includes(machineOpts.arch)) throw new FlushlabInputError(`plugin "${p.name}" does not apply to ${machineOpts.arch} (applies to ${p.appliesTo.join(", ")})`);
  }
  checkPluginConflicts(input.plugins);
  const params = resolveParams(workload.params, options.params, workload.name);
  const format = pagingFormatFor(machineOpts);
  // Sockets are NUMA nodes; each gets an equal share of the frames.
  const memoryFrames = Math.floor((machineOpts.memoryMiB * 1024 * 1024) / 4096 / machineOpts.sockets) * machineOpts.sockets;

  const machine = new Machine(
    {
      format,
      cpus: machineOpts.cpus,
      sockets: machineOpts.sockets,
      tlbEntries: machineOpts.tlbEntries,
      tlbWays: machineOpts.tlbWays,
      tlb2mEntries: 32,
      pscEntries: 32,
      memoryFrames,
      seed: options.seed,
      pteLeakErratum: false,
    },
    profile.params,
  );

  // One child container per run; nothing is registered globally.
  const c = rootContainer.createChildContainer();
  c.register(MACHINE, { useValue: machine });
  c.register(COST_MODEL, { useValue: profile });
  registerCoreDefaults(c);
  arch.register(c);
  const overriddenBy = new Map<InjectionToken<unknown>, string>();
  for (const p of input.plugins) {
    try {
      p.register(c);
    } catch (e) {
      throw new PluginError(`plugin "${p.name}" failed to register: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const t of p.overrides) overriddenBy.set(t, p.name);
  }
  const resolve = <T extends object>(t: InjectionToken<T>): T => {
    let v: T;
    try {
      v = c.resolve(t);
    } catch (e) {
      const by = overriddenBy.get(t);
      throw new PluginError(`${by ? `plugin "${by}": ` : ""}cannot build ${tokenName(t)}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
    const by = overriddenBy.get(t);
    return by ? tagErrors(v, by, tokenName(t)) : v;
  };
  const kernel = new Kernel(machine, {
    arch: resolve(ARCH_TLB),
    mmuGatherFlush: resolve(MMU_GATHER_FLUSH),
    protectionChangeFlush: resolve(PROTECTION_CHANGE_FLUSH),
    vmallocSync: resolve(VMALLOC_SYNC),
    unmapFlush: resolve(UNMAP_FLUSH),
    kernelRangeFlush: resolve(KERNEL_RANGE_FLUSH),
    ctEntry: resolve(CONTEXT_TRACKING_ENTRY),
    secondaryTlbNotify: resolve(SECONDARY_TLB_NOTIFY),
  });

  const workloadCounters = new Map<string, number>();
  const ctx: WorkloadContext = {
    machine,
    kernel,
    params,
    prng: machine.prng.fork(1),
    createProcess: () => kernel.createMm(),
    createFile: (bytes) => kernel.createFile(bytes),
    spawn(cpuId, mm, body) {
      const cpu = machine.cpus[cpuId];
      if (!cpu) throw new FlushlabInputError(`workload ${workload.name} needs CPU ${cpuId} but the machine has ${machine.cpus.length}`);
      const run: AccessRun = { kind: "access", va: 0, count: 0, stride: 0, write: false };
      const api: TaskApi = {
        cpu,
        mm,
        index: cpuId,
        mmap: (len, prot) => kernel.sysMmap(cpu, len, prot),
        mmapFile: (file, offset, len, prot, shared) => kernel.sysMmapFile(cpu, file, offset, len, prot, shared),
        mmapShared: (len, prot) => kernel.sysMmapShared(cpu, len, prot),
        munmap: (addr, len) => kernel.sysMunmap(cpu, addr, len),
        madvise: (addr, len, advice) => kernel.sysMadvise(cpu, addr, len, advice),
        mprotect: (addr, len, prot) => kernel.sysMprotect(cpu, addr, len, prot),
        syscall: (body) => syscall(kernel, cpu, body),
        fork: () => syscall(kernel, cpu, forkChild(kernel, cpu)),
        forkCow: () => syscall(kernel, cpu, forkCow(kernel, cpu)),
        switchTo: (child) => switchToTask(kernel, cpu, child),
        exit: (child) => syscall(kernel, cpu, exitTask(kernel, cpu, child, mm)),
        touch(va, count, stride, write) {
          run.va = va;
          run.count = count;
          run.stride = stride;
          run.write = write;
          return run;
        },
      };
      const gen: TaskGen = body(api);
      kernel.startTask(cpu, mm, gen);
    },
    count(name, n = 1) {
      workloadCounters.set(name, (workloadCounters.get(name) ?? 0) + n);
    },
    counter(name) {
      return workloadCounters.get(name) ?? 0;
    },
  };

  input.onEvents?.(machine.events.events$);
  machine.events.emit("phase", { time: 0, name: workload.name, state: "start" });
  const maxCycles = input.maxCycles ?? 1e12;
  try {
    try {
      workload.setup(ctx);
    } catch (e) {
      if (e instanceof FlushlabInputError) throw e;
      throw new FlushlabInputError(`workload ${workload.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    machine.engine.run(maxCycles);
  } catch (e) {
    if (e instanceof FlushlabInputError) throw e;
    if (input.plugins.length > 0 && e instanceof Error && /faults endlessly/.test(e.message)) {
      throw new PluginError(`with plugins ${input.plugins.map((p) => p.name).join(", ")}: ${e.message}`);
    }
    if (e instanceof SegmentationFault || e instanceof OutOfMemoryError) {
      throw new FlushlabInputError(`workload ${workload.name} cannot run on this machine at cycle ${machine.now}: ${e.message}`);
    }
    throw e;
  }
  const elapsed = machine.now;
  machine.events.emit("phase", { time: elapsed, name: workload.name, state: "end" });
  machine.events.complete();

  const metrics = workload.collect(ctx, elapsed);
  const counters = machine.counters;
  // Idle time: what is left of each CPU's elapsed cycles.
  let idle = 0;
  for (let i = 0; i < machine.cpus.length; i++) {
    idle += Math.max(0, elapsed - machine.cpuCycles[i * 3]! - machine.cpuCycles[i * 3 + 1]! - machine.cpuCycles[i * 3 + 2]!);
  }
  counters.values[C.cycles_idle] = idle;
  for (const [k, v] of [...workloadCounters].sort(([a], [b]) => (a < b ? -1 : 1))) counters.add(k, v);
  const record = counters.toRecord();
  record["elapsed_cycles"] = elapsed;
  record["pages_in_use_peak"] = machine.mem.peakAllocated;
  record["pgd_lock_wait_cycles"] = kernel.pgdLock.waitCycles;
  record["pgd_lock_contended"] = kernel.pgdLock.contended;

  const notes = [
    `memory: ${machineOpts.memoryMiB} MiB simulated (${memoryFrames} frames of 4 KiB); ${machineOpts.cpus} CPUs on ${machineOpts.sockets} socket(s); TLB ${machineOpts.tlbEntries} entries ${machineOpts.tlbWays}-way per CPU; PCID not modelled`,
    `cost profile: ${profile.name} (${profile.description}); clock ${profile.params.freqHz / 1e9} GHz`,
    ...arch.notes,
    ...(workload.notes?.(ctx) ?? []),
  ];
  return {
    workload: workload.name,
    arch: machineOpts.arch,
    cpus: machineOpts.cpus,
    sockets: machineOpts.sockets,
    profile: options.profile,
    seed: options.seed,
    plugins: input.plugins.map((p) => p.name),
    params,
    counters: record,
    interrupts: { TLB: Array.from(counters.irqTlb), CAL: Array.from(counters.irqCall) },
    metrics,
    hazards: machine.oracle.hazards.slice(),
    notes,
  };
}
