/**
 * Every hazard class the foundation's paths can produce: a deliberately unsafe policy,
 * a test plugin in ./unsafe-policies.ts, that the oracle must catch, and the safe pre-patch
 * path that it must pass. (Class 3 needs the Knights Landing erratum: a hardware-contract
 * test in core-mmu's test/hardware-contract.test.ts, and a run with the machine option
 * pteLeakErratum in ./pte-leak-erratum.test.ts.)
 */
import { describe, expect, it } from "vitest";
import {
  MADV_DONTNEED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type TaskApi,
  type WorkloadContext,
  C,
} from "@flushlab/core-mmu";
import { classes, lazyThenUnmap, runScenario } from "./scenario.js";
import { freeBeforeFlush, localOnly, noProtFlush, skipLazy, skipPromotionFlush } from "./unsafe-policies.js";

const ARCHES = ["x86-64", "x86-32-pae"] as const;

/** CPU0 drops a page CPU1 keeps reading, then reuses the frame. */
function freeAndReuse() {
  let addr = -1;
  let done = false;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(8 * 4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, 4096, true);
      yield 20_000;
      yield* t.madvise(addr, 4096, MADV_DONTNEED);
      yield t.touch(addr + 4096, 1, 4096, true); // the freed frame comes back here (LIFO)
      yield 20_000;
      done = true;
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      while (!done) yield t.touch(addr, 64, 0, false);
    },
  ];
}

describe.each(ARCHES)("class 1: stale translation to a freed or reused frame (%s)", (arch) => {
  it("unsafe: pages freed before the flush are used by the other CPU", () => {
    const r = runScenario("free-reuse", freeAndReuse(), [freeBeforeFlush], arch);
    expect(classes(r)).toContain(1);
    const h = r.hazards.find((x) => x.class === 1)!;
    expect(h.cpu).toBe(1);
    expect(h.missing).toMatch(/TLB flush on CPU 1 before tlb_finish_mmu \(madvise MADV_DONTNEED\)/);
  });
  it("safe: tlb_flush_mmu flushes, then frees", () => {
    const r = runScenario("free-reuse", freeAndReuse());
    expect(r.hazards).toEqual([]);
    expect(r.counters["nr_tlb_remote_flush"]).toBeGreaterThan(0);
  });
});

/** CPU1 keeps writing a page; CPU0 write-protects it with mprotect. */
function writeProtect() {
  let addr = -1;
  let done = false;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, 4096, true);
      yield 20_000;
      yield* t.mprotect(addr, 4096, PROT_READ);
      yield 20_000;
      done = true;
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      while (!done) yield t.touch(addr, 64, 0, true);
    },
  ];
}

describe.each(ARCHES)("class 2: write through a stale writable entry after write-protection (%s)", (arch) => {
  it("unsafe: mprotect(PROT_READ) without a flush lets CPU 1 keep writing (and, after the call returned, class 7 too)", () => {
    const r = runScenario("wp", writeProtect(), [noProtFlush], arch);
    expect(classes(r)).toEqual([2, 7]);
    expect(r.hazards.find((h) => h.class === 2)!.missing).toMatch(/TLB flush on CPU 1 after mprotect/);
    expect(r.counters["sigsegv"]).toBe(0);
  });
  it("safe: flush_tlb_range before mprotect returns; later writes fault (SIGSEGV)", () => {
    const r = runScenario("wp", writeProtect(), [], arch);
    expect(r.hazards).toEqual([]);
    expect(r.counters["sigsegv"]).toBeGreaterThan(0);
  });
});

/**
 * CPU1 reads a page; CPU0 takes every right away with mprotect(PROT_NONE), and when the
 * call has returned, tells CPU1, which reads again. Nothing is freed or written.
 */
function protNoneThenRead() {
  let addr = -1;
  let stage = 0;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, 4096, true);
      while (stage < 1) yield 1000;
      yield* t.mprotect(addr, 4096, PROT_NONE);
      stage = 2;
      while (stage < 3) yield 1000;
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      yield t.touch(addr, 1, 4096, false);
      stage = 1;
      while (stage < 2) yield 1000;
      yield t.touch(addr, 1, 4096, false); // after mprotect returned
      stage = 3;
    },
  ];
}

/** The same with munmap of one page of eight (the page table stays: nothing but the page is freed). */
function munmapThenRead() {
  let addr = -1;
  let stage = 0;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(8 * 4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 8, 4096, true);
      while (stage < 1) yield 1000;
      yield* t.munmap(addr, 4096);
      stage = 2;
      while (stage < 3) yield 1000;
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      yield t.touch(addr, 1, 4096, false);
      stage = 1;
      while (stage < 2) yield 1000;
      yield t.touch(addr, 1, 4096, false); // after munmap returned
      stage = 3;
    },
  ];
}

describe.each(ARCHES)("class 7: a translation used after the call that removed or restricted it returned (%s)", (arch) => {
  it("unsafe: mprotect(PROT_NONE) without a flush; CPU 1 reads through its entry after the call returned", () => {
    const r = runScenario("protnone", protNoneThenRead(), [noProtFlush], arch);
    expect(classes(r)).toEqual([7]);
    const h = r.hazards[0]!;
    expect(h.cpu).toBe(1);
    expect(h.missing).toBe("TLB flush on CPU 1 before mprotect returned");
    expect(h.detail).toMatch(/CPU 1 read through a translation to pfn \d+ that mprotect removed and returned on CPU 0 at cycle \d+/);
  });
  it("unsafe: munmap whose flush reaches only the caller; CPU 1 reads the unmapped page", () => {
    const r = runScenario("munmap-local", munmapThenRead(), [localOnly], arch);
    expect(classes(r)).toContain(7);
    expect(r.hazards.find((h) => h.class === 7)!.missing).toBe("TLB flush on CPU 1 before munmap returned");
  });
  it("safe: the pre-patch flushes before the calls return; CPU 1's reads fault", () => {
    expect(runScenario("protnone", protNoneThenRead(), [], arch).hazards).toEqual([]);
    expect(runScenario("protnone", protNoneThenRead(), [], arch).counters["sigsegv"]).toBeGreaterThan(0);
  });
});


