/**
 * The mmu_notifier ranges of reclaim and mprotect: try_to_unmap_one (v4.15 mm/rmap.c)
 * brackets its walk with range_start/range_end and calls invalidate_range under the PTL
 * only for an anonymous page it discards; change_pmd_range (v5.17 mm/mprotect.c) opens
 * a range at the first populated PMD and ends it with range_end. A device that walks the
 * CPU page tables (amd_iommu_v2: invalidate_range only) learns of both changes through
 * range_end's invalidate_range: without it, it writes a page mprotect made read-only, or
 * reads a file page reclaim freed (class 6).
 */
import { describe, expect, it } from "vitest";
import {
  AtsDevice,
  MADV_FREE,
  PROT_READ,
  PROT_WRITE,
  Prng,
  SECONDARY_TLB_NOTIFY,
  definePlugin,
  mmuNotifierRegister,
  policy,
  type FileMapping,
  type FlushlabPlugin,
  type Kernel,
  type NotifierSite,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { classes, runScenario } from "./scenario.js";

const PAGE = 4096;
const HPAGE = 2 * 1024 * 1024;

/** A notifier that records its calls relative to `base()`. */
function spy(calls: string[], base: () => number) {
  return {
    name: "spy",
    invalidateRangeStart: (_c: unknown, _mm: unknown, s: number, e: number) => (calls.push(`start ${s - base()} ${e - base()}`), 0),
    invalidateRange: (_c: unknown, _mm: unknown, s: number, e: number) => (calls.push(`range ${s - base()} ${e - base()}`), 0),
    invalidateRangeEnd: (_c: unknown, _mm: unknown, s: number, e: number) => (calls.push(`end ${s - base()} ${e - base()}`), 0),
  };
}

/** Unsafe test policy: `site` ends its notifier range with range_only_end (no invalidate_range). */
function onlyEndAt(site: NotifierSite): FlushlabPlugin {
  return definePlugin({
    name: `test-only-end-${site}`,
    description: `${site} ends with mmu_notifier_invalidate_range_only_end`,
    patch: { title: "test", commit: "none", kernel: "none" },
    appliesTo: ["x86-64", "x86-32-pae"],
    policies: [
      policy(SECONDARY_TLB_NOTIFY, (_kernel, before) => ({
        clearNotifies: (s: NotifierSite) => before.clearNotifies(s),
        onlyEnd: (s: NotifierSite) => s === site || before.onlyEnd(s),
      })),
    ],
  });
}

const device = (k: Kernel, t: TaskApi) => new AtsDevice(k, t.mm, { iotlbEntries: 8, dmaInterval: 1000, writePct: 0, pprCpu: 1 }, new Prng(1), "test-device");

describe.each(["x86-64", "x86-32-pae"] as const)("try_to_unmap_one's notifier range (v4.15) (%s)", (arch) => {
  it("a file page: range_start, then range_end's invalidate_range and invalidate_range_end; nothing under the PTL", () => {
    let file: FileMapping | undefined;
    let a = -1;
    const calls: string[] = [];
    let reclaimed = 0;
    const r = runScenario("ttu-file", [
      function* (t: TaskApi): TaskGen {
        a = yield* t.mmapFile(file!, 0, PAGE, PROT_READ, false);
        yield t.touch(a, 1, PAGE, false);
        mmuNotifierRegister(t.mm, spy(calls, () => a));
        reclaimed += yield* t.reclaim(); // its first priority pass keeps it (referenced), a later pass frees it
        reclaimed += yield* t.reclaim(); // nothing left
      },
    ], [], arch, (ctx) => (file = ctx.createFile(PAGE)));
    expect(reclaimed).toBe(1);
    expect(calls).toEqual([`start 0 ${PAGE}`, `range 0 ${PAGE}`, `end 0 ${PAGE}`]);
    expect(r.counters["mmu_notifier_range_start"]).toBe(1);
    expect(r.counters["mmu_notifier_range_end"]).toBe(1);
    expect(r.hazards).toEqual([]);
  });

  it("a clean lazyfree page: invalidate_range under the PTL before the discard, then range_end's", () => {
    let a = -1;
    const calls: string[] = [];
    const r = runScenario("ttu-lazyfree", [
      function* (t: TaskApi): TaskGen {
        a = yield* t.mmap(PAGE, PROT_READ | PROT_WRITE);
        yield t.touch(a, 1, PAGE, true);
        yield* t.madvise(a, PAGE, MADV_FREE);
        mmuNotifierRegister(t.mm, spy(calls, () => a));
        yield* t.reclaim();
        yield* t.reclaim();
      },
    ], [], arch);
    expect(r.counters["pglazyfreed"]).toBe(1);
    expect(calls).toEqual([`start 0 ${PAGE}`, `range 0 ${PAGE}`, `range 0 ${PAGE}`, `end 0 ${PAGE}`]);
    expect(r.hazards).toEqual([]);
  });
});

/**
 * The device caches a file page's translation; reclaim unmaps and frees the page; the
 * device reads it again through its IOTLB unless range_end told it.
 */
function reclaimUnderDevice(plugins: readonly FlushlabPlugin[]) {
  let ctx: WorkloadContext | undefined;
  let file: FileMapping | undefined;
  const dma: string[] = [];
  const r = runScenario("ttu-device", [
    function* (t: TaskApi): TaskGen {
      const a = yield* t.mmapFile(file!, 0, PAGE, PROT_READ, false);
      yield t.touch(a, 1, PAGE, false);
      const dev = device(ctx!.kernel, t);
      dma.push(dev.dma(a, false)); // caches the page-cache page
      // One try_to_free_pages: its first priority pass keeps the page (referenced), a later
      // pass of the same call unmaps and frees it.
      yield* t.reclaim();
      dma.push(dev.dma(a, false));
      yield* t.reclaim(); // nothing left to reclaim
      dma.push(dev.dma(a, false));
    },
  ], plugins, "x86-64", (c) => {
    ctx = c;
    file = c.createFile(PAGE);
  });
  return { r, dma };
}

describe("reclaim under a device that walks the page tables", () => {
  it("range_end's invalidate_range drops the file page's translation before the page is freed", () => {
    const { r, dma } = reclaimUnderDevice([]);
    expect(r.counters["pgsteal_direct"]).toBe(1);
    expect(r.counters["pgsteal_kswapd"]).toBe(0);
    expect(dma).toEqual(["translated", "fault", "fault"]);
    expect(r.hazards).toEqual([]);
  });

  it("unsafe: try_to_unmap_one ending with range_only_end leaves it: the device reads the freed page (class 6)", () => {
    const { r, dma } = reclaimUnderDevice([onlyEndAt("try_to_unmap_one")]);
    expect(dma).toEqual(["translated", "hit", "hit"]);
    expect(classes(r)).toEqual([6]);
    expect(r.hazards[0]!.missing).toBe("invalidate_range before shrink_page_list (reclaim) freed the page");
  });
});

describe.each(["x86-64", "x86-32-pae"] as const)("change_pmd_range's notifier range (v5.17) (%s)", (arch) => {
  it("one range over the VMA's part of the PUD, from the first populated PMD; range_end calls invalidate_range", () => {
    let a = -1;
    const calls: string[] = [];
    const r = runScenario("mprotect-notifier", [
      function* (t: TaskApi): TaskGen {
        // 4 MiB + 2 pages, touched only from the second 2 MiB boundary inside it on.
        const base = yield* t.mmap(2 * HPAGE + 2 * HPAGE, PROT_READ | PROT_WRITE);
        a = base + ((HPAGE - (base % HPAGE)) % HPAGE); // 2 MiB-aligned, 4 MiB left above it
        const first = a + HPAGE;
        yield t.touch(first, 2, PAGE, true);
        mmuNotifierRegister(t.mm, spy(calls, () => a));
        yield* t.mprotect(a, 2 * HPAGE, PROT_READ); // PMD at `a` unpopulated: the range starts at `first`
        yield* t.mprotect(a, PAGE, PROT_READ | PROT_WRITE); // no populated PMD: no range
      },
    ], [], arch);
    expect(calls).toEqual([`start ${HPAGE} ${2 * HPAGE}`, `range ${HPAGE} ${2 * HPAGE}`, `end ${HPAGE} ${2 * HPAGE}`]);
    expect(r.counters["mmu_notifier_range_start"]).toBe(1);
    expect(r.hazards).toEqual([]);
  });
});

/**
 * The device caches a writable translation of a page; mprotect(PROT_READ) returns; the
 * device writes through its IOTLB unless range_end told it.
 */
function mprotectUnderDevice(plugins: readonly FlushlabPlugin[]) {
  let ctx: WorkloadContext | undefined;
  const dma: string[] = [];
  const r = runScenario("mprotect-device", [
    function* (t: TaskApi): TaskGen {
      const a = yield* t.mmap(2 * PAGE, PROT_READ | PROT_WRITE);
      yield t.touch(a, 2, PAGE, true);
      const dev = device(ctx!.kernel, t);
      dma.push(dev.dma(a, true)); // a writable translation
      yield* t.mprotect(a, 2 * PAGE, PROT_READ);
      dma.push(dev.dma(a, true)); // after mprotect returned
    },
  ], plugins, "x86-64", (c) => (ctx = c));
  return { r, dma };
}

describe("mprotect under a device that walks the page tables", () => {
  it("range_end's invalidate_range drops the writable translation: the device's write needs a page request", () => {
    const { r, dma } = mprotectUnderDevice([]);
    expect(dma).toEqual(["translated", "fault"]);
    expect(r.counters["device_invalidations"]).toBe(1);
    expect(r.hazards).toEqual([]);
  });

  it("unsafe: change_pmd_range ending with range_only_end: the device writes the read-only page (class 6)", () => {
    const { r, dma } = mprotectUnderDevice([onlyEndAt("change_pmd_range")]);
    expect(dma).toEqual(["translated", "hit"]);
    expect(classes(r)).toEqual([6]);
    expect(r.hazards[0]!.missing).toBe("invalidate_range before mprotect returned");
    expect(r.hazards[0]!.detail).toMatch(/test-device wrote by DMA through a writable IOTLB entry .* after mprotect made it read-only/);
  });
});
