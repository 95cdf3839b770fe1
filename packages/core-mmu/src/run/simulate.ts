/**
 * One simulation run, assembled in order: validate, then the machine, the kernel, the
 * policies (pre-patch defaults, then the plugins) and the oracle watching the machine;
 * then the kernel boots, the workload runs and the result is collected. A run is a function of
 * its options: no wall clock, one seeded PRNG.
 */
import type { EventStream } from "../events/event-map.js";
import { MEMORY_MIB_PER_CPU, MEMORY_PER_CPU_SOURCE, Machine, defaultMemoryMiB, type CpuFeatures } from "../hw/machine.js";
import { OutOfMemoryError } from "../hw/memory.js";
import { MMU_EVENTS } from "../hw/mmu.js";
import { C, COUNTER_NAMES } from "../kernel/counters.js";
import type { VaRange } from "../kernel/entry.js";
import { Kernel } from "../kernel/kernel.js";
import { KERNEL_CHANGES, describeKernelVersion, kernelAtLeast } from "../kernel/version.js";
import { WATCHDOG_CYCLES_DEFAULT, WATCHDOG_THRESH_DEFAULT, Watchdog } from "../kernel/watchdog.js";
import type { AccessRun, TaskGen } from "../kernel/sched.js";
import { SegmentationFault } from "../mm/filemap.js";
import { PROT_EXEC, PROT_READ, PROT_WRITE } from "../mm/mmap.js";
import { Oracle } from "../oracle/oracle.js";
import { assemblePolicies } from "../plugin/assemble.js";
import { CORE_DEFAULTS } from "../plugin/defaults.js";
import { MACHINE_SIZE_NAMES, type ArchLayer, type FlushlabPlugin, type MachineOptions } from "../plugin/define.js";
import { FlushlabInputError, PluginError } from "../plugin/errors.js";
import type { TaskApi, WorkloadContext, WorkloadDefinition } from "../workload/types.js";
import type { RunOptions, RunResult } from "./types.js";
import { defaultFromValue, describeDefaultFrom, validateRun, type ValidRun } from "./validate.js";

export interface SimulateInput {
  readonly options: RunOptions;
  readonly arch: ArchLayer;
  readonly workload: WorkloadDefinition;
  /** The enabled plugins, in the order the user gave them. */
  readonly plugins: readonly FlushlabPlugin[];
  /**
   * Called before the run starts with the run's event stream, so reporters can subscribe
   * (`events.select("hazard", "progress")`, or `events.events$` for every event).
   */
  readonly onEvents?: (events: EventStream) => void;
  /** Safety limit on simulated time, in cycles (default: 1e12). */
  readonly maxCycles?: number;
  /**
   * Called once the machine, the kernel, its policies and the oracle are assembled and
   * before the kernel boots: a tool may set `kernel.sched.perturb` or attach a watcher
   * that passes the hardware's facts on to the oracle (`machine.attach`).
   */
  readonly instrument?: (run: { readonly machine: Machine; readonly kernel: Kernel; readonly oracle: Oracle }) => void;
}

/** [addr, addr + len) rounded out to whole pages, as the calls that take a range see it. */
function pageRange(addr: number, len: number): { start: number; end: number } {
  return { start: addr - (addr % 4096), end: addr + Math.ceil(len / 4096) * 4096 };
}

/** The order of the result's counters: kernel counters with the hardware's and the oracle's counts where they always stood. */
const RESULT_COUNTERS: readonly string[] = (() => {
  const out = [...COUNTER_NAMES] as string[];
  out.splice(out.indexOf("csd_queued"), 0, "ipi_sent");
  out.splice(out.indexOf("pages_allocated"), 0, "page_walks", "psc_walks", "tlb_hits", "dirty_assists", "accesses");
  out.splice(out.indexOf("cycles_user"), 0, "hazards_total");
  return out;
})();

