/**
 * nohz-isolation, after the measurement of seed 002 (Schneider, RFC v2): housekeeping
 * CPUs run a vmalloc/vfree-heavy load (kernel stacks and buffers, and now and then a
 * BPF-JIT-like set_memory_ro that calls vm_unmap_aliases); the isolated nohz_full
 * CPUs run a user-space loop that enters the kernel only every so often. Counts what
 * reaches the isolated CPUs while they are in user mode, as trace-cmd / osnoise would.
 *
 * The isolated task's occasional system call uses a temporary kernel buffer: kvmalloc
 * (taking its vmalloc fallback), filled, then kvfree (a lazy vfree). So an isolated CPU
 * caches translations of vmalloc addresses that are later freed, purged by the
 * housekeeping load while it spins in user space, and handed out again, perhaps to its
 * own next call: what a deferred kernel flush must have dropped by the time the CPU
 * uses kernel addresses again. Its kernel stack (VMAP_STACK) is not modelled: it is
 * never freed while the task lives, so it cannot go stale (the seed's own argument).
 */
import { MAX_CPUS, defineWorkload, type KGen, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

/** Where syscall_interval's default comes from. */
const SYSCALL_INTERVAL_SOURCE =
  "unsourced: seed 002's isolated CPUs ran a user-space loop that stayed in user space, and rteval does not say what its measurement threads call; the default, a syscall every 500,000 cycles (~190 µs at 2.6 GHz), is about 200 kernel entries per isolated CPU in the default run. It is the task's behaviour, not a hardware cost, so it stays a workload parameter";

export const nohzIsolation = defineWorkload({
  name: "nohz-isolation",
  description: "housekeeping CPUs churn vmalloc (and BPF-JIT-like vm_unmap_aliases); isolated nohz_full CPUs spin in user space with rare syscalls",
  mirrors: "seed 002's rteval-on-housekeeping / user-spin-on-isolated measurement (trace-cmd cpumask-filtered IPI counts)",
  params: [
    { name: "isolated", description: "nohz_full CPUs (the last ones); the rest are housekeeping", type: "int", default: 4, min: 1, max: MAX_CPUS - 1 },
    { name: "ops", description: "vmalloc/vfree pairs each housekeeping CPU runs (the run length)", type: "int", default: 4000, min: 1, max: 10000000 },
    { name: "jit_every", description: "every n-th op also does a BPF-JIT-like vm_unmap_aliases (set_memory_ro)", type: "int", default: 50, min: 1, max: 1000000 },
    {
      name: "syscall_interval",
      description: "user cycles an isolated CPU spins between two syscalls (the measured task's behaviour, not a hardware cost)",
      type: "int",
      default: 500000,
      defaultSource: SYSCALL_INTERVAL_SOURCE,
      min: 1000,
      max: 1e12,
    },
    {
      name: "syscall_buffer",
      description: "bytes of the temporary kernel buffer an isolated CPU's syscall kvmallocs (vmalloc fallback), fills and frees; 0: the syscall touches no vmalloc memory",
      type: "int",
      default: 16384,
      min: 0,
      max: 1048576,
    },
  ],
  metrics: [
    { name: "isolated_ipis", description: "TLB IPIs taken by isolated CPUs while in user mode", unit: "IPIs", better: "lower" },
    { name: "isolated_interruption_cycles", description: "cycles isolated CPUs spent in interrupts", unit: "cycles", better: "lower" },
    { name: "isolated_max_interruption_cycles", description: "the longest single interruption of an isolated CPU (osnoise max)", unit: "cycles", better: "lower" },
    { name: "deferred_flushes", description: "deferred kernel flushes run at kernel entry (CONTEXT_WORK_TLBI)", unit: "flushes", better: "none" },
    { name: "housekeeping_ops_per_s", description: "vmalloc/vfree pairs per simulated second, all housekeeping CPUs", unit: "ops/s", better: "higher" },
  ],
  setup(ctx) {
    const m = ctx.machine;
    const k = ctx.kernel;
    const n = m.cpus.length;
    const isolated = ctx.params["isolated"] as number;
    if (isolated >= n) throw new Error(`isolated=${isolated} leaves no housekeeping CPU on ${n} CPUs`);
    const ops = ctx.params["ops"] as number;
    const jitEvery = ctx.params["jit_every"] as number;
    const interval = ctx.params["syscall_interval"] as number;
    const buffer = ctx.params["syscall_buffer"] as number;
    for (let c = n - isolated; c < n; c++) k.ct.nohzFull[c] = 1;
    let running = n - isolated;
    const mm = ctx.createProcess();
    for (let c = 0; c < n - isolated; c++) {
      const skew = ctx.prng.int(26_000); // the load starts unevenly (seeded)
      ctx.spawn(c, mm, function* (t: TaskApi): TaskGen {
        yield skew;
        for (let i = 1; i <= ops; i++) {
          yield* t.syscall((function* (): KGen {
            const a = yield* k.vmalloc.vmalloc(t.cpu, 16384);
            yield* k.entry.kernelAccessRange(t.cpu, a.start, 16384, true);
            if (i % jitEvery === 0) yield* k.vmalloc.vmUnmapAliases(t.cpu);
            yield* k.vmalloc.vfree(t.cpu, a);
          })());
          ctx.count("housekeeping_ops");
          yield 20_000; // the rest of the housekeeping job
        }
        running--;
      });
    }
    for (let c = n - isolated; c < n; c++) {
      const phase = ctx.prng.int(interval); // where in its loop each isolated task starts (seeded)
      ctx.spawn(c, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        yield phase;
        while (running > 0) {
          yield interval; // while (1) { … } in user space
          yield* t.syscall(
            (function* (): KGen {
              if (buffer === 0) return; // getppid()
              // A call that copies a large argument in (vmemdup_user → kvmalloc) or
              // builds a large reply: kvmalloc, fill, kvfree.
              const a = yield* k.vmalloc.vmalloc(t.cpu, buffer);
              yield* k.entry.kernelAccessRange(t.cpu, a.start, buffer, true);
              yield* k.vmalloc.vfree(t.cpu, a);
            })(),
          );
        }
      });
    }
  },
  collect(ctx, elapsed) {
    const m = ctx.machine;
    const c = ctx.kernel.counters.toRecord();
    const seconds = elapsed / m.costs.freqHz;
    return {
      isolated_ipis: c["isolated_ipis"]!,
      isolated_interruption_cycles: c["isolated_interruption_cycles"]!,
      isolated_max_interruption_cycles: ctx.kernel.smp.maxIsolatedInterruption,
      deferred_flushes: c["deferred_flushes"]!,
      housekeeping_ops_per_s: seconds > 0 ? ctx.counter("housekeeping_ops") / seconds : 0,
    };
  },
  notes(ctx) {
    const buffer = ctx.params["syscall_buffer"] as number;
    const interval = ctx.params["syscall_interval"] as number;
    return [
      `nohz-isolation: ${ctx.params["isolated"]} nohz_full CPU(s); ${ctx.params["ops"]} vmalloc/vfree pairs per housekeeping CPU (seed 002 ran rteval for 30 minutes instead); context tracking and deferral mirror the RFC v2 series (v6.5-rc1 base)`,
      buffer > 0
        ? `isolated tasks: a syscall every ${ctx.params["syscall_interval"]} user cycles that kvmallocs a ${buffer}-byte buffer, fills it and kvfrees it (kvmalloc's vmalloc fallback always taken; the seed's isolated loop stayed in user space and rteval does not say what its measurement threads call); kernel stacks not modelled (never freed while the task lives)`
        : `isolated tasks: a syscall every ${ctx.params["syscall_interval"]} user cycles that touches no vmalloc memory (getppid); kernel stacks not modelled`,
      interval === 500000 ? `syscall_interval ${interval}: the workload's default (${SYSCALL_INTERVAL_SOURCE})` : `syscall_interval ${interval}: set for this run (the workload's default is 500000)`,
    ];
  },
});
