/**
 * mremap (mm/mremap.c, v4.18, with the v4.19 flush as the MovePtesFlush default): what
 * moves, what is unmapped, the errors, the locks and notifier calls around the move, and
 * the class-7 hazard of a MovePtesFlush that never flushes the old range.
 */
import { describe, expect, it } from "vitest";
import {
  BATCHED_PENDING_FLUSH,
  EFAULT,
  EINVAL,
  ENOMEM,
  FlushlabInputError,
  MOVE_PTES_FLUSH,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  definePlugin,
  mmuNotifierRegister,
  policy,
  ptePfn,
  ptePresent,
  type FileMapping,
  type KGen,
  type Kernel,
  type MovePtesLocks,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { classes, runScenario } from "./scenario.js";
import { mremapNeverFlush } from "./unsafe-policies.js";

const PAGE = 4096;

/** The frame `va` maps in the page tables of `t`'s mm, or -1. */
function frameAt(k: Kernel, t: TaskApi, va: number): number {
  const off = k.pgtables.pteOffset(t.mm.pgd, va);
  if (off < 0) return -1;
  const w = k.machine.mem.words;
  return ptePresent(w[off]!, w[off + 1]!) ? ptePfn(w[off]!, w[off + 1]!) : -1;
}

/** Broken: returns from move_ptes still holding the old PTE page's lock. */
const keepsLock = definePlugin({
  name: "test-mremap-keeps-lock",
  description: "move_ptes that forgets to drop the old PTE lock",
  patch: { title: "test", commit: "none", kernel: "none" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MOVE_PTES_FLUSH, () => ({
      begin: () => ({
        pteMoved() {},
        *endMovePtes(_cpu, _start, _end, ptl: MovePtesLocks): KGen {
          ptl.unlockNew();
        },
        *finish(): KGen {},
      }),
    })),
  ],
});

