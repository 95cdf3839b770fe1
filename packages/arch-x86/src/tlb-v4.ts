/**
 * arch/x86/mm/tlb.c and asm/mmu_context.h as of v4.2 (the kernel seed 003 was posted
 * against), for runs whose kernel predates x86's PCID and tlb_gen rework (v4.14):
 * - no PCID, no tlb_gen: a CPU flushes when it is told to, or on a CR3 load;
 * - cpu_tlbstate.state is TLBSTATE_OK or TLBSTATE_LAZY; enter_lazy_tlb only marks the
 *   CPU lazy, so a lazy CPU stays in mm_cpumask(mm) and still gets the mm's flush IPIs;
 *   flush_tlb_func on a lazy CPU calls leave_mm (mm_cpumask bit cleared, CR3 loaded
 *   with swapper_pg_dir) instead of flushing, so it gets no further ones;
 * - switch_mm to the same mm reloads CR3 only when leave_mm had cleared the CPU's bit;
 * - flush_tlb_mm_range / flush_tlb_page flush locally first (leave_mm if the caller is
 *   a kernel thread lazily on the mm), then native_flush_tlb_others →
 *   smp_call_function_many (which, before v4.9, IPIs every CPU of the mask);
 * - flush_tlb_kernel_range: on_each_cpu(do_flush_tlb_all) above the ceiling (a lazy CPU
 *   also leaves the mm), else on_each_cpu(do_kernel_range_flush).
 * PTI did not exist (v4.15); validation refuses PCID or PTI with this kernel.
 */
import { C, type ArchTlb, type Cpu, type KGen, type Kernel, type Machine, type MmStruct, type TlbFlushReason } from "@flushlab/core-mmu";
import { REASON_COUNTER, TLB_FLUSH_ALL, TLB_SINGLE_PAGE_FLUSH_CEILING, anyBut } from "./tlb.js";

/** struct flush_tlb_info (v4.2): flush_mm null flushes whatever mm the target has loaded. */
export interface FlushTlbInfoV42 {
  readonly mm: MmStruct | null;
  readonly start: number;
  readonly end: number;
}

