/**
 * Runs one case (a scenario under a schedule of delays) as an ordinary simulation: the
 * scenario becomes a workload, the delays a scheduler perturbation, and the run's
 * oracle judges it as it judges any run. With `record`, a watcher between the
 * hardware and the oracle writes the per-CPU timeline a counterexample is shown as.
 */
import {
  AtsDevice,
  Completion,
  MADV_DONTNEED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  newTlbUbc,
  ptePfn,
  ptePresent,
  pteWrite,
  simulate,
  type ArchLayer,
  type ArchName,
  type Cpu,
  type EventStream,
  type FlushlabPlugin,
  type HazardReport,
  type HwWatch,
  type KGen,
  type Kernel,
  type KernelVersion,
  type Machine,
  type MachineOptions,
  type MmStruct,
  type TaskApi,
  type TaskGen,
  type VmapArea,
  type WorkloadContext,
  type WorkloadDefinition,
} from "@flushlab/core-mmu";
import { describeOp, type Case, type Op, type Prot, type Scenario, type Thread } from "./scenario.js";

/** What a check runs against: the arch layer, the arch mode and the plugins enabled. */
export interface CheckTarget {
  readonly arch: ArchLayer;
  readonly archName: ArchName;
  readonly plugins: readonly FlushlabPlugin[];
  /** The machine's TLB features (default: none, as the bare-metal profile has it). */
  readonly features?: { readonly pcid?: boolean; readonly invpcid?: boolean; readonly pti?: boolean };
  /** The kernel release the cases run (default v5.17). */
  readonly kernel?: KernelVersion;
}

/** One line of a counterexample's timeline. */
export interface TimelineEvent {
  readonly time: number;
  /** The CPU it happened on; -1 for a device or the whole machine. */
  readonly cpu: number;
  readonly kind: "op" | "fill" | "pte" | "flush" | "ipi" | "free" | "syscall" | "delay" | "hazard";
  readonly text: string;
}

export interface CaseOutcome {
  readonly hazards: readonly HazardReport[];
  /** Scheduling points each CPU passed. */
  readonly points: readonly number[];
  /** Each CPU's first scheduling point after the barrier (where its operations start); earlier delays only move the barrier. */
  readonly firstPoint: readonly number[];
  /** Each CPU's flushes after the barrier, numbered from 0 (what a `flush` delay's `point` counts). */
  readonly flushPoints: readonly (readonly number[])[];
  readonly timeline: readonly TimelineEvent[] | null;
  /** Simulated cycles until the last thread finished. */
  readonly cycles: number;
  /** Calls the kernel made into the enabled plugins' policies. */
  readonly pluginCalls: number;
}

/** Simulated RAM of a check machine (MiB): enough for the scenario, a huge ioremap's frames and the kernel's own pages. */
export const CHECK_MEMORY_MIB = 8;
/** TLB of a check machine: 64 entries, 4-way; a scenario touches a handful of pages, so nothing it uses is evicted. */
export const CHECK_TLB = { entries: 64, ways: 4 } as const;
/** The user region's address is wherever mmap puts it; its pages are 4 KiB. */
const PAGE = 4096;
/** A huge ioremap maps 2 MiB of device memory at a 2 MiB-aligned frame the page allocator does not reach. */
const IOREMAP_SIZE = 2 * 1024 * 1024;

const PROT_BITS: Record<Prot, number> = { none: PROT_NONE, read: PROT_READ, rw: PROT_READ | PROT_WRITE };
const MADV_FREE = 8;

/** What a scenario's threads share while it runs. */
interface ScenarioState {
  /** The region's current start (it moves with mremap). */
  base: number;
  /** Every start the region has had (for the timeline's PTE view). */
  readonly bases: number[];
  /** Where each mremap moves the region: areas thread 0 reserves (PROT_NONE) beside it, one per mremap of the scenario. */
  readonly destinations: number[];
  mm: MmStruct | null;
  device: AtsDevice | null;
  /** Each CPU's scheduling-point count when it left the barrier. */
  readonly firstPoint: number[];
  /** Kernel ranges (vmalloc, ioremap) the threads have used, for the timeline. */
  readonly kernelRanges: { start: number; end: number }[];
}

