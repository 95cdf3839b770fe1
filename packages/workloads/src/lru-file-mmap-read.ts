/**
 * lru-file-mmap-read, after vm-scalability's case-lru-file-mmap-read:
 * one reader per CPU, each creating a sparse file of ROTATE_BYTES / nr_task
 * and running `usemem -f file --readonly`, which maps it read-only and shared (`-f`
 * sets MAP_SHARED) and reads it through. The files total `files_x_ram` × RAM, so the
 * page cache is refilled continuously and kswapd (and direct reclaim) unmaps file
 * pages that readers on other CPUs still map.
 *
 * Use-once, as the case's own comment says ("flush memory with use-once page cache
 * reads"): usemem makes one pass (reps = 1; the case passes neither --repeat nor
 * --read-again), loading every 8-byte word of a page in turn (step = sizeof(long)) and
 * never coming back to it. LKP's wrapper repeats the whole case only when given `size`,
 * and each repeat removes and re-creates the files, so no page-cache page is read by a
 * second pass either. A page's 512 loads are one access here plus the cost
 * profile's readPageSequential (the parameter read_cycles_per_page overrides it). Reclaim takes pages from the cold end of the LRU, long after
 * their reader moved on: a reclaim flush that never came is seen as a reader in user
 * mode still caching a freed page (class 1, or 4 when the flush reached other CPUs),
 * not as a later read through it.
 */
import { PROT_READ, defineWorkload, type FileMapping, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

/** The seed's RAM: 64 GB. */
const SEED_RAM_BYTES = 64 * 2 ** 30;

/** PTEs per split PTE lock for a run with `ramBytes` of RAM: 512 scaled by RAM / 64 GB, a power of two, at least 1. */
export function scaledPtlSpan(ramBytes: number): number {
  const scaled = Math.min(512, (512 * ramBytes) / SEED_RAM_BYTES);
  return scaled < 1 ? 1 : 2 ** Math.floor(Math.log2(scaled));
}

export const lruFileMmapRead = defineWorkload({
  name: "lru-file-mmap-read",
  description: "vm-scalability case-lru-file-mmap-read: NR_CPU readers of shared read-only file mmaps totalling 10 × RAM, read once",
  mirrors: "vm-scalability case-lru-file-mmap-read with usemem --readonly (teawater/vm-scalability)",
  params: [
    { name: "files_x_ram", description: "total file size as a multiple of RAM (the seed: 10)", type: "number", default: 10, min: 0.1, max: 100 },
    {
      name: "read_cycles_per_page",
      description: "user cycles usemem spends reading one 4 KiB page (512 sequential loads); overrides the profile's readPageSequential",
      type: "int",
      defaultFrom: { cost: "readPageSequential" },
      min: 0,
      max: 1000000,
    },
  ],
  metrics: [
    { name: "elapsed_s", description: "time until the last reader finished", unit: "s", better: "lower" },
    { name: "system_s", description: "system time, all CPUs (kernel and interrupt cycles)", unit: "s", better: "lower" },
    { name: "user_s", description: "user time, all CPUs", unit: "s", better: "lower" },
    { name: "interrupts_per_s", description: "TLB shootdown interrupts received per second, all CPUs (the CAL row: call-function IPIs taken)", unit: "1/s", better: "lower" },
    { name: "time_range_s", description: "slowest minus fastest reader", unit: "s", better: "lower" },
    { name: "time_stddev_s", description: "standard deviation of the readers' times", unit: "s", better: "lower" },
  ],
  setup(ctx) {
    const m = ctx.machine;
    const cpus = m.cpus.length;
    const ramBytes = m.mem.nframes * 4096;
    const perReader = Math.floor(((ctx.params["files_x_ram"] as number) * ramBytes) / cpus / 4096) * 4096;
    const readCycles = ctx.params["read_cycles_per_page"] as number;
    // Split PTE locks scaled with RAM: at 64 GB a reader's share of the LRU spans about
    // 680 PTE pages, so reclaim never takes the lock of the PTE page the reader faults
    // in; at a scaled RAM the share would fit in one PTE page and the two would meet on
    // one lock. Each lock covers 512 PTEs scaled by RAM / 64 GB (at least one).
    ctx.kernel.ptl.span = scaledPtlSpan(ramBytes);
    const done = new Float64Array(cpus);
    (ctx as { readerDone?: Float64Array }).readerDone = done;
    for (let c = 0; c < cpus; c++) {
      const file: FileMapping = ctx.createFile(perReader);
      const mm = ctx.createProcess();
      // The readers are started one after another by the harness: a seeded start skew of up to 20 µs.
      const skew = ctx.prng.int(52_000);
      ctx.spawn(c, mm, function* (t: TaskApi): TaskGen {
        yield skew;
        const a = yield* t.mmapFile(file, 0, perReader, PROT_READ, true); // usemem -f: MAP_SHARED
        for (let off = 0; off < perReader; off += 4096) {
          yield t.touch(a + off, 1, 4096, false);
          if (readCycles > 0) yield readCycles;
        }
        done[c] = m.now;
      });
    }
  },
  collect(ctx, elapsed) {
    const m = ctx.machine;
    const hz = m.costs.freqHz;
    const counters = ctx.kernel.counters;
    const c = counters.toRecord();
    const done = Array.from((ctx as { readerDone?: Float64Array }).readerDone ?? []).map((t) => t / hz);
    const mean = done.reduce((s, x) => s + x, 0) / Math.max(1, done.length);
    const sd = Math.sqrt(done.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, done.length));
    let tlbIrqs = 0;
    for (const n of counters.irqCall) tlbIrqs += n;
    const seconds = elapsed / hz;
    return {
      elapsed_s: seconds,
      system_s: (c["cycles_system"]! + c["cycles_interrupt"]!) / hz,
      user_s: c["cycles_user"]! / hz,
      interrupts_per_s: seconds > 0 ? tlbIrqs / seconds : 0,
      time_range_s: done.length ? Math.max(...done) - Math.min(...done) : 0,
      time_stddev_s: sd,
    };
  },
  notes(ctx) {
    const m = ctx.machine;
    const mib = (m.mem.nframes * 4096) / 2 ** 20;
    return [
      `lru-file-mmap-read: RAM scaled to ${mib} MiB in ${m.mem.nodes} node(s) (the seed: 64 GB in 4 nodes); files ${ctx.params["files_x_ram"]} × RAM over ${m.cpus.length} readers; watermarks from min_free_kbytes of the scaled RAM`,
      `split PTE locks scaled with RAM: one lock per ${ctx.kernel.ptl.span} PTE(s) (512 at 64 GB), so reclaim and a reader meet on a lock as rarely as at full size`,
      `readers: one pass over a MAP_SHARED read-only mapping, each page read once (usemem -f --readonly: reps 1, no --read-again; its 512 word loads per page are one access plus read_cycles_per_page = ${ctx.params["read_cycles_per_page"]} cycles)`,
      "reclaim mirrors mm/vmscan.c v4.2 (file LRU only, no writeback); flushes use the v5.17 x86 paths of arch-x86 in place of v4.2's flush_tlb_page/flush_tlb_others",
    ];
  },
});