export function simulate(input: SimulateInput): RunResult {
  const { options, arch, workload } = input;
  const run = validateRun(input);
  const machineOpts = run.machine;

  // 1. The machine.
  const machine = new Machine(
    {
      format: run.format,
      cpus: machineOpts.cpus,
      sockets: machineOpts.sockets,
      tlbEntries: machineOpts.tlbEntries,
      tlbWays: machineOpts.tlbWays,
      tlb2mEntries: machineOpts.tlb2mEntries,
      pscEntries: machineOpts.pscEntries,
      memoryFrames: run.memoryFrames,
      seed: run.seed,
      pteLeakErratum: machineOpts.pteLeakErratum === true,
      features: { pcid: machineOpts.pcid, invpcid: machineOpts.invpcid, pti: machineOpts.pti },
    },
    run.profile.params,
  );
  // 2. The kernel, 3. its policies, 4. the oracle watching the machine; then the kernel boots.
  const kernel = new Kernel(machine, run.kernel);
  kernel.sched.watchdog = new Watchdog(machineOpts.watchdogThresh ?? WATCHDOG_THRESH_DEFAULT, machineOpts.watchdogCycles ?? WATCHDOG_CYCLES_DEFAULT, run.profile.params.freqHz);
  kernel.memory.huge.setBoot(machineOpts.thp ?? "never");
  const container = assemblePolicies(kernel, [...CORE_DEFAULTS, ...arch.defaults], run.plugins);
  const oracle = new Oracle(machine);
  input.instrument?.({ machine, kernel, oracle });
  kernel.boot();

  const workloadCounters = new Map<string, number>();
  const entry = kernel.entry;
  const ctx: WorkloadContext = {
    machine,
    kernel,
    params: run.params,
    prng: machine.prng.fork(1),
    createProcess: () => kernel.createProcess(),
    createFile: (bytes) => kernel.pageCache.createFile(bytes),
    spawn(cpuId, mm, body) {
      const cpu = machine.cpus[cpuId];
      if (!cpu) throw new FlushlabInputError(`workload ${workload.name} needs CPU ${cpuId} but the machine has ${machine.cpus.length}`);
      const access: AccessRun = { kind: "access", va: 0, count: 0, stride: 0, write: false };
      const fork = kernel.fork;
      const api: TaskApi = {
        cpu,
        mm,
        index: cpuId,
        mmap: (len, prot) => entry.syscall(cpu, "mmap", kernel.mmap.mmap(cpu, len, prot)),
        mmapFile: (file, offset, len, prot, shared) => entry.syscall(cpu, "mmap", kernel.mmap.mmapFile(cpu, file, offset, len, prot, shared)),
        mmapShared: (len, prot) => entry.syscall(cpu, "mmap", kernel.mmap.mmapShared(cpu, len, prot)),
        munmap: (addr, len) => entry.syscall(cpu, "munmap", kernel.mmap.munmap(cpu, addr, len), pageRange(addr, len)),
        madvise(addr, len, advice) {
          // The ranges it zapped or cleaned (not a VMA it refused), named as it goes.
          const done: VaRange[] = [];
          return entry.syscall(cpu, "madvise", kernel.madvise.madvise(cpu, addr, len, advice, done), done);
        },
        mprotect(addr, len, prot) {
          // What it promises as it returns: nothing when writes stay allowed; no write when
          // the pages stay readable; no access at all for PROT_NONE.
          const restricted: VaRange[] = (prot & PROT_WRITE) !== 0 ? [] : [{ ...pageRange(addr, len), writesOnly: (prot & (PROT_READ | PROT_EXEC)) !== 0 }];
          return entry.syscall(cpu, "mprotect", kernel.mprotect.mprotect(cpu, addr, len, prot), restricted);
        },
        mremap(addr, oldLen, newLen, flags = 0, newAddr = 0) {
          // The ranges it unmapped or moved away from (the old one, when it moved), named as it goes.
          const restricted: VaRange[] = [];
          return entry.syscall(cpu, "mremap", kernel.mremap.mremap(cpu, addr, oldLen, newLen, flags, newAddr, restricted), restricted);
        },
        reclaim: () => entry.syscall(cpu, "reclaim", kernel.reclaim.tryToFreePages(cpu)),
        syscall: (body) => entry.syscall(cpu, "syscall", body),
        fork: () => entry.syscall(cpu, "fork", fork.forkChild(cpu)),
        forkCow: () => entry.syscall(cpu, "fork", fork.forkCow(cpu)),
        switchTo: (child) => fork.switchToTask(cpu, child),
        exit: (child, stackCpu) => entry.syscall(cpu, "exit", fork.exitTask(cpu, child, mm, stackCpu === undefined ? cpu : machine.cpus[stackCpu]!)),
        touch(va, count, stride, write) {
          access.va = va;
          access.count = count;
          access.stride = stride;
          access.write = write;
          return access;
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

  input.onEvents?.(machine.events);
  machine.events.emit("phase", { time: 0, name: workload.name, state: "start" });
  machine.events.emit("machine", { time: 0, cpus: machineOpts.cpus, sockets: machineOpts.sockets, freqHz: run.profile.params.freqHz, tlbEntries: machineOpts.tlbEntries, tlb2mEntries: machineOpts.tlb2mEntries });
  const maxCycles = input.maxCycles ?? 1e12;
  try {
    try {
      workload.setup(ctx);
    } catch (e) {
      if (e instanceof FlushlabInputError) throw e;
      throw new FlushlabInputError(`workload ${workload.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    machine.engine.run(maxCycles);
    // Nothing left to happen and a task has not exited: a CPU waits for good.
    if (machine.engine.pending === 0) kernel.sched.checkStalled();
  } catch (e) {
    if (e instanceof FlushlabInputError) throw e;
    if (run.plugins.length > 0 && e instanceof Error && /faults endlessly/.test(e.message)) {
      throw new PluginError(`with plugins ${run.plugins.map((p) => p.name).join(", ")}: ${e.message}`);
    }
    if (e instanceof SegmentationFault || e instanceof OutOfMemoryError) {
      throw new FlushlabInputError(`workload ${workload.name} cannot run on this machine at cycle ${machine.now}: ${e.message}`);
    }
    throw e;
  } finally {
    // Empty the container first: dispose() is async, and until its promise settles (the
    // next microtask checkpoint) the container stays reachable with its registry, which
    // holds the kernel and through it the machine (~200 MiB of typed arrays at 1024 CPUs).
    // A caller running simulate() in a loop without awaiting kept every run until the loop ended.
    container.reset();
    container.dispose();
  }
  const elapsed = machine.now;
  machine.events.emit("phase", { time: elapsed, name: workload.name, state: "end" });
  machine.events.complete();

  const metrics = workload.collect(ctx, elapsed);
  return {
    workload: workload.name,
    arch: machineOpts.arch,
    cpus: machineOpts.cpus,
    sockets: machineOpts.sockets,
    profile: options.profile,
    kernel: run.kernel,
    seed: run.seed,
    plugins: run.plugins.map((p) => p.name),
    params: run.params,
    counters: resultCounters(kernel, oracle, elapsed, workloadCounters),
    interrupts: { TLB: Array.from(kernel.counters.irqTlb), CAL: Array.from(kernel.counters.irqCall) },
    metrics,
    hazards: oracle.hazards.slice(),
    notes: [
      `memory: ${machineOpts.memoryMiB} MiB simulated (${run.memoryFrames} frames of 4 KiB${memorySourceNote(machineOpts, arch)}); ${machineOpts.cpus} CPUs on ${machineOpts.sockets} socket(s)`,
      ...machineSizeNotes(machineOpts, arch),
      describeKernelVersion(run.kernel),
      `TLB features: ${describeFeatures(machineOpts)} (arch/x86/mm/tlb.c ${kernelAtLeast(run.kernel, KERNEL_CHANGES.x86Pcid) ? "v5.17" : "v4.2"}: ${machineOpts.pcid ? "6 dynamic ASIDs per CPU" : "one ASID, every switch to another mm flushes"}${machineOpts.pti ? `; PTI: kernel and user PCIDs, ${machineOpts.pcid ? (machineOpts.invpcid ? "user addresses flushed by INVPCID" : "a user-address flush drops the whole user PCID at the next return to user") : "every kernel entry and exit flushes"}, kernel mappings not global` : ""})`,
      ...(machineOpts.pteLeakErratum === true
        ? ["CPU erratum: Knights Landing's A/D erratum (X86_BUG_PTE_LEAK): a write through a cached clean entry whose PTE was cleared sets D in the cleared entry and completes (hazard class 3) instead of faulting"]
        : []),
      ...(run.preset ? [`machine preset ${run.preset.name}: ${run.preset.description}; scaled down: ${run.preset.scaled.join("; ")}`] : []),
      `cost profile: ${run.profile.name} (${run.profile.description}); clock ${run.profile.params.freqHz / 1e9} GHz`,
      ...arch.notes,
      kernel.memory.huge.note(),
      ...(workload.notes?.(ctx) ?? []),
      ...hardwareParamNotes(workload, run, arch),
    ],
  };
}

/** Where a memory size scaled with the CPU count comes from (nothing for any other size). */
function memorySourceNote(m: MachineOptions, arch: ArchLayer): string {
  const base = arch.defaultMachine.memoryMiB;
  if (m.memoryMiB === base || m.memoryMiB !== defaultMemoryMiB(base, m.cpus)) return "";
  return `; the size for ${m.cpus} CPUs when none is given: ${MEMORY_MIB_PER_CPU} MiB per CPU (the ${arch.name} default, ${base} MiB, is less): ${MEMORY_PER_CPU_SOURCE}`;
}

/** The machine's hardware sizes, each with its source: the arch's, or "set for this run" when the run changed it. */
function machineSizeNotes(m: MachineOptions, arch: ArchLayer): string[] {
  const src = (k: (typeof MACHINE_SIZE_NAMES)[number]): string => (m[k] === arch.defaultMachine[k] ? arch.machineSources[k] : `set for this run (the ${arch.name} default is ${arch.defaultMachine[k]})`);
  return [
    `TLB sizes per CPU: 4 KiB TLB ${m.tlbEntries} entries ${m.tlbWays}-way (${src("tlbEntries")}); 2 MiB TLB ${m.tlb2mEntries} entries ${Math.min(4, m.tlb2mEntries)}-way (${src("tlb2mEntries")})`,
    `paging-structure caches: ${m.pscEntries} entries per level per CPU (${src("pscEntries")})`,
  ];
}

/** For each workload parameter that defaults to a cost or a machine size: its value and where it came from. */
function hardwareParamNotes(workload: WorkloadDefinition, run: ValidRun, arch: ArchLayer): string[] {
  const out: string[] = [];
  const defaults = { costs: run.profile.params, machine: run.machine };
  for (const spec of workload.params) {
    const from = spec.defaultFrom;
    if (from === undefined) continue;
    const v = run.params[spec.name];
    const d = defaultFromValue(from, defaults);
    const source =
      "cost" in from
        ? `${run.profile.name}: ${run.profile.sources[from.cost]}`
        : d === arch.defaultMachine[from.machine]
          ? arch.machineSources[from.machine]
          : `set for this run's machine (the ${arch.name} default is ${arch.defaultMachine[from.machine]})`;
    out.push(
      v === d
        ? `parameter ${spec.name} = ${String(v)}: ${describeDefaultFrom(from)} (${source})`
        : `parameter ${spec.name} = ${String(v)}: set for this run (${describeDefaultFrom(from)} is ${d})`,
    );
  }
  return out;
}

/** "PCID on, INVPCID off, PTI on": a run's TLB features as its notes and machine line name them. */
export function describeFeatures(f: CpuFeatures): string {
  const on = (b: boolean): string => (b ? "on" : "off");
  return `PCID ${on(f.pcid)}, INVPCID ${on(f.invpcid)}, PTI ${on(f.pti)}`;
}

/** The result's counters: the kernel's, the hardware's event counts, the oracle's, and what the run adds. */
function resultCounters(kernel: Kernel, oracle: Oracle, elapsed: number, workloadCounters: ReadonlyMap<string, number>): Record<string, number> {
  const machine = kernel.machine;
  const counters = kernel.counters;
  // Idle time: what is left of each CPU's elapsed cycles.
  let idle = 0;
  const cyc = kernel.sched.cpuCycles;
  for (let i = 0; i < machine.cpus.length; i++) idle += Math.max(0, elapsed - cyc[i * 3]! - cyc[i * 3 + 1]! - cyc[i * 3 + 2]!);
  counters.values[C.cycles_idle] = idle;
  for (const [k, v] of workloadCounters) counters.add(k, v);
  const kernelValues = counters.toRecord();
  const out: Record<string, number> = {};
  for (const name of RESULT_COUNTERS) {
    const mmu = MMU_EVENTS.indexOf(name as (typeof MMU_EVENTS)[number]);
    out[name] = mmu >= 0 ? machine.mmu.events[mmu]! : name === "ipi_sent" ? machine.apic.ipisSent : name === "hazards_total" ? oracle.total : kernelValues[name]!;
  }
  // Then the named extras (plugins', workloads'), sorted, as toRecord lists them.
  for (const [k, v] of Object.entries(kernelValues)) if (!(k in out)) out[k] = v;
  out["elapsed_cycles"] = elapsed;
  out["pages_in_use_peak"] = machine.mem.peakAllocated;
  for (const [k, v] of Object.entries(kernel.policies.archMm.statistics?.() ?? {})) out[k] = v;
  return out;
}
