/**
 * reaim (the OSDL re-implementation of AIM7) as the kernel test robot runs it (LKP's
 * jobs/reaim.yaml: `nr_task: 100%`, one of reaim's workfiles per job): one reaim task
 * per CPU, each running the tests of its workfile one after another, chosen at random
 * with the workfile's weights (hits). Throughput is tests completed per minute (reaim
 * counts a job as a pass over the workfile; the ratio of two runs is the same either
 * way).
 *
 * The workfiles, from reaim's data/workfile.* (osdl-aim-7): `shared` is AIM7's
 * "Multiuser Shared System Mix" (780 hits over 53 tests), `high_systime` the mix of its
 * system-time-heavy tests (260 hits over 18). The tests that create processes are
 * modelled from reaim's src/creat_clo.c and num_fcns.c:
 * - fork_test (arg 100): 100 times fork(); the child exit(0)s; the parent wait()s;
 * - exec_test (arg 5): 5 times fork() + execl("true"); the parent wait()s;
 * - shell_rtns_1/2/3: system("aim_N.sh"): a shell (fork + exec of sh) that runs a
 *   command (fork + exec) while it waits: two processes, nested.
 * Every other test is modelled as `test_cycles` of user work over the task's own 64
 * pages ([U]: the model has no file system, pipes or sockets; the robot's report of the
 * regression names no single test).
 *
 * Where the children run: the model runs a child on its parent's CPU, but its stack goes
 * back to the cache of a CPU drawn at random (free_thread_stack runs where the dead
 * task last ran, and with every CPU busy fork balancing, SD_BALANCE_FORK, spreads the
 * children over the machine: [U] uniformly). Stacks thus flow between the per-CPU
 * caches, and a fork that finds its CPU's two cached stacks gone vmallocs one, an exit
 * that finds them full vfrees one.
 *
 * The mechanism the vmalloc-sync patch is about lives in the kernel, not here: lazily
 * freed stacks pile up to lazy_max_pages and each purge walks pgd_list under pgd_lock
 * for every present PGD entry of the vmalloc area, while every fork and exit needs that
 * lock too (pgd_ctor, pgd_dtor).
 */
import { PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

/** What a test does, as far as the model goes. */
type TestKind = { kind: "fork"; n: number } | { kind: "exec"; n: number } | { kind: "shell" } | { kind: "work" };

/** reaim's test, by the name the workfiles use: the process-creating ones; every other is "work". */
const PROCESS_TESTS: Readonly<Record<string, TestKind>> = {
  fork_test: { kind: "fork", n: 100 },
  exec_test: { kind: "exec", n: 5 },
  shell_rtns_1: { kind: "shell" },
  shell_rtns_2: { kind: "shell" },
  shell_rtns_3: { kind: "shell" },
};

/** data/workfile.shared and data/workfile.high_systime of osdl-aim-7 (reaim 0.1.x): hits per test. */
export const WORKFILES: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  shared: {
    add_double: 30, add_float: 30, add_int: 30, add_long: 30, add_short: 30, array_rtns: 10, brk_test: 10, creat_clo: 10, dgram_pipe: 10,
    dir_rtns_1: 10, disk_cp: 20, disk_rd: 20, disk_rr: 20, disk_rw: 20, disk_src: 20, disk_wrt: 20, div_double: 10, div_float: 10,
    div_int: 10, div_long: 10, div_short: 10, exec_test: 20, fork_test: 10, jmp_test: 10, link_test: 10, matrix_rtns: 10, mem_rtns_1: 10,
    mem_rtns_2: 10, misc_rtns_1: 10, mul_double: 20, mul_float: 20, mul_int: 20, mul_long: 20, mul_short: 20, new_raph: 10, num_rtns_1: 10,
    page_test: 10, pipe_cpy: 10, ram_copy: 10, series_1: 10, shared_memory: 10, shell_rtns_1: 20, sieve: 10, signal_test: 10,
    sort_rtns_1: 10, stream_pipe: 10, string_rtns: 30, sync_disk_cp: 10, sync_disk_rw: 10, sync_disk_wrt: 10, tcp_test: 10, trig_rtns: 10,
    udp_test: 10,
  },
  high_systime: {
    creat_clo: 20, brk_test: 20, dgram_pipe: 10, dir_rtns_1: 10, exec_test: 20, fork_test: 10, link_test: 20, misc_rtns_1: 10, page_test: 20,
    pipe_cpy: 30, shared_memory: 10, shell_rtns_1: 20, signal_test: 10, stream_pipe: 10, tcp_test: 10, udp_test: 10, shell_rtns_2: 10,
    shell_rtns_3: 10,
  },
};

