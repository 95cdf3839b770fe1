import { describe, expect, it } from "vitest";
import {
  FlushlabInputError,
  _PAGE_PRESENT,
  defineWorkload,
  pmdLeafPfn,
  pteHuge,
  simulate,
  validatePlugins,
  type FlushlabPlugin,
  type KGen,
  type Kernel,
  type RunResult,
  type TaskApi,
  type TaskGen,
} from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { bug3f8fd02b1bf1 } from "./vmalloc-sync-unmappings.js";
import { purgeCallsOldSyncAll } from "../test/unsafe-policies.js";

const MiB2 = 2 * 1024 * 1024;

/** How the second process's pgd gets init_mm's huge PMD: a kernel access (vmalloc_fault) or vmalloc_sync_mappings(). */
type HowSynced = "fault" | "sync";

interface Seen {
  /** The ioremap's start and the device frame its 2 MiB leaf maps. */
  io: number;
  devPfn: number;
  /** What process B's own PMD for the range holds once the range is reused: the leaf's pfn, or -1 (none, or not a leaf). */
  bLeafAfterReuse: number;
  /** The same in init_mm (the reference). */
  initLeafAfterReuse: number;
}

/** The PMD for `va` under `pgd`: the pfn of a present 2 MiB leaf, else -1. */
function leafPfn(k: Kernel, pgd: number, va: number): number {
  const w = k.machine.mem.words;
  const off = k.pgtables.pmdOffset(pgd, va);
  if (off < 0 || (w[off]! & _PAGE_PRESENT) === 0 || !pteHuge(w[off]!, w[off + 1]!)) return -1;
  return pmdLeafPfn(w[off]!, w[off + 1]!);
}

/**
 * Two processes on x86-32 PAE (each pgd with private kernel PMDs). Process A (CPU 0)
 * ioremaps 2 MiB of device memory with one PMD leaf in init_mm. Process B (CPU 1) gets
 * the leaf into its own pgd, by a kernel access (vmalloc_fault) or by
 * vmalloc_sync_mappings(). A then iounmaps, purges the lazy areas (as
 * vm_unmap_aliases or the lazy_max_pages threshold does) and vmallocs a page, which
 * lands at the same address.
 */
