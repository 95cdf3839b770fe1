/**
 * Hazard class 3 (the hardware contract batched unmap relies on), class 1 through a
 * paging-structure cache, and class 2 for a write through a cached dirty entry whose PTE
 * was cleaned, at the level of the simulated hardware: the "policy" here is the order in
 * which the test changes entries, flushes and says what the kernel relies on.
 */
import { describe, expect, it } from "vitest";
import { FAULT, MmuEvent } from "../src/hw/mmu.js";
import { PscLevel } from "../src/hw/tlb.js";
import { FrameState } from "../src/hw/memory.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, pteHi, pteLo } from "../src/hw/pte.js";
import { bareMachine, X86_32_PAE } from "./hw-helpers.js";

const VA = 0x400000;

function mapClean(h: ReturnType<typeof bareMachine>) {
  const pfn = h.m.mem.alloc(FrameState.USER);
  const off = h.pt.pteOffsetAlloc(h.mm, VA);
  h.m.mem.words[off] = pteLo(pfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED);
  h.m.mem.words[off + 1] = pteHi(pfn, 0);
  return { pfn, off };
}

describe("class 3: a write through a cached clean entry whose PTE is gone", () => {
  it("the walk sets A on a read and D on a write, atomically in the PTE", () => {
    const h = bareMachine();
    const { off } = mapClean(h);
    const cpu = h.m.cpus[0]!;
    expect(h.m.mmu.access(cpu, VA, false, true)).toBeGreaterThan(0);
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(0);
    expect(h.m.mmu.access(cpu, VA, true, true)).toBeGreaterThan(0); // dirty assist
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
  });

  it("unsafe: clearing a clean PTE and deferring the flush; x86 faults on the write (no hazard)", () => {
    const h = bareMachine();
    const { off } = mapClean(h);
    const cpu = h.m.cpus[1]!;
    h.m.mmu.access(cpu, VA, false, true); // caches RW, D=0
    h.m.mem.words[off] = 0; // ptep_get_and_clear, flush deferred
    expect(h.m.mmu.access(cpu, VA, true, true)).toBe(FAULT);
    expect(h.oracle.hazards).toHaveLength(0);
  });

  it("unsafe on X86_BUG_PTE_LEAK hardware: the write completes and the oracle reports class 3", () => {
    const h = bareMachine({ pteLeakErratum: true });
    const { off, pfn } = mapClean(h);
    const cpu = h.m.cpus[1]!;
    h.m.mmu.access(cpu, VA, false, true);
    h.m.mem.words[off] = 0;
    expect(h.m.mmu.access(cpu, VA, true, true)).not.toBe(FAULT);
    expect(h.oracle.hazards.map((x) => [x.class, x.cpu, x.pfn])).toEqual([[3, 1, pfn]]);
    expect(h.oracle.hazards[0]!.missing).toMatch(/flush before the PTE was cleared/);
  });

  it("safe on the same hardware: ptep_clear_flush (clear, then INVLPG at once) faults instead", () => {
    const h = bareMachine({ pteLeakErratum: true });
    const { off } = mapClean(h);
    const cpu = h.m.cpus[1]!;
    h.m.mmu.access(cpu, VA, false, true);
    h.m.mem.words[off] = 0;
    h.m.mmu.invlpg(cpu, VA);
    expect(h.m.mmu.access(cpu, VA, true, true)).toBe(FAULT);
    expect(h.oracle.hazards).toHaveLength(0);
  });
});

describe("class 1 through a paging-structure cache: a freed page-table page", () => {
  for (const format of [undefined, X86_32_PAE]) {
    const name = format ? "x86-32-pae" : "x86-64";
    it(`${name}: unsafe (table freed with no flush) is reported; safe (INVLPG first) is not`, () => {
      for (const safe of [false, true]) {
        const h = bareMachine({ format });
        mapClean(h);
        const cpu = h.m.cpus[0]!;
        h.m.mmu.access(cpu, VA, false, true); // fills the TLB and the PDE cache
        // Unhook the PTE page from its PMD and free it (as free_pgtables would).
        const pmdOff = pmdEntryOffset(h, VA);
        const ptPfn = h.m.mem.words[pmdOff]! >>> 12;
        h.m.mem.words[pmdOff] = 0;
        if (safe) h.m.mmu.invlpg(cpu, VA);
        h.m.mem.free(ptPfn, "free_pgtables (test)", 0);
        const reused = h.m.mem.alloc(FrameState.USER);
        expect(reused).toBe(ptPfn);
        // A neighbouring address: TLB miss, walk starts at the cached PDE.
        expect(h.m.mmu.access(cpu, VA + 4096, false, true)).toBe(FAULT);
        const c1 = h.oracle.hazards.filter((x) => x.class === 1);
        if (safe) expect(c1).toHaveLength(0);
        else expect(c1[0]?.detail).toMatch(/page-table page that was freed/);
      }
    });
  }
});

