/**
 * arch/x86/mm/tlb.c as of v5.17 (after Nadav Amit's concurrent-flush series, v5.13:
 * remote IPIs are sent first and the local flush overlaps the wait):
 * flush_tlb_mm_range, native_flush_tlb_multi, flush_tlb_func, flush_tlb_kernel_range,
 * switch_mm_irqs_off with PCID (choose_new_asid over TLB_NR_DYN_ASIDS dynamic ASIDs,
 * each with its ctx_id and tlb_gen; CR3 written with NOFLUSH when the ASID is current),
 * enter_lazy_tlb; and page-table isolation's side of it (v4.15+): kernel and user PCIDs
 * of one ASID, invalidate_user_asid and user_pcid_flush_mask, flush_tlb_one_user with
 * INVPCID or without, invalidate_other, and the entry code's CR3 switches
 * (arch/x86/entry/calling.h SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3). Without PCID
 * every ASID is 0 and every switch to another mm flushes.
 */
import { C, KERNEL_CHANGES, MmuEvent, TLB_NR_DYN_ASIDS, kernelAtLeast, type ArchTlb, type Cpu, type CpuTlbState, type KGen, type Kernel, type Machine, type MmStruct, type TlbFlushReason } from "@flushlab/core-mmu";

/** X86_CR3_PTI_PCID_USER_BIT: the user PCID of an ASID is its kernel PCID with bit 11 set. */
export const X86_CR3_PTI_PCID_USER_BIT = 11;

/** kern_pcid(asid): ASID + 1, so that PCID 0 stays for a kernel that does not use PCID. */
export function kernPcid(asid: number): number {
  return asid + 1;
}

