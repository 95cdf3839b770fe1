import { describe, expect, it } from "vitest";
import { x86 } from "@flushlab/arch-x86";
import {
  FrameState,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
  defineWorkload,
  newTlbUbc,
  simulate,
  type FileMapping,
  type FlushlabPlugin,
  type RunResult,
  type TaskApi,
  type TaskGen,
} from "@flushlab/core-mmu";
import { bugEb66ae030829 } from "./eb66ae030829.js";
import { bugPlugins } from "./index.js";

/** Pages of the moved file mapping: six PMD extents, so the move goes on after P's. */
const FILE_PAGES = 6 * 512;
/** CPU 2's pages, P first: one LRU-add pagevec (PAGEVEC_SIZE), so they reach the inactive list with P at its tail. */
const CPU2_PAGES = 14;

interface Outcome {
  readonly result: RunResult;
  /** P's frame was reclaimed (freed) by the reclaim pass that ran while CPU 0 was in mremap. */
  readonly pFreedInWindow: boolean;
  /** Where mremap put the mapping, and what it returned. */
  readonly oldAddr: number;
  readonly newAddr: number;
}

/**
 * CPU 2 reads page P of a private file mapping (and 13 more), so its TLB caches P at
 * the old address. CPU 1 runs one reclaim pass (shrink_lruvec): the pages are young,
 * kept, their A bits cleared (no flush on x86). CPU 0 faults in the rest of the file and
 * mremaps it (MREMAP_MAYMOVE; a page mapped above it keeps it from growing in place).
 * As soon as P's PTE (and its reverse map) is at the new address, CPU 1 runs a second
 * pass: P, referenced once and not young, is unmapped at its new address
 * (try_to_unmap_one, flush_tlb_page of that address) and freed. CPU 2 keeps reading P
 * at the old address throughout.
 */
function remapUnderReclaim(plugins: readonly FlushlabPlugin[], arch: "x86-64" | "x86-32-pae"): Outcome {
  let file: FileMapping | undefined;
  let stage = 0;
  let oldAddr = -1;
  let newAddr = -1;
  let p = -1;
  let pFreedInWindow = false;
  const workload = defineWorkload({
    name: "mremap-under-reclaim",
    description: "test scenario",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      file = ctx.createFile(FILE_PAGES * 4096);
      const mm = ctx.createProcess();
      const mem = ctx.machine.mem;
      const rmap = ctx.kernel.rmap;
      const ubc = newTlbUbc(ctx.machine.cpus.length);
      ctx.spawn(0, mm, function* (t: TaskApi): TaskGen {
        yield* t.mmap(4096, PROT_READ | PROT_WRITE); // above the file mapping: no growing in place
        oldAddr = yield* t.mmapFile(file!, 0, FILE_PAGES * 4096, PROT_READ, false);
        stage = 1;
        while (stage < 3) yield 1000;
        yield t.touch(oldAddr + CPU2_PAGES * 4096, FILE_PAGES - CPU2_PAGES, 4096, false);
        stage = 4;
        newAddr = yield* t.mremap(oldAddr, FILE_PAGES * 4096, (FILE_PAGES + 1) * 4096, MREMAP_MAYMOVE);
        stage = 5;
        while (stage < 6) yield 1000;
      });
      ctx.spawn(1, mm, function* (t: TaskApi): TaskGen {
        while (stage < 2) yield 1000;
        yield* t.syscall(ctx.kernel.reclaim.shrinkLruvec(t.cpu, mem.nodeOf(p), ubc));
        stage = 3;
        // Wait until move_ptes has moved P (its reverse map follows its PTE under the PTL).
        while (stage < 5 && !rmap.list(p).some((r) => r.va !== oldAddr)) yield 100;
        yield* t.syscall(ctx.kernel.reclaim.shrinkLruvec(t.cpu, mem.nodeOf(p), ubc));
        pFreedInWindow = stage === 4 && mem.state[p] === FrameState.FREE;
        while (stage < 5) yield 1000;
        stage = 6;
      });
      ctx.spawn(2, mm, function* (t: TaskApi): TaskGen {
        while (stage < 1) yield 1000;
        yield t.touch(oldAddr, CPU2_PAGES, 4096, false);
        p = file!.pages[0]!;
        stage = 2;
        while (stage < 6) {
          yield t.touch(oldAddr, 1, 4096, false);
          yield 50;
        }
      });
    },
    collect: () => ({}),
  });
  const result = simulate({
    options: { workload: workload.name, machine: { ...x86.defaultMachine, arch, cpus: 3, sockets: 1, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((q) => q.name), params: {} },
    arch: x86,
    workload,
    plugins,
  });
  return { result, pFreedInWindow, oldAddr, newAddr };
}

describe.each(["x86-64", "x86-32-pae"] as const)("bug-eb66ae030829: mremap racing reclaim (%s)", (arch) => {
  it("pre-fix (v4.18): P is freed while CPU 2 still caches it at the old address (class 1)", () => {
    const o = remapUnderReclaim([bugEb66ae030829], arch);
    expect(o.newAddr).toBeGreaterThan(0);
    expect(o.newAddr).not.toBe(o.oldAddr);
    expect(o.pFreedInWindow).toBe(true);
    const h = o.result.hazards.filter((x) => x.class === 1);
    expect(h.length).toBeGreaterThan(0);
    expect(h.every((x) => x.cpu === 2)).toBe(true);
    expect(h[0]!.missing).toBe("TLB flush on CPU 2 before shrink_page_list (reclaim) freed the page");
    expect(new Set(o.result.hazards.map((x) => x.class))).toEqual(new Set([1]));
  });

  it("fixed (default, v4.19): the old range is flushed before the PTE locks are dropped; the same reclaim frees P safely", () => {
    const o = remapUnderReclaim([], arch);
    expect(o.newAddr).toBeGreaterThan(0);
    expect(o.pFreedInWindow).toBe(true);
    expect(o.result.hazards).toEqual([]);
    // CPU 2's reads of the old address fault once its entry is flushed: SIGSEGV after mremap.
    expect(o.result.counters["sigsegv"]).toBeGreaterThan(0);
  });
});

describe("bug-eb66ae030829: the plugin", () => {
  it("is a pre-fix plugin named after the fix, listed in bugPlugins", () => {
    expect(bugEb66ae030829).toMatchObject({
      name: "bug-eb66ae030829",
      kind: "pre-fix",
      patch: { title: "mremap: properly flush TLB before releasing the page", commit: "eb66ae030829", kernel: "v4.19", author: "Linus Torvalds" },
    });
    expect(bugEb66ae030829.policies.map((q) => q.point.name)).toEqual(["MovePtesFlush"]);
    expect(bugPlugins).toContain(bugEb66ae030829);
  });
});