describe.each(["x86-64", "x86-32-pae"] as const)("mremap semantics (%s)", (arch) => {
  it("MREMAP_MAYMOVE: the PTEs move with their frames; the new address reads them without a fault; the old one SIGSEGVs", () => {
    let ctx: WorkloadContext | undefined;
    const seen: Record<string, unknown> = {};
    const r = runScenario("mremap-move", [
      function* (t: TaskApi): TaskGen {
        const k = ctx!.kernel;
        yield* t.mmap(PAGE, PROT_READ | PROT_WRITE); // above: the mapping cannot grow in place
        const a = yield* t.mmap(4 * PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 4, PAGE, true);
        const before = [0, 1, 2, 3].map((i) => frameAt(k, t, a + i * PAGE));
        const b = yield* t.mremap(a, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
        seen["a"] = a;
        seen["b"] = b;
        seen["before"] = before;
        seen["after"] = [0, 1, 2, 3].map((i) => frameAt(k, t, b + i * PAGE));
        seen["oldNow"] = [0, 1, 2, 3].map((i) => frameAt(k, t, a + i * PAGE));
        seen["vmaAtOld"] = t.mm.findVma(a) !== undefined;
        seen["vmaAtNew"] = t.mm.findVma(b + 7 * PAGE)?.start === b;
        yield t.touch(b, 4, PAGE, false); // present PTEs: TLB misses, no faults
        yield t.touch(a, 1, PAGE, false); // gone: SIGSEGV
      },
    ], [], arch, (c) => (ctx = c));
    expect(seen["b"]).not.toBe(seen["a"]);
    expect(seen["b"] as number).toBeGreaterThan(0);
    expect((seen["before"] as number[]).every((f) => f >= 0)).toBe(true);
    expect(seen["after"]).toEqual(seen["before"]);
    expect(seen["oldNow"]).toEqual([-1, -1, -1, -1]);
    expect(seen["vmaAtOld"]).toBe(false);
    expect(seen["vmaAtNew"]).toBe(true);
    // Four write faults before the move, one SIGSEGV after it, and nothing else.
    expect(r.counters["pgfault"]).toBe(5);
    expect(r.counters["sigsegv"]).toBe(1);
    expect(r.counters["pages_allocated"]).toBe(4);
    expect(r.counters["pages_freed"]).toBe(0);
    expect(r.counters["mremap_calls"]).toBe(1);
    expect(r.hazards).toEqual([]);
  });

  it("shrinking unmaps the tail (do_munmap) and returns the same address", () => {
    let ret = 0;
    let a = 0;
    const r = runScenario("mremap-shrink", [
      function* (t: TaskApi): TaskGen {
        a = yield* t.mmap(4 * PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 4, PAGE, true);
        ret = yield* t.mremap(a, 4 * PAGE, 2 * PAGE);
        yield t.touch(a, 2, PAGE, true); // still mapped: TLB hits
        yield t.touch(a + 2 * PAGE, 2, PAGE, false); // the tail: SIGSEGV twice
      },
    ], [], arch);
    expect(ret).toBe(a);
    expect(r.counters["pages_freed"]).toBe(2);
    expect(r.counters["sigsegv"]).toBe(2);
    expect(r.hazards).toEqual([]);
  });

  it("growing in place when nothing follows the mapping: same address, the new pages fault in", () => {
    let ret = 0;
    let a = 0;
    const r = runScenario("mremap-grow", [
      function* (t: TaskApi): TaskGen {
        a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE); // the first mapping: nothing above it
        yield t.touch(a, 2, PAGE, true);
        ret = yield* t.mremap(a, 2 * PAGE, 4 * PAGE);
        yield t.touch(a, 4, PAGE, true);
      },
    ], [], arch);
    expect(ret).toBe(a);
    expect(r.counters["pages_allocated"]).toBe(4);
    expect(r.counters["sigsegv"]).toBe(0);
  });

  it("MREMAP_FIXED moves to new_addr, unmapping what was there first", () => {
    let ctx: WorkloadContext | undefined;
    const seen: Record<string, number | number[]> = {};
    const r = runScenario("mremap-fixed", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
        const c = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 2, PAGE, true);
        yield t.touch(c, 2, PAGE, true);
        const frames = [frameAt(ctx!.kernel, t, a), frameAt(ctx!.kernel, t, a + PAGE)];
        seen["ret"] = yield* t.mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, c);
        seen["c"] = c;
        seen["frames"] = frames;
        seen["atC"] = [frameAt(ctx!.kernel, t, c), frameAt(ctx!.kernel, t, c + PAGE)];
        seen["atA"] = frameAt(ctx!.kernel, t, a);
      },
    ], [], arch, (x) => (ctx = x));
    expect(seen["ret"]).toBe(seen["c"]);
    expect(seen["atC"]).toEqual(seen["frames"]);
    expect(seen["atA"]).toBe(-1);
    expect(r.counters["pages_freed"]).toBe(2); // c's own pages
    expect(r.hazards).toEqual([]);
  });

  it("a private file page moves with its reverse-map entry, so reclaim unmaps it at its new address", () => {
    let ctx: WorkloadContext | undefined;
    let file: FileMapping | undefined;
    const seen: Record<string, unknown> = {};
    const r = runScenario("mremap-file", [
      function* (t: TaskApi): TaskGen {
        yield* t.mmap(PAGE, PROT_READ);
        const a = yield* t.mmapFile(file!, 0, 2 * PAGE, PROT_READ, false);
        yield t.touch(a, 2, PAGE, false);
        const pfn = file!.pages[0]!;
        const b = yield* t.mremap(a, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
        seen["rmap"] = ctx!.kernel.rmap.list(pfn).map((x) => x.va);
        seen["b"] = b;
        // try_to_unmap as shrink_page_list runs it (immediate flush, v4.2): finds the new PTE.
        yield* t.syscall(ctx!.kernel.rmap.tryToUnmap(t.cpu, pfn, { cpumask: new Uint8Array(2), flushRequired: false, writable: false }));
        seen["mapped"] = ctx!.kernel.rmap.mapped(pfn);
        seen["atB"] = frameAt(ctx!.kernel, t, b);
      },
    ], [], arch, (c) => {
      ctx = c;
      file = c.createFile(2 * PAGE);
    });
    expect(seen["rmap"]).toEqual([seen["b"]]);
    expect(seen["mapped"]).toBe(false);
    expect(seen["atB"]).toBe(-1);
    expect(r.hazards).toEqual([]);
  });
});

