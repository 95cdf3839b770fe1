/**
 * The search. Scenarios come from the grammar (scenario.ts) by swarm testing (Groce et
 * al., ISSTA 2012): each scenario enables a random few operation kinds and draws every
 * thread's program from those alone, so that the repetitions a race needs (two zaps
 * of one page, two mprotects) are common. Each scenario is run under the natural
 * schedule (every CPU at its own speed, all starting together), then under delays:
 * delay-bounded scheduling (Emmi, Qadeer and Rakamarić, POPL 2011), where a delay stalls
 * one CPU at one scheduling point for one of a few lengths. Every placement of one
 * delay is tried when a scenario has few enough (the smallest scenarios are explored
 * exhaustively at delay bound 1); otherwise, and beyond, random schedules of one to
 * three delays. A hazard is shrunk (fewer CPUs, operations, delays, pages) while the
 * same hazard class still appears, as property-based testing shrinks a failing input.
 * Everything is a function of the seed.
 */
import { Prng, type HazardClass, type HazardReport } from "@flushlab/core-mmu";
import { runCase, type CaseOutcome, type CheckTarget } from "./runner.js";
import { PROTS, REGION_KINDS, opPages, type AccessMode, type Case, type Delay, type Op, type OpName, type Scenario, type Thread } from "./scenario.js";

/**
 * Delay lengths of the exhaustive pass, in cycles, a factor of 5 apart: less than an IPI
 * round trip, about a system call with its flush, a short operation, a reclaim pass.
 * Random schedules draw lengths log-uniformly from 200 to 200,000 cycles.
 */
export const DELAYS: readonly number[] = [1_000, 5_000, 25_000, 125_000];
const RANDOM_DELAY = { min: 200, max: 200_000 } as const;

/** Every operation kind the grammar has. */
export const OP_NAMES: readonly OpName[] = ["read", "write", "munmap", "mprotect", "madvise", "mremap", "fork", "ctxsw", "reclaim", "kmem", "dma", "idle", "nohz"];

export interface CheckOptions {
  readonly target: CheckTarget;
  /** CPUs per scenario: from `min` to `max` (2 to 4). */
  readonly cpus: { readonly min: number; readonly max: number };
  /** Schedules to run in all (the search's budget; shrinking comes on top). */
  readonly budget: number;
  readonly seed: number;
  /** The operation kinds scenarios may use (default: all of OP_NAMES). */
  readonly ops?: readonly OpName[];
  /** Called now and then with what has been explored. */
  readonly onProgress?: (p: Explored) => void;
  /**
   * Asked whenever the search lets the event loop run (between scenarios): true stops it
   * there, with what was explored and `interrupted` set (the CLI's SIGINT).
   */
  readonly shouldStop?: () => boolean;
}

export interface Explored {
  readonly scenarios: number;
  readonly schedules: number;
  /** Scenarios explored exhaustively at delay bound 1. */
  readonly exhaustive: number;
  /** Scenarios whose natural run never called the enabled plugins' policies, so their other schedules were not run. */
  readonly skipped: number;
  readonly budget: number;
}

export interface Counterexample {
  readonly case: Case;
  readonly hazard: HazardReport;
  readonly hazards: readonly HazardReport[];
  /** The case as the search found it, before shrinking. */
  readonly found: Case;
  /** Runs spent shrinking. */
  readonly shrinkRuns: number;
}

export interface CheckResult {
  readonly explored: Explored;
  readonly counterexample: Counterexample | null;
  /**
   * A case in which the modelled kernel itself stopped (an oops: a kernel access to an
   * address no page table maps; a model invariant, such as a double free), which a policy
   * can cause as surely as a stale translation. The search stops there.
   */
  readonly stopped: { readonly case: Case; readonly message: string } | null;
  /** The search was stopped by `shouldStop` before its budget was spent. */
  readonly interrupted?: boolean;
}

/** A scenario with at most this many single-delay schedules is explored exhaustively at delay bound 1. */
const EXHAUSTIVE_MAX = 128;
/** Two-delay "window" schedules a small scenario gets at most (see windowPairs). */
const WINDOW_PAIRS_MAX = 96;
/** Random schedules a larger scenario gets before the search moves on. */
const RANDOM_PER_SCENARIO = 24;

