/**
 * reaim, after AIM7 as the kernel test robot runs it: many
 * concurrent tasks run a random mix of jobs; a share of the jobs start processes
 * (a shell starting a pipeline: fork + exec of several children, each doing a little
 * work in its own address space and exiting), the rest compute. Throughput is jobs
 * per minute.
 *
 * The mechanism the vmalloc-sync patch is about lives in the kernel, not here: with
 * CONFIG_VMAP_STACK every fork that misses the two cached stacks vmallocs one and
 * every exit that finds the cache full vfrees one; lazily freed ranges pile up to
 * lazy_max_pages and each purge walks pgd_list under pgd_lock, while every fork and
 * exit needs that lock too.
 */
import { PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen, type TaskStruct } from "@flushlab/core-mmu";

export const reaim = defineWorkload({
  name: "reaim",
  description: "AIM7-like mix: tasks fork+exec short-lived children (pipelines) or compute; many processes alive",
  mirrors: "reaim (AIM7 re-implementation) as run by the kernel test robot (LKP); job mix modelled, not the 53 AIM7 job kinds",
  params: [
    { name: "users", description: "reaim tasks alive (each a process whose pgd is on pgd_list); one per CPU runs jobs, the rest wait their turn", type: "int", default: 2000, min: 1, max: 100000 },
    { name: "jobs", description: "jobs each running task completes (the run length; the default spans two lazy purges on 8 CPUs)", type: "int", default: 1500, min: 1, max: 1000000 },
    { name: "fork_pct", description: "percentage of jobs that start processes", type: "int", default: 60, min: 0, max: 100 },
    { name: "children", description: "processes a forking job starts before it waits (a pipeline)", type: "int", default: 4, min: 1, max: 64 },
    { name: "child_pages", description: "pages each child maps and writes (exec-like churn)", type: "int", default: 8, min: 0, max: 4096 },
    {
      name: "compute_cycles",
      description: "user cycles of a compute job, and of each child's work; overrides the profile's reaimComputeJob",
      type: "int",
      defaultFrom: { cost: "reaimComputeJob" },
      min: 0,
      max: 1e9,
    },
  ],
  metrics: [
    { name: "jobs_per_min", description: "jobs completed per simulated minute, all tasks", unit: "jobs/min", better: "higher" },
    { name: "pgd_lock_wait_cycles", description: "cycles CPUs spent spinning on pgd_lock (queued_spin_lock_slowpath)", unit: "cycles", better: "lower" },
    { name: "vmalloc_purges", description: "__purge_vmap_area_lazy runs", unit: "purges", better: "none" },
    { name: "sync_global_pgds_calls", description: "sync_global_pgds (x86-64) or vmalloc_sync (PAE) walks of pgd_list", unit: "calls", better: "none" },
    { name: "forks_per_s", description: "forks per simulated second", unit: "forks/s", better: "higher" },
    { name: "elapsed_s", description: "simulated run time", unit: "s", better: "lower" },
  ],
  setup(ctx) {
    const p = ctx.params;
    const cpus = ctx.machine.cpus.length;
    const users = p["users"] as number;
    const jobs = p["jobs"] as number;
    const forkPct = p["fork_pct"] as number;
    const children = p["children"] as number;
    const childPages = p["child_pages"] as number;
    const compute = p["compute_cycles"] as number;
    // The waiting tasks: alive, so their pgds are on pgd_list.
    for (let i = cpus; i < users; i++) ctx.createProcess();
    for (let c = 0; c < Math.min(cpus, users); c++) {
      const mm = ctx.createProcess();
      const rng = ctx.prng.fork(c);
      ctx.spawn(c, mm, function* (t: TaskApi): TaskGen {
        const own = yield* t.mmap(64 * 4096, PROT_READ | PROT_WRITE);
        for (let j = 0; j < jobs; j++) {
          if (rng.int(100) < forkPct) {
            const kids: TaskStruct[] = [];
            for (let i = 0; i < children; i++) kids.push(yield* t.fork());
            for (const kid of kids) {
              t.switchTo(kid);
              if (childPages > 0) {
                const a = yield* t.mmap(childPages * 4096, PROT_READ | PROT_WRITE);
                yield t.touch(a, childPages, 4096, true);
              }
              yield compute;
              yield* t.exit(kid);
            }
          } else {
            yield t.touch(own, 64, 4096, true);
            yield compute;
          }
          ctx.count("reaim_jobs");
        }
      });
    }
  },
  collect(ctx, elapsed) {
    const seconds = elapsed / ctx.machine.costs.freqHz;
    const c = ctx.kernel.counters.toRecord();
    return {
      jobs_per_min: seconds > 0 ? (ctx.counter("reaim_jobs") / seconds) * 60 : 0,
      pgd_lock_wait_cycles: ctx.kernel.policies.archMm.statistics?.()["pgd_lock_wait_cycles"] ?? 0,
      vmalloc_purges: c["vmalloc_purges"]!,
      sync_global_pgds_calls: c["sync_global_pgds_calls"]! + c["vmalloc_sync_calls"]!,
      forks_per_s: seconds > 0 ? c["forks"]! / seconds : 0,
      elapsed_s: seconds,
    };
  },
  notes(ctx) {
    const p = ctx.params;
    return [
      `reaim: ${p["users"]} tasks alive (pgds on pgd_list), ${Math.min(ctx.machine.cpus.length, p["users"] as number)} running ${p["jobs"]} jobs each; ${p["fork_pct"]}% of jobs fork+exec ${p["children"]} children (AIM7 runs for a fixed time with 53 job kinds instead)`,
      `lazy_max_pages = ${ctx.kernel.vmalloc.lazyMaxPages()} pages (fls(${ctx.machine.cpus.length} CPUs) × 32 MiB); THREAD_SIZE ${ctx.kernel.policies.archMm.threadSize / 1024} KiB + guard page per stack`,
    ];
  },
});
