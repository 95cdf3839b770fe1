/**
 * MADV_FREE as v4.13 has it, end to end: madvise_free_pte_range cleans the PTEs under
 * one mmu_gather whose tlb_finish_mmu flushes them; reclaim discards a lazyfree page no
 * write has dirtied since, and keeps one that was written (the PTE put back, the page
 * swap-backed again). A policy that skips the gather's flush lets a CPU that cached the
 * dirty translation write without setting D: the oracle reports the lost write (class 2,
 * and class 7 after the call returned), and reclaim then really discards the data.
 */
import { describe, expect, it } from "vitest";
import {
  MADV_FREE,
  PROT_READ,
  PROT_WRITE,
  FrameState,
  LRU_INACTIVE_FILE,
  pteDirty,
  ptePfn,
  ptePresent,
  pteYoung,
  type TaskApi,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { classes, runScenario } from "./scenario.js";
import { noGatherFlush } from "./unsafe-policies.js";

/** The PTE mapping `va` in the scenario's process, as the kernel sees it now. */
function pteOf(ctx: WorkloadContext, va: number): { lo: number; hi: number; pfn: number } {
  const k = ctx.kernel;
  const mm = [...k.mms][0]!;
  const off = k.pgtables.pteOffset(mm.pgd, va);
  const w = k.machine.mem.words;
  const lo = off >= 0 ? w[off]! : 0;
  const hi = off >= 0 ? w[off + 1]! : 0;
  return { lo, hi, pfn: ptePresent(lo, hi) ? ptePfn(lo, hi) : -1 };
}

/**
 * CPU 1 writes a page (its TLB caches the dirty translation); CPU 0 frees it with
 * MADV_FREE and, once the call has returned, tells CPU 1, which writes again. With
 * `reclaim`, CPU 0 then reclaims twice (a page written since is young the first time).
 */
function freeThenWrite(reclaim: boolean, seen: { pfn: number; afterWrite?: ReturnType<typeof pteOf>; afterReclaim?: ReturnType<typeof pteOf> }, ctx: () => WorkloadContext) {
  let addr = -1;
  let stage = 0;
  return [
    function* (t: TaskApi) {
      addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, 4096, true);
      seen.pfn = pteOf(ctx(), addr).pfn;
      while (stage < 1) yield 1000;
      yield* t.madvise(addr, 4096, MADV_FREE);
      stage = 2;
      while (stage < 3) yield 1000;
      seen.afterWrite = pteOf(ctx(), addr);
      if (reclaim) {
        yield* t.reclaim();
        yield* t.reclaim();
        seen.afterReclaim = pteOf(ctx(), addr);
      }
    },
    function* (t: TaskApi) {
      while (addr < 0) yield 1000;
      yield t.touch(addr, 1, 4096, true); // caches the translation with D=1
      stage = 1;
      while (stage < 2) yield 1000;
      yield t.touch(addr, 1, 4096, true); // after MADV_FREE returned
      stage = 3;
    },
  ];
}

