/**
 * The simulated SMP machine: CPUs with TLBs and paging-structure caches, physical
 * memory, the MMU, the APICs, over the engine's virtual clock. Hardware only: the
 * kernel that runs on it is built on top (kernel/kernel.ts) and knows it; the machine
 * knows no kernel. Whoever watches the hardware (the hazard oracle) attaches through
 * `attach`.
 */
import type { CostParams } from "../cost/cost-model.js";
import { EventStream } from "../events/event-map.js";
import { Engine } from "../sim/engine.js";
import { Prng } from "../sim/prng.js";
import { Apic } from "./apic.js";
import { Cpu, Cr3Users } from "./cpu.js";
import { PhysMem } from "./memory.js";
import { Mmu } from "./mmu.js";
import type { PagingFormat } from "./paging-format.js";
import { PagingStructureCache, PscHolders, Tlb } from "./tlb.js";
import type { HwWatch } from "./watch.js";

/**
 * The most CPUs a machine can have (NR_CPUS of the model), and the most sockets (NUMA
 * nodes). One limit for the CLI's flags, run validation (run/validate.ts), presets
 * (checked by the same validation) and workload parameters that count CPUs.
 */
export const MAX_CPUS = 1024;
export const MAX_SOCKETS = 16;

/**
 * Simulated RAM per CPU that a machine gets when no memory size is given and its CPUs
 * need more than the default size: every CPU runs a task with its own page tables, kernel
 * stack and pages (reaim at 1024 CPUs peaks near 29,500 frames, 115 MiB: more than the
 * default machine's 64 MiB, which is sized for its 8 CPUs).
 */
export const MEMORY_MIB_PER_CPU = 1;
export const MEMORY_PER_CPU_SOURCE =
  "[D] a server's ~1 GB of RAM per CPU (LKP's lkp-csl-2ap4: 192 GB for 192 threads) scaled down 1024×, as the model scales RAM down; memory size itself does not enter the costs";

/**
 * The memory size, in MiB, of a machine of `cpus` CPUs whose memory was not given: the
 * default machine's `defaultMiB`, or MEMORY_MIB_PER_CPU per CPU when that is more (above
 * 64 CPUs with x86's 64 MiB default), so that a run with many CPUs has room for its tasks.
 */
export function defaultMemoryMiB(defaultMiB: number, cpus: number): number {
  return Math.max(defaultMiB, cpus * MEMORY_MIB_PER_CPU);
}

export interface MachineParams {
  readonly format: PagingFormat;
  readonly cpus: number;
  readonly sockets: number;
  readonly tlbEntries: number;
  readonly tlbWays: number;
  /** 2 MiB TLB entries per CPU. */
  readonly tlb2mEntries: number;
  /** Paging-structure cache entries per CPU and level. */
  readonly pscEntries: number;
  readonly memoryFrames: number;
  readonly seed: number;
  /** Intel Knights Landing X86_BUG_PTE_LEAK: A/D set even after the PTE was cleared. */
  readonly pteLeakErratum: boolean;
  /** What CPUID says the CPUs have, and whether the kernel isolates page tables. Default: none of them. */
  readonly features?: CpuFeatures;
}

/**
 * The TLB features a run's CPUs have, as the kernel sees them: X86_FEATURE_PCID (CR4.PCIDE
 * can be set: 12-bit PCIDs tag TLB entries; IA-32e mode only), X86_FEATURE_INVPCID, and
 * X86_FEATURE_PTI (the CPU is affected by Meltdown and the kernel isolates its page tables).
 */
export interface CpuFeatures {
  readonly pcid: boolean;
  readonly invpcid: boolean;
  readonly pti: boolean;
}

export const NO_FEATURES: CpuFeatures = { pcid: false, invpcid: false, pti: false };

export class Machine {
  readonly params: MachineParams;
  readonly format: PagingFormat;
  readonly engine = new Engine();
  readonly prng: Prng;
  readonly mem: PhysMem;
  readonly cpus: readonly Cpu[];
  readonly mmu: Mmu;
  readonly apic: Apic;
  readonly costs: CostParams;
  readonly features: CpuFeatures;
  /** Per page-table frame, the paging-structure-cache slots (of all CPUs) pointing at it. */
  readonly pscHolders: PscHolders;
  /** The CPUs by the CR3 they hold (a watcher's way to the CPUs that may cache one page table's translations). */
  readonly cr3Users: Cr3Users;
  /** The run's coarse event stream (phases, flushes, IPIs, hazards). */
  readonly events = new EventStream();

  constructor(params: MachineParams, costs: CostParams) {
    this.params = params;
    this.format = params.format;
    this.costs = costs;
    this.features = params.features ?? NO_FEATURES;
    this.prng = new Prng(params.seed);
    this.mem = new PhysMem(params.memoryFrames, params.sockets);
    const perSocket = params.cpus / params.sockets;
    const cpus: Cpu[] = [];
    this.cr3Users = new Cr3Users(params.cpus);
    for (let id = 0; id < params.cpus; id++) {
      cpus.push(
        new Cpu(
          { id, socket: Math.floor(id / perSocket) },
          new Tlb({ entries: params.tlbEntries, ways: params.tlbWays, pageShift: 12 }),
          new Tlb({ entries: params.tlb2mEntries, ways: Math.min(4, params.tlb2mEntries), pageShift: 21 }),
          new PagingStructureCache(params.pscEntries),
          this.cr3Users,
        ),
      );
    }
    this.cpus = cpus;
    this.pscHolders = new PscHolders(params.cpus, params.pscEntries, params.memoryFrames);
    for (const cpu of cpus) cpu.psc.attach(this.pscHolders, cpu.id);
    this.mmu = new Mmu(params.format, this.mem, costs, params.pteLeakErratum);
    this.apic = new Apic(this.engine, cpus, costs, this.events);
  }

  get now(): number {
    return this.engine.now;
  }

  /** A tlb_occupancy sample of `cpu` at `time` (default now), when somebody wants one. */
  sampleTlb(cpu: Cpu, time = this.engine.now): void {
    if (this.events.wants("tlb_occupancy")) this.events.emit("tlb_occupancy", { time, cpu: cpu.id, entries: cpu.tlb.live, entries2m: cpu.tlb2m.live });
  }

  /** One cache line moving between two CPUs (a lock handed over, a csd unlock seen by its sender). */
  cacheLineLatency(from: Cpu, to: Cpu): number {
    return from.socket === to.socket ? this.costs.ackLatencySameSocket : this.costs.ackLatencyCrossSocket;
  }

  /** Connects a watcher to every piece of hardware that publishes facts. */
  attach(watch: HwWatch): void {
    this.mem.watch = watch;
    this.mmu.watch = watch;
    this.apic.watch = watch;
    for (const cpu of this.cpus) cpu.onUserEntry = (c) => watch.userEntry(c);
  }

  /** The watcher devices report to (the same one `attach` connected). */
  get watch(): HwWatch {
    return this.mmu.watch;
  }
}
