/**
 * An example flush-policy plugin, deliberately unsafe: an mmu_gather flush that frees
 * the gathered pages before it flushes the TLBs (tlb_flush_mmu with its two halves
 * swapped). Another CPU can then use its stale translation to a page that was already
 * freed and reused: hazard class 1.
 *
 *   cd examples/free-before-flush
 *   npm run -s flushlab -- compare tlb-flush2 --plugins free-before-flush --runs 3
 *   npm run -s flushlab -- run free-and-reread --plugins free-before-flush
 */
import { MMU_GATHER_FLUSH, PROT_READ, PROT_WRITE, MADV_DONTNEED, defineConfig, definePlugin, defineWorkload, policy, type Cpu, type MmuGather } from "@flushlab/core-mmu";

export const freeBeforeFlush = definePlugin({
  name: "free-before-flush",
  description: "example: mmu_gather frees pages before flushing (unsafe: hazard class 1)",
  patch: { title: "example only: tlb_flush_mmu frees before it flushes", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    // The factory gets the kernel and the implementation it replaces (here unused).
    policy(MMU_GATHER_FLUSH, (kernel) => ({
      *tlbFlushMmu(cpu: Cpu, tlb: MmuGather) {
        yield* kernel.mmuGather.tlbFlushMmuFree(cpu, tlb); // frees the pages first...
        yield* kernel.mmuGather.tlbFlush(cpu, tlb); // ...then flushes the TLBs
      },
    })),
  ],
});

/**
 * A workload that can see the bug: CPU 0 writes a page and drops it with
 * madvise(MADV_DONTNEED), then faults a new page in (which reuses the freed frame);
 * CPU 1 keeps reading the dropped page the whole time.
 */
export const freeAndReread = defineWorkload({
  name: "free-and-reread",
  description: "example: one thread drops a page another keeps reading, then reuses the frame",
  mirrors: "the shape of a use-after-free through a stale TLB entry",
  params: [],
  metrics: [],
  setup(ctx) {
    const mm = ctx.createProcess();
    let addr = -1;
    let done = false;
    ctx.spawn(0, mm, function* (t) {
      addr = yield* t.mmap(8 * 4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, 4096, true);
      yield 20_000;
      yield* t.madvise(addr, 4096, MADV_DONTNEED);
      yield t.touch(addr + 4096, 1, 4096, true);
      yield 20_000;
      done = true;
    });
    ctx.spawn(1, mm, function* (t) {
      while (addr < 0) yield 1000;
      while (!done) yield t.touch(addr, 64, 0, false);
    });
  },
  collect: () => ({}),
});

export default defineConfig({
  plugins: [freeBeforeFlush],
  workloads: [freeAndReread],
});