export class X86TlbV42 implements ArchTlb {
  protected readonly k: Kernel;
  protected readonly m: Machine;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
  }

  /** trace_tlb_flush(reason, pages), with the flush's cycles and range for the event stream (a range only when the flush had one). */
  private trace(cpu: Cpu, reason: TlbFlushReason, pages: number, cycles = 0, start = -1, end = -1): void {
    this.k.counters.values[REASON_COUNTER[reason]]!++;
    const events = this.m.events;
    if (events.wants("tlb_flush")) events.emit("tlb_flush", start < 0 ? { time: this.m.now, cpu: cpu.id, reason, pages, cycles } : { time: this.m.now, cpu: cpu.id, reason, pages, cycles, start, end });
    if (reason !== "TLB_REMOTE_SEND_IPI") this.m.sampleTlb(cpu);
  }

  /** local_flush_tlb / __flush_tlb(): rewrite CR3 (non-global entries dropped). */
  flushTlbLocal(cpu: Cpu): number {
    return this.m.mmu.writeCr3(cpu, cpu.cr3, 0, false);
  }

  /** leave_mm(cpu): a lazy CPU stops receiving the mm's flushes and loads swapper_pg_dir. */
  leaveMm(cpu: Cpu): number {
    const ts = this.k.tlbstate[cpu.id]!;
    const active = ts.loadedMm;
    if (!ts.isLazy) throw new Error(`leave_mm on CPU ${cpu.id} in TLBSTATE_OK (BUG() in v4.2)`);
    if (active === null || active.isInitMm || active.cpumask[cpu.id] === 0) return 0;
    active.cpumask[cpu.id] = 0;
    this.k.counters.add("leave_mm");
    const cost = this.m.mmu.writeCr3(cpu, this.k.initMm.pgd, 0, false);
    this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", -1, cost);
    return cost;
  }

  /** flush_tlb_func (v4.2): on each target of flush_tlb_others. */
  flushTlbFunc(cpu: Cpu, f: FlushTlbInfoV42): number {
    const values = this.k.counters.values;
    const ts = this.k.tlbstate[cpu.id]!;
    this.k.counters.irqTlb[cpu.id]!++; // inc_irq_stat(irq_tlb_count)
    if (f.mm !== null && f.mm !== ts.loadedMm) return 0;
    values[C.nr_tlb_remote_flush_received]!++;
    if (ts.isLazy) return this.leaveMm(cpu);
    let cost = 0;
    if (f.end === TLB_FLUSH_ALL) {
      cost += this.flushTlbLocal(cpu);
      this.trace(cpu, "TLB_REMOTE_SHOOTDOWN", -1, cost, f.start, f.end);
    } else {
      let nr = 0;
      for (let addr = f.start; addr < f.end; addr += 4096) {
        cost += this.m.mmu.invlpg(cpu, addr);
        nr++;
      }
      this.trace(cpu, "TLB_REMOTE_SHOOTDOWN", nr, cost, f.start, f.end);
    }
    return cost;
  }

  /** native_flush_tlb_others(cpumask, mm, start, end): smp_call_function_many, wait. */
  *flushTlbOthers(cpu: Cpu, cpumask: Uint8Array, info: FlushTlbInfoV42): KGen {
    this.k.counters.values[C.nr_tlb_remote_flush]!++;
    this.trace(cpu, "TLB_REMOTE_SEND_IPI", info.end === TLB_FLUSH_ALL ? -1 : (info.end - info.start) / 4096, 0, info.start, info.end);
    yield* this.k.smp.smpCallFunctionMany(cpu, cpumask, (target) => this.flushTlbFunc(target, info), true);
  }

  /**
   * flush_tlb_mm_range(mm, start, end, vmflag) and flush_tlb_page (a one-page range):
   * the local part on this CPU, then the others in mm_cpumask. The stride and
   * freed_tables of the later interface do not exist yet: a range is 4 KiB pages.
   */
  *flushTlbMmRange(cpu: Cpu, mm: MmStruct, start: number, end: number, _strideShift: number, _freedTables: boolean): KGen {
    yield* this.k.sched.point();
    const values = this.k.counters.values;
    const ts = this.k.tlbstate[cpu.id]!;
    let cost = this.m.costs.flushBookkeeping;
    if (end === TLB_FLUSH_ALL || (end - start) / 4096 > TLB_SINGLE_PAGE_FLUSH_CEILING) {
      start = 0;
      end = TLB_FLUSH_ALL;
    }
    if (ts.loadedMm === mm) {
      if (ts.isLazy) {
        // A kernel thread lazily on the mm (!current->mm): leave it rather than flush.
        cost += this.leaveMm(cpu);
      } else if (end === TLB_FLUSH_ALL) {
        const c = this.flushTlbLocal(cpu);
        cost += c;
        values[C.nr_tlb_local_flush_all]!++;
        this.trace(cpu, "TLB_LOCAL_MM_SHOOTDOWN", -1, c, start, end);
      } else {
        let nr = 0;
        let c = 0;
        for (let addr = start; addr < end; addr += 4096) {
          c += this.m.mmu.invlpg(cpu, addr);
          nr++;
        }
        cost += c;
        values[C.nr_tlb_local_flush_one]! += nr;
        this.trace(cpu, "TLB_LOCAL_MM_SHOOTDOWN", nr, c, start, end);
      }
    }
    yield cost;
    if (anyBut(mm.cpumask, cpu.id)) yield* this.flushTlbOthers(cpu, mm.cpumask, { mm, start, end });
  }

  /** flush_tlb_kernel_range (v4.2): on_each_cpu, a full flush above the ceiling. */
  *flushTlbKernelRange(cpu: Cpu, start: number, end: number, cond?: (target: number) => boolean, _freedTables = false): KGen {
    yield* this.k.sched.point();
    const mmu = this.m.mmu;
    const values = this.k.counters.values;
    let func: (c: Cpu) => number;
    if (end === TLB_FLUSH_ALL || (end - start) / 4096 > TLB_SINGLE_PAGE_FLUSH_CEILING) {
      // do_flush_tlb_all: __flush_tlb_all, and a lazy CPU leaves its mm.
      func = (c) => {
        if (c.id !== cpu.id) values[C.nr_tlb_remote_flush_received]!++;
        let cost = mmu.flushTlbGlobal(c);
        if (this.k.tlbstate[c.id]!.isLazy) cost += this.leaveMm(c);
        return cost;
      };
    } else {
      // do_kernel_range_flush: __flush_tlb_single per page (INVLPG drops global entries too).
      func = (c) => {
        let cost = 0;
        for (let a = start; a < end; a += 4096) cost += mmu.invlpg(c, a);
        return cost;
      };
    }
    yield* this.k.smp.onEachCpuCondMask(cpu, null, func, true, cond ?? null);
  }

  /**
   * switch_mm (v4.2, asm/mmu_context.h). A different mm: TLBSTATE_OK, set next's bit,
   * load CR3 (a full flush of non-global entries), clear prev's bit. The same mm (back
   * from lazy mode): reload CR3 only if leave_mm had cleared this CPU's bit, since
   * flushes stopped reaching it then. `next` null is init_mm (no user mm).
   */
  switchMmIrqsOff(cpu: Cpu, next: MmStruct | null): number {
    const ts = this.k.tlbstate[cpu.id]!;
    const prev = ts.loadedMm;
    const nextMm = next ?? this.k.initMm;
    let cost = this.m.costs.switchMm;
    ts.isLazy = false;
    if (prev === nextMm) {
      if (nextMm.isInitMm || nextMm.cpumask[cpu.id] === 1) return cost;
      nextMm.cpumask[cpu.id] = 1;
      const c = this.m.mmu.writeCr3(cpu, nextMm.pgd, 0, false);
      cost += c;
      this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", -1, c);
      return cost;
    }
    if (!nextMm.isInitMm) nextMm.cpumask[cpu.id] = 1;
    const c = this.m.mmu.writeCr3(cpu, nextMm.pgd, 0, false);
    cost += c;
    if (prev !== null && !prev.isInitMm) prev.cpumask[cpu.id] = 0;
    this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", -1, c);
    ts.loadedMm = nextMm;
    ts.loadedMmAsid = 0;
    return cost;
  }

  /** enter_lazy_tlb (v4.2): TLBSTATE_OK → TLBSTATE_LAZY; the CPU stays in mm_cpumask. */
  enterLazyTlb(cpu: Cpu): void {
    const ts = this.k.tlbstate[cpu.id]!;
    if (ts.loadedMm === null || ts.loadedMm.isInitMm) return;
    ts.isLazy = true;
  }

  initializeTlbstateAndFlush(cpu: Cpu, mm: MmStruct): void {
    const ts = this.k.tlbstate[cpu.id]!;
    ts.loadedMm = mm;
    ts.loadedMmAsid = 0;
    ts.isLazy = false;
    this.m.mmu.writeCr3(cpu, mm.pgd, 0, false);
  }

  ptiSwitchCr3(): void {
    throw new Error("page-table isolation does not exist in v4.2 (validation refuses --pti with this kernel)");
  }
}