/** The task's own pages, written by every "work" test. */
const OWN_PAGES = 16;

export const reaim = defineWorkload({
  name: "reaim",
  description: "reaim (AIM7) as LKP runs it: one task per CPU running a workfile's tests (fork_test, exec_test, shell scripts, and work)",
  mirrors: "reaim 0.1.x (osdl-aim-7) workfile.shared / workfile.high_systime as LKP's jobs/reaim.yaml runs them (nr_task 100%); fork_test, exec_test and shell_rtns_* from src/creat_clo.c and num_fcns.c, the other tests as user work",
  params: [
    { name: "workfile", description: "reaim workfile whose tests and weights the tasks run", type: "string", default: "shared", choices: Object.keys(WORKFILES) },
    { name: "nr_task_pct", description: "reaim tasks as a percentage of the CPUs (LKP's nr_task; tasks beyond the CPUs are alive but wait)", type: "int", default: 100, min: 1, max: 10000 },
    { name: "system_processes", description: "other processes alive with a pgd on pgd_list (the test box's daemons and shells)", type: "int", default: 50, min: 0, max: 100000 },
    { name: "jobs", description: "tests each running task completes at most (with purges=0, the run length)", type: "int", default: 100000, min: 1, max: 1000000 },
    { name: "purges", description: "when > 0, tasks start no new test once this many vmalloc purges have finished: from boot (vmap_lazy_nr 0) the run spans whole purge cycles (the run length, scaled down from LKP's 300 s: see the notes)", type: "int", default: 1, min: 0, max: 1000 },
    { name: "test_cycles", description: "user cycles of a test that creates no process; overrides the profile's reaimComputeJob", type: "int", defaultFrom: { cost: "reaimComputeJob" }, min: 0, max: 1e10 },
    { name: "exec_pages", description: "pages an exec'd program (true, sh, ls) maps and writes", type: "int", default: 8, min: 0, max: 4096 },
  ],
  metrics: [
    { name: "jobs_per_min", description: "reaim tests completed per simulated minute, all tasks", unit: "jobs/min", better: "higher" },
    { name: "pgd_lock_wait_cycles", description: "cycles CPUs spent spinning on pgd_lock (queued_spin_lock_slowpath)", unit: "cycles", better: "lower" },
    { name: "pgd_lock_hold_cycles", description: "cycles pgd_lock was held (line transfer on acquisition included)", unit: "cycles", better: "lower" },
    { name: "pgd_lock_busy_pct", description: "share of the run pgd_lock was held (its utilization)", unit: "%", better: "lower" },
    { name: "pgd_lock_contended_pct", description: "share of pgd_lock acquisitions that found it held and queued", unit: "%", better: "lower" },
    { name: "sync_global_pgds_visits", description: "pgds visited under pgd_lock by sync_global_pgds (x86-64) or vmalloc_sync (PAE)", unit: "visits", better: "none" },
    { name: "sync_global_pgds_entries", description: "walks of pgd_list under pgd_lock: present vmalloc PGD entries per sync (x86-64), PMD steps (PAE), summed", unit: "walks", better: "none" },
    { name: "sync_global_pgds_calls", description: "sync_global_pgds (x86-64) or vmalloc_sync (PAE) calls", unit: "calls", better: "none" },
    { name: "vmalloc_purges", description: "__purge_vmap_area_lazy runs", unit: "purges", better: "none" },
    { name: "forks_per_s", description: "forks per simulated second", unit: "forks/s", better: "higher" },
    { name: "elapsed_s", description: "simulated run time", unit: "s", better: "lower" },
  ],
  setup(ctx) {
    const p = ctx.params;
    const cpus = ctx.machine.cpus.length;
    const tasks = Math.ceil((cpus * (p["nr_task_pct"] as number)) / 100);
    const jobs = p["jobs"] as number;
    const testCycles = p["test_cycles"] as number;
    const execPages = p["exec_pages"] as number;
    const purges = p["purges"] as number;
    const vmalloc = ctx.kernel.vmalloc;
    const file = WORKFILES[p["workfile"] as string]!;
    const names = Object.keys(file);
    const hits = names.map((n) => file[n]!);
    const total = hits.reduce((a, b) => a + b, 0);
    const kinds: TestKind[] = names.map((n) => PROCESS_TESTS[n] ?? { kind: "work" });
    // The other processes, and the tasks beyond the CPUs: alive, so their pgds are on pgd_list.
    for (let i = 0; i < (p["system_processes"] as number); i++) ctx.createProcess();
    for (let i = cpus; i < tasks; i++) ctx.createProcess();
    for (let c = 0; c < Math.min(cpus, tasks); c++) {
      const mm = ctx.createProcess();
      const rng = ctx.prng.fork(c);
      ctx.spawn(c, mm, function* (t: TaskApi): TaskGen {
        const own = yield* t.mmap(OWN_PAGES * 4096, PROT_READ | PROT_WRITE);
        yield t.touch(own, OWN_PAGES, 4096, true);
        /** The exec'd program's own pages: mapped and written, then gone with its mm. */
        function* program(): TaskGen {
          if (execPages === 0) return;
          const a = yield* t.mmap(execPages * 4096, PROT_READ | PROT_WRITE);
          yield t.touch(a, execPages, 4096, true);
        }
        for (let j = 0; j < jobs; j++) {
          if (purges > 0 && vmalloc.purgesCompleted >= purges) break;
          let r = rng.int(total);
          let i = 0;
          while (r >= hits[i]!) r -= hits[i++]!;
          const test = kinds[i]!;
          switch (test.kind) {
            case "fork":
              // fork(); the child exit(0)s; wait().
              for (let k = 0; k < test.n; k++) {
                const kid = yield* t.forkCow();
                t.switchTo(kid);
                yield* t.exit(kid, rng.int(cpus));
              }
              break;
            case "exec":
              // fork(); execl("true"); wait().
              for (let k = 0; k < test.n; k++) {
                const kid = yield* t.fork();
                t.switchTo(kid);
                yield* program();
                yield* t.exit(kid, rng.int(cpus));
              }
              break;
            case "shell": {
              // system("aim_N.sh"): sh, which runs a command and waits for it.
              const sh = yield* t.fork();
              t.switchTo(sh);
              yield* program();
              const cmd = yield* t.fork();
              t.switchTo(cmd);
              yield* program();
              yield* t.exit(cmd, rng.int(cpus));
              t.switchTo(sh);
              yield* t.exit(sh, rng.int(cpus));
              break;
            }
            case "work":
              yield t.touch(own, OWN_PAGES, 4096, true);
              yield testCycles;
              break;
          }
          ctx.count("reaim_jobs");
        }
      });
    }
  },
  collect(ctx, elapsed) {
    const seconds = elapsed / ctx.machine.costs.freqHz;
    const c = ctx.kernel.counters.toRecord();
    const s = ctx.kernel.policies.archMm.statistics?.() ?? {};
    const acq = s["pgd_lock_acquisitions"] ?? 0;
    return {
      jobs_per_min: seconds > 0 ? (ctx.counter("reaim_jobs") / seconds) * 60 : 0,
      pgd_lock_wait_cycles: s["pgd_lock_wait_cycles"] ?? 0,
      pgd_lock_hold_cycles: s["pgd_lock_hold_cycles"] ?? 0,
      pgd_lock_busy_pct: elapsed > 0 ? (100 * (s["pgd_lock_hold_cycles"] ?? 0)) / elapsed : 0,
      pgd_lock_contended_pct: acq > 0 ? (100 * (s["pgd_lock_contended"] ?? 0)) / acq : 0,
      sync_global_pgds_visits: s["pgd_list_visits"] ?? 0,
      sync_global_pgds_entries: s["pgd_list_walk_steps"] ?? 0,
      sync_global_pgds_calls: c["sync_global_pgds_calls"]! + c["vmalloc_sync_calls"]!,
      vmalloc_purges: c["vmalloc_purges"]!,
      forks_per_s: seconds > 0 ? c["forks"]! / seconds : 0,
      elapsed_s: seconds,
    };
  },
  notes(ctx) {
    const p = ctx.params;
    const cpus = ctx.machine.cpus.length;
    const tasks = Math.ceil((cpus * (p["nr_task_pct"] as number)) / 100);
    return [
      `reaim: workfile.${p["workfile"]}, ${tasks} tasks (nr_task ${p["nr_task_pct"]}%), ${Math.min(cpus, tasks)} running ${(p["purges"] as number) > 0 ? `tests until ${p["purges"]} vmalloc purge(s) have finished (at most ${p["jobs"]} each)` : `${p["jobs"]} tests each`} (scaled down: reaim runs for a fixed time, LKP's runtime 300 s); ${p["system_processes"]} other processes alive; tests that create no process are ${p["test_cycles"]} user cycles each`,
      "reaim: children run on their parent's CPU; each child's stack goes back to the cache of a CPU drawn at random (fork balancing spreads children over the busy machine)",
      `lazy_max_pages = ${ctx.kernel.vmalloc.lazyMaxPages()} pages (fls(${cpus} CPUs) × 32 MiB); THREAD_SIZE ${ctx.kernel.policies.archMm.threadSize / 1024} KiB + guard page per stack`,
    ];
  },
});
