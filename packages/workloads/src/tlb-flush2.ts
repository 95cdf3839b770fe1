/**
 * tlb-flush2, after will-it-scale's tests/tlb_flush2.c as the kernel test robot runs it:
 * each task loops mapping a private anonymous 1 MiB region (MEMORYSIZE) and, page by
 * page, writing it, dropping it with madvise(MADV_DONTNEED) and reading it back (the
 * zero page), then unmapping the region; every page is one iteration.
 *
 * Threads mode (will-it-scale's *_threads binary): the tasks are threads of one process,
 * so they share one mm and its mmap_lock. mmap and munmap take it for writing, each
 * madvise and page fault for reading; a task that cannot get it spins or sleeps (v5.17
 * rwsem), its CPU idles in lazy TLB mode on the mm, and every madvise is a one-page
 * flush_tlb_mm_range to the other CPUs in mm_cpumask that are not lazy.
 * Processes mode (*_processes): one process per task, one mm each: no lock is shared
 * and a flush has no other CPU to reach.
 *
 * will-it-scale binds task i to the i-th CPU (hwloc's order: socket 0's threads first);
 * LKP's nr_task is a percentage of the CPUs.
 */
import {
  MADV_DONTNEED,
  MAX_CPUS,
  PROT_READ,
  PROT_WRITE,
  SYSTEM_METRICS,
  defineWorkload,
  systemMetrics,
  systemSnapshot,
  type SystemSnapshot,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";

const PAGE = 4096;

/**
 * One run's measurement window: will-it-scale's (a fixed time after a warm-up, the run
 * stopped at its end) or, when every task runs a fixed number of regions, from the
 * moment every task has started to the moment the first one finishes.
 */
interface Window {
  tasks: number;
  started: number;
  open: SystemSnapshot | null;
  opsAtOpen: number;
  close: SystemSnapshot | null;
  opsAtClose: number;
}

const windows = new WeakMap<WorkloadContext, Window>();

/** duration_us, 0 meaning the mode's default. */
function durationUs(ctx: WorkloadContext): number {
  const d = ctx.params["duration_us"] as number;
  return d > 0 ? d : ctx.params["mode"] === "process" ? 1000 : 16000;
}

function tasksOf(ctx: WorkloadContext): number {
  const threads = ctx.params["threads"] as number;
  if (threads > 0) return threads;
  // LKP: nr_task as a percentage of the CPUs (at least one task).
  return Math.max(1, Math.floor((ctx.machine.cpus.length * (ctx.params["nr_task"] as number)) / 100));
}

export const tlbFlush2 = defineWorkload({
  name: "tlb-flush2",
  description: "will-it-scale tlb_flush2: write a page, madvise(MADV_DONTNEED) it, read it back; per 1 MiB region, then munmap; threads (one mm) or processes",
  mirrors: "antonblanchard/will-it-scale tests/tlb_flush2.c and main.c (threads and processes modes), as intel/lkp-tests runs it (nr_task, mode)",
  params: [
    { name: "mode", description: "thread: tasks are threads of one process (one mm, one mmap_lock); process: one process per task", type: "string", default: "thread", choices: ["thread", "process"] },
    { name: "nr_task", description: "tasks as a percentage of the CPUs, as LKP's nr_task (100 = one per CPU), on CPUs 0, 1, …", type: "int", default: 100, min: 1, max: 100 },
    { name: "threads", description: "tasks as a count (overrides nr_task; 0 = use nr_task)", type: "int", default: 0, min: 0, max: MAX_CPUS },
    { name: "warmup_us", description: "simulated time before the measurement window opens (will-it-scale discards its first samples)", type: "int", default: 2000, min: 0, max: 1000000 },
    {
      name: "duration_us",
      description: "the measurement window in simulated µs (0: 16,000 in threads mode, 1,000 in processes mode); at its end the tasks are killed, as will-it-scale kills them, each at its next return to user mode (the robot measures 300 s)",
      type: "int",
      default: 0,
      min: 0,
      max: 10000000,
      defaultSource:
        "unsourced: scaled down from the robot's 300 s so that a 104-CPU run takes seconds; threads mode long enough for four of v5.17's 4 ms rwsem handoff timeouts (RWSEM_WAIT_TIMEOUT), processes mode (no shared lock, no IPIs: steady from the start) for about two 1 MiB regions a task",
    },
    { name: "regions", description: "0: tasks loop until the window ends (will-it-scale); N: each task maps, walks and unmaps N regions and the window is the time all tasks run", type: "int", default: 0, min: 0, max: 10000 },
    { name: "memory_kib", description: "region size in KiB (MEMORYSIZE)", type: "int", default: 1024, min: 4, max: 1048576 },
  ],
  metrics: [
    { name: "per_thread_ops", description: "iterations per second per task in the window, threads mode", unit: "ops/s", better: "higher", robot: "will-it-scale.per_thread_ops" },
    { name: "per_process_ops", description: "iterations per second per task in the window, processes mode", unit: "ops/s", better: "higher", robot: "will-it-scale.per_process_ops" },
    { name: "ops_per_s", description: "iterations (one page written, dropped, read) per simulated second, all tasks, in the window", unit: "ops/s", better: "higher" },
    { name: "ops_per_s_per_thread", description: "ops_per_s divided by the tasks", unit: "ops/s", better: "higher" },
    { name: "cycles_per_op", description: "window cycles per iteration per task", unit: "cycles", better: "lower" },
    { name: "shootdown_ipis_per_op", description: "TLB shootdown interrupts received per iteration (whole run)", unit: "IPIs", better: "lower" },
    ...SYSTEM_METRICS,
    { name: "window_s", description: "the measurement window: from the last task's start to the first task's end", unit: "s", better: "none" },
    { name: "elapsed_s", description: "simulated run time", unit: "s", better: "lower" },
  ],
  setup(ctx) {
    const tasks = tasksOf(ctx);
    if (tasks > ctx.machine.cpus.length) throw new Error(`threads=${tasks} needs at least ${tasks} CPUs`);
    const processes = ctx.params["mode"] === "process";
    const regions = ctx.params["regions"] as number;
    const size = (ctx.params["memory_kib"] as number) * 1024;
    const win: Window = { tasks, started: 0, open: null, opsAtOpen: 0, close: null, opsAtClose: 0 };
    windows.set(ctx, win);
    const kernel = ctx.kernel;
    const timed = regions === 0;
    if (timed) {
      const us = ctx.machine.costs.freqHz / 1e6;
      const start = (ctx.params["warmup_us"] as number) * us;
      const engine = ctx.machine.engine;
      engine.at(start, () => {
        win.open = systemSnapshot(kernel);
        win.opsAtOpen = ctx.counter("tlb_flush2_iterations");
      });
      // The window closes; will-it-scale then kills its tasks. A kill takes effect when a
      // task returns to user mode, so each task stops after the system call or fault it is
      // in, and the run ends when all have: a task stuck in the kernel (a policy that never
      // returns) keeps its CPU, as on a real machine, until a lockup detector reports it.
      engine.at(start + durationUs(ctx) * us, () => {
        win.close = systemSnapshot(kernel);
        win.opsAtClose = ctx.counter("tlb_flush2_iterations");
      });
    }
    const shared = processes ? null : ctx.createProcess();
    for (let cpu = 0; cpu < tasks; cpu++) {
      // Tasks do not start in lockstep: a seeded skew of up to 10 µs.
      const skew = ctx.prng.int(26_000);
      const mm = shared ?? ctx.createProcess();
      ctx.spawn(cpu, mm, function* (t: TaskApi): TaskGen {
        yield skew;
        if (++win.started === tasks && !timed) {
          win.open = systemSnapshot(kernel);
          win.opsAtOpen = ctx.counter("tlb_flush2_iterations");
        }
        // Killed at the end of a timed window: the task goes no further once back in user mode.
        const killed = (): boolean => timed && win.close !== null;
        for (let r = 0; timed || r < regions; r++) {
          const addr = yield* t.mmap(size, PROT_READ | PROT_WRITE);
          if (killed()) return;
          for (let i = 0; i < size; i += PAGE) {
            yield t.touch(addr + i, 1, PAGE, true); // *(addr + i) = 1
            if (killed()) return;
            yield* t.madvise(addr + i, PAGE, MADV_DONTNEED);
            if (killed()) return;
            yield t.touch(addr + i, 1, PAGE, false); // assert(*(addr + i) == 0)
            ctx.count("tlb_flush2_iterations");
            if (killed()) return;
          }
          yield* t.munmap(addr, size);
          if (killed()) return;
        }
        if (!timed && win.close === null && win.open !== null) {
          win.close = systemSnapshot(kernel);
          win.opsAtClose = ctx.counter("tlb_flush2_iterations");
        }
      });
    }
  },
  collect(ctx, elapsed) {
    const win = windows.get(ctx)!;
    const freq = ctx.machine.costs.freqHz;
    const open = win.open!;
    const close = win.close!;
    const ops = win.opsAtClose - win.opsAtOpen;
    const cycles = close.time - open.time;
    const seconds = cycles / freq;
    let ipis = 0;
    for (const n of ctx.kernel.counters.irqTlb) ipis += n;
    const all = ctx.counter("tlb_flush2_iterations");
    const perTask = seconds > 0 ? ops / seconds / win.tasks : 0;
    return {
      ...(ctx.params["mode"] === "process" ? { per_process_ops: perTask } : { per_thread_ops: perTask }),
      ops_per_s: seconds > 0 ? ops / seconds : 0,
      ops_per_s_per_thread: perTask,
      cycles_per_op: ops > 0 ? (cycles * win.tasks) / ops : 0,
      shootdown_ipis_per_op: all > 0 ? ipis / all : 0,
      ...systemMetrics(open, close, freq),
      window_s: seconds,
      elapsed_s: elapsed / freq,
    };
  },
  notes(ctx) {
    const win = windows.get(ctx)!;
    const tasks = win.tasks;
    const mode = ctx.params["mode"] as string;
    const regions = ctx.params["regions"] as number;
    const what = `${tasks} ${mode === "process" ? "processes (one mm each)" : "threads of one process"} on CPUs 0-${tasks - 1} (nr_task ${ctx.params["threads"] ? `${tasks} tasks` : `${ctx.params["nr_task"]}%`}), regions of ${ctx.params["memory_kib"]} KiB, start skew up to 10 µs per task`;
    const out = [
      regions === 0
        ? `tlb-flush2: ${what}; scaled: the robot measures 300 s, the model ${durationUs(ctx)} µs after a ${ctx.params["warmup_us"]} µs warm-up (at the window's end the tasks are killed, each at its next return to user mode)`
        : `tlb-flush2: ${what}, ${regions} regions a task; scaled: will-it-scale runs for a fixed time, the model measures the window in which every task runs (window_s)`,
    ];
    if (win.open !== null && win.close !== null) {
      const rec = ctx.kernel.counters.toRecord();
      const get = (name: string): number => rec[name] ?? 0;
      const freq = ctx.machine.costs.freqHz;
      const m = systemMetrics(win.open, win.close, freq);
      const f = (x: number, d = 1): string => x.toFixed(d);
      const seconds = (win.close.time - win.open.time) / freq;
      const perTask = seconds > 0 ? (win.opsAtClose - win.opsAtOpen) / seconds / tasks : 0;
      out.push(
        `tlb-flush2 window: ${mode === "process" ? "per_process_ops" : "per_thread_ops"} ${Math.round(perTask)}, CPU time ${f(m["cpu_idle_pct"]!)} % idle, ${f(m["cpu_sys_pct"]!)} % sys, ${f(m["cpu_irq_pct"]!)} % irq; ${Math.round(m["context_switches_per_s"]!)} context switches/s, ${Math.round(m["interrupts_per_s"]!)} interrupts/s. Whole run: tasks asleep on mmap_lock ${f((100 * get("sched_sleep_cycles")) / (ctx.machine.now * ctx.machine.cpus.length))} % of all CPU time (sleeps that ended); mmap_lock: ${get("rwsem_sleep_reader")} reader sleeps, ${get("rwsem_sleep_writer")} writer sleeps, ${get("rwsem_opt_lock")} writers took it spinning (${get("rwsem_opt_fail")} gave up), ${get("rwsem_rlock_steal")} reader steals, ${get("rwsem_wlock_handoff") + get("rwsem_rlock_handoff")} handoffs; ${get("sched_sleeps")} sleeps, ${get("ttwu_count")} wakeups (${get("sched_wake_idle_without_ipi")} of polling idle CPUs without an IPI, ${get("irq_resched")} RESCHEDULE IPIs); ${get("idle_ipis")} CALL_FUNCTION IPIs reached idle CPUs (lazy TLB: v5.17 sends a lazy CPU a flush only when page tables are freed)`,
      );
    }
    return out;
  },
});
