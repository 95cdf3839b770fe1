/**
 * The kernel's per-CPU state that flush policy reads: the TLB state x86 keeps per CPU
 * (struct tlb_state and tlb_state_shared, arch/x86/include/asm/tlbflush.h, v5.17),
 * and what runs there (current, current->mm).
 */
import type { MmStruct, VmapArea } from "../mm/mm-types.js";

/** A task the model forked: its address space and kernel stack (struct task_struct, reduced). */
export interface TaskStruct {
  readonly pid: number;
  readonly mm: MmStruct;
  readonly stack: VmapArea;
}

/** TLB_NR_DYN_ASIDS (arch/x86/mm/tlb.c, v4.14+): the dynamic ASIDs each CPU keeps. */
export const TLB_NR_DYN_ASIDS = 6;

/** this_cpu's cpu_tlbstate and cpu_tlbstate_shared (v5.17). */
export class CpuTlbState {
  /** loaded_mm: the mm whose page tables CR3 points at (init_mm for none). */
  loadedMm: MmStruct | null = null;
  /** loaded_mm_asid: the ASID (0..TLB_NR_DYN_ASIDS-1) loaded_mm runs in; always 0 without PCID. */
  loadedMmAsid = 0;
  /** next_asid: where choose_new_asid hands out the next ASID, round robin. */
  nextAsid = 1;
  /** invalidate_other: flush_tlb_one_kernel under PTI asks that every other ASID be dropped at the next switch. */
  invalidateOther = false;
  /** cpu_tlbstate_shared.is_lazy */
  isLazy = false;
  /** ctxs[asid].ctx_id: the mm (context.ctx_id) whose translations the ASID holds; 0 for none. */
  readonly ctxId = new Float64Array(TLB_NR_DYN_ASIDS);
  /** ctxs[asid].tlb_gen: the mm's tlb_gen that ASID's TLB entries have caught up with. */
  readonly ctxGen = new Float64Array(TLB_NR_DYN_ASIDS);
  /** user_pcid_flush_mask: bit kern_pcid(asid) set means flush the user PCID at the next return to user (PTI). */
  userPcidFlushMask = 0;

  /** ctxs[loaded_mm_asid].tlb_gen */
  get ctxTlbGen(): number {
    return this.ctxGen[this.loadedMmAsid]!;
  }

  set ctxTlbGen(gen: number) {
    this.ctxGen[this.loadedMmAsid] = gen;
  }
}

/** What runs on one CPU. */
export class CpuCurrent {
  /** The forked task running here (null: a workload's initial task, with no modelled stack). */
  task: TaskStruct | null = null;
  /** current->mm: null for kernel threads and idle. */
  mm: MmStruct | null = null;
}
