import { Machine } from "../src/hw/machine.js";
import { FrameState } from "../src/hw/memory.js";
import { X86_64_4LEVEL, X86_32_PAE, type PagingFormat } from "../src/hw/paging-format.js";
import { _PAGE_PRESENT, pteHi, pteLo } from "../src/hw/pte.js";
import { PageTables } from "../src/mm/pgtable.js";
import { MmStruct } from "../src/mm/mm-types.js";
import { Oracle } from "../src/oracle/oracle.js";
import type { CostParams } from "../src/cost/cost-model.js";

/** Round numbers: these tests check behaviour, not cost. */
export const TEST_COSTS: CostParams = {
  freqHz: 1e9, userAccess: 1, pageWalk: 10, pageWalkPsc: 5, eptTranslate: 0, dirtyAssist: 50, invlpg: 10, cr3Flush: 10, globalFlush: 20,
  pageFaultHw: 100, faultHandler: 50, allocZeroPage: 100, copyPage: 100, ptAlloc: 100, syscall: 20, mmapRegion: 100,
  unmapBase: 50, zapPte: 5, freePage: 5, mprotectBase: 50, changePte: 5, flushBookkeeping: 10, csdQueue: 5, ipiSend: 10,
  ipiLatencySameSocket: 100, ipiLatencyCrossSocket: 200, irqEntryExit: 50, csdRun: 5, ackLatencySameSocket: 20,
  ackLatencyCrossSocket: 40, switchMm: 10, spinLockUncontended: 4, contextSwitch: 20, ttwu: 10, idleExitLatency: 10, idlePolling: 1, vmapAreaAlloc: 10, vmapPte: 2, memLatencyLocal: 20, memLatencyRemote: 30, forkBase: 100, execBase: 100, exitBase: 100, lruScanPage: 5, writepage: 10,
  copyPte: 5, iommuInvalidatePage: 100, iommuInvalidatePasid: 100, atsTranslate: 10, dmaAccess: 5,
};

/** A machine with an oracle watching it and one address space loaded on every CPU: hardware only, no kernel. */
export function bareMachine(opts: { format?: PagingFormat; pteLeakErratum?: boolean; cpus?: number } = {}) {
  const format = opts.format ?? X86_64_4LEVEL;
  const m = new Machine(
    { format, cpus: opts.cpus ?? 2, sockets: 1, tlbEntries: 64, tlbWays: 4, tlb2mEntries: 8, pscEntries: 8, memoryFrames: 4096, seed: 1, pteLeakErratum: opts.pteLeakErratum ?? false },
    TEST_COSTS,
  );
  const oracle = new Oracle(m);
  const pt = new PageTables(m);
  const pgd = m.mem.alloc(FrameState.PAGETABLE);
  if (format.topLoadedAtCr3) {
    // PAE: the four PDPTEs are loaded at CR3 write, so their PMDs exist up front.
    for (let i = 0; i < 4; i++) {
      const pmd = m.mem.alloc(FrameState.PAGETABLE);
      const off = m.mem.entryOffset(pgd, i);
      m.mem.words[off] = pteLo(pmd, _PAGE_PRESENT);
      m.mem.words[off + 1] = pteHi(pmd, 0);
    }
  }
  const mm = new MmStruct(1, pgd, m.cpus.length, 0, m);
  for (const cpu of m.cpus) m.mmu.loadCr3(cpu, pgd);
  return { m, pt, mm, oracle };
}

export { X86_32_PAE };
