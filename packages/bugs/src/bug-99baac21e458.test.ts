/**
 * bug-99baac21e458, with hand-built timing: CPU 2 caches translations of a range; CPU 0
 * and CPU 1 (threads of the same process) call madvise on it 50 cycles apart. CPU 0
 * clears (or cleans) the PTEs and goes on to flush; CPU 1 finds nothing left to do. Once
 * CPU 1's call has returned it tells CPU 2, which uses the range again before CPU 0's
 * flush has reached it. The pre-fix kernel lets CPU 1 return without a flush; the
 * default (v4.13 with the fix) forces a full flush of the mm in CPU 1's tlb_finish_mmu.
 */
import { describe, expect, it } from "vitest";
import {
  MADV_DONTNEED,
  MADV_FREE,
  PROT_READ,
  PROT_WRITE,
  defineWorkload,
  simulate,
  type FlushlabPlugin,
  type RunResult,
  type TaskApi,
  type TaskGen,
} from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { bug99baac21e458, bugPlugins } from "./index.js";

/** CPU 0's range: more than one PTE page (512 pages), so it is still zapping when CPU 1, whose range is the first page, returns. */
const PAGES = 600;

interface Timeline {
  /** When CPU 1's madvise returned. */
  secondReturned: number;
  /** When CPU 0 and CPU 1 sent their first flush IPIs (-1: never). */
  firstFlushSent: number;
  secondFlushSent: number;
  /** Whether CPU 1's flush was of the whole mm. */
  secondFlushFull: boolean;
}

function concurrentMadvise(advice: number, plugins: readonly FlushlabPlugin[]): { r: RunResult; t: Timeline } {
  const tl: Timeline = { secondReturned: -1, firstFlushSent: -1, secondFlushSent: -1, secondFlushFull: false };
  const write = advice === MADV_FREE; // MADV_FREE's hazard is a write; MADV_DONTNEED's any use
  let addr = -1;
  let stage = 0;
  let now = (): number => -1;
  const bodies: ((t: TaskApi) => TaskGen)[] = [
    function* (t) {
      while (stage < 1) yield 100;
      yield* t.madvise(addr, PAGES * 4096, advice);
    },
    function* (t) {
      while (stage < 1) yield 100;
      yield 50;
      yield* t.madvise(addr, 4096, advice);
      tl.secondReturned = now();
      stage = 2;
    },
    function* (t) {
      addr = yield* t.mmap(PAGES * 4096, PROT_READ | PROT_WRITE);
      yield t.touch(addr, PAGES, 4096, true); // every translation cached, dirty
      stage = 1;
      while (stage < 2) yield 100;
      yield t.touch(addr, 1, 4096, write);
      stage = 3;
    },
  ];
  const workload = defineWorkload({
    name: "concurrent-madvise",
    description: "test",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      now = () => ctx.machine.now;
      const mm = ctx.createProcess();
      bodies.forEach((b, i) => ctx.spawn(i, mm, b));
    },
    collect: () => ({}),
  });
  const r = simulate({
    options: { workload: workload.name, machine: { ...x86.defaultMachine, cpus: 3, sockets: 1, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {} },
    arch: x86,
    workload,
    plugins,
    onEvents: (events) =>
      events.select("tlb_flush").subscribe((e) => {
        if (e.reason !== "TLB_REMOTE_SEND_IPI") return;
        if (e.cpu === 0 && tl.firstFlushSent < 0) tl.firstFlushSent = e.time;
        if (e.cpu === 1 && tl.secondFlushSent < 0) {
          tl.secondFlushSent = e.time;
          tl.secondFlushFull = e.pages === -1;
        }
      }),
  });
  return { r, t: tl };
}

const classes = (r: RunResult): number[] => [...new Set(r.hazards.map((h) => h.class))].sort();

describe("bug-99baac21e458: MADV_[FREE|DONTNEED] TLB flush miss", () => {
  it("is a pre-fix plugin of the fix's commit, listed in bugPlugins", () => {
    expect(bug99baac21e458).toMatchObject({ name: "bug-99baac21e458", kind: "pre-fix", patch: { commit: "99baac21e458", kernel: "v4.13", author: "Minchan Kim" } });
    expect(bugPlugins).toContain(bug99baac21e458);
  });

  it("pre-fix, MADV_DONTNEED: CPU 1 returns before CPU 0 flushed; CPU 2 reads the removed page (class 7)", () => {
    const { r, t } = concurrentMadvise(MADV_DONTNEED, [bug99baac21e458]);
    expect(t.secondFlushSent).toBe(-1); // nothing recorded, nothing flushed
    expect(t.secondReturned).toBeGreaterThan(0);
    expect(t.secondReturned).toBeLessThan(t.firstFlushSent);
    expect(classes(r)).toEqual([7]);
    const h = r.hazards[0]!;
    expect(h.cpu).toBe(2);
    expect(h.missing).toBe("TLB flush on CPU 2 before madvise returned");
    expect(h.detail).toMatch(/returned on CPU 1/);
  });

  it("pre-fix, MADV_FREE: CPU 2 writes through its dirty entry after CPU 1's call returned; no D bit, a lost write (classes 2 and 7)", () => {
    const { r, t } = concurrentMadvise(MADV_FREE, [bug99baac21e458]);
    expect(t.secondFlushSent).toBe(-1);
    expect(t.secondReturned).toBeLessThan(t.firstFlushSent);
    expect(classes(r)).toEqual([2, 7]);
    expect(r.hazards.find((h) => h.class === 2)!.missing).toBe("TLB flush on CPU 2 after madvise(MADV_FREE) cleaned the PTE");
  });

  it.each([
    ["MADV_DONTNEED", MADV_DONTNEED],
    ["MADV_FREE", MADV_FREE],
  ])("fixed (the default), %s: CPU 1's tlb_finish_mmu sees two gathers and flushes the whole mm before it returns", (_name, advice) => {
    const { r, t } = concurrentMadvise(advice, []);
    expect(t.secondFlushSent).toBeGreaterThan(0);
    expect(t.secondFlushFull).toBe(true);
    expect(t.secondFlushSent).toBeLessThan(t.firstFlushSent); // the same race: CPU 1 got there first
    expect(t.secondReturned).toBeGreaterThan(t.secondFlushSent);
    expect(r.hazards).toEqual([]);
  });
});
