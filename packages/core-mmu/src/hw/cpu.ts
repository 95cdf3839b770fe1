/**
 * A simulated CPU as the hardware sees it: its privilege state, CR3 (and the PAE
 * PDPTE registers loaded with it), the current PCID, its TLBs and its
 * paging-structure caches. Nothing here is kernel state: the kernel's per-CPU data
 * (cpu_tlbstate, current) lives in kernel/percpu.ts.
 */
import type { PagingStructureCache, Tlb } from "./tlb.js";

/** What the CPU is executing: user code (CPL 3), kernel code (CPL 0), or halted in the idle loop. */
export const CpuMode = { USER: 0, KERNEL: 1, IDLE: 2 } as const;
export type CpuMode = (typeof CpuMode)[keyof typeof CpuMode];
export const CPU_MODE_NAMES = ["user", "kernel", "idle"] as const;

export interface CpuTopology {
  readonly id: number;
  readonly socket: number;
}

export class Cpu {
  readonly id: number;
  readonly socket: number;
  readonly tlb: Tlb;
  readonly tlb2m: Tlb;
  readonly psc: PagingStructureCache;
  /** CR3: frame of the top-level table in use. */
  cr3 = 0;
  /** The PCID in CR3[11:0] (always 0 when CR4.PCIDE is clear: a machine without PCID, or a kernel that does not use it). */
  pcid = 0;
  /** PAE: the four PDPTEs loaded into registers at the last CR3 write (lo, hi words). */
  readonly pdpte = new Uint32Array(8);
  private _mode: CpuMode = CpuMode.IDLE;
  /**
   * Called when the CPU enters user mode while `watchUserEntry` is set: a watcher
   * (the hazard oracle) asked to look at the TLB once the CPU can use user
   * translations again.
   */
  watchUserEntry = false;
  onUserEntry: ((cpu: Cpu) => void) | null = null;
  /**
   * Called on every change between user mode and the kernel (CPL 3 ↔ CPL 0, idle
   * counting as the kernel), before the user-entry watch: where page-table isolation's
   * entry code switches CR3 (SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3). Null: the
   * kernel switches nothing (no PTI).
   */
  onPrivilegeChange: ((cpu: Cpu, toUser: boolean) => void) | null = null;
  /**
   * Times the CPU was set to user mode or idle: where the kernel may schedule (the
   * soft-lockup watchdog's stopper thread runs there). The scheduler compares it between
   * steps to see whether a kernel stretch was broken.
   */
  preemptible = 0;

  constructor(topo: CpuTopology, tlb: Tlb, tlb2m: Tlb, psc: PagingStructureCache) {
    this.id = topo.id;
    this.socket = topo.socket;
    this.tlb = tlb;
    this.tlb2m = tlb2m;
    this.psc = psc;
  }

  get mode(): CpuMode {
    return this._mode;
  }

  /** A mode change: a return to user mode (sysret, iret) is where the user-entry watch fires. */
  set mode(m: CpuMode) {
    const wasUser = this._mode === CpuMode.USER;
    this._mode = m;
    if (m !== CpuMode.KERNEL) this.preemptible++;
    if (this.onPrivilegeChange !== null && wasUser !== (m === CpuMode.USER)) this.onPrivilegeChange(this, !wasUser);
    if (m === CpuMode.USER && this.watchUserEntry) this.onUserEntry?.(this);
  }
}
