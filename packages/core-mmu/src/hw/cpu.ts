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

const NO_CPUS: readonly number[] = [];

/**
 * The machine's CPUs by the CR3 they hold: for a top-level table's frame, the ids of the
 * CPUs whose CR3 points at it now (in no particular order). A watcher that must look at
 * every CPU that may cache translations of one page table (the oracle, when a call that
 * removed some returns) visits those CPUs, not all of the machine's: the cost follows
 * the CPUs involved, not the machine's size. Kept up to date by Cpu's cr3 setter.
 */
export class Cr3Users {
  /** Per CR3 value, its CPUs. A list that empties stays, for the next CPU to load that CR3. */
  private readonly byRoot = new Map<number, number[]>();
  /** Per CPU, its index in its CR3's list. */
  private readonly at: Int32Array;

  constructor(ncpus: number) {
    this.at = new Int32Array(ncpus).fill(-1);
  }

  /** CPU `id` loads `to` into CR3 instead of `from` (-1: the CPU was not listed yet). */
  move(id: number, from: number, to: number): void {
    if (from >= 0) {
      const list = this.byRoot.get(from)!;
      const i = this.at[id]!;
      const last = list.pop()!;
      if (last !== id) {
        list[i] = last;
        this.at[last] = i;
      }
    }
    let list = this.byRoot.get(to);
    if (list === undefined) this.byRoot.set(to, (list = []));
    this.at[id] = list.length;
    list.push(id);
  }

  /** The ids of the CPUs whose CR3 is `root` (do not keep the array: it changes with every CR3 write). */
  of(root: number): readonly number[] {
    return this.byRoot.get(root) ?? NO_CPUS;
  }
}

export class Cpu {
  readonly id: number;
  readonly socket: number;
  readonly tlb: Tlb;
  readonly tlb2m: Tlb;
  readonly psc: PagingStructureCache;
  private _cr3 = 0;
  /** The machine's index of CPUs by CR3 (null for a CPU on its own). */
  private readonly cr3Users: Cr3Users | null;
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

  constructor(topo: CpuTopology, tlb: Tlb, tlb2m: Tlb, psc: PagingStructureCache, cr3Users: Cr3Users | null = null) {
    this.id = topo.id;
    this.socket = topo.socket;
    this.tlb = tlb;
    this.tlb2m = tlb2m;
    this.psc = psc;
    this.cr3Users = cr3Users;
    cr3Users?.move(this.id, -1, this._cr3);
  }

  /** CR3: frame of the top-level table in use. */
  get cr3(): number {
    return this._cr3;
  }

  set cr3(root: number) {
    if (root === this._cr3) return;
    this.cr3Users?.move(this.id, this._cr3, root);
    this._cr3 = root;
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
