/**
 * One kernel per run (kernel/version.ts): what changes with the release. v4.2's x86
 * flush layer (tlb-v4.ts) and smp_call_function_many before v4.9; v5.8's removal of the
 * purge's vmalloc sync, with arch_sync_kernel_mappings in its place on PAE.
 */
import { describe, expect, it } from "vitest";
import { MADV_DONTNEED, PROT_READ, PROT_WRITE, definePlugin, policy, ARCH_TLB, VMALLOC_SYNC, type Cpu, type KGen, type Kernel, type TaskApi, type TaskGen, type WorkloadContext } from "@flushlab/core-mmu";
import { X86TlbV42, type FlushTlbInfoV42 } from "../src/index.js";
import { classes, hugeIoremapScenario, lazyThenUnmap, runScenario } from "./scenario.js";

const ARCHES = ["x86-64", "x86-32-pae"] as const;
const testPatch = { title: "test policy", commit: "none", kernel: "none", author: "flushlab tests" };

/** Every CPU writes pages of one shared mapping and drops them again, so flush IPIs pile up on each other. */
function madviseStorm(n: number) {
  let base = -1;
  return Array.from({ length: n }, (_, i) =>
    function* (t: TaskApi): TaskGen {
      if (i === 0) base = yield* t.mmap(n * 8 * 4096, PROT_READ | PROT_WRITE);
      while (base < 0) yield 100;
      for (let r = 0; r < 40; r++) {
        const a = base + (i * 8 + (r % 8)) * 4096;
        yield t.touch(a, 1, 4096, true);
        yield* t.madvise(a, 4096, MADV_DONTNEED);
      }
    },
  );
}

describe("smp_call_function_many: an IPI per target before v4.9, only to an empty queue since", () => {
  it("v4.2 sends one IPI per queued csd; v5.17 lets csds queued behind a pending IPI share it", () => {
    const old = runScenario("storm", madviseStorm(4), [], "x86-64", undefined, 1, undefined, "v4.2");
    const now = runScenario("storm", madviseStorm(4), [], "x86-64", undefined, 1, undefined, "v5.17");
    expect(old.counters["csd_queued"]).toBeGreaterThan(0);
    expect(old.counters["ipi_sent"]).toBe(old.counters["csd_queued"]);
    expect(now.counters["ipi_sent"]).toBeLessThan(now.counters["csd_queued"]!);
    expect(old.hazards).toEqual([]);
    expect(now.hazards).toEqual([]);
  });
});


/** Unsafe on v4.2: flush_tlb_others that leaves lazy CPUs out, as v4.19 may (v4.2 has no tlb_gen to catch them up). */
class SkipLazyV42 extends X86TlbV42 {
  override *flushTlbOthers(cpu: Cpu, cpumask: Uint8Array, info: FlushTlbInfoV42): KGen {
    const only = cpumask.slice();
    for (let c = 0; c < only.length; c++) if (this.k.tlbstate[c]!.isLazy) only[c] = 0;
    if (only.some((b, c) => b === 1 && c !== cpu.id)) yield* super.flushTlbOthers(cpu, only, info);
  }
}
const skipLazyV42 = definePlugin({ name: "test-skip-lazy-v42", description: "v4.2 flush_tlb_others without lazy CPUs", patch: testPatch, appliesTo: ["x86-64", "x86-32-pae"], policies: [policy(ARCH_TLB, (k: Kernel) => new SkipLazyV42(k))] });

describe.each(ARCHES)("v4.2's lazy TLB: a lazy CPU stays in mm_cpumask, gets the IPI and leaves the mm (%s)", (arch) => {
  it("safe: the lazy CPU is interrupted and runs leave_mm", () => {
    const r = runScenario("lazy-v42", lazyThenUnmap(), [], arch, undefined, 1, undefined, "v4.2");
    expect(r.hazards).toEqual([]);
    expect(r.interrupts.TLB[1]).toBeGreaterThan(0);
    expect(r.counters["leave_mm"]).toBe(1);
  });
  it("unsafe: skipping the lazy CPU leaves it holding entries to freed pages and page tables", () => {
    const r = runScenario("lazy-v42", lazyThenUnmap(), [skipLazyV42], arch, undefined, 1, undefined, "v4.2");
    expect(classes(r)).toContain(4);
    expect(r.hazards[0]!.cpu).toBe(1);
  });
  it("v5.17 instead skips the lazy CPU when no page table was freed (no IPI for a lone page)", () => {
    const r = runScenario("lazy-v517", lazyThenUnmap(), [], arch, undefined, 1, undefined, "v5.17");
    expect(r.hazards).toEqual([]);
    expect(r.counters["leave_mm"] ?? 0).toBe(0);
  });
});


/** Unsafe on v5.8+: arch_sync_kernel_mappings as a no-op. */
const noArchSync = definePlugin({
  name: "test-no-arch-sync",
  description: "arch_sync_kernel_mappings as a no-op",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(VMALLOC_SYNC, (_k, real) => ({ vmallocSyncMappings: (c: Cpu) => real.vmallocSyncMappings(c), vmallocSyncUnmappings: (c: Cpu) => real.vmallocSyncUnmappings(c), *archSyncKernelMappings(): KGen {} }))],
});

describe("the purge's vmalloc sync by era, on x86-32 PAE's private kernel PMDs (class 5)", () => {
  const run = (kernel: "v4.15" | "v5.2" | "v5.4" | "v5.17", plugins = [] as (typeof noArchSync)[]) => {
    let ctx: WorkloadContext | undefined;
    return runScenario("huge-io", hugeIoremapScenario(() => ctx!.kernel, { start: 0 }), plugins, "x86-32-pae", (c) => (ctx = c), 1, undefined, kernel);
  };
  it("v4.15: native PAE shares swapper_pg_dir's kernel PMDs (SHARED_KERNEL_PMD), so nothing can go stale and nothing syncs", () => {
    const r = run("v4.15");
    expect(r.hazards).toEqual([]);
    expect(r.counters["vmalloc_sync_calls"]).toBe(0);
  });
  it("v5.2, between x86-32 PTI's private kernel PMDs (v4.19) and 3f8fd02b1bf1 (v5.3): nothing syncs the unmapping, and the reused range is stale in the other pgd", () => {
    expect(classes(run("v5.2"))).toEqual([5]);
  });
  it("v5.4: the purge's vmalloc_sync_unmappings clears it", () => {
    const r = run("v5.4");
    expect(r.hazards).toEqual([]);
    expect(r.counters["vmalloc_sync_calls"]).toBe(1);
  });
  it("v5.17: no purge sync; arch_sync_kernel_mappings at the vunmap clears it", () => {
    const r = run("v5.17");
    expect(r.hazards).toEqual([]);
    expect(r.counters["vmalloc_sync_calls"]).toBe(1);
  });
  it("v5.17 with arch_sync_kernel_mappings as a no-op: class 5", () => {
    expect(classes(run("v5.17", [noArchSync]))).toEqual([5]);
  });
});