describe.each(["x86-64", "x86-32-pae"] as const)("MADV_FREE: the lost write (%s)", (arch) => {
  it("unsafe: no flush at tlb_finish_mmu; CPU 1 writes through its dirty entry, no D reaches the PTE (classes 2 and 7)", () => {
    let ctx: WorkloadContext | undefined;
    const seen = { pfn: -1 } as { pfn: number; afterWrite?: ReturnType<typeof pteOf> };
    const r = runScenario("madv-free-no-flush", freeThenWrite(false, seen, () => ctx!), [noGatherFlush], arch, (c) => (ctx = c));
    expect(classes(r)).toEqual([2, 7]);
    const lost = r.hazards.find((h) => h.class === 2)!;
    expect(lost.cpu).toBe(1);
    expect(lost.pfn).toBe(seen.pfn);
    expect(lost.missing).toBe("TLB flush on CPU 1 after madvise(MADV_FREE) cleaned the PTE");
    expect(r.hazards.find((h) => h.class === 7)!.detail).toMatch(/whose PTE madvise cleaned .* the write sets no D bit/);
    expect(pteDirty(seen.afterWrite!.lo, seen.afterWrite!.hi)).toBe(false);
  });

  it("safe: tlb_finish_mmu flushes the cleaned range; CPU 1's write walks and sets D again", () => {
    let ctx: WorkloadContext | undefined;
    const seen = { pfn: -1 } as { pfn: number; afterWrite?: ReturnType<typeof pteOf> };
    const r = runScenario("madv-free", freeThenWrite(false, seen, () => ctx!), [], arch, (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
    expect(r.counters["nr_tlb_remote_flush"]).toBeGreaterThan(0);
    expect(pteDirty(seen.afterWrite!.lo, seen.afterWrite!.hi)).toBe(true);
  });
});

describe("MADV_FREE and reclaim (v4.13 try_to_unmap_one, shrink_page_list)", () => {
  it("a page written after MADV_FREE is kept: its PTE is put back dirty and the page is swap-backed again", () => {
    let ctx: WorkloadContext | undefined;
    const seen = { pfn: -1 } as { pfn: number; afterReclaim?: ReturnType<typeof pteOf> };
    const r = runScenario("madv-free-reclaim", freeThenWrite(true, seen, () => ctx!), [], "x86-64", (c) => (ctx = c));
    expect(r.hazards).toEqual([]);
    expect(r.counters["pglazyfreed"] ?? 0).toBe(0);
    const after = seen.afterReclaim!;
    expect(after.pfn).toBe(seen.pfn);
    expect(pteDirty(after.lo, after.hi)).toBe(true);
    const mem = ctx!.machine.mem;
    expect(mem.lazyfree[seen.pfn]).toBe(0);
    expect(mem.state[seen.pfn]).toBe(FrameState.USER);
    expect(ctx!.kernel.lru.on[seen.pfn]).toBe(-1); // off the file LRU (to the anon LRU, not modelled)
  });

  it("with the flush skipped, reclaim discards the page although CPU 1 wrote it: the write is lost", () => {
    let ctx: WorkloadContext | undefined;
    const seen = { pfn: -1 } as { pfn: number; afterReclaim?: ReturnType<typeof pteOf> };
    const r = runScenario("madv-free-reclaim-no-flush", freeThenWrite(true, seen, () => ctx!), [noGatherFlush], "x86-64", (c) => (ctx = c));
    expect(classes(r)).toContain(2);
    expect(r.counters["pglazyfreed"]).toBe(1);
    expect(seen.afterReclaim!.pfn).toBe(-1);
    expect(ctx!.machine.mem.state[seen.pfn]).not.toBe(FrameState.USER);
  });

  it("clean lazyfree pages are discarded, freed after try_to_unmap_flush; the next read maps the zero page", () => {
    let ctx: WorkloadContext | undefined;
    const pfns: number[] = [];
    let after: ReturnType<typeof pteOf> | undefined;
    const r = runScenario(
      "madv-free-discard",
      [
        function* (t: TaskApi) {
          const a = yield* t.mmap(16 * 4096, PROT_READ | PROT_WRITE);
          yield t.touch(a, 16, 4096, true);
          for (let i = 0; i < 16; i++) pfns.push(pteOf(ctx!, a + i * 4096).pfn);
          yield* t.madvise(a, 16 * 4096, MADV_FREE);
          const p = pteOf(ctx!, a);
          expect(pteDirty(p.lo, p.hi) || pteYoung(p.lo, p.hi)).toBe(false);
          expect(yield* t.reclaim()).toBe(16);
          after = pteOf(ctx!, a);
          yield t.touch(a, 1, 4096, false);
        },
      ],
      [],
      "x86-64",
      (c) => (ctx = c),
    );
    expect(r.hazards).toEqual([]);
    expect(r.counters["pglazyfree"]).toBe(16);
    expect(r.counters["pglazyfreed"]).toBe(16);
    expect(after!.pfn).toBe(-1);
    for (const pfn of pfns) expect(ctx!.machine.mem.state[pfn]).toBe(FrameState.FREE);
    expect(r.counters["pgfault_zero_page"]).toBe(1);
  });

  it("a page another mapping shares and that is PageDirty is left alone, as the kernel does", () => {
    let ctx: WorkloadContext | undefined;
    let before: ReturnType<typeof pteOf> | undefined;
    let after: ReturnType<typeof pteOf> | undefined;
    const r = runScenario(
      "madv-free-shared",
      [
        function* (t: TaskApi) {
          const a = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
          yield t.touch(a, 1, 4096, true);
          yield* t.madvise(a, 4096, MADV_FREE);
          yield t.touch(a, 1, 4096, true); // written again: reclaim will keep it
          yield* t.reclaim();
          yield* t.reclaim(); // kept: PageDirty, swap-backed again
          const child = yield* t.forkCow(); // now mapped twice
          before = pteOf(ctx!, a);
          yield* t.madvise(a, 4096, MADV_FREE);
          after = pteOf(ctx!, a);
          t.switchTo(child);
          yield* t.exit(child);
        },
      ],
      [],
      "x86-64",
      (c) => (ctx = c),
    );
    expect(r.hazards).toEqual([]);
    expect(ctx!.machine.mem.mapcount[before!.pfn]).toBe(1); // the child has exited
    expect(after).toEqual(before);
    expect(pteDirty(after!.lo, after!.hi)).toBe(true);
    expect(r.counters["pglazyfree"]).toBe(1);
  });

  it("MADV_FREE on a file mapping is refused (-EINVAL): nothing changes", () => {
    let ctx: WorkloadContext | undefined;
    let before: ReturnType<typeof pteOf> | undefined;
    let after: ReturnType<typeof pteOf> | undefined;
    const r = runScenario(
      "madv-free-file",
      [
        function* (t: TaskApi) {
          const a = yield* t.mmapFile(ctx!.createFile(4096), 0, 4096, PROT_READ | PROT_WRITE, false);
          yield t.touch(a, 1, 4096, true); // a private COW copy: anonymous, but in a file VMA
          before = pteOf(ctx!, a);
          yield* t.madvise(a, 4096, MADV_FREE);
          after = pteOf(ctx!, a);
        },
      ],
      [],
      "x86-64",
      (c) => (ctx = c),
    );
    expect(r.hazards).toEqual([]);
    expect(after).toEqual(before);
    expect(r.counters["pglazyfree"]).toBeUndefined();
  });

  it("munmap racing with reclaim over the same lazyfree pages frees each frame once, whoever drops the last reference", () => {
    let ctx: WorkloadContext | undefined;
    const pfns: number[] = [];
    let addr = -1;
    let freed = false;
    let reclaimed = -1;
    const r = runScenario(
      "madv-free-munmap-race",
      [
        function* (t: TaskApi) {
          addr = yield* t.mmap(32 * 4096, PROT_READ | PROT_WRITE);
          yield t.touch(addr, 32, 4096, true);
          for (let i = 0; i < 32; i++) pfns.push(pteOf(ctx!, addr + i * 4096).pfn);
          yield* t.madvise(addr, 32 * 4096, MADV_FREE);
          freed = true;
          // Wait until reclaim has unmapped the first page, then unmap the range under it.
          while (pteOf(ctx!, addr).pfn >= 0) yield 100;
          yield* t.munmap(addr, 32 * 4096);
        },
        function* (t: TaskApi) {
          while (!freed) yield 1000;
          reclaimed = yield* t.reclaim();
        },
      ],
      [],
      "x86-64",
      (c) => (ctx = c),
    );
    expect(r.hazards).toEqual([]);
    // munmap's zap_pte_range waited for the PTE lock reclaim's try_to_unmap_one held.
    expect(ctx!.kernel.ptl.contentions()).toBe(1);
    const lru = ctx!.kernel.lru;
    // 28 pages reached the file LRU (two full lazyfree pagevecs); 4 waited in CPU 0's.
    expect(r.counters["pglazyfree"]).toBe(28);
    expect(reclaimed).toBeGreaterThan(0);
    expect(reclaimed).toBeLessThan(28); // munmap took some of them from under reclaim
    for (const pfn of pfns) {
      expect(ctx!.machine.mem.state[pfn]).toBe(FrameState.FREE);
      expect(lru.on[pfn]).toBe(-1);
      expect(lru.isolated[pfn]).toBe(0);
    }
    expect(lru.size(0, LRU_INACTIVE_FILE)).toBe(0);
  });
});
