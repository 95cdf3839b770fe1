/**
 * A fake CliRegistry for tests (and the placeholder binary until the real engine lands):
 * a tiny deterministic "simulate" whose numbers depend on workload, machine, profile,
 * params, seed, and which fake plugins are on. It models nothing: it exists so the CLI's
 * parsing, reporting and statistics can be tested end to end.
 *
 * Fake plugins (`FAKE_PLUGINS`):
 * - `lazy-flush`  25 % more ops/s, fewer shootdowns, no hazards; x86-64 and x86-32-pae;
 * - `skip-flush`  50 % more ops/s, but class 4 hazards; x86-64 only; overrides the same
 *                 token as lazy-flush without composing (enabling both is an input error);
 * - `batch-ipi`   10 % more ops/s; composes with lazy-flush;
 * - `noop`        changes nothing (patched samples equal baseline samples);
 * - `pae-only`    applies only to x86-32-pae.
 */
import { DEFAULT_KERNEL_VERSION, EventStream, FlushlabInputError, KERNEL_RANGE_FLUSH, MMU_GATHER_FLUSH, policy, validatePlugins } from "@flushlab/core-mmu";
import type {
  MachinePreset,
  FlushlabPlugin,
  HazardReport,
  MachineOptions,
  RunOptions,
  RunResult,
  WorkloadDefinitionLike,
} from "@flushlab/core-mmu";
import type { CliRegistry } from "../../src/registry-types.js";

/** The fake plugins' policies never run (the fake simulate models nothing); they only declare which points each overrides. */
const gatherPolicy = policy(MMU_GATHER_FLUSH, (_k, before) => before);
const kernelRangePolicy = policy(KERNEL_RANGE_FLUSH, (_k, before) => before);

function fakePlugin(name: string, fields: Partial<FlushlabPlugin> = {}): FlushlabPlugin {
  return {
    name,
    description: `fake plugin ${name} (test registry)`,
    package: `@flushlab/test-${name}`,
    patch: { title: `test: ${name}`, commit: "0000000000000000000000000000000000000000", kernel: "not merged" },
    appliesTo: ["x86-64", "x86-32-pae"],
    policies: [],
    ...fields,
  };
}

export const FAKE_PLUGINS: readonly FlushlabPlugin[] = [
  fakePlugin("lazy-flush", { policies: [gatherPolicy], composesWith: ["batch-ipi"] }),
  fakePlugin("skip-flush", { policies: [gatherPolicy], appliesTo: ["x86-64"] }),
  fakePlugin("batch-ipi", { policies: [gatherPolicy, kernelRangePolicy], composesWith: ["lazy-flush"] }),
  fakePlugin("noop"),
  fakePlugin("pae-only", { appliesTo: ["x86-32-pae"] }),
];

/** Throughput factor of each fake plugin; plugins not listed (e.g. from a config) give 1.05. */
const SPEEDUP: Readonly<Record<string, number>> = { "lazy-flush": 1.25, "skip-flush": 1.5, "batch-ipi": 1.1, noop: 1, "pae-only": 1.02 };

export const FAKE_WORKLOADS: readonly WorkloadDefinitionLike[] = [
  {
    name: "tlb-flush2",
    description: "will-it-scale tlb_flush2: threads mmap, touch and munmap a private range (fake)",
    params: [
      { name: "threads", description: "worker threads", type: "int", default: 8, min: 1, max: 1024 },
      { name: "iterations", description: "loop iterations per thread", type: "int", default: 10000, min: 1, max: 100000000 },
      { name: "unmap", description: "how the range is released", type: "string", default: "munmap", choices: ["munmap", "madvise"] },
      { name: "huge", description: "back the range with 2 MiB pages", type: "boolean", default: false },
      { name: "scale", description: "work per iteration (relative)", type: "number", default: 1, min: 0.01, max: 100 },
    ],
    metrics: [
      { name: "ops_per_sec", description: "loop iterations per second, all threads", unit: "ops/s", better: "higher" },
      { name: "cycles_per_op", description: "CPU cycles per iteration", unit: "cycles", better: "lower" },
      { name: "tlb_ipis_per_sec", description: "TLB shootdown IPIs received per second", unit: "IPIs/s", better: "lower" },
    ],
  },
  {
    name: "mprotect-loop",
    description: "single thread flipping PROT_READ/PROT_WRITE over a range (fake)",
    params: [{ name: "pages", description: "pages in the range", type: "int", default: 512, min: 1, max: 1 << 20 }],
    metrics: [{ name: "ops_per_sec", description: "mprotect calls per second", unit: "ops/s", better: "higher" }],
  },
];

export const FAKE_PROFILES: readonly { name: string; description: string }[] = [
  { name: "bare-metal", description: "fake bare-metal costs" },
  { name: "kvm-guest", description: "fake KVM guest costs (IPIs exit to the host)" },
];

/** One machine preset: 16 CPUs on 2 sockets with the kvm-guest profile. */
export const FAKE_PRESETS: readonly MachinePreset[] = [
  {
    name: "big-box",
    description: "fake 2-socket server",
    machine: { cpus: 16, sockets: 2, memoryMiB: 128, tlbEntries: 1536, tlbWays: 12 },
    profile: "kvm-guest",
    sources: { cpus: "test", sockets: "test", memoryMiB: "test", tlbEntries: "test", tlbWays: "test", profile: "test" },
    scaled: ["RAM 1 TB → 128 MiB"],
  },
];

