import { describe, expect, it } from "vitest";
import {
  PROT_READ,
  PROT_WRITE,
  defineWorkload,
  simulate,
  type Cpu,
  type FlushlabPlugin,
  type MmStruct,
  type Reproduction,
  type RunResult,
  type TaskApi,
  type TaskGen,
} from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { lruFileMmapRead } from "@flushlab/workloads";
import { BatchedUnmapFlush, batchedUnmap } from "./index.js";
import { batchNeverFlushed, deferDirty, flushLate, skipOneCpu } from "../test/unsafe-policies.js";

const machine = (cpus: number, sockets: number, memoryMiB: number) => ({ ...x86.defaultMachine, cpus, sockets, memoryMiB });

function lru(plugins: FlushlabPlugin[], cpus = 8, sockets = 2): RunResult {
  return simulate({
    options: { workload: "lru-file-mmap-read", machine: machine(cpus, sockets, 16), profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: { files_x_ram: 3 } },
    arch: x86,
    workload: lruFileMmapRead,
    plugins,
  });
}

describe("batched-unmap", () => {
  it("reclaim sends fewer shootdown interrupts and takes less system time; no hazards", () => {
    const b = lru([]);
    const p = lru([batchedUnmap]);
    expect(b.counters["pgsteal_kswapd"]! + b.counters["pgsteal_direct"]!).toBeGreaterThan(1000);
    expect(p.counters["ipi_sent"]!).toBeLessThan(b.counters["ipi_sent"]! / 2);
    expect(p.metrics["system_s"]!).toBeLessThan(b.metrics["system_s"]!);
    expect(p.metrics["elapsed_s"]!).toBeLessThan(b.metrics["elapsed_s"]!);
    expect(b.hazards).toEqual([]);
    expect(p.hazards).toEqual([]);
  });

  it("a single socket of 12 CPUs with files of 10 × RAM completes (referenced pages age; no false out-of-memory)", () => {
    const r = simulate({
      options: { workload: "lru-file-mmap-read", machine: machine(12, 1, 32), profile: "bare-metal", seed: 1, plugins: [], params: { files_x_ram: 10 } },
      arch: x86,
      workload: lruFileMmapRead,
      plugins: [],
    });
    expect(r.counters["pgsteal_kswapd"]! + r.counters["pgsteal_direct"]!).toBeGreaterThan(30_000);
    expect(r.hazards).toEqual([]);
  });

  it("should_defer_flush: only with TTU_BATCH_FLUSH and another CPU in mm_cpumask", () => {
    const p = new BatchedUnmapFlush(null as never);
    const mm = { cpumask: Uint8Array.from([1, 0, 0, 0]) } as MmStruct;
    const cpu0 = { id: 0 } as Cpu;
    const cpu1 = { id: 1 } as Cpu;
    expect(p.shouldDeferFlush(cpu0, mm, true)).toBe(false);
    expect(p.shouldDeferFlush(cpu1, mm, true)).toBe(true);
    expect(p.shouldDeferFlush(cpu1, mm, false)).toBe(false);
  });

  it("declares its provenance and reproduction", () => {
    expect(batchedUnmap.patch).toMatchObject({ commit: "72b252aed506", kernel: "v4.3 (Sep 2015)" });
    expect(batchedUnmap.reproduction?.machine).toMatchObject({ cpus: 48, sockets: 4 });
    expect(batchedUnmap.reproduction?.figures.map((f) => f.metric)).toEqual(["elapsed_s", "system_s", "interrupts_per_s"]);
  });
});

/**
 * CPU 1 keeps 32 pages of a small file hot in its TLB, reading (a private mapping)
 * or writing (a shared one); TLB hits set neither A nor D again. CPU 0 floods the
 * page cache with a file of 3 × RAM, so reclaim takes CPU 1's pages.
 */
function hotMapping(plugins: FlushlabPlugin[], write: boolean): RunResult {
  const w = defineWorkload({
    name: write ? "hot-writer" : "hot-reader",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      let done = false;
      const bytes = ctx.machine.mem.nframes * 4096 * 3;
      const big = ctx.createFile(bytes);
      const small = ctx.createFile(32 * 4096);
      ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        yield 50_000;
        const a = yield* t.mmapFile(big, 0, bytes, PROT_READ, false);
        for (let off = 0; off < bytes; off += 4096) yield t.touch(a + off, 1, 4096, false);
        done = true;
      });
      ctx.spawn(1, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        const a = yield* t.mmapFile(small, 0, 32 * 4096, write ? PROT_READ | PROT_WRITE : PROT_READ, write);
        while (!done) {
          yield t.touch(a, 32, 4096, write);
          yield 2000;
        }
      });
    },
    collect: () => ({}),
  });
  return simulate({ options: { workload: w.name, machine: machine(2, 1, 4), profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} }, arch: x86, workload: w, plugins });
}
const hotReader = (plugins: FlushlabPlugin[]): RunResult => hotMapping(plugins, false);
const hotWriter = (plugins: FlushlabPlugin[]): RunResult => hotMapping(plugins, true);

