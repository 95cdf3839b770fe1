import { describe, expect, it } from "vitest";
import type { Cpu } from "../hw/cpu.js";
import { FrameState, PhysMem } from "../hw/memory.js";
import { Counters } from "../kernel/counters.js";
import { ISOLATED, ISOLATED_GATHERED, ISOLATED_RELEASED, LRU_INACTIVE_FILE, Lru, NOT_ISOLATED, PAGEVEC_SIZE } from "./swap.js";

const cpu0 = { id: 0 } as Cpu;
const cpu1 = { id: 1 } as Cpu;

function setup() {
  const mem = new PhysMem(256);
  const counters = new Counters(2);
  const lru = new Lru(mem, 2, counters);
  const anon = (): number => mem.alloc(FrameState.USER);
  return { mem, counters, lru, anon };
}

describe("mark_page_lazyfree and the lazyfree pagevecs (v4.13)", () => {
  it("pages wait in the CPU's pagevec; a full one moves them to the inactive file list without PG_swapbacked", () => {
    const { mem, counters, lru, anon } = setup();
    const pages = Array.from({ length: PAGEVEC_SIZE }, anon);
    for (const p of pages.slice(0, -1)) lru.markPageLazyfree(cpu0, p);
    expect(lru.size(0, LRU_INACTIVE_FILE)).toBe(0);
    expect(lru.pendingLruAdds()).toBe(PAGEVEC_SIZE - 1);
    expect(mem.lazyfree[pages[0]!]).toBe(0);
    lru.markPageLazyfree(cpu0, pages.at(-1)!);
    expect(lru.size(0, LRU_INACTIVE_FILE)).toBe(PAGEVEC_SIZE);
    for (const p of pages) expect(mem.lazyfree[p]).toBe(1);
    expect(counters.extra.get("pglazyfree")).toBe(PAGEVEC_SIZE);
  });

  it("lru_add_drain drains only its own CPU's pagevec; a page already lazyfree or a page-cache page is not taken", () => {
    const { mem, lru, anon } = setup();
    const a = anon();
    const b = anon();
    const cached = mem.alloc(FrameState.PAGECACHE);
    lru.markPageLazyfree(cpu0, a);
    lru.markPageLazyfree(cpu1, b);
    lru.markPageLazyfree(cpu0, cached);
    lru.lruAddDrain(cpu0);
    expect([mem.lazyfree[a], mem.lazyfree[b], mem.lazyfree[cached]]).toEqual([1, 0, 0]);
    lru.markPageLazyfree(cpu0, a); // already lazyfree: nothing to do
    expect(lru.pendingLruAdds()).toBe(1);
    expect(lru.size(0, LRU_INACTIVE_FILE)).toBe(1);
  });
});

describe("who frees a lazyfree page (its references, as release_pages and reclaim see them)", () => {
  it("a page nobody isolated leaves its list (or its pagevec) and is freed by the caller", () => {
    const { mem, lru, anon } = setup();
    const onList = anon();
    const inPvec = anon();
    const plain = anon();
    lru.markPageLazyfree(cpu0, onList);
    lru.lruAddDrain(cpu0);
    lru.markPageLazyfree(cpu1, inPvec);
    expect(lru.releasePage(onList)).toBe(true);
    expect(lru.on[onList]).toBe(-1);
    expect(lru.releasePage(inPvec)).toBe(true);
    expect(lru.pendingLruAdds()).toBe(0);
    expect(lru.releasePage(plain)).toBe(true);
    mem.free(inPvec, "test", 0);
    lru.lruAddDrain(cpu1); // the freed frame is no longer in CPU 1's pagevec
    expect(lru.size(0, LRU_INACTIVE_FILE)).toBe(0);
  });

  it("while reclaim holds the page isolated, a zap's gather and a COW's put leave the free to reclaim", () => {
    const { lru, anon } = setup();
    const zapped = anon();
    const cowed = anon();
    for (const p of [zapped, cowed]) {
      lru.markPageLazyfree(cpu0, p);
      lru.lruAddDrain(cpu0);
      lru.del(p, 0);
      lru.isolated[p] = ISOLATED;
    }
    lru.pageGathered(zapped); // zap_pte_range moved the last mapping's reference into its gather
    expect(lru.isolated[zapped]).toBe(ISOLATED_GATHERED);
    expect(lru.releasePage(zapped)).toBe(false); // the gather's release_pages after its flush
    expect(lru.isolated[zapped]).toBe(ISOLATED_RELEASED);
    expect(lru.releasePage(cowed)).toBe(false); // wp_page_copy's put_page(old_page)
    expect(lru.isolated[cowed]).toBe(ISOLATED_RELEASED);
    lru.add(zapped, 0, LRU_INACTIVE_FILE); // putback ends the isolation
    expect(lru.isolated[zapped]).toBe(NOT_ISOLATED);
  });
});
