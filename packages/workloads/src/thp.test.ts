import { describe, expect, it } from "vitest";
import { MMU_GATHER_FLUSH, PROT_READ, PROT_WRITE, defineWorkload, definePlugin, pmdLeafPfn, policy, pteHuge, simulate, type Cpu, type FlushlabPlugin, type HwWatch, type KGen, type MmuGather, type RunResult, type TaskApi, type TaskGen } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";

const HPAGE = 2097152;

interface Seen {
  huge: boolean;
  tlb2m: boolean;
  head: number;
  /** What the hardware saw, in order: "flush <cpu>" and "free <pfn>". */
  log: string[];
}

/**
 * CPU 0 maps 4 MiB and writes at its 2 MiB-aligned address (a THP fault when enabled);
 * CPU 1, a thread of the same process, reads it; CPU 0 then unmaps the whole range.
 */
function thpRun(thp: "always" | "never", plugins: FlushlabPlugin[] = []): { r: RunResult; seen: Seen } {
  const seen: Seen = { huge: false, tlb2m: false, head: -1, log: [] };
  const w = defineWorkload({
    name: "thp-zap",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      const mm = ctx.createProcess();
      let p = -1;
      let phase = 0;
      ctx.spawn(0, mm, function* (t: TaskApi): TaskGen {
        const base = yield* t.mmap(2 * HPAGE, PROT_READ | PROT_WRITE);
        const a = base + ((HPAGE - (base % HPAGE)) % HPAGE);
        yield t.touch(a, 1, 4096, true);
        yield 0;
        const k = ctx.kernel;
        const off = k.pgtables.pmdOffset(mm.pgd, a);
        const w0 = k.machine.mem.words;
        seen.huge = off >= 0 && pteHuge(w0[off]!, 0);
        if (seen.huge) seen.head = pmdLeafPfn(w0[off]!, w0[off + 1]!);
        seen.tlb2m = t.cpu.tlb2m.lookup(Math.floor(a / HPAGE), t.cpu.pcid) >= 0;
        p = a;
        while (phase < 1) yield 500;
        seen.log.push("munmap");
        yield* t.munmap(base, 2 * HPAGE);
        phase = 2;
      });
      ctx.spawn(1, mm, function* (t: TaskApi): TaskGen {
        while (p < 0) yield 500;
        yield t.touch(p + 5 * 4096, 1, 4096, false);
        phase = 1;
        while (phase < 2) yield 500;
      });
    },
    collect: () => ({}),
  });
  const r = simulate({
    options: { workload: w.name, machine: { ...x86.defaultMachine, cpus: 2, thp }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload: w,
    plugins,
    instrument({ machine }) {
      const inner = machine.watch;
      const watch = new Proxy(inner, {
        get(target, key) {
          if (key === "tlbFlush") return (cpu: Cpu) => (seen.log.push(`flush ${cpu.id}`), target.tlbFlush(cpu));
          if (key === "frameFreed") return (pfn: number, s: never) => (seen.log.push(`free ${pfn}`), target.frameFreed(pfn, s));
          const v = (target as unknown as Record<string | symbol, unknown>)[key];
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }) as HwWatch;
      machine.attach(watch);
    },
  });
  return { r, seen };
}

/** Unsafe: tlb_flush_mmu frees the gathered pages before it flushes. */
const freeFirst = definePlugin({
  name: "test-thp-free-first",
  description: "frees before flushing",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MMU_GATHER_FLUSH, (kernel) => ({
      *tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
        yield* kernel.mmuGather.tlbFlushMmuFree(cpu, tlb);
        yield* kernel.mmuGather.tlbFlush(cpu, tlb);
      },
    })),
  ],
});

describe("transparent huge pages (mm/huge_memory.c)", () => {
  it("with thp=always a fault in an aligned 2 MiB maps a huge PMD, and the TLB fills a 2 MiB entry", () => {
    const { r, seen } = thpRun("always");
    expect(seen.huge).toBe(true);
    expect(seen.tlb2m).toBe(true);
    expect(r.counters["thp_fault_alloc"]).toBe(1);
    expect(r.notes.some((n) => n.startsWith("transparent_hugepage=always"))).toBe(true);
  });

  it("with thp=never (the default) the same fault maps a 4 KiB page", () => {
    const { r, seen } = thpRun("never");
    expect(seen.huge).toBe(false);
    expect(seen.tlb2m).toBe(false);
    expect(r.counters["thp_fault_alloc"]).toBeUndefined();
    expect(r.notes.some((n) => n.startsWith("transparent_hugepage=never"))).toBe(true);
  });

  it("munmap of a THP frees its 512 frames only after the flush reached the CPU that cached it", () => {
    const { r, seen } = thpRun("always");
    expect(r.hazards).toEqual([]);
    const frees = seen.log.map((e, i) => [e, i] as const).filter(([e]) => {
      const pfn = e.startsWith("free ") ? Number(e.slice(5)) : -1;
      return pfn >= seen.head && pfn < seen.head + 512;
    });
    expect(frees).toHaveLength(512);
    const firstFree = frees[0]![1];
    // CPU 1, which cached the 2 MiB entry, was flushed by the munmap before the first frame went.
    expect(seen.log.lastIndexOf("flush 1", firstFree)).toBeGreaterThan(seen.log.indexOf("munmap"));
    expect(seen.log.indexOf("munmap")).toBeGreaterThanOrEqual(0);
  });

  it("a gather that frees the THP before flushing is caught: CPU 1 still caches the 2 MiB entry", () => {
    const { r, seen } = thpRun("always", [freeFirst]);
    expect(seen.huge).toBe(true);
    const h = r.hazards.filter((x) => x.pfn >= seen.head && x.pfn < seen.head + 512);
    expect(h.length).toBeGreaterThan(0);
    expect(h.some((x) => x.cpu === 1 && (x.class === 1 || x.class === 4))).toBe(true);
  });
});
