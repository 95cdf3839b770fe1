/**
 * tlb-flush2, after will-it-scale's tests/tlb_flush2.c (threads mode): threads of one
 * process, one per CPU, each loop mapping a private anonymous 1 MiB region and, page by
 * page, writing it, dropping it with madvise(MADV_DONTNEED) and reading it back (the
 * zero page), then unmapping the region. Every madvise is a one-page
 * flush_tlb_mm_range that must reach every other CPU running the process.
 */
import { MADV_DONTNEED, MAX_CPUS, PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

const PAGE = 4096;

export const tlbFlush2 = defineWorkload({
  name: "tlb-flush2",
  description: "will-it-scale tlb_flush2 (threads): write a page, madvise(MADV_DONTNEED) it, read it back; per 1 MiB region, then munmap",
  mirrors: "antonblanchard/will-it-scale tests/tlb_flush2.c, threads mode",
  params: [
    { name: "threads", description: "threads of the process (one per CPU, CPUs 0..threads-1); 0 = one per CPU", type: "int", default: 0, min: 0, max: MAX_CPUS },
    { name: "regions", description: "1 MiB regions each thread maps, walks and unmaps (will-it-scale runs for a time; the model runs a fixed count)", type: "int", default: 2, min: 1, max: 10000 },
    { name: "memory_kib", description: "region size in KiB (MEMORYSIZE)", type: "int", default: 1024, min: 4, max: 1048576 },
  ],
  metrics: [
    { name: "ops_per_s", description: "iterations (one page written, dropped, read) per simulated second, all threads", unit: "ops/s", better: "higher" },
    { name: "ops_per_s_per_thread", description: "ops_per_s divided by threads", unit: "ops/s", better: "higher" },
    { name: "cycles_per_op", description: "elapsed cycles per iteration per thread", unit: "cycles", better: "lower" },
    { name: "shootdown_ipis_per_op", description: "TLB shootdown interrupts received per iteration", unit: "IPIs", better: "lower" },
    { name: "elapsed_s", description: "simulated run time", unit: "s", better: "lower" },
  ],
  setup(ctx) {
    const threads = (ctx.params["threads"] as number) || ctx.machine.cpus.length;
    if (threads > ctx.machine.cpus.length) throw new Error(`threads=${threads} needs at least ${threads} CPUs`);
    const regions = ctx.params["regions"] as number;
    const size = (ctx.params["memory_kib"] as number) * 1024;
    const mm = ctx.createProcess();
    for (let cpu = 0; cpu < threads; cpu++) {
      // Threads do not start in lockstep: a seeded skew of up to 10 µs.
      const skew = ctx.prng.int(26_000);
      ctx.spawn(cpu, mm, function* (t: TaskApi): TaskGen {
        yield skew;
        for (let r = 0; r < regions; r++) {
          const addr = yield* t.mmap(size, PROT_READ | PROT_WRITE);
          for (let i = 0; i < size; i += PAGE) {
            yield t.touch(addr + i, 1, PAGE, true); // *(addr + i) = 1
            yield* t.madvise(addr + i, PAGE, MADV_DONTNEED);
            yield t.touch(addr + i, 1, PAGE, false); // assert(*(addr + i) == 0)
            ctx.count("tlb_flush2_iterations");
          }
          yield* t.munmap(addr, size);
        }
      });
    }
  },
  collect(ctx, elapsed) {
    const threads = (ctx.params["threads"] as number) || ctx.machine.cpus.length;
    const ops = ctx.counter("tlb_flush2_iterations");
    const seconds = elapsed / ctx.machine.costs.freqHz;
    let ipis = 0;
    for (const n of ctx.kernel.counters.irqTlb) ipis += n;
    return {
      ops_per_s: seconds > 0 ? ops / seconds : 0,
      ops_per_s_per_thread: seconds > 0 ? ops / seconds / threads : 0,
      cycles_per_op: ops > 0 ? (elapsed * threads) / ops : 0,
      shootdown_ipis_per_op: ops > 0 ? ipis / ops : 0,
      elapsed_s: seconds,
    };
  },
  notes(ctx) {
    const threads = (ctx.params["threads"] as number) || ctx.machine.cpus.length;
    return [`tlb-flush2: ${threads} threads × ${ctx.params["regions"]} regions of ${ctx.params["memory_kib"]} KiB, start skew up to 10 µs per thread (will-it-scale runs for a fixed time instead)`];
  },
});
