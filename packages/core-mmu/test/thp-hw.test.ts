import { describe, expect, it } from "vitest";
import { COMPOUND_HEAD, FrameState, HPAGE_NR } from "../src/hw/memory.js";
import { FAULT } from "../src/hw/mmu.js";
import { _PAGE_ACCESSED, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, pmdLeafLo, pteHi } from "../src/hw/pte.js";
import { bareMachine } from "./hw-helpers.js";

const HPAGE = 2097152;

/** A machine with one 2 MiB page mapped by a huge PMD at `va`. */
function hugeMapped(va: number) {
  const b = bareMachine();
  const head = b.m.mem.allocHuge(FrameState.USER, 0);
  const off = b.pt.pmdOffsetAlloc(b.mm, va);
  b.m.mem.words[off] = pmdLeafLo(head, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);
  b.m.mem.words[off + 1] = pteHi(head, 0);
  return { ...b, head };
}

describe("2 MiB pages in the hardware", () => {
  it("allocHuge hands out 512 aligned frames as one compound page; freeing the head frees them all", () => {
    const { m } = bareMachine();
    const before = m.mem.freeFrames;
    const head = m.mem.allocHuge(FrameState.USER, 0);
    expect(head % HPAGE_NR).toBe(0);
    expect(m.mem.compound[head]).toBe(COMPOUND_HEAD);
    expect(m.mem.freeFrames).toBe(before - HPAGE_NR);
    for (let i = 0; i < HPAGE_NR; i++) expect(m.mem.state[head + i]).toBe(FrameState.USER);
    // The order-0 allocator never hands out a frame of the huge page.
    for (let i = 0; i < 100; i++) {
      const p = m.mem.alloc(FrameState.USER);
      expect(p >= head && p < head + HPAGE_NR).toBe(false);
    }
    m.mem.free(head, "test", 0);
    for (let i = 0; i < HPAGE_NR; i++) expect(m.mem.state[head + i]).toBe(FrameState.FREE);
    expect(() => m.mem.free(head + 1, "test", 0)).toThrow(/double free/);
  });

  it("a walk through a huge PMD fills a 2 MiB TLB entry that every address of the page hits", () => {
    const va = 4 * HPAGE;
    const { m } = hugeMapped(va);
    const cpu = m.cpus[0]!;
    expect(m.mmu.access(cpu, va + 12345, false, true)).not.toBe(FAULT);
    expect(cpu.tlb2m.live).toBe(1);
    expect(cpu.tlb.live).toBe(0);
    const walks = m.mmu.events[2]!;
    m.mmu.access(cpu, va + HPAGE - 8, true, true);
    expect(m.mmu.events[2]).toBe(walks); // a hit, no walk
  });

  it("INVLPG of any address in the 2 MiB drops the 2 MiB entry; one outside it does not", () => {
    const va = 4 * HPAGE;
    const { m } = hugeMapped(va);
    const cpu = m.cpus[0]!;
    m.mmu.access(cpu, va, false, true);
    m.mmu.invlpg(cpu, va + 3 * HPAGE);
    expect(cpu.tlb2m.lookup(va / HPAGE, cpu.pcid)).toBeGreaterThanOrEqual(0);
    m.mmu.invlpg(cpu, va + 77 * 4096);
    expect(cpu.tlb2m.lookup(va / HPAGE, cpu.pcid)).toBe(-1);
    expect(cpu.tlb2m.live).toBe(0);
  });
});