describe.each(ARCHES)("class 4: a flush that skipped a CPU that could hold entries (%s)", (arch) => {
  it("unsafe: flush_tlb_mm_range that ignores mm_cpumask", () => {
    const r = runScenario("local-only", freeAndReuse(), [localOnly], arch);
    expect(classes(r)).toContain(4);
    const h = r.hazards.find((x) => x.class === 4)!;
    expect(h.cpu).toBe(1);
    expect(h.missing).toMatch(/TLB flush on CPU 1 before tlb_finish_mmu \(madvise MADV_DONTNEED\) freed the page/);
    expect(h.detail).toMatch(/reached CPU 0 but not CPU 1/);
  });
  it("unsafe: lazy CPU skipped although page tables were freed", () => {
    const r = runScenario("skip-lazy", lazyThenUnmap(), [skipLazy], arch);
    expect(classes(r)).toEqual([4]);
    expect(r.hazards[0]!.cpu).toBe(1);
    expect(r.hazards[0]!.missing).toMatch(/a flush reaching CPU 1 before tlb_finish_mmu \(munmap\) \(page table\) freed the page-table page/);
  });
  it("safe: the v5.17 path interrupts the lazy CPU, which switches to init_mm", () => {
    const r = runScenario("skip-lazy", lazyThenUnmap(), [], arch);
    expect(r.hazards).toEqual([]);
    expect(r.counters["pgtables_freed"]).toBeGreaterThan(0);
    expect(r.interrupts.TLB[1]).toBeGreaterThan(0);
  });
});

describe("spurious faults, A bits and redundant flushes are cost, not hazards", () => {
  it("a promotion left unflushed gives a spurious fault and no hazard", () => {
    // v5.17 flushes after mprotect(PROT_READ|PROT_WRITE) too (every present PTE counts),
    // so the test skips that flush (and only that one: skipping the demotion's flush
    // would be a class 2 hazard). CPU1 caches the read-only entry; CPU0's
    // write fault upgrades the PTE without a flush (wp_page_reuse); CPU1's write then
    // faults on its stale read-only entry: spurious, cost only.
    let addr = -1;
    let stage = 0;
    const r = runScenario("promotion", [
      function* (t: TaskApi) {
        addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
        yield t.touch(addr, 1, 4096, true);
        yield* t.mprotect(addr, 4096, PROT_READ);
        stage = 1;
        while (stage < 2) yield 1000;
        yield* t.mprotect(addr, 4096, PROT_READ | PROT_WRITE);
        yield t.touch(addr, 1, 4096, true); // wp_page_reuse: promotion, no flush
        stage = 3;
      },
      function* (t: TaskApi) {
        while (stage < 1) yield 1000;
        yield t.touch(addr, 1, 4096, false); // caches the read-only entry
        stage = 2;
        while (stage < 3) yield 1000;
        yield t.touch(addr, 1, 4096, true); // stale RO entry: spurious fault
      },
    ], [skipPromotionFlush]);
    expect(r.hazards).toEqual([]);
    expect(r.counters["pgfault_wp_reuse"]).toBe(1);
    expect(r.counters["pgfault_spurious"]).toBe(1);
  });
});

describe("mm_cpumask and lazy TLB", () => {
  it("a lazy CPU is skipped by a flush without freed tables and catches up through tlb_gen when it switches back", () => {
    let ctx: WorkloadContext | undefined;
    let addr = -1;
    let exited = false;
    const r = runScenario("lazy", [
      function* (t: TaskApi) {
        addr = yield* t.mmap(4 * 4096, PROT_READ | PROT_WRITE);
        yield t.touch(addr, 4, 4096, true);
        while (!exited) yield 1000;
        yield* t.madvise(addr, 4096, MADV_DONTNEED); // one-page flush, no freed tables
      },
      function* (t: TaskApi) {
        while (addr < 0) yield 1000;
        yield t.touch(addr, 4, 4096, false);
        exited = true; // the task exits: CPU 1 enters lazy TLB mode on this mm
      },
    ], [], "x86-64", (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
    expect(r.interrupts.TLB[1]).toBe(0); // tlb_is_not_lazy() was false for CPU 1
    const k = ctx!.kernel;
    const cpu1 = k.machine.cpus[1]!;
    const ts1 = k.tlbstate[1]!;
    const mm = [...k.mms][0]!;
    expect(ts1.isLazy).toBe(true);
    expect(mm.cpumask[1]).toBe(1); // still a member: the mask is a superset
    expect(ts1.ctxTlbGen).toBeLessThan(mm.tlbGen);
    const switches = k.counters.values[C["tlb_flush_TLB_FLUSH_ON_TASK_SWITCH"]]!;
    k.policies.archTlb.switchMmIrqsOff(cpu1, mm); // the task comes back
    expect(ts1.isLazy).toBe(false);
    expect(ts1.ctxTlbGen).toBe(mm.tlbGen);
    expect(k.counters.values[C["tlb_flush_TLB_FLUSH_ON_TASK_SWITCH"]]).toBe(switches + 1);
    expect(cpu1.tlb.lookup(Math.floor(addr / 4096), 0)).toBe(-1);
  });
});
