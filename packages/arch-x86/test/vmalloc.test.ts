import { describe, expect, it } from "vitest";
import {
  type KGen,
  type Kernel,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { classes, hugeIoremapScenario, runScenario } from "./scenario.js";
import { noKernelFlush, noUnmapSync } from "./unsafe-policies.js";

const ARCHES = ["x86-64", "x86-32-pae"] as const;

const ERAS = ARCHES.flatMap((arch) => (["v5.4", "v5.17"] as const).map((kernel) => [arch, kernel] as const));

describe.each(ERAS)("vmalloc lazy purge (%s, kernel %s)", (arch, kernel) => {
  it("areas wait until vmap_lazy_nr exceeds lazy_max_pages, then one kernel flush reaches every CPU and the range is reused", () => {
    let ctx: WorkloadContext | undefined;
    let firstStart = -1;
    let reused = -1;
    const r = runScenario("lazy", [
      function* (t: TaskApi): TaskGen {
        const k = ctx!.kernel;
        const max = k.vmalloc.lazyMaxPages(); // fls(2) × 8192 = 16384
        expect(max).toBe(16384);
        yield* t.syscall((function* (): KGen {
          let n = 0;
          while (k.vmalloc.purges === 0) {
            const a = yield* k.vmalloc.vmalloc(t.cpu, 16384, 16384);
            if (firstStart < 0) firstStart = a.start;
            yield* k.vmalloc.vfree(t.cpu, a);
            n++;
          }
          // 16 KiB + guard = 5 pages per area: the purge comes with the area that crosses 16384.
          expect(n).toBe(Math.floor(16384 / 5) + 1);
          reused = (yield* k.vmalloc.vmalloc(t.cpu, 16384, 16384)).start;
        })());
      },
      function* (): TaskGen {
        yield 1000;
      },
    ], [], arch, (c) => (ctx = c), 1, undefined, kernel);
    expect(r.counters["vmalloc_purges"]).toBe(1);
    expect(reused).toBe(firstStart);
    expect(r.interrupts.CAL[1]).toBe(1); // flush_tlb_kernel_range: every online CPU, even idle
    expect(r.hazards).toEqual([]);
    // v5.4 (3f8fd02b1bf1, v5.3): the purge syncs unmappings first; v5.8 removed it.
    expect(r.counters[arch === "x86-64" ? "sync_global_pgds_calls" : "vmalloc_sync_calls"]).toBe(kernel === "v5.4" ? 1 : 0);
  });
});

/** CPU 1 reads a vmalloc area; CPU 0 frees it, purges and maps new pages at the same address; CPU 1 reads again. */
function staleKernelScenario(getK: () => Kernel) {
  let addr = -1;
  let phase = 0;
  return [
    function* (t: TaskApi): TaskGen {
      const k = getK();
      yield* t.syscall((function* (): KGen {
        const a = yield* k.vmalloc.vmalloc(t.cpu, 4 * 4096);
        addr = a.start;
        while (phase < 1) yield 1000;
        yield* k.vmalloc.vfree(t.cpu, a);
        yield* k.vmalloc.purgeVmapAreaLazy(t.cpu);
        const b = yield* k.vmalloc.vmalloc(t.cpu, 4 * 4096);
        expect(b.start).toBe(addr);
        phase = 2;
      })());
    },
    function* (t: TaskApi): TaskGen {
      const k = getK();
      while (addr < 0) yield 500;
      yield* t.syscall(k.entry.kernelAccessRange(t.cpu, addr, 4 * 4096, false));
      phase = 1;
      while (phase < 2) yield 500;
      yield* t.syscall(k.entry.kernelAccessRange(t.cpu, addr, 4 * 4096, false));
    },
  ];
}

describe.each(ARCHES)("stale kernel translations (%s)", (arch) => {
  it("safe: the purge's flush_tlb_kernel_range drops CPU 1's global entries before the range is reused", () => {
    let ctx: WorkloadContext | undefined;
    const r = runScenario("stale-k", staleKernelScenario(() => ctx!.kernel), [], arch, (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
  });
  it("unsafe: without the kernel flush CPU 1 reads the freed vmalloc pages (class 1, named)", () => {
    let ctx: WorkloadContext | undefined;
    const r = runScenario("stale-k", staleKernelScenario(() => ctx!.kernel), [noKernelFlush], arch, (c) => (ctx = c));
    expect(classes(r)).toContain(1);
    expect(r.hazards.find((h) => h.class === 1)!.missing).toMatch(/TLB flush on CPU 1 before vfree freed the page/);
  });
});


describe("class 5: stale present kernel PMD (x86-32 PAE, private kernel PMDs)", () => {
  it("unsafe on PAE: vmalloc_sync_unmappings as a no-op leaves the process PMD present after iounmap", () => {
    let ctx: WorkloadContext | undefined;
    const seen = { start: 0 };
    const r = runScenario("huge-io", hugeIoremapScenario(() => ctx!.kernel, seen), [noUnmapSync], "x86-32-pae", (c) => (ctx = c));
    expect(classes(r)).toEqual([5]);
    const h = r.hazards[0]!;
    expect(h.address).toBe("0xf8800000");
    expect(h.missing).toMatch(/vmalloc_sync_unmappings\(\) before __purge_vmap_area_lazy freed the range for reuse/);
    expect(r.counters["vmalloc_faults"]).toBeGreaterThan(0);
  });
  it("safe on PAE: vmalloc_sync (pre-patch and patched) clears it", () => {
    let ctx: WorkloadContext | undefined;
    const r = runScenario("huge-io", hugeIoremapScenario(() => ctx!.kernel, { start: 0 }), [], "x86-32-pae", (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
  });
  it("the same no-op on x86-64 reports nothing: lower levels are shared, top-level entries never freed", () => {
    let ctx: WorkloadContext | undefined;
    const r = runScenario("huge-io", hugeIoremapScenario(() => ctx!.kernel, { start: 0 }), [noUnmapSync], "x86-64", (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
  });
});

describe("x86-64 huge ioremap over a former PTE page", () => {
  it("pmd_free_pte_page flushes, then frees the PTE page; PAE refuses and falls back to PTEs", () => {
    for (const arch of ARCHES) {
      let ctx: WorkloadContext | undefined;
      let huge = false;
      const r = runScenario("free-pte", [
        function* (t: TaskApi): TaskGen {
          const k = ctx!.kernel;
          yield* t.syscall((function* (): KGen {
            const a = yield* k.vmalloc.vmalloc(t.cpu, 4096);
            yield* k.entry.kernelAccess(t.cpu, a.start, true);
            yield* k.vmalloc.vfree(t.cpu, a);
            yield* k.vmalloc.purgeVmapAreaLazy(t.cpu);
            const io = yield* k.vmalloc.ioremap(t.cpu, k.machine.mem.nframes - 1024, 2 * 1024 * 1024);
            huge = io.huge;
            yield* k.entry.kernelAccess(t.cpu, io.start, false);
          })());
        },
      ], [], arch, (c) => (ctx = c));
      expect(r.hazards).toEqual([]);
      expect(huge).toBe(arch === "x86-64");
      if (arch === "x86-64") expect(r.counters["pgtables_freed"]).toBe(1);
    }
  });
});

describe("vm_unmap_aliases (v5.4; v6.5 alike)", () => {
  /** Kernel flushes (flush_tlb_kernel_range reaching CPU 1) for a call made with or without lazy areas to purge. */
  const flushes = (lazy: boolean, call: (k: Kernel, t: TaskApi, a: { start: number; end: number }) => KGen): number => {
    let ctx: WorkloadContext | undefined;
    const r = runScenario("aliases", [
      function* (t: TaskApi): TaskGen {
        const k = ctx!.kernel;
        yield* t.syscall((function* (): KGen {
          const a = yield* k.vmalloc.vmalloc(t.cpu, 8192);
          yield* k.entry.kernelAccessRange(t.cpu, a.start, 8192, true);
          if (lazy) yield* k.vmalloc.vfree(t.cpu, a);
          yield* call(k, t, a);
        })());
      },
      function* (): TaskGen {
        yield 200_000;
      },
    ], [], "x86-64", (c) => (ctx = c));
    return r.interrupts.TLB[1]! + r.interrupts.CAL[1]!;
  };

  it("vm_unmap_aliases() with nothing to purge flushes nothing (flush = 0, no dirty vmap blocks)", () => {
    expect(flushes(false, (k, t) => k.vmalloc.vmUnmapAliases(t.cpu))).toBe(0);
  });

  it("with lazy areas it purges them: one kernel flush", () => {
    expect(flushes(true, (k, t) => k.vmalloc.vmUnmapAliases(t.cpu))).toBe(1);
  });

  it("_vm_unmap_aliases(start, end, 1) with nothing to purge flushes the caller's range", () => {
    expect(flushes(false, (k, t, a) => k.vmalloc._vmUnmapAliases(t.cpu, a.start, a.end, true))).toBe(1);
  });
});