describe("safety", () => {
  it("unsafe (b): a dirty PTE's flush deferred past the start of writeback loses writes (class 2)", () => {
    const r = hotWriter([deferDirty]);
    const lost = r.hazards.filter((h) => h.class === 2);
    expect(lost.length).toBeGreaterThan(0);
    expect(lost[0]!.cpu).toBe(1);
    expect(lost[0]!.missing).toMatch(/after pageout \(writeback started\)/);
  });
  it("safe: the seed flushes dirty PTEs at once; the pre-patch path flushes every PTE at once", () => {
    const seed = hotWriter([batchedUnmap]);
    expect(seed.hazards).toEqual([]);
    expect(seed.counters["nr_vmscan_write"]).toBeGreaterThan(0);
    expect(hotWriter([]).hazards).toEqual([]);
  });

  it("unsafe (a): pages freed before try_to_unmap_flush are read through stale entries (class 1)", () => {
    const r = hotReader([flushLate]);
    expect(r.hazards.some((h) => h.class === 1 && h.cpu === 1)).toBe(true);
    expect(r.hazards.find((h) => h.class === 1)!.missing).toMatch(/before shrink_page_list \(reclaim\) freed the page/);
  });
  it("unsafe (c): a try_to_unmap_flush whose own IPIs skip a CPU is caught by the oracle alone", () => {
    const r = hotReader([skipOneCpu]);
    const h = r.hazards.find((x) => x.cpu === 1 && (x.class === 4 || x.class === 1))!;
    expect(h).toBeDefined();
    expect(h.missing).toMatch(/^TLB flush on CPU 1 before shrink_page_list \(reclaim\) freed the page/);
    expect(h.detail).toMatch(/still caches a translation/);
  });
  it("safe: the batched flush before the free (and the pre-patch immediate flush) pass", () => {
    expect(hotReader([batchedUnmap]).hazards).toEqual([]);
    const pre = hotReader([]);
    expect(pre.hazards).toEqual([]);
    expect(pre.counters["pgsteal_kswapd"]! + pre.counters["pgsteal_direct"]!).toBeGreaterThan(0);
  });
});

describe("the reproduction's 'hazards: 0 required' can fail", () => {
  const repro: Reproduction = batchedUnmap.reproduction!;
  /**
   * The reproduction's workload and parameters on a reduced machine (8 CPUs in 2 sockets,
   * 16 MiB, files of 3 × RAM, in place of its 48 CPUs in 4 sockets and 10 × RAM), so it
   * runs in about a second.
   */
  const reduced = (plugins: FlushlabPlugin[]): RunResult =>
    simulate({
      options: {
        workload: repro.workload,
        machine: machine(8, 2, 16),
        profile: repro.profile ?? "bare-metal",
        seed: 1,
        plugins: plugins.map((p) => p.name),
        params: { ...repro.params, files_x_ram: 3 },
      },
      arch: x86,
      workload: lruFileMmapRead,
      plugins,
    });

  it("a batched unmap whose deferred flush never happens: readers in user mode still cache the pages reclaim freed", () => {
    expect(repro.workload).toBe(lruFileMmapRead.name);
    expect(repro.requireNoHazards).toBe(true);
    const broken = reduced([batchNeverFlushed]);
    expect(broken.counters["pgsteal_kswapd"]! + broken.counters["pgsteal_direct"]!).toBeGreaterThan(1000);
    expect(broken.counters["hazards_total"]).toBeGreaterThan(100);
    const h = broken.hazards.find((x) => x.class === 1)!;
    expect(h).toBeDefined();
    expect(h.missing).toMatch(/^TLB flush on CPU \d+ before shrink_page_list \(reclaim\) freed the page$/);
    expect(h.detail).toMatch(/no CPU that cached the page was flushed before the free/);
    // The real policy on the same run: nothing.
    expect(reduced([batchedUnmap]).hazards).toEqual([]);
  });
});