/** The machine a check runs on: the arch layer's default, with the scenario's CPUs on one socket and small RAM. */
function checkMachine(arch: ArchLayer, archName: ArchName, cpus: number, features: CheckTarget["features"]): MachineOptions {
  return { ...arch.defaultMachine, arch: archName, cpus, sockets: 1, memoryMiB: CHECK_MEMORY_MIB, tlbEntries: CHECK_TLB.entries, tlbWays: CHECK_TLB.ways, ...features };
}

/**
 * A barrier (pthread_barrier_wait in user space): the last thread to arrive releases the
 * others at that cycle, so that the threads' operations start together.
 */
class Barrier {
  private waiting: Completion[] = [];
  private arrived = 0;
  constructor(
    private readonly parties: number,
    private readonly m: { readonly now: number },
  ) {}

  /** What the arriving thread yields: a completion to wait for, or null if it is the last and goes on. */
  arrive(): Completion | null {
    if (++this.arrived === this.parties) {
      for (const c of this.waiting) c.done(this.m.now);
      this.waiting = [];
      this.arrived = 0;
      return null;
    }
    const c = new Completion();
    c.add();
    this.waiting.push(c);
    return c;
  }
}

/**
 * The scenario as a workload: thread 0 maps the region (and binds a device when some
 * thread does DMA); every thread then warms up and waits at a barrier, so that all
 * start their operations at the same cycle.
 */
function scenarioWorkload(s: Scenario, st: ScenarioState, record: ((e: TimelineEvent) => void) | null): WorkloadDefinition {
  return {
    name: "check-scenario",
    description: "a flushlab check scenario",
    mirrors: "flushlab check's scenario grammar",
    params: [],
    metrics: [],
    setup(ctx: WorkloadContext) {
      const k = ctx.kernel;
      const mm = ctx.createProcess();
      st.mm = mm;
      const len = s.region.pages * PAGE;
      const file = s.region.kind === "anon" ? null : ctx.createFile(len);
      const n = s.threads.length;
      s.threads.forEach((t, i) => {
        if (t.ops.some((o) => o.op === "nohz")) k.ct.nohzFull[i] = 1;
      });
      const ready = s.threads.map(() => {
        const c = new Completion();
        c.add();
        return c;
      });
      const barrier = new Barrier(n, ctx.machine);
      const needsDevice = s.threads.some((t) => t.ops.some((o) => o.op === "dma"));
      for (let i = 0; i < n; i++) {
        const thread = s.threads[i]!;
        ctx.spawn(i, mm, function* (t: TaskApi): TaskGen {
          if (i === 0) {
            const prot = PROT_READ | PROT_WRITE;
            st.base = file === null ? yield* t.mmap(len, prot) : yield* t.mmapFile(file, 0, len, prot, s.region.kind === "file-shared");
            st.bases.push(st.base);
            const moves = s.threads.reduce((n, th) => n + th.ops.filter((o) => o.op === "mremap").length, 0);
            for (let j = 0; j < moves; j++) st.destinations.push(yield* t.mmap(len, PROT_NONE));
            if (needsDevice) st.device = new AtsDevice(k, mm, { iotlbEntries: 8, dmaInterval: 1000, writePct: 0, pprCpu: 0 }, ctx.prng.fork(7), "device");
            for (let j = 1; j < n; j++) ready[j]!.done(ctx.machine.now);
          } else {
            yield ready[i]!;
          }
          yield* runThread(t, k, thread, s, st, barrier, record);
        });
      }
    },
    collect() {
      return {};
    },
  };
}

function* touchAll(t: TaskApi, s: Scenario, st: ScenarioState, mode: Thread["warm"], note: ((text: string) => void) | null): TaskGen {
  if (mode === "none") return;
  for (let p = 0; p < s.region.pages; p++) {
    note?.(`${mode} page ${p}`);
    yield t.touch(st.base + p * PAGE, 1, PAGE, mode === "write");
  }
}

function* runThread(t: TaskApi, k: Kernel, thread: Thread, s: Scenario, st: ScenarioState, barrier: Barrier, record: ((e: TimelineEvent) => void) | null): TaskGen {
  const m = k.machine;
  const note = record === null ? null : (text: string) => record({ time: m.now, cpu: t.cpu.id, kind: "op", text });
  yield* touchAll(t, s, st, thread.warm, note);
  const wait = barrier.arrive();
  if (wait !== null) yield wait;
  st.firstPoint[t.cpu.id] = k.sched.points[t.cpu.id]!;
  for (const op of thread.ops) {
    note?.(describeOp(op));
    yield* runOp(t, k, op, s, st);
    if (note !== null && isCall(op)) note(`${op.op} returned`);
  }
  yield* touchAll(t, s, st, thread.sweep, note);
}

