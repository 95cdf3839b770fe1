/**
 * mprotect-bench, the loop from the cover letter of Nadav Amit's "avoid unnecessary
 * TLB flushes" (seed 001): on private anonymous memory,
 *   mprotect(p, len, PROT_READ); mprotect(p, len, PROT_READ|PROT_WRITE); *p = 0;
 * timing each call in cycles between timestamps taken in user mode, so that the TLB
 * misses of the loop's own pages (text, GOT, libc, stack) after a flush fall in the
 * window they fall in on a real CPU. Extra threads of the same process busy-loop on their
 * own CPUs, so every flush of the mm must reach them.
 *
 * thp=1: p is a 2 MiB-aligned transparent huge page (the workload writes "always" to
 * /sys/kernel/mm/transparent_hugepage/enabled first, as a THP benchmark's script does),
 * and each mprotect covers the whole 2 MiB: change_huge_pmd, the case of patch 3 of the
 * series.
 */
import { C, MAX_CPUS, MmuEvent, PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen, type TaskYield } from "@flushlab/core-mmu";

const HPAGE = 2097152;

/** Local flushes so far (the metric flushes_per_iter counts these). */
function localFlushes(values: Float64Array): number {
  return values[C.nr_tlb_local_flush_one]! + values[C.nr_tlb_local_flush_all]!;
}

