import { describe, expect, it } from "vitest";
import {
  MADV_DONTNEED,
  PROT_NONE,
  PROT_READ,
  defineWorkload,
  newTlbUbc,
  simulate,
  type Cpu,
  type FlushlabPlugin,
  type KGen,
  type MmStruct,
  type RunResult,
  type TaskApi,
  type TlbUbc,
  type UnmapFlush,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { batchedUnmap } from "@flushlab/patch-batched-unmap";
import { MarkTlbFlushBatched, flushBatchedPending } from "./index.js";

const PAGES = 28;

type Call = "munmap" | "mprotect(PROT_NONE)" | "madvise(MADV_DONTNEED)";

function call(t: TaskApi, which: Call, addr: number): KGen {
  if (which === "munmap") return t.munmap(addr, 4096);
  if (which === "mprotect(PROT_NONE)") return t.mprotect(addr, 4096, PROT_NONE);
  return t.madvise(addr, 4096, MADV_DONTNEED);
}

/**
 * The v4.3 race, with hand-built timing. Process A: CPU 1 maps a file and reads 28 of
 * its pages (its TLB caches them); CPU 0 waits. Process B on CPU 2 reclaims twice (the
 * pages are young the first time): the second pass unmaps the pages one by one, leaving
 * their flush to the end of the batch because CPUs 0 and 1 are in A's mm_cpumask. As soon
 * as the first page's PTE is gone, CPU 0 calls `which` on that page, which finds the PTE
 * already gone; when the call has returned, CPU 1 reads the page again.
 */
function raceWithReclaim(which: Call, plugins: readonly FlushlabPlugin[]) {
  const seen = { callReturned: -1, reclaimReturned: -1, reclaimed: 0 };
  let ctx: WorkloadContext | undefined;
  let addr = -1;
  let stage = 0;
  const pteOf = (mm: MmStruct, va: number): number => {
    const k = ctx!.kernel;
    const off = k.pgtables.pteOffset(mm.pgd, va);
    return off < 0 ? 0 : k.machine.mem.words[off]!;
  };
  const workload = defineWorkload({
    name: "reclaim-race",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(c) {
      ctx = c;
      const file = c.createFile(PAGES * 4096);
      const a = c.createProcess();
      const b = c.createProcess();
      c.spawn(0, a, function* (t) {
        while (stage < 1) yield 100;
        while (pteOf(t.mm, addr) !== 0) yield 100;
        yield* call(t, which, addr);
        seen.callReturned = c.machine.now;
        stage = 2;
      });
      c.spawn(1, a, function* (t) {
        addr = yield* t.mmapFile(file, 0, PAGES * 4096, PROT_READ, false);
        yield t.touch(addr, PAGES, 4096, false);
        stage = 1;
        while (stage < 2) yield 100;
        yield t.touch(addr, 1, 4096, false); // after the call returned
      });
      c.spawn(2, b, function* (t) {
        while (stage < 1) yield 100;
        seen.reclaimed += yield* t.reclaim(); // every page young: kept, its A bit cleared
        seen.reclaimed += yield* t.reclaim();
        seen.reclaimReturned = c.machine.now;
      });
    },
    collect: () => ({}),
  });
  const r: RunResult = simulate({
    options: { workload: workload.name, machine: { ...x86.defaultMachine, cpus: 3, sockets: 1, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload,
    plugins,
  });
  return { r, seen };
}

const CALLS: Call[] = ["munmap", "mprotect(PROT_NONE)", "madvise(MADV_DONTNEED)"];

describe.each(CALLS)("flush-batched-pending: %s racing with batched reclaim", (which) => {
  it("batched-unmap alone (v4.3–v4.12): the call returns while CPU 1 still holds the translation, which it then uses (class 7)", () => {
    const { r, seen } = raceWithReclaim(which, [batchedUnmap]);
    expect(seen.reclaimed).toBe(PAGES);
    expect(seen.callReturned).toBeLessThan(seen.reclaimReturned); // inside reclaim's batch
    expect([...new Set(r.hazards.map((h) => h.class))]).toEqual([7]);
    const h = r.hazards[0]!;
    expect(h.cpu).toBe(1);
    expect(h.missing).toBe(`TLB flush on CPU 1 before ${which.replace(/\(.*/, "")} returned`);
    expect(r.counters["flush_tlb_batched_pending"]).toBeUndefined();
  });

  it("with flush-batched-pending (v4.13): the call flushes the mm under the PTE lock first; no hazard", () => {
    const { r, seen } = raceWithReclaim(which, [batchedUnmap, flushBatchedPending]);
    expect(seen.reclaimed).toBe(PAGES);
    expect(seen.callReturned).toBeLessThan(seen.reclaimReturned);
    expect(r.counters["flush_tlb_batched_pending"]).toBe(1);
    expect(r.hazards).toEqual([]);
    if (which !== "madvise(MADV_DONTNEED)") expect(r.counters["sigsegv"]).toBe(1);
  });
});

describe("flush-batched-pending", () => {
  it("the pre-patch kernel (no batching) flushes each unmapped PTE at once and needs no mark", () => {
    const { r, seen } = raceWithReclaim("munmap", []);
    expect(seen.reclaimed).toBe(PAGES);
    expect(r.hazards).toEqual([]);
  });

  it("requires batched-unmap, listed before it: a one-line error otherwise", () => {
    const run = (plugins: FlushlabPlugin[]) => () =>
      simulate({
        options: { workload: "x", machine: { ...x86.defaultMachine, cpus: 2 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
        arch: x86,
        workload: defineWorkload({ name: "x", description: "x", mirrors: "x", params: [], metrics: [], setup() {}, collect: () => ({}) }),
        plugins,
      });
    expect(run([flushBatchedPending])).toThrow(/^plugin "flush-batched-pending" requires plugin "batched-unmap", which is not enabled \(--plugins batched-unmap,flush-batched-pending\)$/);
    expect(run([flushBatchedPending, batchedUnmap])).toThrow(/requires "batched-unmap" listed before it/);
  });

  it("set_tlb_ubc_flush_pending marks the mm only when the PTE's flush was left to the batch", () => {
    const mm = { tlbFlushBatched: false } as MmStruct;
    const cpu = { id: 0 } as Cpu;
    // A batch policy that defers clean PTEs and flushes dirty ones at once, as the seed does.
    const seedLike: UnmapFlush = {
      shouldDeferFlush: () => true,
      *deferredUnmap(_c, _m, _va, dirty, ubc) {
        if (!dirty) ubc.flushRequired = true;
      },
      *tryToUnmapFlush() {},
      *tryToUnmapFlushDirty() {},
    };
    const p = new MarkTlbFlushBatched(seedLike);
    const ubc: TlbUbc = newTlbUbc(2);
    const drain = (g: KGen) => [...g];
    drain(p.deferredUnmap(cpu, mm, 0, true, ubc)); // flushed at once
    expect(mm.tlbFlushBatched).toBe(false);
    expect(ubc.flushRequired).toBe(false);
    drain(p.deferredUnmap(cpu, mm, 0, false, ubc)); // left to the batch
    expect(mm.tlbFlushBatched).toBe(true);
    expect(ubc.flushRequired).toBe(true);
    const other = { tlbFlushBatched: false } as MmStruct;
    drain(p.deferredUnmap(cpu, other, 0, true, ubc)); // another mm, flushed at once: the batch stays pending
    expect(other.tlbFlushBatched).toBe(false);
    expect(ubc.flushRequired).toBe(true);
  });

  it("declares its provenance", () => {
    expect(flushBatchedPending).toMatchObject({ name: "flush-batched-pending", requires: ["batched-unmap"], patch: { commit: "3ea277194daa", kernel: "v4.13", author: "Mel Gorman" } });
  });
});
