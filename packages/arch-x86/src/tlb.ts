/**
 * arch/x86/mm/tlb.c as of v5.17 (after Nadav Amit's concurrent-flush series, v5.13:
 * remote IPIs are sent first and the local flush overlaps the wait):
 * flush_tlb_mm_range, native_flush_tlb_multi, flush_tlb_func, flush_tlb_kernel_range,
 * switch_mm_irqs_off and enter_lazy_tlb. PCID is not modelled (one ASID per CPU, so
 * every switch to another mm reloads CR3 with a flush).
 */
import { C, type ArchTlb, type Cpu, type KGen, type Kernel, type Machine, type MmStruct, type TlbFlushReason } from "@flushlab/core-mmu";

/** tlb_single_page_flush_ceiling (debugfs knob, default 33; Dave Hansen 2014). */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

/** TLB_FLUSH_ALL */
export const TLB_FLUSH_ALL = Infinity;

/** struct flush_tlb_info */
export interface FlushTlbInfo {
  readonly mm: MmStruct | null;
  readonly start: number;
  readonly end: number;
  readonly strideShift: number;
  readonly freedTables: boolean;
  readonly newTlbGen: number;
  readonly initiatingCpu: number;
}

export class X86Tlb implements ArchTlb {
  protected readonly k: Kernel;
  protected readonly m: Machine;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
  }

  private trace(cpu: Cpu, reason: TlbFlushReason, pages: number): void {
    this.k.counters.values[REASON_COUNTER[reason]]!++;
    if (this.m.events.wants("tlb_flush")) this.m.events.emit("tlb_flush", { time: this.m.now, cpu: cpu.id, reason, pages });
  }

  /**
   * flush_tlb_func's choice (v5.17): a partial flush of f's range is enough only when it
   * brings this CPU from local_tlb_gen to mm_tlb_gen in one step (f is the only flush
   * it missed); a CPU that missed two coalesced flushes must flush everything.
   */
  protected partialFlushSuffices(f: FlushTlbInfo, localGen: number, mmGen: number): boolean {
    return f.end !== TLB_FLUSH_ALL && f.newTlbGen === localGen + 1 && f.newTlbGen === mmGen;
  }

  /** flush_tlb_func: runs on each target (and locally); partial or full by generation. Returns cycles. */
  flushTlbFunc(cpu: Cpu, f: FlushTlbInfo): number {
    const m = this.m;
    const mmu = m.mmu;
    const values = this.k.counters.values;
    const ts = this.k.tlbstate[cpu.id]!;
    const local = cpu.id === f.initiatingCpu;
    let cost = 0;
    if (!local) {
      this.k.counters.irqTlb[cpu.id]!++;
      values[C.nr_tlb_remote_flush_received]!++;
      // Can only happen on remote CPUs: the mm was switched away since the mask was read.
      if (f.mm !== ts.loadedMm) return cost;
    }
    const loaded = ts.loadedMm;
    if (loaded === null || loaded.isInitMm) return cost;
    if (ts.isLazy) {
      // We're in lazy mode: switch to init_mm rather than flush (freed_tables IPIs get here).
      return cost + this.switchMmIrqsOff(cpu, null);
    }
    const localGen = ts.ctxTlbGen;
    const mmGen = loaded.tlbGen;
    if (localGen === mmGen) return cost;
    const reason: TlbFlushReason = local ? "TLB_LOCAL_MM_SHOOTDOWN" : "TLB_REMOTE_SHOOTDOWN";
    if (this.partialFlushSuffices(f, localGen, mmGen)) {
      const stride = 2 ** f.strideShift;
      let nr = 0;
      for (let addr = f.start; addr < f.end; addr += stride) {
        cost += mmu.invlpg(cpu, addr);
        nr++;
      }
      if (local) values[C.nr_tlb_local_flush_one]! += nr;
      this.trace(cpu, reason, nr);
    } else {
      cost += mmu.loadCr3(cpu, cpu.cr3);
      if (local) values[C.nr_tlb_local_flush_all]!++;
      this.trace(cpu, reason, -1);
    }
    ts.ctxTlbGen = mmGen;
    return cost;
  }

  /** native_flush_tlb_multi */
  *nativeFlushTlbMulti(cpu: Cpu, cpumask: Uint8Array, info: FlushTlbInfo, pre = 0): KGen<Uint8Array> {
    const k = this.k;
    k.counters.values[C.nr_tlb_remote_flush]!++;
    this.trace(cpu, "TLB_REMOTE_SEND_IPI", info.end === TLB_FLUSH_ALL ? -1 : (info.end - info.start) / 4096);
    const func = (target: Cpu): number => this.flushTlbFunc(target, info);
    // freed_tables: lazy CPUs too (a speculative walk could use a freed table);
    // otherwise skip lazy CPUs (tlb_is_not_lazy), which catch up at switch_mm.
    const cond = info.freedTables ? null : (c: number) => !k.tlbstate[c]!.isLazy;
    return yield* k.smp.onEachCpuCondMask(cpu, cpumask, func, true, cond, pre);
  }

  *flushTlbMmRange(cpu: Cpu, mm: MmStruct, start: number, end: number, strideShift: number, freedTables: boolean): KGen {
    yield* this.k.sched.point();
    if (end === TLB_FLUSH_ALL || (end - start) / 2 ** strideShift > TLB_SINGLE_PAGE_FLUSH_CEILING) {
      start = 0;
      end = TLB_FLUSH_ALL;
    }
    const newTlbGen = ++mm.tlbGen; // inc_mm_tlb_gen: atomic, a full barrier
    const info: FlushTlbInfo = { mm, start, end, strideShift, freedTables, newTlbGen, initiatingCpu: cpu.id };
    if (anyBut(mm.cpumask, cpu.id)) {
      yield* this.nativeFlushTlbMulti(cpu, mm.cpumask, info, this.m.costs.flushBookkeeping);
    } else {
      let cost = this.m.costs.flushBookkeeping;
      if (mm === this.k.tlbstate[cpu.id]!.loadedMm) cost += this.flushTlbFunc(cpu, info);
      yield cost;
    }
  }

  /**
   * flush_tlb_kernel_range: every online CPU, global flush above the ceiling. With
   * `cond`, __flush_tlb_kernel_range(cond, …) of seed 002: on_each_cpu_cond.
   */
  *flushTlbKernelRange(cpu: Cpu, start: number, end: number, cond?: (target: number) => boolean, _freedTables = false): KGen {
    yield* this.k.sched.point();
    const mmu = this.m.mmu;
    const values = this.k.counters.values;
    let func: (c: Cpu) => number;
    if (end === TLB_FLUSH_ALL || (end - start) / 4096 > TLB_SINGLE_PAGE_FLUSH_CEILING) {
      // do_flush_tlb_all
      func = (c) => {
        values[C.nr_tlb_remote_flush_received]!++;
        return mmu.flushTlbGlobal(c);
      };
    } else {
      // do_kernel_range_flush: flush_tlb_one_kernel per page
      func = (c) => {
        let cost = 0;
        for (let a = start; a < end; a += 4096) cost += mmu.invlpg(c, a);
        return cost;
      };
    }
    yield* this.k.smp.onEachCpuCondMask(cpu, null, func, true, cond ?? null);
  }

  /** switch_mm_irqs_off(prev, next, tsk); `next` null is init_mm. Returns cycles. */
  switchMmIrqsOff(cpu: Cpu, next: MmStruct | null): number {
    const mmu = this.m.mmu;
    const ts = this.k.tlbstate[cpu.id]!;
    const realPrev = ts.loadedMm;
    const wasLazy = ts.isLazy;
    ts.isLazy = false;
    let cost = this.m.costs.switchMm;
    const nextMm = next ?? this.k.initMm;
    if (realPrev === nextMm) {
      if (!wasLazy || nextMm.isInitMm) return cost;
      // Back from lazy mode on the same mm: catch up if a flush was skipped meanwhile.
      nextMm.cpumask[cpu.id] = 1;
      if (ts.ctxTlbGen === nextMm.tlbGen) return cost;
      cost += mmu.loadCr3(cpu, nextMm.pgd);
      ts.ctxTlbGen = nextMm.tlbGen;
      this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", -1);
      return cost;
    }
    // Stop remote flushes for the previous mm, start them for the next, then read tlb_gen.
    if (realPrev !== null && !realPrev.isInitMm) realPrev.cpumask[cpu.id] = 0;
    if (!nextMm.isInitMm) nextMm.cpumask[cpu.id] = 1;
    const nextTlbGen = nextMm.tlbGen;
    cost += mmu.loadCr3(cpu, nextMm.pgd);
    ts.loadedMm = nextMm;
    ts.ctxTlbGen = nextTlbGen;
    this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", -1);
    return cost;
  }

  enterLazyTlb(cpu: Cpu): void {
    const ts = this.k.tlbstate[cpu.id]!;
    if (ts.loadedMm === null || ts.loadedMm.isInitMm) return;
    ts.isLazy = true;
  }
}

/** trace_tlb_flush reason → counter index, resolved once. */
const REASON_COUNTER: Readonly<Record<TlbFlushReason, number>> = {
  TLB_FLUSH_ON_TASK_SWITCH: C.tlb_flush_TLB_FLUSH_ON_TASK_SWITCH,
  TLB_REMOTE_SHOOTDOWN: C.tlb_flush_TLB_REMOTE_SHOOTDOWN,
  TLB_LOCAL_SHOOTDOWN: C.tlb_flush_TLB_LOCAL_SHOOTDOWN,
  TLB_LOCAL_MM_SHOOTDOWN: C.tlb_flush_TLB_LOCAL_MM_SHOOTDOWN,
  TLB_REMOTE_SEND_IPI: C.tlb_flush_TLB_REMOTE_SEND_IPI,
};

function anyBut(mask: Uint8Array, cpu: number): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] === 1 && i !== cpu) return true;
  return false;
}