export const mprotectBench = defineWorkload({
  name: "mprotect-bench",
  description: "mprotect(PROT_READ); mprotect(PROT_READ|PROT_WRITE); *p = 0, cycles per call (Amit's cover-letter loop)",
  mirrors: "the benchmark loop of Nadav Amit's \"mm/mprotect: avoid unnecessary TLB flushes\" v6 cover letter",
  params: [
    { name: "threads", description: "threads of the process: 1 runs the loop alone; the others busy-loop on their own CPUs", type: "int", default: 1, min: 1, max: MAX_CPUS },
    { name: "write", description: "1: do the store *p = 0 each iteration; 0: skip it", type: "int", default: 1, min: 0, max: 1 },
    { name: "pages", description: "pages of p that each mprotect covers (all written by the store loop)", type: "int", default: 1, min: 1, max: 512 },
    { name: "iterations", description: "loop iterations (the mean per call is reported)", type: "int", default: 2000, min: 1, max: 10000000 },
    { name: "thp", description: "1: p is a 2 MiB-aligned transparent huge page (THP set to always) and each mprotect covers all 2 MiB; pages (the pages stored to) must be 1 or 512", type: "int", default: 0, min: 0, max: 1 },
  ],
  metrics: [
    { name: "cycles_prot_read", description: "mean cycles per mprotect(PROT_READ) call", unit: "cycles", better: "lower" },
    { name: "cycles_prot_read_write", description: "mean cycles per mprotect(PROT_READ|PROT_WRITE) call", unit: "cycles", better: "lower" },
    { name: "cycles_write", description: "mean cycles per store loop (*p = 0 over the pages), faults included", unit: "cycles", better: "lower" },
    { name: "flushes_per_iter", description: "local TLB flushes (INVLPG runs and full) per iteration on the looping CPU", unit: "flushes", better: "lower" },
    { name: "ipis_per_iter", description: "shootdown IPIs sent per iteration", unit: "IPIs", better: "lower" },
    { name: "spurious_faults_per_iter", description: "spurious page faults per iteration", unit: "faults", better: "lower" },
  ],
  setup(ctx) {
    const threads = ctx.params["threads"] as number;
    const write = (ctx.params["write"] as number) === 1;
    const pages = ctx.params["pages"] as number;
    const iterations = ctx.params["iterations"] as number;
    const thp = (ctx.params["thp"] ?? 0) === 1;
    const m = ctx.machine;
    if (threads > m.cpus.length) throw new Error(`threads=${threads} needs at least ${threads} CPUs`);
    if (thp && pages !== 1 && pages !== 512) throw new Error(`thp=1 mprotects one whole 2 MiB huge page and stores to pages=1 (*p = 0) or pages=512 of it, not ${pages}: a range of ${pages} pages would split the huge page`);
    // echo always > /sys/kernel/mm/transparent_hugepage/enabled
    if (thp) ctx.kernel.memory.huge.setEnabled("always");
    const mm = ctx.createProcess();
    let done = false;
    const t = { read: 0, rw: 0, write: 0, flushesRead: 0, flushesRw: 0, walksRead: 0, walksRw: 0, walksText: 0, walksGot: 0, walksLibc: 0, walksStack: 0 };
    // The MMU's page-walk count (a PMU's dTLB/iTLB miss walks), read around each access.
    const ev = m.mmu.events;
    const walks = (): number => ev[MmuEvent.page_walks]!;
    (ctx as { mprotectTimes?: typeof t }).mprotectTimes = t;
    const counters = ctx.kernel.counters.values;
    ctx.spawn(0, mm, function* (api: TaskApi): TaskGen {
      const len = thp ? HPAGE : pages * 4096;
      // The benchmark's own user-mode footprint, each a page the CPU looks up in its TLB:
      // the loop's text (with the PLT), the binary's data (the GOT), libc's text (the
      // mprotect wrapper) and the stack. Mapped and touched once before the loop.
      const image = yield* api.mmap(4 * 4096, PROT_READ | PROT_WRITE);
      const TEXT = image, GOT = image + 4096, LIBC = image + 2 * 4096, STACK = image + 3 * 4096;
      yield api.touch(image, 4, 4096, true);
      // thp=1: 2 MiB more than needed, so that a 2 MiB-aligned range lies inside the VMA.
      const base = yield* api.mmap(thp ? len + HPAGE : len, PROT_READ | PROT_WRITE);
      const p = thp ? base + ((HPAGE - (base % HPAGE)) % HPAGE) : base;
      yield api.touch(p, pages, 4096, true);
      yield 20_000; // the other threads are running by now
      // One timed call as the C loop makes it: t0 = rdtsc() in the loop (its text, the
      // stack slot), the call through the PLT and the GOT into libc's wrapper, the
      // system call, the return through the wrapper to the loop, t1 = rdtsc(). The
      // window holds the user-mode TLB misses on either side of the call.
      type Slot = "walksText" | "walksGot" | "walksLibc" | "walksStack";
      /** A user-mode access to one page of the loop's image, its TLB misses counted by page. */
      function* use(va: number, slot: Slot, write = false): Generator<TaskYield, void, void> {
        const w0 = walks();
        yield api.touch(va, 1, 4096, write);
        t[slot] += walks() - w0;
      }
      function* timed(prot: number): Generator<TaskYield, number, void> {
        yield* use(TEXT, "walksText");
        yield* use(STACK, "walksStack", true);
        const t0 = m.now;
        const w0 = walks();
        yield* use(TEXT, "walksText");
        yield* use(GOT, "walksGot");
        yield* use(LIBC, "walksLibc");
        yield* api.mprotect(p, len, prot);
        yield* use(LIBC, "walksLibc");
        yield* use(TEXT, "walksText");
        if (prot & PROT_WRITE) t.walksRw += walks() - w0;
        else t.walksRead += walks() - w0;
        return m.now - t0;
      }
      for (let i = 0; i < iterations; i++) {
        let f0 = localFlushes(counters);
        t.read += yield* timed(PROT_READ);
        t.flushesRead += localFlushes(counters) - f0;
        f0 = localFlushes(counters);
        t.rw += yield* timed(PROT_READ | PROT_WRITE);
        t.flushesRw += localFlushes(counters) - f0;
        if (write) {
          const t0 = m.now;
          yield api.touch(p, pages, 4096, true);
          yield 0; // the store loop ends here (after any fault)
          t.write += m.now - t0;
        }
        ctx.count("mprotect_bench_iterations");
      }
      done = true;
    });
    for (let c = 1; c < threads; c++) {
      ctx.spawn(c, mm, function* (): TaskGen {
        while (!done) yield 5000; // while (1);
      });
    }
  },
  collect(ctx) {
    const t = (ctx as { mprotectTimes?: { read: number; rw: number; write: number } }).mprotectTimes!;
    const n = Math.max(1, ctx.counter("mprotect_bench_iterations"));
    const c = ctx.kernel.counters.toRecord();
    return {
      cycles_prot_read: t.read / n,
      cycles_prot_read_write: t.rw / n,
      cycles_write: t.write / n,
      flushes_per_iter: (c["nr_tlb_local_flush_one"]! + c["nr_tlb_local_flush_all"]!) / n,
      ipis_per_iter: ctx.machine.apic.ipisSent / n,
      spurious_faults_per_iter: c["pgfault_spurious"]! / n,
    };
  },
  notes(ctx) {
    const p = ctx.params;
    const t = (ctx as { mprotectTimes?: { flushesRead: number; flushesRw: number; walksRead: number; walksRw: number; walksText: number; walksGot: number; walksLibc: number; walksStack: number } }).mprotectTimes!;
    const n = Math.max(1, ctx.counter("mprotect_bench_iterations"));
    const r = (x: number): string => String(Math.round((x / n) * 1000) / 1000);
    return [
      p["thp"] === 1
        ? `mprotect-bench: ${p["iterations"]} iterations on one 2 MiB transparent huge page (thp=1; ${p["pages"]} page(s) stored to), ${p["threads"]} thread(s)`
        : `mprotect-bench: ${p["iterations"]} iterations on ${p["pages"]} page(s), ${p["threads"]} thread(s); each call timed between user-mode timestamps, around the loop's text, GOT, libc and stack pages`,
      `local TLB flushes per call: mprotect(PROT_READ) ${r(t.flushesRead)}, mprotect(PROT_READ|PROT_WRITE) ${r(t.flushesRw)}`,
      `TLB misses (page walks) per call in the timed window, user and kernel: mprotect(PROT_READ) ${r(t.walksRead)}, mprotect(PROT_READ|PROT_WRITE) ${r(t.walksRw)}; user misses per iteration by page: loop text ${r(t.walksText)}, GOT ${r(t.walksGot)}, libc ${r(t.walksLibc)}, stack ${r(t.walksStack)}; user-PCID flushes at exit per iteration ${r(ctx.kernel.counters.toRecord()["pti_user_pcid_flush"]!)}; walks of the entry code under the user CR3 (PTI: entry text, entry stack, TSS) per iteration ${r(ctx.kernel.counters.toRecord()["pti_entry_walks"]!)}`,
    ];
  },
});
