/**
 * Entering and leaving the kernel (arch/x86/entry, kernel/entry/common.c): a system
 * call switches to kernel mode, runs the context-tracking entry work of a nohz_full
 * CPU first, touches the task's (vmalloc'd) kernel stack, runs its body, and returns
 * to the mode it came from. Kernel-mode accesses to kernel memory take the vmalloc
 * fault path (the arch's vmalloc_fault) when the CPU's page table lacks an entry the
 * reference page table has.
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { KGen } from "../sim/process.js";
import { C } from "./counters.js";
import type { KernelCore } from "./core.js";

/** A range of virtual addresses, [start, end). */
export interface VaRange {
  readonly start: number;
  readonly end: number;
  /** For a call's restricted range: it restricted writes only (mprotect to a readable protection). */
  readonly writesOnly?: boolean;
}

export class Entry {
  /** Per CPU, 1 while a system call's own entry or exit changes the privilege (sysret, not iret). */
  private readonly syscallEdge: Uint8Array;

  constructor(private readonly k: KernelCore) {
    this.syscallEdge = new Uint8Array(k.machine.cpus.length);
  }

  /** Whether the privilege change happening on `cpu` is a system call's entry or return (else an exception's). */
  inSyscallEntry(cpu: Cpu): boolean {
    return this.syscallEdge[cpu.id] === 1;
  }

  /** A system call's own change of `cpu`'s mode (its entry, or its return through sysret). */
  private syscallModeChange(cpu: Cpu, mode: CpuMode): void {
    this.syscallEdge[cpu.id] = 1;
    cpu.mode = mode;
    this.syscallEdge[cpu.id] = 0;
  }

  /**
   * Syscall entry: kernel mode, the context-tracking kernel entry (deferred work
   * first), then a touch of the task's kernel stack. Returns the cycles.
   */
  syscallEnter(cpu: Cpu, name: string): number {
    const k = this.k;
    this.syscallModeChange(cpu, CpuMode.KERNEL);
    const work = k.kernelEntry(cpu);
    const stack = k.current[cpu.id]!.task?.stack;
    // entry_SYSCALL_64's text, the task's kernel stack (a forked task's own, else the
    // CPU's boot stack), and the handler's text: real TLB lookups, kernel-mode.
    let cost = work + k.machine.costs.syscall + this.kernelAccessCost(cpu, k.image.entryText, false);
    cost += this.kernelAccessCost(cpu, stack !== undefined ? stack.end - 4096 - 8 : k.image.bootStack(cpu), true);
    return cost + this.kernelAccessCost(cpu, k.image.handlerText(name), false);
  }

  /**
   * `body` as system call `name`: entry, the body, and the return to the mode the CPU came
   * from. A call that removes or restricts the translations of a range (munmap, mprotect,
   * madvise, mremap) names it in `restricts`: as it returns, the kernel promises that no
   * CPU will use what the new page tables forbid there. A list is read when the call
   * returns, so a body may fill it in as it goes (mremap names the ranges it unmapped
   * or moved away, and none when it fails before changing anything).
   */
  *syscall<T>(cpu: Cpu, name: string, body: KGen<T>, restricts?: VaRange | readonly VaRange[]): KGen<T> {
    const m = this.k.machine;
    const events = m.events;
    const prev = cpu.mode;
    if (events.wants("syscall_enter")) events.emit("syscall_enter", { time: m.now, cpu: cpu.id, name });
    m.sampleTlb(cpu);
    yield this.syscallEnter(cpu, name);
    const r = yield* body;
    if (events.wants("syscall_exit")) events.emit("syscall_exit", { time: m.now, cpu: cpu.id, name });
    m.sampleTlb(cpu);
    if (restricts !== undefined) {
      if ("start" in restricts) this.returned(cpu, restricts, name);
      else for (const r of restricts) this.returned(cpu, r, name);
    }
    this.syscallModeChange(cpu, prev);
    return r;
  }

  /** The call returns having removed or restricted the translations of `r`. */
  private returned(cpu: Cpu, r: VaRange, name: string): void {
    if (r.end > r.start) this.k.machine.watch.callReturned(cpu, cpu.cr3, r.start, r.end, name, r.writesOnly === true);
  }

  /**
   * A kernel-mode access to kernel memory, with the vmalloc fault path: a miss in the
   * CPU's page table that the reference page table can fill is copied in
   * (vmalloc_fault) and retried; anything else is a kernel oops (a model error).
   * Returns its cycles; nothing here waits, so it needs no generator.
   */
  kernelAccessCost(cpu: Cpu, va: number, write: boolean): number {
    const k = this.k;
    const m = k.machine;
    let cost = 0;
    for (let tries = 0; tries < 4; tries++) {
      const c = m.mmu.access(cpu, va, write, false);
      if (c >= 0) return cost + c;
      k.counters.values[C.vmalloc_faults]!++;
      cost += m.costs.pageFaultHw + m.costs.faultHandler;
      if (!k.policies.archMm.vmallocFault(cpu, va)) break;
    }
    throw new Error(`kernel oops: CPU ${cpu.id} cannot access ${k.fmtVa(va)} (not mapped in init_mm)`);
  }

  /** kernelAccessCost as a kernel path step. */
  *kernelAccess(cpu: Cpu, va: number, write: boolean): KGen {
    yield this.kernelAccessCost(cpu, va, write);
  }

  /** Kernel accesses to every page of [start, start + len). */
  *kernelAccessRange(cpu: Cpu, start: number, len: number, write: boolean): KGen {
    let cost = 0;
    for (let a = start; a < start + len; a += 4096) cost += this.kernelAccessCost(cpu, a, write);
    yield cost;
  }
}