/**
 * The swarms (sets of enabled operation kinds) the search cycles through: every single
 * kind and every pair, in a seeded order, so that each interaction of two operations
 * comes up every |singles + pairs| scenarios; every third scenario draws 1 to 3 kinds
 * at random instead.
 */
export function swarmOrder(rng: Prng, ops: readonly OpName[]): OpName[][] {
  const out: OpName[][] = ops.map((o) => [o]);
  for (let i = 0; i < ops.length; i++) for (let j = i + 1; j < ops.length; j++) out.push([ops[i]!, ops[j]!]);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function randomSwarm(rng: Prng, ops: readonly OpName[]): OpName[] {
  const swarm: OpName[] = [];
  const want = Math.min(ops.length, 1 + rng.int(3));
  while (swarm.length < want) {
    const o = ops[rng.int(ops.length)]!;
    if (!swarm.includes(o)) swarm.push(o);
  }
  return swarm;
}

/** A scenario drawn from the grammar, swarm style: the operation kinds of `swarm` (default: 1 to 3 at random), 0 to 2 operations per thread. */
export function generateScenario(rng: Prng, cpus: { min: number; max: number }, ops: readonly OpName[] = OP_NAMES, swarmKinds?: readonly OpName[]): Scenario {
  const n = rng.range(cpus.min, cpus.max);
  const kind = REGION_KINDS[rng.int(REGION_KINDS.length)]!;
  const pages = 1 + rng.int(2);
  const swarm = swarmKinds !== undefined && swarmKinds.length > 0 ? [...swarmKinds] : randomSwarm(rng, ops);
  const access = (): AccessMode => (rng.chance(0.5) ? "read" : "write");
  // How the threads warm up, per scenario (swarm style again): all read (a page cache
  // page stays shared and clean), all write, or each its own way.
  const style = rng.int(4);
  const warm = (): AccessMode => (style <= 1 ? "read" : style === 2 ? "write" : rng.chance(0.9) ? access() : "none");
  const threads: Thread[] = [];
  for (let i = 0; i < n; i++) {
    // Mostly one operation per thread (most races are between two threads' single
    // calls); now and then three (a buffer's life across an isolated CPU's user time).
    const r = rng.int(20);
    const count = r < 3 ? 0 : r < 13 ? 1 : r < 18 ? 2 : 3;
    const list: Op[] = [];
    for (let j = 0; j < count; j++) list.push(generateOp(rng, swarm[rng.int(swarm.length)]!, pages));
    threads.push({ warm: warm(), ops: list, sweep: access() });
  }
  if (threads.every((t) => t.ops.length === 0)) threads[rng.int(n)]!.ops.push(generateOp(rng, swarm[0]!, pages));
  return { region: { kind, pages }, threads };
}

function generateOp(rng: Prng, name: OpName, pages: number): Op {
  const page = rng.int(pages);
  const span = 1 + rng.int(pages - page);
  switch (name) {
    case "read":
    case "write":
      return { op: name, page };
    case "munmap":
      return { op: "munmap", page, pages: span };
    case "mprotect":
      return { op: "mprotect", page, pages: span, prot: PROTS[rng.int(PROTS.length)]! };
    case "madvise":
      return { op: "madvise", page, pages: span, advice: rng.chance(0.5) ? "dontneed" : "free" };
    case "mremap":
    case "fork":
    case "reclaim":
      return { op: name };
    case "ctxsw":
      return { op: "ctxsw", cycles: rng.chance(0.5) ? 2_000 : 50_000 };
    case "kmem":
      return { op: "kmem", kind: rng.chance(0.5) ? "vmalloc" : "ioremap", purge: rng.chance(0.6) };
    case "dma":
      return { op: "dma", page, write: rng.chance(0.5) };
    case "idle":
      // Log-uniform from 500 to 50,000 cycles, so that what follows lands anywhere in another CPU's operation.
      return { op: "idle", cycles: Math.round(500 * 100 ** rng.next()) };
    case "nohz":
      return { op: "nohz", cycles: Math.round(1_000 * 100 ** rng.next()) };
  }
}

/**
 * The hazard a counterexample is about: the first one a CPU or device actually used or
 * kept (any class but 4), else the first class 4 (a CPU that could still use an entry
 * no flush reached), which is often the warning before a class 1 of the same page.
 */
export function headline(hazards: readonly HazardReport[]): HazardReport {
  return hazards.find((h) => h.class !== 4) ?? hazards[0]!;
}

/** A run that stopped with an error (a model error, or a plugin that threw), with the case that shows it. */
export class CaseError extends Error {
  constructor(
    readonly failing: Case,
    override readonly cause: unknown,
  ) {
    super(`${cause instanceof Error ? cause.message : String(cause)} (in the case ${JSON.stringify(failing)})`);
    // A plugin that threw, or bad input, stays what it was (the CLI exits 2 for those).
    this.name = cause instanceof Error && (cause.name === "FlushlabInputError" || cause.name === "PluginError") ? cause.name : "CaseError";
  }
}

/** Runs a case; the hazards it found (empty when none). An error names the case. */
function hazardsOf(c: Case, target: CheckTarget): { out: CaseOutcome; hazards: readonly HazardReport[] } {
  let out: CaseOutcome;
  try {
    out = runCase(c, target);
  } catch (e) {
    throw new CaseError(c, e);
  }
  return { out, hazards: out.hazards };
}

/**
 * Lets the event loop run between scenarios: a run's container disposal settles in a
 * microtask, and a search that never yields would keep every run's machine alive.
 */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * What the schedules of one scenario gave, computed on its own: the search's scenarios are
 * independent (each is a function of the seed and its index), so a pool of workers can
 * compute them ahead while the search takes them in order. `ran` schedules were run (the
 * natural one first); the last of them found hazards or stopped with an error, or none did.
 */
export interface ScenarioWork {
  readonly index: number;
  readonly scenario: Scenario;
  readonly ran: number;
  readonly exhaustive: boolean;
  /** The natural run never called the enabled plugins' policies (so nothing else was run). */
  readonly skipped: boolean;
  readonly last:
    | null
    | { readonly kind: "hazards"; readonly case: Case; readonly hazards: readonly HazardReport[] }
    | { readonly kind: "error"; readonly case: Case; readonly name: string; readonly message: string };
}

/** What a scenario's computation needs besides the target. */
export type ScenarioPlan = Pick<CheckOptions, "cpus" | "seed" | "ops">;

/**
 * Runs scenario `index` of the search for `plan`: its natural schedule, then its delayed
 * schedules in order until one finds a hazard or stops, or `cap` schedules in all have run.
 */
export function exploreScenario(index: number, plan: ScenarioPlan, target: CheckTarget, cap: number): ScenarioWork {
  const rng = new Prng(plan.seed);
  const ops = plan.ops ?? OP_NAMES;
  const swarms = swarmOrder(rng.fork(0x5a5a), ops);
  // Every third scenario (index % 3 === 2) draws its swarm at random; the others take the
  // next of `swarms` in turn: index - floor(index / 3) of them came before.
  const swarm = index % 3 === 2 ? undefined : swarms[(index - Math.floor(index / 3)) % swarms.length];
  const scenario = generateScenario(rng.fork(index), plan.cpus, ops, swarm);
  const runOne = (c: Case): ScenarioWork["last"] | CaseOutcome => {
    try {
      const out = runCase(c, target);
      return out.hazards.length > 0 ? { kind: "hazards", case: c, hazards: out.hazards } : out;
    } catch (e) {
      const err = new CaseError(c, e);
      return { kind: "error", case: c, name: err.name, message: err.name === "CaseError" ? (e instanceof Error ? e.message : String(e)) : err.message };
    }
  };
  const natural: Case = { scenario, delays: [] };
  const first = runOne(natural);
  const done = (ran: number, last: ScenarioWork["last"], exhaustive = false, skipped = false): ScenarioWork => ({ index, scenario, ran, exhaustive, skipped, last });
  if (first === null || "kind" in first) return done(1, first);
  // A scenario in which the kernel never calls the plugins' policies runs the code
  // they leave alone: its schedules are the baseline's, not explored again here.
  if (target.plugins.length > 0 && first.pluginCalls === 0) return done(1, null, false, true);
  const points = first.points;
  const from = first.firstPoint;
  const singles: Delay[] = [];
  for (let cpu = 0; cpu < points.length; cpu++) for (let point = from[cpu]!; point < points[cpu]!; point++) for (const cycles of DELAYS) singles.push({ cpu, point, cycles });
  // Labelled by the count of scenarios drawn so far, this one included (as the search always has).
  const srng = rng.fork(1_000_000 + index + 1);
  let tried: Delay[][];
  const exhaustive = singles.length <= EXHAUSTIVE_MAX;
  if (exhaustive) {
    tried = singles.map((d) => [d]);
    tried.push(...windowPairs(first.flushPoints, from, points));
  } else {
    tried = [];
    for (let i = 0; i < RANDOM_PER_SCENARIO; i++) tried.push(randomDelays(srng, points, from, 1 + srng.int(3)));
  }
  let ran = 1;
  for (const delays of tried) {
    if (ran >= cap) break;
    const r = runOne({ scenario, delays });
    ran++;
    if (r !== null && "kind" in r) return done(ran, r, exhaustive);
  }
  return done(ran, null, exhaustive);
}

/** Computes scenario works, possibly ahead and elsewhere (a worker pool); the search takes them in order. */
export interface ScenarioSource {
  /** Scenarios computed ahead of the one the search is at (the pool's size, or more). */
  readonly ahead: number;
  compute(index: number, cap: number): Promise<ScenarioWork>;
}

/**
 * Searches for a hazard within the budget. With `source`, scenarios are computed by it
 * (ahead, on workers) and taken in order, so the result is the one the search gives alone.
 */
export async function check(opts: CheckOptions, source?: ScenarioSource): Promise<CheckResult> {
  let scenarios = 0;
  let schedules = 0;
  let exhaustive = 0;
  let skipped = 0;
  const progress = (): Explored => ({ scenarios, schedules, exhaustive, skipped, budget: opts.budget });
  let lastReport = 0;
  const report = () => {
    if (opts.onProgress && schedules - lastReport >= 50) {
      lastReport = schedules;
      opts.onProgress(progress());
    }
  };
  const found = async (c: Case, hazards: readonly HazardReport[]): Promise<CheckResult> => ({ explored: progress(), counterexample: await shrink(c, headline(hazards), opts.target), stopped: null });
  // A case whose hazards are all class 4 (a CPU that could still use a stale entry) is
  // kept while the search goes on, for as many schedules again (at least 2,000, within
  // the budget), for a case where a CPU or device actually used one; if none comes, the
  // class 4 case is the counterexample.
  let fallback: { c: Case; hazards: readonly HazardReport[] } | null = null;
  let fallbackUntil = 0;
  const onHazards = async (c: Case, hazards: readonly HazardReport[]): Promise<CheckResult | null> => {
    if (hazards.some((h) => h.class !== 4)) return found(c, hazards);
    if (fallback === null) {
      fallback = { c, hazards };
      fallbackUntil = Math.min(opts.budget, 2 * schedules + 2_000);
    }
    return null;
  };
  // The kernel stopped in a case: a class 4 case found before is still the counterexample.
  // A plugin that threw, or bad input, is reported as such (the CLI exits 2).
  const stoppedAt = async (last: Extract<ScenarioWork["last"], { kind: "error" }>): Promise<CheckResult> => {
    if (last.name !== "CaseError") {
      const e = new Error(last.message);
      e.name = last.name;
      throw e;
    }
    const kept = fallback as { c: Case; hazards: readonly HazardReport[] } | null;
    if (kept !== null) return found(kept.c, kept.hazards);
    return { explored: progress(), counterexample: null, stopped: { case: last.case, message: last.message } };
  };

  const plan: ScenarioPlan = { cpus: opts.cpus, seed: opts.seed, ...(opts.ops ? { ops: opts.ops } : {}) };
  const pending = new Map<number, Promise<ScenarioWork>>();
  const work = (index: number): Promise<ScenarioWork> => {
    if (source === undefined) return Promise.resolve(exploreScenario(index, plan, opts.target, opts.budget - schedules));
    // Keep the pool busy: ask for the next `ahead` scenarios; each may run up to the whole budget.
    for (let i = index; i < index + source.ahead; i++) if (!pending.has(i)) pending.set(i, source.compute(i, opts.budget));
    const w = pending.get(index)!;
    pending.delete(index);
    return w;
  };

  try {
    while (schedules < opts.budget && (fallback === null || schedules < fallbackUntil)) {
      const w = await work(scenarios);
      scenarios++;
      // Schedule 0 is the natural one; the serial search ran w.ran of them at most.
      let stop = false;
      for (let k = 0; k < w.ran && !stop; k++) {
        if (k > 0 && schedules >= opts.budget) break;
        schedules++;
        const isLast = k === w.ran - 1;
        if (isLast && w.last !== null) {
          if (w.last.kind === "error") return await stoppedAt(w.last);
          const done = await onHazards(w.last.case, w.last.hazards);
          if (done !== null) return done;
          stop = true;
        }
        report();
        if (k === 0) {
          if (w.skipped) skipped++;
          else if (w.exhaustive) exhaustive++;
        }
        if (k > 0 && fallback !== null && schedules >= fallbackUntil) stop = true;
      }
      await breathe();
      if (opts.shouldStop?.() === true) return { explored: progress(), counterexample: null, stopped: null, interrupted: true };
    }
  } finally {
    // Nothing computed ahead is waited for: the pool is torn down by its owner.
    for (const p of pending.values()) p.catch(() => undefined);
  }
  opts.onProgress?.(progress());
  const kept = fallback as { c: Case; hazards: readonly HazardReport[] } | null;
  if (kept !== null) return found(kept.c, kept.hazards);
  return { explored: progress(), counterexample: null, stopped: null };
}

/**
 * Two-delay schedules of one shape: a CPU stalls just before a flush (a long delay: the
 * window in which its PTE change is not yet flushed stays open), and another CPU's
 * first operation is delayed by each menu length (so that it starts inside that
 * window). Delay bound 2, for the smallest scenarios, on the points where it matters.
 */
function windowPairs(flushPoints: readonly (readonly number[])[], from: readonly number[], points: readonly number[]): Delay[][] {
  const out: Delay[][] = [];
  for (let a = 0; a < flushPoints.length; a++) {
    for (const p of flushPoints[a]!) {
      for (const hold of [25_000, 125_000]) {
        for (let b = 0; b < points.length; b++) {
          if (b === a) continue;
          for (let q = from[b]!; q < Math.min(points[b]!, from[b]! + 2); q++) {
            for (const cycles of DELAYS) out.push([{ cpu: a, point: p, cycles: hold, flush: true as const }, { cpu: b, point: q, cycles }].sort((x, y) => x.cpu - y.cpu));
          }
        }
      }
    }
  }
  return out.slice(0, WINDOW_PAIRS_MAX);
}

function randomDelays(rng: Prng, points: readonly number[], from: readonly number[], n: number): Delay[] {
  const out: Delay[] = [];
  const cpus = points.map((p, i) => (p > from[i]! ? i : -1)).filter((i) => i >= 0);
  if (cpus.length === 0) return out;
  for (let i = 0; i < n; i++) {
    const cpu = cpus[rng.int(cpus.length)]!;
    const cycles = Math.round(RANDOM_DELAY.min * (RANDOM_DELAY.max / RANDOM_DELAY.min) ** rng.next());
    out.push({ cpu, point: from[cpu]! + rng.int(points[cpu]! - from[cpu]!), cycles });
  }
  return out.sort((a, b) => a.cpu - b.cpu || a.point - b.point);
}

// ---- shrinking ----

/** Smaller variants of a case, the most reducing first. */
function* candidates(c: Case): Generator<Case> {
  const s = c.scenario;
  // One CPU (thread) fewer; delays of later CPUs move down.
  if (s.threads.length > 1) {
    for (let i = s.threads.length - 1; i >= 0; i--) {
      const threads = s.threads.filter((_, j) => j !== i);
      const delays = c.delays.filter((d) => d.cpu !== i).map((d) => (d.cpu > i ? { ...d, cpu: d.cpu - 1 } : d));
      yield { scenario: { ...s, threads }, delays };
    }
  }
  // One operation fewer.
  for (let i = 0; i < s.threads.length; i++) {
    const t = s.threads[i]!;
    for (let j = t.ops.length - 1; j >= 0; j--) {
      const threads = s.threads.map((u, k) => (k === i ? { ...u, ops: u.ops.filter((_, m) => m !== j) } : u));
      yield { scenario: { ...s, threads }, delays: c.delays };
    }
  }
  // One delay fewer.
  for (let i = c.delays.length - 1; i >= 0; i--) yield { scenario: s, delays: c.delays.filter((_, j) => j !== i) };
  // A kernel operation replaced by plain user time (when it only mattered for how long it took).
  for (let i = 0; i < s.threads.length; i++) {
    const t = s.threads[i]!;
    for (let j = 0; j < t.ops.length; j++) {
      if (t.ops[j]!.op === "idle") continue;
      for (const cycles of [1_000, 5_000, 25_000]) {
        const threads = s.threads.map((u, k) => (k === i ? { ...u, ops: u.ops.map((o, m) => (m === j ? ({ op: "idle", cycles } as const) : o)) } : u));
        yield { scenario: { ...s, threads }, delays: c.delays };
      }
    }
  }
  // No warm-up or no sweep on a thread.
  for (let i = 0; i < s.threads.length; i++) {
    for (const field of ["warm", "sweep"] as const) {
      if (s.threads[i]![field] === "none") continue;
      const threads = s.threads.map((u, k) => (k === i ? { ...u, [field]: "none" } : u));
      yield { scenario: { ...s, threads }, delays: c.delays };
    }
  }
  // A shorter delay: a round length of the menu, or half.
  for (let i = 0; i < c.delays.length; i++) {
    const now = c.delays[i]!.cycles;
    for (const cycles of [...DELAYS.filter((d) => d < now), Math.floor(now / 2)]) {
      if (cycles < 1 || cycles >= now) continue;
      yield { scenario: s, delays: c.delays.map((d, j) => (j === i ? { ...d, cycles } : d)) };
    }
  }
  // A smaller region: only when no operation reaches its last page.
  if (s.region.pages > 1) {
    const last = s.region.pages - 1;
    const reaches = s.threads.some((t) => t.ops.some((o) => {
      const p = opPages(o);
      return p !== null && p.page + p.pages > last;
    }));
    if (!reaches) yield { scenario: { ...s, region: { ...s.region, pages: last } }, delays: c.delays };
  }
}

/** Greedy shrinking: take the first smaller variant that still shows the hazard's class, until none does. */
export async function shrink(c: Case, hazard: HazardReport, target: CheckTarget, maxRuns = 400): Promise<Counterexample> {
  const cls: HazardClass = hazard.class;
  let cur = c;
  let curHazards: readonly HazardReport[] = [hazard];
  let runs = 0;
  let progress = true;
  while (progress && runs < maxRuns) {
    progress = false;
    for (const cand of candidates(cur)) {
      if (runs >= maxRuns) break;
      runs++;
      if (runs % 16 === 0) await breathe();
      let hz: readonly HazardReport[];
      try {
        hz = runCase(cand, target).hazards;
      } catch {
        continue;
      }
      if (hz.some((h) => h.class === cls)) {
        cur = cand;
        curHazards = hz;
        progress = true;
        break;
      }
    }
  }
  const main = headline(curHazards).class === cls ? headline(curHazards) : (curHazards.find((h) => h.class === cls) ?? curHazards[0]!);
  return { case: cur, hazard: main, hazards: curHazards, found: c, shrinkRuns: runs };
}