function hugeIoremapReuse(plugins: FlushlabPlugin[], how: HowSynced, seen: Seen): RunResult {
  let k: Kernel | undefined;
  const w = defineWorkload({
    name: "huge-ioremap-reuse",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      k = ctx.kernel;
      const kernel = ctx.kernel;
      const a = ctx.createProcess();
      const b = ctx.createProcess();
      let phase = 0;
      ctx.spawn(0, a, function* (t: TaskApi): TaskGen {
        yield* t.syscall((function* (): KGen {
          const devPfn = kernel.machine.mem.nframes - 1024; // 512-aligned, above what the allocator hands out
          const io = yield* kernel.vmalloc.ioremap(t.cpu, devPfn, MiB2);
          expect(io.huge).toBe(true);
          seen.io = io.start;
          seen.devPfn = devPfn;
          phase = 1;
          while (phase < 2) yield 1000;
          yield* kernel.vmalloc.vfree(t.cpu, io); // iounmap: clears the leaf in init_mm only
          yield* kernel.vmalloc.purgeVmapAreaLazy(t.cpu);
          const again = yield* kernel.vmalloc.vmalloc(t.cpu, 4096);
          expect(again.start).toBe(io.start);
          seen.bLeafAfterReuse = leafPfn(kernel, b.pgd, io.start);
          seen.initLeafAfterReuse = leafPfn(kernel, kernel.initMm.pgd, io.start);
        })());
      });
      ctx.spawn(1, b, function* (t: TaskApi): TaskGen {
        while (phase < 1) yield 500;
        if (how === "fault") yield* t.syscall(kernel.entry.kernelAccess(t.cpu, seen.io, false));
        else yield* t.syscall(kernel.policies.vmallocSync.vmallocSyncMappings(t.cpu));
        expect(leafPfn(kernel, b.pgd, seen.io)).toBe(seen.devPfn);
        phase = 2;
      });
    },
    collect: () => ({}),
  });
  const r = simulate({
    options: { workload: w.name, machine: { ...x86.defaultMachine, arch: "x86-32-pae", cpus: 2, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload: w,
    plugins,
  });
  expect(k).toBeDefined();
  return r;
}

const fresh = (): Seen => ({ io: -1, devPfn: -1, bLeafAfterReuse: -2, initLeafAfterReuse: -2 });

describe("bug-3f8fd02b1bf1: __purge_vmap_area_lazy without the unmapping sync (x86-32 PAE)", () => {
  for (const how of ["fault", "sync"] as const) {
    it(`with the pre-fix code, the purged range is reused while B's pgd keeps the old huge PMD (class 5; B got it by ${how})`, () => {
      const seen = fresh();
      const r = hugeIoremapReuse([bug3f8fd02b1bf1], how, seen);
      expect([...new Set(r.hazards.map((h) => h.class))]).toEqual([5]);
      const h = r.hazards[0]!;
      expect(h.address).toBe("0xf8800000");
      expect(h.pfn).toBe(seen.devPfn);
      expect(h.missing).toMatch(/vmalloc_sync_unmappings\(\) before __purge_vmap_area_lazy freed the range for reuse/);
      // B still reaches the device memory at an address init_mm now maps with a PTE table.
      expect(seen.bLeafAfterReuse).toBe(seen.devPfn);
      expect(seen.initLeafAfterReuse).toBe(-1);
      expect(r.counters["vmalloc_purges"]).toBe(1);
    });

    it(`without it (v5.4: vmalloc_sync_all in the purge, copying cleared entries), nothing is reported and B lost the leaf (${how})`, () => {
      const seen = fresh();
      const r = hugeIoremapReuse([], how, seen);
      expect(r.hazards).toEqual([]);
      expect(seen.bLeafAfterReuse).toBe(-1);
    });
  }

  it("the purge's call alone (3f8fd02b1bf1 without 8e998fc24de4) would not have fixed it: the old vmalloc_sync_all never copies a cleared PMD", () => {
    const seen = fresh();
    const r = hugeIoremapReuse([purgeCallsOldSyncAll], "fault", seen);
    expect(r.counters["vmalloc_sync_calls"]).toBe(1);
    expect([...new Set(r.hazards.map((h) => h.class))]).toEqual([5]);
    expect(seen.bLeafAfterReuse).toBe(seen.devPfn);
  });

  it("applies to x86-32-pae only: on x86-64 the levels below the pgd are shared and unmapping never clears a top-level entry", () => {
    expect(bug3f8fd02b1bf1.appliesTo).toEqual(["x86-32-pae"]);
    expect(() => validatePlugins([bug3f8fd02b1bf1], "x86-64")).toThrow(FlushlabInputError);
    expect(() => validatePlugins([bug3f8fd02b1bf1], "x86-32-pae")).not.toThrow();
  });

  it("names its fix: Roedel's 3f8fd02b1bf1, v5.3", () => {
    expect(bug3f8fd02b1bf1.kind).toBe("pre-fix");
    expect(bug3f8fd02b1bf1.patch).toMatchObject({ title: "mm/vmalloc: Sync unmappings in __purge_vmap_area_lazy()", commit: "3f8fd02b1bf1", author: "Joerg Roedel" });
    expect(bug3f8fd02b1bf1.patch.kernel).toMatch(/^v5\.3 /);
  });
});

/**
 * The pre-fix vmalloc_sync_all (8e998fc24de4 not applied): run after the iounmap, it
 * leaves B's leaf in place, where the fixed one clears it; run after the range is
 * reused, vmalloc_sync_one finds two present PMDs that differ and BUG()s.
 */
function syncAfterIounmap(plugins: FlushlabPlugin[], when: "after-iounmap" | "after-reuse"): { result: RunResult; bLeaf: number; devPfn: number } {
  const out = { bLeaf: -2, devPfn: -1 };
  const w = defineWorkload({
    name: "sync-after-iounmap",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      const kernel = ctx.kernel;
      const b = ctx.createProcess();
      ctx.spawn(0, ctx.createProcess(), function* (t: TaskApi): TaskGen {
        yield* t.syscall((function* (): KGen {
          out.devPfn = kernel.machine.mem.nframes - 1024;
          const io = yield* kernel.vmalloc.ioremap(t.cpu, out.devPfn, MiB2);
          yield* kernel.policies.vmallocSync.vmallocSyncMappings(t.cpu); // B's pgd gets the leaf
          yield* kernel.vmalloc.vfree(t.cpu, io);
          if (when === "after-reuse") {
            yield* kernel.vmalloc.purgeVmapAreaLazy(t.cpu);
            yield* kernel.vmalloc.vmalloc(t.cpu, 4096);
          }
          yield* kernel.policies.vmallocSync.vmallocSyncMappings(t.cpu);
          out.bLeaf = leafPfn(kernel, b.pgd, io.start);
        })());
      });
    },
    collect: () => ({}),
  });
  const result = simulate({
    options: { workload: w.name, machine: { ...x86.defaultMachine, arch: "x86-32-pae", cpus: 2, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload: w,
    plugins,
  });
  return { result, ...out };
}

describe("bug-3f8fd02b1bf1: the pre-fix vmalloc_sync_all is restored too", () => {
  it("it never copies a cleared PMD (stops at the first NULL of vmalloc_sync_one); v5.4's does", () => {
    const pre = syncAfterIounmap([bug3f8fd02b1bf1], "after-iounmap");
    expect(pre.bLeaf).toBe(pre.devPfn);
    const fixed = syncAfterIounmap([], "after-iounmap");
    expect(fixed.bLeaf).toBe(-1);
  });
  it("after the range is reused it meets two present PMDs that differ: BUG_ON in vmalloc_sync_one", () => {
    expect(() => syncAfterIounmap([bug3f8fd02b1bf1], "after-reuse")).toThrow(/kernel BUG at arch\/x86\/mm\/fault\.c \(vmalloc_sync_one\): the PMD for 0xf8800000/);
    expect(syncAfterIounmap([], "after-reuse").bLeaf).toBe(-1);
  });
});