describe("mremap errors: the kernel's, as negative errno values", () => {
  it("-EINVAL, -EFAULT and -ENOMEM where v4.18 returns them, changing nothing", () => {
    const got: Record<string, number> = {};
    const r = runScenario("mremap-errors", [
      function* (t: TaskApi): TaskGen {
        yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
        const a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
        const b = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE); // just below a
        yield t.touch(a, 2, PAGE, true);
        got["unaligned"] = yield* t.mremap(a + 1, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
        got["badFlags"] = yield* t.mremap(a, PAGE, 2 * PAGE, 4);
        got["flagAbove32Bits"] = yield* t.mremap(a, PAGE, 2 * PAGE, 2 ** 32 + MREMAP_MAYMOVE);
        got["fixedWithoutMaymove"] = yield* t.mremap(a, PAGE, PAGE, MREMAP_FIXED, b);
        got["zeroNewLen"] = yield* t.mremap(a, PAGE, 0, MREMAP_MAYMOVE);
        got["unmapped"] = yield* t.mremap(b - 16 * PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
        got["acrossVmas"] = yield* t.mremap(b, 4 * PAGE, 5 * PAGE, MREMAP_MAYMOVE);
        got["cannotGrow"] = yield* t.mremap(b, 2 * PAGE, 3 * PAGE);
        got["overlap"] = yield* t.mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + PAGE);
        got["fixedUnaligned"] = yield* t.mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, b + 1);
        got["dupPrivate"] = yield* t.mremap(a, 0, PAGE, MREMAP_MAYMOVE);
        got["sameSize"] = yield* t.mremap(b - 16 * PAGE, PAGE, PAGE); // old_len == new_len: returns addr, even unmapped
        got["b"] = b;
        yield t.touch(a, 2, PAGE, false); // untouched by the failed calls
      },
    ]);
    expect(got).toMatchObject({
      unaligned: -EINVAL,
      badFlags: -EINVAL,
      flagAbove32Bits: -EINVAL,
      fixedWithoutMaymove: -EINVAL,
      zeroNewLen: -EINVAL,
      unmapped: -EFAULT,
      acrossVmas: -EFAULT,
      cannotGrow: -ENOMEM,
      overlap: -EINVAL,
      fixedUnaligned: -EINVAL,
      dupPrivate: -EINVAL,
      sameSize: got["b"]! - 16 * PAGE,
    });
    expect(r.counters["mremap_calls"]).toBe(12);
    expect(r.counters["sigsegv"]).toBe(0);
    expect(r.counters["pages_freed"]).toBe(0);
    expect(r.hazards).toEqual([]);
  });

  it("an argument that is no unsigned long is a one-line input error", () => {
    const run = () =>
      runScenario("mremap-nan", [
        function* (t: TaskApi): TaskGen {
          yield* t.mremap(Number.NaN, PAGE, PAGE);
        },
      ]);
    expect(run).toThrow(FlushlabInputError);
    expect(run).toThrow(/^mremap on CPU 0: addr must be a non-negative integer below 2\^53 \(got NaN\)$/);
  });
});

