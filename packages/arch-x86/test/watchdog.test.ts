/**
 * The lockup detectors (core-mmu kernel/watchdog.ts): a policy that loops, or waits for
 * what never comes, stops the run with the kernel's one-line report naming the plugin and
 * the hook, instead of hanging.
 */
import { describe, expect, it } from "vitest";
import { Completion, MMU_GATHER_FLUSH, MADV_DONTNEED, NO_PROGRESS_STEPS, WatchdogError, defineWorkload, definePlugin, policy, simulate, type FlushlabPlugin, type KGen, type MachineOptions, type TaskApi, type TaskGen } from "@flushlab/core-mmu";
import { x86 } from "../src/index.js";

/** A plugin whose tlbFlushMmu is `body`. */
function flushPlugin(name: string, body: () => KGen): FlushlabPlugin {
  return definePlugin({
    name,
    description: "test: a tlbFlushMmu with a bug",
    patch: { title: "test", commit: "none", kernel: "none" },
    appliesTo: ["x86-64"],
    policies: [policy(MMU_GATHER_FLUSH, () => ({ tlbFlushMmu: body }))],
  });
}

/** CPU 0 maps, touches and zaps a page (tlb_finish_mmu → tlbFlushMmu); CPU 1 works `cpu1` user cycles. */
function run(plugins: readonly FlushlabPlugin[], machine: Partial<MachineOptions> = {}, cpu1 = 1000) {
  const workload = defineWorkload({
    name: "zap",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      const mm = ctx.createProcess();
      ctx.spawn(0, mm, function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(4096, 3);
        yield t.touch(a, 1, 4096, true);
        yield* t.madvise(a, 4096, MADV_DONTNEED);
      });
      ctx.spawn(1, mm, function* (): TaskGen {
        for (let i = 0; i < 20; i++) yield cpu1;
      });
    },
    collect: () => ({}),
  });
  return simulate({
    options: { workload: "zap", machine: { ...x86.defaultMachine, cpus: 2, sockets: 1, memoryMiB: 64, ...machine }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload,
    plugins,
  });
}

function failure(f: () => unknown): WatchdogError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WatchdogError);
    return e as WatchdogError;
  }
  throw new Error("the run did not stop");
}

describe("lockup detectors", () => {
  it("a run without a bug is not stopped, and the same with the detectors at their tightest", () => {
    expect(run([]).counters["elapsed_cycles"]).toBeGreaterThan(0);
    expect(run([], { watchdogThresh: 1, watchdogCycles: 1_000_000 }).counters["elapsed_cycles"]).toBeGreaterThan(0);
  });

  it("the no-progress guard: a policy that yields 0 cycles forever", () => {
    const e = failure(() => run([flushPlugin("spin0", function* () { for (;;) yield 0; })]));
    expect(e.message).toBe(`watchdog: BUG: no progress - CPU#0 took ${NO_PROGRESS_STEPS} steps at cycle ${/cycle (\d+)/.exec(e.message)![1]} without simulated time advancing! [in plugin "spin0", MmuGatherFlush.tlbFlushMmu]`);
  });

  it("the no-progress guard: a policy that waits forever on completions already done", () => {
    const done = new Completion();
    const e = failure(() => run([flushPlugin("spin-done", function* () { for (;;) yield done; })]));
    expect(e.message).toMatch(/^watchdog: BUG: no progress - CPU#0 .* \[in plugin "spin-done", MmuGatherFlush\.tlbFlushMmu\]$/);
  });

  it("the soft-lockup watchdog in cycles: a policy looping 1,000 cycles a step", () => {
    const e = failure(() => run([flushPlugin("loop", function* () { for (;;) yield 1000; })], { watchdogCycles: 5_000_000 }));
    expect(e.message).toMatch(/^watchdog: BUG: soft lockup - CPU#0 stuck for 500\d{4} cycles \(over watchdogCycles 5000000\)! \[in plugin "loop", MmuGatherFlush\.tlbFlushMmu\]$/);
  });

  it("the soft-lockup watchdog in seconds: 2 × watchdog_thresh, seen at the hrtimer tick, in get_timestamp()'s units", () => {
    const loop = flushPlugin("loop", function* () { for (;;) yield 100_000_000; });
    // watchdog_thresh = 10: ticks every 4 s; the sixth after the touch is 24 s on, 22 in
    // running_clock() >> 30 units, the first over 20: the kernel's usual "stuck for 22s!".
    expect(failure(() => run([loop], { watchdogCycles: 0 })).message).toBe('watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [in plugin "loop", MmuGatherFlush.tlbFlushMmu]');
    // watchdog_thresh = 1: ticks every 0.4 s; the ninth, 3.6 s on, is 3 units: over 2.
    expect(failure(() => run([loop], { watchdogThresh: 1, watchdogCycles: 0 })).message).toBe('watchdog: BUG: soft lockup - CPU#0 stuck for 3s! [in plugin "loop", MmuGatherFlush.tlbFlushMmu]');
  });

  it("csd_lock_wait_toolong: a flush request nothing completes, reported when the run has nothing left to do", () => {
    const never = flushPlugin("never", function* () {
      const c = new Completion();
      c.add();
      yield c;
    });
    expect(failure(() => run([never])).message).toBe('csd: Detected non-responsive CSD lock (#1) on CPU#0, waiting 5000000000 ns for CPU#-1 (no csd). [in plugin "never", MmuGatherFlush.tlbFlushMmu]');
  });

  it("csd_lock_wait_toolong: reported at CSD_LOCK_TIMEOUT while other CPUs go on", () => {
    const never = flushPlugin("never", function* () {
      const c = new Completion();
      c.add();
      yield c;
    });
    // CPU 1 keeps running in user mode, 1e9 cycles a step: the wait passes 5 s (13e9 cycles at 2.6 GHz).
    const e = failure(() => run([never], {}, 1e9));
    expect(e.message).toMatch(/^csd: Detected non-responsive CSD lock \(#1\) on CPU#0, waiting (\d+) ns for CPU#-1 \(no csd\)\. \[in plugin "never", MmuGatherFlush\.tlbFlushMmu\]$/);
    const ns = Number(/waiting (\d+) ns/.exec(e.message)![1]);
    expect(ns).toBeGreaterThan(5e9);
    expect(ns).toBeLessThan(5e9 + 1e9 / 2.6);
  });

  it("machine options are checked", () => {
    expect(() => run([], { watchdogThresh: 61 })).toThrow("watchdogThresh must be an integer number of seconds from 0 (off) to 60, as the watchdog_thresh sysctl takes (got 61)");
    expect(() => run([], { watchdogThresh: 1.5 })).toThrow(/watchdogThresh must be an integer/);
    expect(() => run([], { watchdogCycles: -1 })).toThrow("watchdogCycles must be a non-negative integer number of cycles, 0 for off (got -1)");
  });
});
