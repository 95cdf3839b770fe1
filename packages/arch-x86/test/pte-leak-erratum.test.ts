/**
 * Hazard class 3 at run level: the machine option `pteLeakErratum` (Intel Knights
 * Landing's A/D erratum, X86_BUG_PTE_LEAK) reaches the hardware through simulate(). A
 * clean writable TLB entry on CPU 1; CPU 0 zaps the PTE (MADV_DONTNEED) and its gathered
 * flush comes later. A write on CPU 1 in between re-walks to set D: on x86 without the
 * erratum it faults (the PTE is gone), on KNL it sets D in the cleared entry and completes.
 * Mainline's batched flushes (mmu_gather, batched unmap) rely on the fault; the erratum's
 * workaround proposed in 2016 flushed before the window could open.
 */
import { describe, expect, it } from "vitest";
import { MADV_DONTNEED, MADV_FREE, MMU_GATHER_FLUSH, PROT_READ, PROT_WRITE, defineWorkload, definePlugin, policy, simulate, type Cpu, type FlushlabPlugin, type KGen, type MmuGather, type RunResult, type TaskApi, type TaskGen } from "@flushlab/core-mmu";
import { x86 } from "../src/index.js";

/** The gathered flush held back 30,000 cycles after the PTEs were cleared (a batch that flushes late). */
const lateFlush = definePlugin({
  name: "test-late-gather-flush",
  description: "tlb_flush_mmu that waits before it flushes",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MMU_GATHER_FLUSH, (_kernel, replaced) => ({
      *tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
        yield 30_000;
        yield* replaced.tlbFlushMmu(cpu, tlb);
      },
    })),
  ],
});

function cleanEntryThenZap(plugins: FlushlabPlugin[], pteLeakErratum: boolean): RunResult {
  const w = defineWorkload({
    name: "clean-entry-zap",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      const mm = ctx.createProcess();
      let addr = -1;
      let phase = 0;
      ctx.spawn(0, mm, function* (t: TaskApi): TaskGen {
        addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
        yield t.touch(addr, 1, 4096, true);
        yield* t.madvise(addr, 4096, MADV_FREE); // the PTE stays writable, now clean
        phase = 1;
        while (phase < 2) yield 500;
        yield* t.madvise(addr, 4096, MADV_DONTNEED); // clears the PTE; the gather flushes after
        phase = 3;
      });
      ctx.spawn(1, mm, function* (t: TaskApi): TaskGen {
        while (phase < 1) yield 500;
        yield t.touch(addr, 1, 4096, false); // caches the clean writable entry
        phase = 2;
        yield 8_000; // CPU 0's zap has cleared the PTE by now
        yield t.touch(addr, 1, 4096, true);
        while (phase < 3) yield 500;
      });
    },
    collect: () => ({}),
  });
  return simulate({
    options: { workload: w.name, machine: { ...x86.defaultMachine, cpus: 2, pteLeakErratum }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload: w,
    plugins,
  });
}

describe("machine option pteLeakErratum (Knights Landing's A/D erratum)", () => {
  it("on: a write in the window between the PTE clear and a late flush completes, and the oracle reports class 3", () => {
    const r = cleanEntryThenZap([lateFlush], true);
    const h = r.hazards.filter((x) => x.class === 3);
    expect(h.length).toBeGreaterThan(0);
    expect(h[0]!.cpu).toBe(1);
    expect(h[0]!.missing).toMatch(/X86_BUG_PTE_LEAK/);
    expect(r.notes.some((n) => n.startsWith("CPU erratum: Knights Landing's A/D erratum"))).toBe(true);
  });
  it("off: the same write faults (the PTE is gone); no hazard", () => {
    const r = cleanEntryThenZap([lateFlush], false);
    expect(r.hazards).toEqual([]);
    expect(r.notes.some((n) => n.startsWith("CPU erratum"))).toBe(false);
  });
  it("on, with the pre-patch gather that flushes as soon as the zap is done: the entry is gone before CPU 1 writes; no hazard", () => {
    expect(cleanEntryThenZap([], true).hazards).toEqual([]);
  });
});