describe("move_ptes: locks, flush_tlb_batched_pending, notifiers", () => {
  it("flush_tlb_batched_pending runs with the old PTE page's lock held (move_ptes, and the zap of the old range)", () => {
    let a = -1;
    const held: boolean[] = [];
    const spy = definePlugin({
      name: "test-batched-pending-spy",
      description: "records whether the PTL is held",
      patch: { title: "test", commit: "none", kernel: "none" },
      appliesTo: ["x86-64", "x86-32-pae"],
      policies: [
        policy(BATCHED_PENDING_FLUSH, (kernel) => ({
          *flushTlbBatchedPending(): KGen {
            held.push(kernel.ptl.held(kernel.pgtables.pteOffset([...kernel.mms][0]!.pgd, a)));
          },
        })),
      ],
    });
    runScenario("mremap-ptl", [
      function* (t: TaskApi): TaskGen {
        yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
        a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 2, PAGE, true);
        yield* t.mremap(a, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
      },
    ], [spy]);
    // move_ptes, then zap_pte_range as do_munmap unmaps the old range (its PTEs already gone).
    expect(held).toEqual([true, true]);
  });

  it("one notifier range over the old range brackets the move, ending with invalidate_range (range_end)", () => {
    const calls: string[] = [];
    let a = -1;
    runScenario("mremap-notifier", [
      function* (t: TaskApi): TaskGen {
        yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
        a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 2, PAGE, true);
        mmuNotifierRegister(t.mm, {
          name: "spy",
          invalidateRangeStart: (_c, _mm, s, e) => (calls.push(`start ${s - a} ${e - a}`), 0),
          invalidateRange: (_c, _mm, s, e) => (calls.push(`range ${s - a} ${e - a}`), 0),
          invalidateRangeEnd: (_c, _mm, s, e) => (calls.push(`end ${s - a} ${e - a}`), 0),
        });
        yield* t.mremap(a, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
      },
    ]);
    // move_page_tables', then do_munmap's (the zap of the old range finds nothing; its gather flushes nothing).
    expect(calls.slice(0, 3)).toEqual([`start 0 ${2 * PAGE}`, `range 0 ${2 * PAGE}`, `end 0 ${2 * PAGE}`]);
    expect(calls.slice(3)).toEqual([`start 0 ${2 * PAGE}`, `range 0 ${2 * PAGE}`, `end 0 ${2 * PAGE}`]);
  });

  it("a MovePtesFlush that returns holding a PTE lock stops the run", () => {
    expect(() =>
      runScenario("mremap-keeps-lock", [
        function* (t: TaskApi): TaskGen {
          yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
          const a = yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
          yield t.touch(a, 1, PAGE, true);
          yield* t.mremap(a, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
        },
      ], [keepsLock]),
    ).toThrow(/MovePtesFlush\.endMovePtes returned holding the old PTE page's lock/);
  });
});

/**
 * CPU 1 reads a page; CPU 0 moves it with mremap and, when the call has returned, tells
 * CPU 1, which reads the old address again. A page mapped just above keeps the old PTE
 * page alive, so do_munmap of the old range frees no page table (and flushes nothing).
 */
function moveThenReadOld() {
  let addr = -1;
  let stage = 0;
  return [
    function* (t: TaskApi): TaskGen {
      yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
      addr = yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
      yield t.touch(addr, 1, PAGE, true);
      while (stage < 1) yield 1000;
      yield* t.mremap(addr, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
      stage = 2;
      while (stage < 3) yield 1000;
    },
    function* (t: TaskApi): TaskGen {
      while (addr < 0) yield 1000;
      yield t.touch(addr, 1, PAGE, false);
      stage = 1;
      while (stage < 2) yield 1000;
      yield t.touch(addr, 1, PAGE, false); // after mremap returned
      stage = 3;
    },
  ];
}

describe.each(["x86-64", "x86-32-pae"] as const)("class 7 after mremap (%s)", (arch) => {
  it("unsafe: a MovePtesFlush that never flushes; CPU 1 reads the old address after the call returned", () => {
    const r = runScenario("mremap-no-flush", moveThenReadOld(), [mremapNeverFlush], arch);
    expect(classes(r)).toEqual([7]);
    expect(r.hazards[0]!.cpu).toBe(1);
    expect(r.hazards[0]!.missing).toBe("TLB flush on CPU 1 before mremap returned");
    expect(r.counters["pgtables_freed"]).toBe(0);
  });
  it("safe: the default flushes the old range before dropping the PTE locks; CPU 1's read faults", () => {
    const r = runScenario("mremap-no-flush", moveThenReadOld(), [], arch);
    expect(r.hazards).toEqual([]);
    expect(r.counters["sigsegv"]).toBe(1);
    expect(r.interrupts.TLB[1]).toBeGreaterThan(0);
  });
});