function isCall(op: Op): boolean {
  return op.op !== "read" && op.op !== "write" && op.op !== "idle" && op.op !== "dma";
}

function* runOp(t: TaskApi, k: Kernel, op: Op, s: Scenario, st: ScenarioState): TaskGen {
  const at = (page: number) => st.base + page * PAGE;
  switch (op.op) {
    case "read":
    case "write":
      yield t.touch(at(op.page), 1, PAGE, op.op === "write");
      return;
    case "munmap":
      yield* t.munmap(at(op.page), op.pages * PAGE);
      return;
    case "mprotect":
      yield* t.mprotect(at(op.page), op.pages * PAGE, PROT_BITS[op.prot]);
      return;
    case "madvise":
      yield* t.madvise(at(op.page), op.pages * PAGE, op.advice === "dontneed" ? MADV_DONTNEED : MADV_FREE);
      return;
    case "mremap": {
      // MREMAP_MAYMOVE | MREMAP_FIXED onto the next reserved area: the pages move (an
      // mremap to the same size without MREMAP_FIXED returns at once).
      const len = s.region.pages * PAGE;
      const dest = st.destinations.shift();
      if (dest === undefined) return;
      const r = yield* t.mremap(st.base, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
      if (r >= 0) {
        st.base = r;
        st.bases.push(r);
      }
      return;
    }
    case "fork": {
      const child = yield* t.forkCow();
      t.switchTo(child);
      yield* t.exit(child);
      return;
    }
    case "ctxsw": {
      const child = yield* t.fork();
      t.switchTo(child);
      if (op.cycles > 0) yield op.cycles;
      yield* t.exit(child);
      return;
    }
    case "reclaim":
      yield* t.syscall(reclaimPass(k, t.cpu));
      return;
    case "kmem":
      yield* t.syscall(kmem(k, t.cpu, op.kind, op.purge, st));
      return;
    case "dma": {
      const dev = st.device;
      if (dev !== null) dev.dma(at(op.page), op.write);
      yield 1;
      return;
    }
    case "idle":
      if (op.cycles > 0) yield op.cycles;
      return;
    case "nohz":
      // An isolated task's occasional system call, as nohz-isolation's: it kvmallocs a
      // buffer, fills it and frees it (the kernel touches vmalloc memory at each entry).
      if (op.cycles > 0) yield op.cycles;
      yield* t.syscall(kmem(k, t.cpu, "vmalloc", false, st));
      return;
  }
}


/** lru_add_drain_all, then shrink_lruvec on every node until the file lists were scanned twice over (or are empty). */
function* reclaimPass(k: Kernel, cpu: Cpu): KGen {
  for (const c of k.machine.cpus) k.lru.lruAddDrain(c);
  const ubc = newTlbUbc(k.machine.cpus.length);
  for (let node = 0; node < k.reclaim.nodes; node++) {
    const pages = k.reclaim.reclaimablePages();
    for (let pass = 0; pass < 4 && pages > 0; pass++) yield* k.reclaim.shrinkLruvec(cpu, node, ubc);
  }
}

/** A kernel buffer's life: allocate, write every page, free, and purge if asked. */
function* kmem(k: Kernel, cpu: Cpu, kind: "vmalloc" | "ioremap", purge: boolean, st: ScenarioState): KGen {
  const v = k.vmalloc;
  const area: VmapArea = kind === "vmalloc" ? yield* v.vmalloc(cpu, 2 * PAGE) : yield* v.ioremap(cpu, ioremapPfn(k), IOREMAP_SIZE);
  const len = kind === "vmalloc" ? 2 * PAGE : IOREMAP_SIZE;
  st.kernelRanges.push({ start: area.start, end: area.start + len });
  // The kernel writes the first and the last page (an ioremap's registers, a buffer's ends).
  yield* k.entry.kernelAccess(cpu, area.start, true);
  yield* k.entry.kernelAccess(cpu, area.start + len - PAGE, true);
  yield* v.vfree(cpu, area);
  if (purge) yield* v.vmUnmapAliases(cpu);
}

/** Device memory for a huge ioremap: the 2 MiB-aligned frames at the top of RAM, which the check's small workloads never allocate. */
function ioremapPfn(k: Kernel): number {
  const n = k.machine.mem.nframes;
  return n - 1024 - ((n - 1024) % 512);
}

function pteText(k: Kernel, mm: MmStruct, va: number): string {
  const off = k.pgtables.pteOffset(mm.pgd, va);
  if (off < 0) return "none";
  const w = k.machine.mem.words;
  const lo = w[off]!;
  const hi = w[off + 1]!;
  if (!ptePresent(lo, hi)) return lo === 0 && hi === 0 ? "none" : "not present";
  return `pfn ${ptePfn(lo, hi)} ${pteWrite(lo, hi) ? "rw" : "ro"}${(lo & 0x40) !== 0 ? " D" : ""}`;
}

/**
 * Runs one case. Throws FlushlabInputError for a case the model cannot run. `onEvents`
 * gets the run's event stream before it starts, as simulate's does (a trace of a replay).
 */
export function runCase(c: Case, target: CheckTarget, record = false, onEvents?: (events: EventStream) => void): CaseOutcome {
  const s = c.scenario;
  const cpus = s.threads.length;
  const st: ScenarioState = { base: 0, bases: [], destinations: [], mm: null, device: null, firstPoint: s.threads.map(() => Number.MAX_SAFE_INTEGER), kernelRanges: [] };
  const timeline: TimelineEvent[] | null = record ? [] : null;
  const push = timeline === null ? null : (e: TimelineEvent) => timeline.push(e);
  // Delays by (cpu, point), and by (cpu, n-th flush after the barrier) for `flush` ones.
  const delays = new Map<number, number>();
  const key = (cpu: number, point: number, flush: boolean) => (flush ? -1 : 1) * (cpu * 1_000_000 + point + 1);
  for (const d of c.delays) {
    const kk = key(d.cpu, d.point, d.flush === true);
    delays.set(kk, (delays.get(kk) ?? 0) + d.cycles);
  }
  const flushesSeen = s.threads.map(() => 0);
  let kernelRef: Kernel | null = null;
  let pluginCalls = 0;
  const flushPoints: number[][] = s.threads.map(() => []);
  let machineRef: Machine | null = null;
  const ptes = new Map<number, string>();
  const watchPtes = (cpu: number) => {
    const k = kernelRef;
    if (k === null || st.mm === null || push === null) return;
    for (const base of st.bases) {
      for (let p = 0; p < s.region.pages; p++) {
        const va = base + p * PAGE;
        const now = pteText(k, st.mm, va);
        const before = ptes.get(va);
        if (before !== undefined && before !== now) push({ time: k.machine.now, cpu, kind: "pte", text: `${base === st.base ? "" : "old "}page ${p} PTE: ${before} → ${now}` });
        ptes.set(va, now);
      }
    }
  };
  const workload = scenarioWorkload(s, st, push);
  const result = simulate({
    options: { workload: workload.name, machine: checkMachine(target.arch, target.archName, cpus, target.features), profile: "bare-metal", seed: 1, plugins: target.plugins.map((p) => p.name), params: {}, ...(target.kernel ? { kernel: target.kernel } : {}) },
    arch: target.arch,
    workload,
    plugins: target.plugins,
    maxCycles: 1e9,
    instrument({ machine, kernel, oracle }) {
      kernelRef = kernel;
      machineRef = machine;
      kernel.sched.perturb = {
        delay(cpu, point, atFlush) {
          watchPtes(cpu);
          let d = delays.get(key(cpu, point, false)) ?? 0;
          if (atFlush && point >= st.firstPoint[cpu]!) {
            const nth = flushesSeen[cpu]!++;
            flushPoints[cpu]!.push(nth);
            d += delays.get(key(cpu, nth, true)) ?? 0;
          }
          if (d > 0 && push !== null) push({ time: machine.now, cpu, kind: "delay", text: `(delayed ${d.toLocaleString("en-US")} cycles)` });
          return d;
        },
      };
      if (push !== null) machine.attach(recordingWatch(oracle, machine, st, s, push));
      // Count the kernel's calls into what the plugins override.
      const table = kernel.policies as unknown as Record<string, object>;
      for (const plugin of target.plugins) {
        for (const p of plugin.policies) {
          const slot = p.point.slot;
          const impl = table[slot]!;
          table[slot] = new Proxy(impl, {
            get(obj, key, receiver) {
              const v = Reflect.get(obj, key, receiver) as unknown;
              if (typeof v !== "function") return v;
              return (...args: unknown[]) => {
                pluginCalls++;
                return (v as (...a: unknown[]) => unknown).apply(obj, args);
              };
            },
          });
        }
      }
    },
    onEvents(events) {
      onEvents?.(events);
      if (push === null) return;
      events.select("tlb_flush", "ipi_send", "hazard").subscribe((e) => {
        const m = machineRef!;
        switch (e.type) {
          case "tlb_flush":
            if (e.reason !== "TLB_FLUSH_ON_TASK_SWITCH") push({ time: m.now, cpu: e.cpu, kind: "flush", text: `TLB flush (${e.pages < 0 ? "all" : `${e.pages} page${e.pages === 1 ? "" : "s"}`}, ${e.reason.replace("TLB_", "").toLowerCase()})` });
            return;
          case "ipi_send":
            push({ time: m.now, cpu: e.from, kind: "ipi", text: `flush IPI → CPU ${e.to}` });
            return;
          case "hazard":
            push({ time: m.now, cpu: e.cpu, kind: "hazard", text: `HAZARD class ${e.class}: ${e.detail}` });
            return;
        }
      });
    },
  });
  const k = kernelRef as Kernel | null;
  const points = k === null ? [] : Array.from(k.sched.points);
  const firstPoint = st.firstPoint.map((f, i) => Math.min(f, points[i] ?? 0));
  return { hazards: result.hazards, points, firstPoint, flushPoints, timeline, cycles: result.counters["elapsed_cycles"] ?? 0, pluginCalls };
}

/** Passes every hardware fact to the oracle, and writes the ones about the scenario's pages into the timeline. */
function recordingWatch(oracle: HwWatch, m: Machine, st: ScenarioState, s: Scenario, push: (e: TimelineEvent) => void): HwWatch {
  const frames = new Set<number>();
  const describeVa = (va: number): string | null => {
    for (const base of st.bases) {
      if (va >= base && va < base + s.region.pages * PAGE) return `${base === st.base ? "" : "old "}page ${Math.floor((va - base) / PAGE)}`;
    }
    for (const r of st.kernelRanges) if (va >= r.start && va < r.end) return `kernel buffer +${Math.floor((va - r.start) / PAGE)}`;
    return null;
  };
  return {
    tlbFill(cpu, va, frame, huge) {
      oracle.tlbFill(cpu, va, frame, huge);
      const what = describeVa(va);
      if (what === null) return;
      frames.add(frame);
      push({ time: m.now, cpu: cpu.id, kind: "fill", text: `TLB fill: ${what} → pfn ${frame}${huge ? " (2 MiB)" : ""}` });
    },
    staleTlbUse: (...a) => oracle.staleTlbUse(...a),
    stalePscUse: (...a) => oracle.stalePscUse(...a),
    walkIntoNonTable: (...a) => oracle.walkIntoNonTable(...a),
    writeAfterWriteProtect: (...a) => oracle.writeAfterWriteProtect(...a),
    dirtyBitLeak: (...a) => oracle.dirtyBitLeak(...a),
    tlbFlush: (...a) => oracle.tlbFlush(...a),
    userEntry: (...a) => oracle.userEntry(...a),
    pcidSelected: (...a) => oracle.pcidSelected(...a),
    ipiSent: (...a) => oracle.ipiSent(...a),
    ipiHandled: (...a) => oracle.ipiHandled(...a),
    frameFreed(pfn, state) {
      oracle.frameFreed(pfn, state);
      if (frames.has(pfn)) push({ time: m.now, cpu: -1, kind: "free", text: `pfn ${pfn} freed (${m.mem.sites[m.mem.freedBy[pfn]!]})` });
    },
    iotlbFill(device, root, va, frame) {
      oracle.iotlbFill(device, root, va, frame);
      const what = describeVa(va);
      if (what !== null) push({ time: m.now, cpu: -1, kind: "fill", text: `${device} IOTLB fill: ${what} → pfn ${frame}` });
    },
    iotlbUse: (...a) => oracle.iotlbUse(...a),
    pgdCreated: (...a) => oracle.pgdCreated(...a),
    pageReplaced: (...a) => oracle.pageReplaced(...a),
    kernelRangeRecycled(start, end, site) {
      oracle.kernelRangeRecycled(start, end, site);
      push({ time: m.now, cpu: -1, kind: "free", text: `kernel range recycled by ${site}` });
    },
    callReturned: (...a) => oracle.callReturned(...a),
  };
}
