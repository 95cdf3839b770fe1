import { ARCH_TLB, definePlugin, policy, type FlushlabPlugin } from "@flushlab/core-mmu";
import { X86Tlb, x86, type FlushTlbInfo } from "@flushlab/arch-x86";
import { describe, expect, it } from "vitest";
import { check, runCase, type Case } from "../src/index.js";

/**
 * flush_tlb_func without the generation-gap check: a CPU that missed two coalesced
 * partial flushes does only the one it is handed, and marks itself up to date.
 */
class GenGapTlb extends X86Tlb {
  protected override partialFlushSuffices(f: FlushTlbInfo, localGen: number): boolean {
    return f.end !== Infinity && f.newTlbGen >= localGen + 1;
  }
}
const genGap: FlushlabPlugin = definePlugin({
  name: "gen-gap",
  description: "flush_tlb_func ignoring the generation gap (unsafe)",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(ARCH_TLB, (k) => new GenGapTlb(k))],
});

const x64 = (plugins: FlushlabPlugin[] = []) => ({ arch: x86, archName: "x86-64" as const, plugins });

describe("check", () => {
  it("is deterministic: the same seed explores the same cases", async () => {
    const a = await check({ target: x64(), cpus: { min: 2, max: 3 }, budget: 150, seed: 7 });
    const b = await check({ target: x64(), cpus: { min: 2, max: 3 }, budget: 150, seed: 7 });
    expect(a).toEqual(b);
    expect(a.explored.schedules).toBe(150);
  });

  it("stops between scenarios when shouldStop says so (the CLI's SIGINT), with what it explored", async () => {
    let asked = 0;
    const r = await check({ target: x64(), cpus: { min: 2, max: 3 }, budget: 1500, seed: 7, shouldStop: () => ++asked === 3 });
    expect(r.interrupted).toBe(true);
    expect(r.counterexample).toBeNull();
    expect(r.explored.scenarios).toBe(3);
    expect(r.explored.schedules).toBeGreaterThan(0);
    expect(r.explored.schedules).toBeLessThan(1500);
    const full = await check({ target: x64(), cpus: { min: 2, max: 3 }, budget: 1500, seed: 7, shouldStop: () => false });
    expect(full.interrupted).toBeUndefined();
    expect(full.explored.schedules).toBe(1500);
  });

  it("finds the flush_tlb_func generation gap (two concurrent zaps of different pages, a third CPU still reading)", async () => {
    const r = await check({ target: x64([genGap]), cpus: { min: 2, max: 4 }, budget: 6000, seed: 1, ops: ["reclaim", "madvise", "idle"] });
    const cx = r.counterexample;
    expect(cx).not.toBeNull();
    expect([1, 2, 4, 7]).toContain(cx!.hazard.class);
    // The same case on the real flush_tlb_func is clean.
    expect(runCase(cx!.case, x64()).hazards).toEqual([]);
  });

  it("the case it found replays: the gap leaves CPU 1 reading a page madvise removed; the real flush_tlb_func does not", () => {
    const c: Case = {
      scenario: {
        region: { kind: "anon", pages: 2 },
        threads: [
          { warm: "none", ops: [{ op: "reclaim" }, { op: "madvise", page: 1, pages: 1, advice: "dontneed" }], sweep: "none" },
          { warm: "read", ops: [{ op: "madvise", page: 0, pages: 1, advice: "dontneed" }], sweep: "read" },
        ],
      },
      delays: [{ cpu: 1, point: 5, cycles: 211 }],
    };
    expect(runCase(c, x64()).hazards).toEqual([]);
    expect(runCase(c, x64([genGap])).hazards.map((h) => h.class)).toContain(7);
  });
});

describe("check on a machine with PCID and PTI", () => {
  it("the pre-patch kernel is clean, and bug-99baac21e458 is still found (PTI's user PCID is flushed at exit, not missed)", async () => {
    const { x86 } = await import("@flushlab/arch-x86");
    const { bugPlugins } = await import("@flushlab/bugs");
    const features = { pcid: true, pti: true };
    const clean = await check({ target: { arch: x86, archName: "x86-64", plugins: [], features }, cpus: { min: 2, max: 4 }, budget: 3000, seed: 1 });
    expect(clean.counterexample).toBeNull();
    const bug = bugPlugins.find((p) => p.name === "bug-99baac21e458")!;
    const found = await check({ target: { arch: x86, archName: "x86-64", plugins: [bug], features }, cpus: { min: 2, max: 4 }, budget: 50_000, seed: 1 });
    expect(found.counterexample?.hazard.class).toBe(7);
  }, 120_000);
});

describe("check on an older kernel (--kernel)", () => {
  it("finds, with no plugin, the class-5 hazard v5.2 had on x86-32 PAE (private kernel PMDs since v4.19; fixed by 3f8fd02b1bf1 in v5.3), and not on v5.4", async () => {
    const pae = (kernel: "v5.2" | "v5.4") => ({ arch: x86, archName: "x86-32-pae" as const, plugins: [], kernel });
    const old = await check({ target: pae("v5.2"), cpus: { min: 2, max: 4 }, budget: 3000, seed: 1 });
    expect(old.counterexample?.hazard.class).toBe(5);
    expect(JSON.stringify(old.counterexample?.case.scenario)).toContain('"kind":"ioremap"');
    const fixed = await check({ target: pae("v5.4"), cpus: { min: 2, max: 4 }, budget: 3000, seed: 1 });
    expect(fixed.counterexample).toBeNull();
  });
});
