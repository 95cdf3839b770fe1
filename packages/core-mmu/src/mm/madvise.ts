/**
 * madvise, after mm/madvise.c (v5.17): MADV_DONTNEED zaps the range with one
 * mmu_gather (zap_page_range), keeping the page tables. Other advice is not modelled.
 */
import type { Cpu } from "../hw/cpu.js";
import { C } from "../kernel/counters.js";
import type { KernelCore } from "../kernel/core.js";
import type { KGen } from "../sim/process.js";
import type { Memory } from "./memory.js";
import type { Mmap } from "./mmap.js";
import type { MmuGatherOps } from "./mmu-gather.js";
import { mmuNotifierInvalidateRangeEnd, mmuNotifierInvalidateRangeStart } from "./mmu-notifier.js";

export const MADV_DONTNEED = 4;

export class Madvise {
  constructor(
    private readonly k: KernelCore,
    private readonly mmap: Mmap,
    private readonly memory: Memory,
    private readonly gather: MmuGatherOps,
  ) {}

  /** madvise(addr, len, advice), under mmap_read_lock. */
  *madvise(cpu: Cpu, addr: number, len: number, advice: number): KGen {
    yield* this.mmap.withReadLock(cpu, this.doMadvise(cpu, addr, len, advice));
  }

  private *doMadvise(cpu: Cpu, addr: number, len: number, advice: number): KGen {
    const k = this.k;
    if (advice !== MADV_DONTNEED) throw new Error(`madvise advice ${advice} is not modelled`);
    const mm = this.mmap.mustMm(cpu);
    k.counters.values[C.madvise_calls]!++;
    yield k.machine.costs.unmapBase;
    const end = addr + Math.ceil(len / 4096) * 4096;
    const tlb = this.gather.tlbGatherMmu(mm, "tlb_finish_mmu (madvise MADV_DONTNEED)");
    // zap_page_range: one notifier range around the zap (v4.15).
    const ns = mmuNotifierInvalidateRangeStart(k.counters, cpu, mm, addr, end);
    if (ns > 0) yield ns;
    for (const v of mm.vmas) {
      if (v.end <= addr || v.start >= end) continue;
      yield* this.memory.zapPageRange(cpu, tlb, v, Math.max(addr, v.start), Math.min(end, v.end));
    }
    const ne = mmuNotifierInvalidateRangeEnd(k.counters, cpu, mm, addr, end, k.policies.secondaryTlbNotify.onlyEnd("zap_page_range"));
    if (ne > 0) yield ne;
    yield* this.gather.tlbFinishMmu(cpu, tlb);
  }
}