export const FAKE_DEFAULT_MACHINE: MachineOptions = {
  arch: "x86-64",
  cpus: 8,
  sockets: 1,
  tlbEntries: 1536,
  tlbWays: 12,
  tlb2mEntries: 32,
  pscEntries: 32,
  iotlbEntries: 64,
  memoryMiB: 256,
  la57: false,
};

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}


export interface TestRegistryOptions {
  readonly plugins?: readonly FlushlabPlugin[];
  readonly workloads?: readonly WorkloadDefinitionLike[];
}

export function createTestRegistry(options: TestRegistryOptions = {}): CliRegistry {
  const registry: CliRegistry = {
    plugins: options.plugins ?? FAKE_PLUGINS,
    workloads: options.workloads ?? FAKE_WORKLOADS,
    profiles: FAKE_PROFILES,
    defaultMachine: FAKE_DEFAULT_MACHINE,
    presets: FAKE_PRESETS,
    simulate(run: RunOptions, resolved, onEvents): RunResult {
      const workload = resolved.workload;
      if (!registry.profiles.some((p) => p.name === run.profile)) throw new FlushlabInputError(`unknown profile "${run.profile}"`);
      const plugins = run.plugins.map((name, i) => {
        const p = resolved.plugins[i];
        if (p === undefined || p.name !== name) throw new FlushlabInputError(`unknown plugin "${name}"`);
        return p;
      });
      validatePlugins(plugins, run.machine.arch);

      const param = (name: string, fallback: number): number => {
        const v = run.params[name] ?? workload.params.find((p) => p.name === name)?.default;
        return typeof v === "number" ? v : fallback;
      };
      const threads = Math.min(param("threads", run.machine.cpus), run.machine.cpus);
      const iterations = param("iterations", 10000);
      const scale = param("scale", 1);
      const speedup = plugins.reduce((acc, p) => acc * (SPEEDUP[p.name] ?? 1.05), 1);
      const unsafe = plugins.some((p) => p.name === "skip-flush");
      const profileFactor = run.profile === "kvm-guest" ? 0.7 : 1;
      // Noise depends on everything but the plugins, so "noop" reproduces the baseline exactly.
      const rng = mulberry32(
        fnv1a(JSON.stringify([run.workload, run.seed, run.machine, run.profile, run.params])),
      );
      const noise = (): number => 1 + 0.04 * (rng() - 0.5);

      const cpus = run.machine.cpus;
      const opsPerSec = Math.round((1e6 * Math.pow(threads, 0.8) * speedup * profileFactor * noise()) / scale) / 1000;
      const cyclesPerOp = Math.round((2.4e9 * threads) / (opsPerSec * 1000));
      const remote = Math.round(((iterations * threads) / speedup) * noise());
      const received = remote * Math.max(cpus - 1, 0);
      const tlb = Array.from({ length: cpus }, (_, c) => Math.floor(received / cpus) + (c < received % cpus ? 1 : 0));
      const cal = Array.from({ length: cpus }, (_, c) => Math.round(3 + rng() * 10) + (c === 0 ? 7 : 0));
      const hazards: HazardReport[] = [];
      if (unsafe) {
        const n = 1 + Math.floor(rng() * 3);
        for (let i = 0; i < n; i++) {
          const cpu = 1 + Math.floor(rng() * Math.max(cpus - 1, 1));
          hazards.push({
            class: 4,
            cpu,
            address: `0x${(0x7f0000000000 + 0x1000 * Math.floor(rng() * 4096)).toString(16)}`,
            pfn: 0x1000 + Math.floor(rng() * 0x1000),
            time: 1000 + Math.floor(rng() * 1e6),
            missing: "flush_tlb_mm_range",
            detail: `CPU ${cpu} used a stale translation after the flush skipped it (fake)`,
          });
        }
      }

      if (onEvents !== undefined) {
        const stream = new EventStream();
        onEvents(stream);
        stream.emit("phase", { time: 0, name: "run", state: "start" });
        stream.emit("tlb_flush", { time: 10, cpu: 0, reason: "TLB_REMOTE_SHOOTDOWN", pages: 1 });
        for (const h of hazards) stream.emit("hazard", h);
        stream.emit("progress", { time: 1e6, fraction: 1 });
        stream.emit("phase", { time: 1e6, name: "run", state: "end" });
        stream.complete();
      }

      return {
        workload: run.workload,
        arch: run.machine.arch,
        cpus,
        sockets: run.machine.sockets,
        profile: run.profile,
        kernel: run.kernel ?? DEFAULT_KERNEL_VERSION,
        seed: run.seed,
        plugins: [...run.plugins],
        params: { ...run.params },
        counters: {
          nr_tlb_remote_flush: remote,
          nr_tlb_remote_flush_received: received,
          nr_tlb_local_flush_all: Math.round(iterations * 0.01 * noise()),
          nr_tlb_local_flush_one: Math.round(iterations * threads * 4 * noise()),
          hazards_total: hazards.length,
        },
        interrupts: { TLB: tlb, CAL: cal },
        metrics: {
          ops_per_sec: opsPerSec,
          ...(workload.metrics.some((m) => m.name === "cycles_per_op") ? { cycles_per_op: cyclesPerOp } : {}),
          ...(workload.metrics.some((m) => m.name === "tlb_ipis_per_sec")
            ? { tlb_ipis_per_sec: Math.round((received / (iterations / opsPerSec)) * 100) / 100 }
            : {}),
        },
        hazards,
        notes: ["fake simulator (test registry): the numbers are illustrative, not a model", `memory scaled to ${run.machine.memoryMiB} MiB`],
      };
    },
  };
  return registry;
}

/** The fake registry with the fake plugins installed. */
export const testRegistry: CliRegistry = createTestRegistry();