/** user_pcid(asid) */
export function userPcid(asid: number): number {
  return kernPcid(asid) | (1 << X86_CR3_PTI_PCID_USER_BIT);
}

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

  /** Lazy CPUs are skipped by flush IPIs unless page tables were freed (v4.19+); before, every CPU in mm_cpumask gets one. */
  protected readonly lazySkip: boolean;
  /** The local flush overlaps the remote ones (v5.13+); before, flush_tlb_mm_range flushes locally first. */
  protected readonly concurrent: boolean;

  constructor(kernel: Kernel) {
    this.k = kernel;
    this.m = kernel.machine;
    this.lazySkip = kernelAtLeast(kernel.version, KERNEL_CHANGES.x86LazySkip);
    this.concurrent = kernelAtLeast(kernel.version, KERNEL_CHANGES.concurrentLocalRemote);
  }

  /** trace_tlb_flush(reason, pages), with the flush's cycles and range for the event stream (a range only when the flush had one). */
  private trace(cpu: Cpu, reason: TlbFlushReason, pages: number, cycles = 0, start = -1, end = -1): void {
    this.k.counters.values[REASON_COUNTER[reason]]!++;
    const events = this.m.events;
    if (events.wants("tlb_flush")) events.emit("tlb_flush", start < 0 ? { time: this.m.now, cpu: cpu.id, reason, pages, cycles } : { time: this.m.now, cpu: cpu.id, reason, pages, cycles, start, end });
    if (reason !== "TLB_REMOTE_SEND_IPI") this.m.sampleTlb(cpu);
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
        cost += this.flushTlbOneUser(cpu, addr);
        nr++;
      }
      if (local) values[C.nr_tlb_local_flush_one]! += nr;
      this.trace(cpu, reason, nr, cost, f.start, f.end);
    } else {
      cost += this.flushTlbLocal(cpu);
      if (local) values[C.nr_tlb_local_flush_all]!++;
      this.trace(cpu, reason, -1, cost, f.start, f.end);
    }
    ts.ctxTlbGen = mmGen;
    return cost;
  }

  /** native_flush_tlb_multi */
  *nativeFlushTlbMulti(cpu: Cpu, cpumask: Uint8Array, info: FlushTlbInfo, pre = 0): KGen<Uint8Array> {
    const k = this.k;
    k.counters.values[C.nr_tlb_remote_flush]!++;
    this.trace(cpu, "TLB_REMOTE_SEND_IPI", info.end === TLB_FLUSH_ALL ? -1 : (info.end - info.start) / 4096, 0, info.start, info.end);
    const func = (target: Cpu): number => this.flushTlbFunc(target, info);
    // freed_tables: lazy CPUs too (a speculative walk could use a freed table);
    // otherwise skip lazy CPUs (tlb_is_not_lazy), which catch up at switch_mm.
    const cond = info.freedTables || !this.lazySkip ? null : (c: number) => !k.tlbstate[c]!.isLazy;
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
    if (!this.concurrent && anyBut(mm.cpumask, cpu.id)) {
      // Before v5.13: flush_tlb_func_local, then flush_tlb_others to the rest of the mask.
      let cost = this.m.costs.flushBookkeeping;
      if (mm === this.k.tlbstate[cpu.id]!.loadedMm) cost += this.flushTlbFunc(cpu, info);
      yield cost;
      const others = mm.cpumask.slice();
      others[cpu.id] = 0;
      yield* this.nativeFlushTlbMulti(cpu, others, info);
    } else if (anyBut(mm.cpumask, cpu.id)) {
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
      // do_flush_tlb_all: __flush_tlb_all with PGE, i.e. INVPCID "all" or a CR4.PGE
      // toggle; either drops every PCID's entries, globals included.
      func = (c) => {
        values[C.nr_tlb_remote_flush_received]!++;
        return mmu.flushTlbGlobal(c);
      };
    } else {
      // do_kernel_range_flush: flush_tlb_one_kernel per page
      func = (c) => {
        let cost = 0;
        for (let a = start; a < end; a += 4096) cost += this.flushTlbOneKernel(c, a);
        return cost;
      };
    }
    yield* this.k.smp.onEachCpuCondMask(cpu, null, func, true, cond ?? null);
  }

  /**
   * switch_mm_irqs_off(prev, next, tsk); `next` null is init_mm. Returns cycles. With
   * PCID, an mm that still owns one of this CPU's ASIDs is switched to without a flush
   * when that ASID's tlb_gen is current.
   */
  switchMmIrqsOff(cpu: Cpu, next: MmStruct | null): number {
    const ts = this.k.tlbstate[cpu.id]!;
    const realPrev = ts.loadedMm;
    const prevAsid = ts.loadedMmAsid;
    const wasLazy = ts.isLazy;
    ts.isLazy = false;
    let cost = this.m.costs.switchMm;
    const nextMm = next ?? this.k.initMm;
    let newAsid: number;
    let needFlush: boolean;
    let nextTlbGen: number;
    if (realPrev === nextMm) {
      if (!wasLazy || nextMm.isInitMm) return cost;
      // Back from lazy mode on the same mm: catch up if a flush was skipped meanwhile.
      nextMm.cpumask[cpu.id] = 1;
      nextTlbGen = nextMm.tlbGen;
      if (ts.ctxGen[prevAsid] === nextTlbGen) return cost;
      newAsid = prevAsid;
      needFlush = true;
    } else {
      // Stop remote flushes for the previous mm, start them for the next, then read tlb_gen.
      if (realPrev !== null && !realPrev.isInitMm) realPrev.cpumask[cpu.id] = 0;
      if (!nextMm.isInitMm) nextMm.cpumask[cpu.id] = 1;
      nextTlbGen = nextMm.tlbGen;
      const chosen = this.chooseNewAsid(ts, nextMm, nextTlbGen);
      newAsid = chosen.asid;
      needFlush = chosen.needFlush;
    }
    if (needFlush) {
      ts.ctxId[newAsid] = nextMm.ctxId;
      ts.ctxGen[newAsid] = nextTlbGen;
    }
    const cr3 = this.loadNewMmCr3(cpu, nextMm.pgd, newAsid, needFlush);
    cost += cr3;
    this.trace(cpu, "TLB_FLUSH_ON_TASK_SWITCH", needFlush ? -1 : 0, cr3);
    ts.loadedMm = nextMm;
    ts.loadedMmAsid = newAsid;
    return cost;
  }

  /** choose_new_asid: the ASID `next` still owns on this CPU, or the next one round robin. */
  private readonly chosen = { asid: 0, needFlush: true };
  protected chooseNewAsid(ts: CpuTlbState, next: MmStruct, nextTlbGen: number): { asid: number; needFlush: boolean } {
    const out = this.chosen;
    if (!this.m.features.pcid) {
      out.asid = 0;
      out.needFlush = true;
      return out;
    }
    if (ts.invalidateOther) this.clearAsidOther(ts);
    for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
      if (ts.ctxId[asid] !== next.ctxId) continue;
      out.asid = asid;
      out.needFlush = ts.ctxGen[asid]! < nextTlbGen;
      return out;
    }
    let asid = ts.nextAsid++;
    if (asid >= TLB_NR_DYN_ASIDS) {
      asid = 0;
      ts.nextAsid = 1;
    }
    out.asid = asid;
    out.needFlush = true;
    return out;
  }

  /** clear_asid_other: every ASID but the loaded one forgets its mm, so its next use flushes. */
  private clearAsidOther(ts: CpuTlbState): void {
    for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
      if (asid === ts.loadedMmAsid) continue;
      ts.ctxId[asid] = 0;
    }
    ts.invalidateOther = false;
  }

  /** load_new_mm_cr3: build_cr3 (flushing the ASID, and its user PCID at the next exit) or build_cr3_noflush. */
  private loadNewMmCr3(cpu: Cpu, pgd: number, asid: number, needFlush: boolean): number {
    const pcid = this.m.features.pcid;
    if (needFlush) this.invalidateUserAsid(cpu, asid);
    return this.m.mmu.writeCr3(cpu, pgd, pcid ? kernPcid(asid) : 0, pcid && !needFlush);
  }

  /** invalidate_user_asid: with PCID and PTI, flush the ASID's user PCID at the next return to user mode. */
  protected invalidateUserAsid(cpu: Cpu, asid: number): void {
    const f = this.m.features;
    if (!f.pcid || !f.pti) return;
    const ts = this.k.tlbstate[cpu.id]!;
    ts.userPcidFlushMask |= 1 << kernPcid(asid);
  }

  /**
   * native_flush_tlb_one_user: INVLPG in the current (kernel) PCID; under PTI the user
   * PCID too, by INVPCID when the CPU has it, else by flushing the whole user PCID at
   * the next return to user mode.
   */
  protected flushTlbOneUser(cpu: Cpu, addr: number): number {
    const mmu = this.m.mmu;
    let cost = mmu.invlpg(cpu, addr);
    const f = this.m.features;
    if (!f.pti) return cost;
    const asid = this.k.tlbstate[cpu.id]!.loadedMmAsid;
    if (!f.invpcid) this.invalidateUserAsid(cpu, asid);
    else cost += mmu.invpcidOne(cpu, userPcid(asid), addr);
    return cost;
  }

  /** flush_tlb_one_kernel: as for a user address; under PTI the other ASIDs must go too (invalidate_other). */
  protected flushTlbOneKernel(cpu: Cpu, addr: number): number {
    const cost = this.flushTlbOneUser(cpu, addr);
    if (this.m.features.pti) this.k.tlbstate[cpu.id]!.invalidateOther = true;
    return cost;
  }

  /** native_flush_tlb_local: the loaded ASID's user PCID at the next exit, and a CR3 rewrite that flushes the current PCID. */
  flushTlbLocal(cpu: Cpu): number {
    this.invalidateUserAsid(cpu, this.k.tlbstate[cpu.id]!.loadedMmAsid);
    return this.m.mmu.writeCr3(cpu, cpu.cr3, cpu.pcid, false);
  }

  initializeTlbstateAndFlush(cpu: Cpu, mm: MmStruct): void {
    const ts = this.k.tlbstate[cpu.id]!;
    ts.loadedMm = mm;
    ts.loadedMmAsid = 0;
    ts.nextAsid = 1;
    ts.ctxId.fill(0);
    ts.ctxGen.fill(0);
    ts.ctxId[0] = mm.ctxId;
    ts.ctxGen[0] = mm.tlbGen;
    this.m.mmu.writeCr3(cpu, mm.pgd, this.m.features.pcid ? kernPcid(0) : 0, false);
  }

  /**
   * SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3 (PTI). With PCID the kernel side is
   * entered with NOFLUSH, and the user side flushes its PCID only when
   * user_pcid_flush_mask says so (clearing the bit); without PCID both switches write
   * CR3 with PCID 0, each a flush of the non-global entries. The user half of the
   * page tables (the kernel pgd's second page, holding user mappings and the entry
   * trampoline) is not modelled apart: both halves use the same root.
   */
  ptiSwitchCr3(cpu: Cpu, toUser: boolean, syscall: boolean): void {
    const mmu = this.m.mmu;
    if (!toUser) this.userCr3Accesses(cpu, false, syscall);
    if (!this.m.features.pcid) {
      mmu.writeCr3(cpu, cpu.cr3, 0, false);
    } else {
      const ts = this.k.tlbstate[cpu.id]!;
      const kpcid = kernPcid(ts.loadedMmAsid);
      if (!toUser) {
        mmu.writeCr3(cpu, cpu.cr3, kpcid, true);
      } else {
        const bit = 1 << kpcid;
        const flush = (ts.userPcidFlushMask & bit) !== 0;
        if (flush) {
          ts.userPcidFlushMask &= ~bit;
          this.k.counters.values[C.pti_user_pcid_flush]!++;
        }
        mmu.writeCr3(cpu, cpu.cr3, kpcid | (1 << X86_CR3_PTI_PCID_USER_BIT), !flush);
      }
    }
    if (toUser) this.userCr3Accesses(cpu, true, syscall);
  }

  /**
   * What runs while CR3 holds the user page tables (arch/x86/entry/entry_64.S, v5.17),
   * as TLB lookups in the user PCID; after a flush of that PCID they miss. The kernel maps
   * these pages into the user page tables (pti_clone_entry_text, pti_clone_user_shared).
   * - System call entry (entry_SYSCALL_64): its text, and the write of the user stack
   *   pointer to the per-CPU TSS's sp2 (cpu_tss_rw), before SWITCH_TO_KERNEL_CR3.
   * - System call return (syscall_return_via_sysret): after SWITCH_TO_USER_CR3, the pops
   *   from the entry stack and the text of swapgs and sysretq.
   * - Exception or interrupt entry from user mode (a page fault, a shootdown IPI): the processor reads the gate from the
   *   IDT, the code segment's descriptor from the GDT and RSP0 from the TSS (the
   *   cpu_entry_area's aliases) and pushes the frame on the entry stack; then the
   *   handler's entry text, before error_entry's SWITCH_TO_KERNEL_CR3.
   * - Exception return (swapgs_restore_regs_and_return_to_usermode): the entry stack, the
   *   text, and iretq's reads of the CS and SS descriptors from the GDT.
   * Their cycles are charged to the CPU's next step (the switch runs inside one); their
   * page walks are counted (pti_entry_walks).
   */
  private userCr3Accesses(cpu: Cpu, exit: boolean, syscall: boolean): void {
    const k = this.k;
    const image = k.image;
    const entry = k.entry;
    const events = this.m.mmu.events;
    const w0 = events[MmuEvent.page_walks]!;
    const text = image.entryText;
    const id = cpu.id;
    let cost: number;
    if (syscall) {
      cost = exit
        ? entry.kernelAccessCost(cpu, image.entryStackOf(id), false) + entry.kernelAccessCost(cpu, text, false)
        : entry.kernelAccessCost(cpu, text, false) + entry.kernelAccessCost(cpu, image.tssOf(id), true);
    } else if (exit) {
      cost = entry.kernelAccessCost(cpu, image.entryStackOf(id), false) + entry.kernelAccessCost(cpu, text, false) + entry.kernelAccessCost(cpu, image.gdtOf(id), false);
    } else {
      cost =
        entry.kernelAccessCost(cpu, image.idt(), false) +
        entry.kernelAccessCost(cpu, image.gdtOf(id), false) +
        entry.kernelAccessCost(cpu, image.ceaTssOf(id), false) +
        entry.kernelAccessCost(cpu, image.entryStackOf(id), true) +
        entry.kernelAccessCost(cpu, text, false);
    }
    k.counters.values[C.pti_entry_walks]! += events[MmuEvent.page_walks]! - w0;
    k.sched.chargeLater(cpu, cost);
  }

  enterLazyTlb(cpu: Cpu): void {
    const ts = this.k.tlbstate[cpu.id]!;
    if (ts.loadedMm === null || ts.loadedMm.isInitMm) return;
    ts.isLazy = true;
  }
}

/** trace_tlb_flush reason → counter index, resolved once. */
export const REASON_COUNTER: Readonly<Record<TlbFlushReason, number>> = {
  TLB_FLUSH_ON_TASK_SWITCH: C.tlb_flush_TLB_FLUSH_ON_TASK_SWITCH,
  TLB_REMOTE_SHOOTDOWN: C.tlb_flush_TLB_REMOTE_SHOOTDOWN,
  TLB_LOCAL_SHOOTDOWN: C.tlb_flush_TLB_LOCAL_SHOOTDOWN,
  TLB_LOCAL_MM_SHOOTDOWN: C.tlb_flush_TLB_LOCAL_MM_SHOOTDOWN,
  TLB_REMOTE_SEND_IPI: C.tlb_flush_TLB_REMOTE_SEND_IPI,
};

/** cpumask_any_but(mask, cpu) < nr_cpu_ids */
export function anyBut(mask: Uint8Array, cpu: number): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] === 1 && i !== cpu) return true;
  return false;
}
