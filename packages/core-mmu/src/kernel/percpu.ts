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

/** this_cpu's cpu_tlbstate and cpu_tlbstate_shared. */
export class CpuTlbState {
  /** loaded_mm: the mm whose page tables CR3 points at (init_mm for none). */
  loadedMm: MmStruct | null = null;
  /** cpu_tlbstate_shared.is_lazy */
  isLazy = false;
  /** ctxs[loaded_mm_asid].tlb_gen: the mm's tlb_gen this CPU's TLB has caught up with. */
  ctxTlbGen = 0;
}

/** What runs on one CPU. */
export class CpuCurrent {
  /** The forked task running here (null: a workload's initial task, with no modelled stack). */
  task: TaskStruct | null = null;
  /** current->mm: null for kernel threads and idle. */
  mm: MmStruct | null = null;
}