describe("class 2: a write through a cached dirty entry after the kernel cleaned the PTE (MADV_FREE)", () => {
  /** CPU 1 writes the page (its TLB caches D=1); the PTE's D (and A) bit is then cleared, as MADV_FREE does. */
  function cleanedUnderDirtyEntry(flushFirst: boolean) {
    const h = bareMachine();
    const { off, pfn } = mapClean(h);
    const cpu = h.m.cpus[1]!;
    expect(h.m.mmu.access(cpu, VA, true, true)).toBeGreaterThan(0);
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    h.m.mem.words[off] = h.m.mem.words[off]! & ~(_PAGE_DIRTY | _PAGE_ACCESSED);
    if (flushFirst) h.m.mmu.invlpg(cpu, VA);
    h.m.mem.relyWriteProtected(pfn, "madvise(MADV_FREE)");
    const assists = h.m.mmu.events[MmuEvent.dirty_assists]!;
    expect(h.m.mmu.access(cpu, VA, true, true)).toBeGreaterThan(0);
    return { h, off, pfn, assists };
  }

  it("unsafe: the write hits the cached D=1 entry, sets no D in the PTE, and is reported lost", () => {
    const { h, off, pfn, assists } = cleanedUnderDirtyEntry(false);
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(0);
    expect(h.m.mmu.events[MmuEvent.dirty_assists]).toBe(assists); // no dirty assist: the entry says D is set
    expect(h.oracle.hazards.map((x) => [x.class, x.cpu, x.pfn])).toEqual([[2, 1, pfn]]);
    expect(h.oracle.hazards[0]!.missing).toBe("TLB flush on CPU 1 after madvise(MADV_FREE) cleaned the PTE");
    expect(h.oracle.hazards[0]!.detail).toMatch(/sets no D bit/);
  });

  it("safe: after INVLPG the write walks, sets D in the PTE, and nothing is reported", () => {
    const { h, off } = cleanedUnderDirtyEntry(true);
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    expect(h.oracle.hazards).toHaveLength(0);
  });

  it("safe: a cached clean entry takes the dirty assist, which sets D, so its write is seen", () => {
    const h = bareMachine();
    const { off, pfn } = mapClean(h);
    const cpu = h.m.cpus[1]!;
    h.m.mmu.access(cpu, VA, false, true); // caches RW, D=0
    h.m.mem.relyWriteProtected(pfn, "madvise(MADV_FREE)");
    expect(h.m.mmu.access(cpu, VA, true, true)).toBeGreaterThan(0);
    expect(h.m.mem.words[off]! & _PAGE_DIRTY).toBe(_PAGE_DIRTY);
    expect(h.oracle.hazards).toHaveLength(0);
  });
});

function pmdEntryOffset(h: ReturnType<typeof bareMachine>, va: number): number {
  const lv = h.m.format.levels;
  let table = h.mm.pgd;
  for (let l = 0; l < lv.length - 2; l++) {
    const off = h.m.mem.entryOffset(table, Math.floor(va / 2 ** lv[l]!.shift) % lv[l]!.entries);
    table = h.m.mem.words[off]! >>> 12;
  }
  const pmd = lv[lv.length - 2]!;
  return h.m.mem.entryOffset(table, Math.floor(va / 2 ** pmd.shift) % pmd.entries);
}

describe("a page fault drops what the CPU caches for the faulting address (SDM §4.10.4.1)", () => {
  it("the TLB entry and the paging-structure-cache entries of that address, in the current PCID", () => {
    const h = bareMachine();
    const { off } = mapClean(h);
    const cpu = h.m.cpus[0]!;
    h.m.mmu.access(cpu, VA, false, true); // walk: PDE, PDPTE, PML4E cached
    const pde = cpu.psc.lookup(PscLevel.PDE, Math.floor(VA / 2 ** 21), cpu.pcid);
    expect(pde).toBeGreaterThanOrEqual(0);
    h.m.mem.words[off] = 0; // the PTE goes; the TLB entry is dropped without the PSC
    cpu.tlb.drop(cpu.tlb.probe(VA / 4096));
    expect(h.m.mmu.access(cpu, VA, false, true)).toBe(FAULT);
    expect(cpu.psc.lookup(PscLevel.PDE, Math.floor(VA / 2 ** 21), cpu.pcid)).toBe(-1);
    expect(cpu.psc.lookup(PscLevel.PDPTE, Math.floor(VA / 2 ** 30), cpu.pcid)).toBe(-1);
  });
});
