/**
 * The simulated SMP machine: CPUs with TLBs and paging-structure caches, physical
 * memory, the APIC's IPIs and call_single_queues, and the executor that runs each
 * CPU's task (a generator) over the engine's virtual clock.
 *
 * Hot path: `access()` — a TLB lookup, and on a miss a page walk that sets A (and D on
 * a write) atomically, as x86 does. It allocates nothing and emits no event; it only
 * counts and, on the rare stale hit, calls the oracle.
 */
import { Engine, Priority } from "../sim/engine.js";
import { Prng } from "../sim/prng.js";
import type { CostParams } from "../cost/cost-model.js";
import { Counters, C } from "../oracle/counters.js";
import { Oracle } from "../oracle/oracle.js";
import { EventStream } from "../events/event-map.js";
import { FrameState, PhysMem } from "./memory.js";
import { Cpu, Completion, CpuMode, type KGen, type TaskGen, type Csd } from "./cpu.js";
import { OWNER_KERNEL, PagingStructureCache, PscLevel, Tlb, TlbFlag } from "./tlb.js";
import type { PagingFormat } from "./paging-format.js";
import { vaToCanonicalString } from "./paging-format.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, _PAGE_USER, ptePfn } from "./pte.js";
import type { MmStruct } from "../mm/mm-types.js";

/** `access()` result meaning "page fault": the executor runs the fault handler and retries. */
export const FAULT = -1;

export interface MachineParams {
  readonly format: PagingFormat;
  readonly cpus: number;
  readonly sockets: number;
  readonly tlbEntries: number;
  readonly tlbWays: number;
  /** 2 MiB TLB entries per CPU. */
  readonly tlb2mEntries: number;
  /** Paging-structure cache entries per CPU. */
  readonly pscEntries: number;
  readonly memoryFrames: number;
  readonly seed: number;
  /** Intel Knights Landing X86_BUG_PTE_LEAK: A/D set even after the PTE was cleared. */
  readonly pteLeakErratum: boolean;
}

/** What the executor needs from the kernel model. */
export interface KernelHooks {
  /** The page-fault handler (exception entry to iret), run in kernel mode. */
  handleMmFault(cpu: Cpu, va: number, write: boolean): number | KGen;
  /** The task on `cpu` exited: the CPU goes idle (enter_lazy_tlb). */
  taskExit(cpu: Cpu): void;
  /** A kernel thread starts running on `cpu` (context switch, lazy TLB); returns cycles. */
  kthreadEnter(cpu: Cpu): number;
  /** The kernel thread on `cpu` sleeps; the interrupted task runs again; returns cycles. */
  kthreadExit(cpu: Cpu): number;
  /** A kernel entry (context tracking on nohz_full CPUs): runs deferred work; returns cycles. */
  kernelEntry(cpu: Cpu): number;
  /** Whether `cpu` is a nohz_full (isolated) CPU. */
  isolated(cpu: Cpu): boolean;
}

export class Machine {
  readonly params: MachineParams;
  readonly format: PagingFormat;
  readonly engine = new Engine();
  readonly prng: Prng;
  readonly mem: PhysMem;
  readonly cpus: Cpu[];
  readonly counters: Counters;
  readonly events = new EventStream();
  readonly oracle: Oracle;
  readonly costs: CostParams;
  kernel: KernelHooks | null = null;
  /** init_mm, set by the kernel model. */
  initMm: MmStruct | null = null;
  /** Cycles each CPU spent by category (user, system, interrupt). */
  readonly cpuCycles: Float64Array;
  private running = 0;
  /** The longest single interruption of an isolated CPU (osnoise's max), in cycles. */
  maxIsolatedInterruption = 0;
  private tasksStarted = 0;
  private tasksDone = 0;
  private readonly levelShifts: Float64Array;
  /** 2 ** shift of each level: index = Math.floor(va / levelDiv[l]) % levelEntries[l]. */
  private readonly levelDiv: Float64Array;
  private readonly levelEntries: Float64Array;
  /** entries - 1 (every table size is a power of two; `&` keeps the low bits of indices below 2**53 exactly). */
  private readonly levelMask: Int32Array;
  private readonly pscLevelOf: Int8Array;
  private readonly kernelStart: number;
  private readonly pae: boolean;

  constructor(params: MachineParams, costs: CostParams) {
    if (!Number.isInteger(params.cpus) || params.cpus < 1 || params.cpus > 1024) throw new RangeError(`cpus must be 1..1024, got ${params.cpus}`);
    if (!Number.isInteger(params.sockets) || params.sockets < 1 || params.cpus % params.sockets !== 0) {
      throw new RangeError(`sockets (${params.sockets}) must divide cpus (${params.cpus})`);
    }
    this.params = params;
    this.format = params.format;
    this.costs = costs;
    this.prng = new Prng(params.seed);
    this.mem = new PhysMem(params.memoryFrames, params.sockets);
    this.counters = new Counters(params.cpus);
    this.cpuCycles = new Float64Array(params.cpus * 3);
    this.oracle = new Oracle(params.memoryFrames, this.counters, this.events, (va) => vaToCanonicalString(this.format, va));
    const perSocket = params.cpus / params.sockets;
    this.cpus = [];
    for (let id = 0; id < params.cpus; id++) {
      this.cpus.push(
        new Cpu(
          { id, socket: Math.floor(id / perSocket) },
          new Tlb({ entries: params.tlbEntries, ways: params.tlbWays, pageShift: 12 }),
          new Tlb({ entries: params.tlb2mEntries, ways: Math.min(4, params.tlb2mEntries), pageShift: 21 }),
          new PagingStructureCache(params.pscEntries),
        ),
      );
    }
    const lv = this.format.levels;
    this.levelShifts = Float64Array.from(lv, (l) => l.shift);
    this.levelEntries = Float64Array.from(lv, (l) => l.entries);
    this.levelDiv = Float64Array.from(lv, (l) => 2 ** l.shift);
    this.levelMask = Int32Array.from(lv, (l) => l.entries - 1);
    // Which paging-structure cache an entry at each level fills (the entry points one level down).
    this.pscLevelOf = Int8Array.from(lv, (l) => (l.shift === 21 ? PscLevel.PDE : l.shift === 30 && !this.format.topLoadedAtCr3 ? PscLevel.PDPTE : l.shift === 39 && lv.length > 4 ? -1 : l.shift === 39 ? PscLevel.PML4E : -1));
    this.kernelStart = this.format.kernelStart;
    this.pae = this.format.topLoadedAtCr3;
  }

  get now(): number {
    return this.engine.now;
  }

  /** IPI latency between two CPUs (APIC delivery), by topology. */
  ipiLatency(from: Cpu, to: Cpu): number {
    return from.socket === to.socket ? this.costs.ipiLatencySameSocket : this.costs.ipiLatencyCrossSocket;
  }

  ackLatency(from: Cpu, to: Cpu): number {
    return from.socket === to.socket ? this.costs.ackLatencySameSocket : this.costs.ackLatencyCrossSocket;
  }

  // ---------------------------------------------------------------------------
  // Hot path: one memory access
  // ---------------------------------------------------------------------------

  /**
   * One access by `cpu` to `va`. Returns its cost in cycles, or FAULT. A page fault
   * also drops the TLB entry for the faulting address (SDM §4.10.4.1).
   */
  access(cpu: Cpu, va: number, write: boolean, user: boolean): number {
    const counters = this.counters.values;
    counters[C.accesses]!++;
    const tlb = cpu.tlb;
    let t: Tlb = tlb;
    let i = tlb.lookup(Math.floor(va / 4096), cpu.pcid);
    if (i < 0 && cpu.tlb2m.live > 0) {
      i = cpu.tlb2m.lookup(Math.floor(va / 2097152), cpu.pcid);
      t = cpu.tlb2m;
    }
    if (i < 0) return this.walk(cpu, va, write, user);
    counters[C.tlb_hits]!++;
    const f = t.flags[i]!;
    const pfn = t.pageShift === 12 ? t.pfn[i]! : t.pfn[i]! + (Math.floor(va / 4096) & 511);
    if (t.gen[i] !== this.mem.gen[t.pageShift === 12 ? pfn : t.pfn[i]!]) this.staleUse(cpu, va, pfn, t, i, write);
    if ((user && (f & TlbFlag.US) === 0) || (write && (f & TlbFlag.RW) === 0)) {
      t.drop(i);
      return FAULT;
    }
    let cost = this.costs.userAccess;
    if (write) {
      if ((f & TlbFlag.D) === 0) {
        // Clean→dirty: the CPU re-walks to set D atomically; the walk faults if the
        // PTE is gone (the guarantee batched unmap relies on; KERNEL-FACTS §1.2).
        const r = this.dirtyAssist(cpu, va, t, i);
        if (r < 0) return FAULT;
        cost += r;
      }
      if (t.wpGen[i] !== this.mem.wpGen[t.pageShift === 12 ? pfn : t.pfn[i]!]) this.checkStaleWrite(cpu, va, pfn, t, i);
    }
    return cost;
  }

  /** TLB miss: walk from CR3 (or a paging-structure-cache hit), set A/D, fill the TLB. */
  private walk(cpu: Cpu, va: number, write: boolean, user: boolean): number {
    const counters = this.counters.values;
    const mem = this.mem;
    const lvShift = this.levelShifts;
    const nlv = lvShift.length;
    let words = mem.words;
    let table = cpu.cr3;
    let level = 0;
    let rights = TlbFlag.RW | TlbFlag.US;
    let nx = 0;
    let cost = this.costs.pageWalk;
    const psc = cpu.psc;
    // Deepest paging-structure-cache hit first.
    if (psc.live > 0) {
      for (let l = nlv - 2; l >= 0; l--) {
        const pl = this.pscLevelOf[l]!;
        if (pl < 0) continue;
        const k = psc.lookup(pl, Math.floor(va / this.levelDiv[l]!), cpu.pcid);
        if (k >= 0) {
          table = psc.table[k]!;
          const r = psc.rights[k]!;
          rights = r & (TlbFlag.RW | TlbFlag.US);
          nx = r & TlbFlag.NX;
          level = l + 1;
          cost = this.costs.pageWalkPsc;
          counters[C.psc_walks]!++;
          if (mem.gen[table] !== psc.tableGen[k]) {
            this.oracle.report(1, cpu.id, va, table, this.engine.now, "TLB flush (with paging-structure caches) before the page-table page was freed",
              `CPU ${cpu.id} walked through a cached upper-level entry into pfn ${table}, a page-table page that was freed (${mem.sites[mem.freedBy[table]!]}) and is now a ${FRAME_NAMES[mem.state[table]!]}`);
            psc.drop(k);
          }
          break;
        }
      }
    }
    counters[C.page_walks]!++;
    for (; level < nlv; level++) {
      let lo: number, hi: number, off = -1;
      if (level === 0 && this.pae) {
        const idx = Math.floor(va / this.levelDiv[0]!) & 3;
        lo = cpu.pdpte[idx * 2]!;
        hi = cpu.pdpte[idx * 2 + 1]!;
      } else {
        off = mem.entryOffsetOrNeg(table, Math.floor(va / this.levelDiv[level]!) & this.levelMask[level]!);
        if (off < 0) {
          // The entry above points at a frame that is no longer a page table.
          if (level > 0 && !mem.isTable(table)) {
            this.oracle.report(1, cpu.id, va, table, this.engine.now, "flush and sync of every copy of the upper-level entry before the page-table page was freed",
              `CPU ${cpu.id} walked through a stale upper-level entry into pfn ${table}, a page-table page that was freed (${mem.sites[mem.freedBy[table]!]})`);
          }
          return FAULT;
        }
        lo = words[off]!;
        hi = words[off + 1]!;
      }
      if ((lo & _PAGE_PRESENT) === 0) return FAULT;
      if (!(level === 0 && this.pae)) {
        if ((lo & _PAGE_RW) === 0) rights &= ~TlbFlag.RW;
        if ((lo & _PAGE_USER) === 0) rights &= ~TlbFlag.US;
        if ((hi & _PAGE_NX_HI) !== 0) nx = TlbFlag.NX;
      }
      const leaf = level === nlv - 1 || (lo & _PAGE_PSE) !== 0;
      if (leaf) {
        if ((user && (rights & TlbFlag.US) === 0) || (write && (rights & TlbFlag.RW) === 0)) return FAULT;
        const set = write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
        if ((lo & set) !== set) words[off] = lo = (lo | set) >>> 0;
        const huge = level !== nlv - 1;
        const flags = rights | nx | ((lo & _PAGE_DIRTY) !== 0 ? TlbFlag.D : 0) | ((lo & _PAGE_GLOBAL) !== 0 ? TlbFlag.G : 0);
        const owner = va >= this.kernelStart ? OWNER_KERNEL : cpu.loadedMm !== null ? cpu.loadedMm.id : OWNER_KERNEL;
        const t = huge ? cpu.tlb2m : cpu.tlb;
        const vpn = huge ? Math.floor(va / 2097152) : Math.floor(va / 4096);
        const frame = huge ? ptePfn((lo & ~0x1fff) >>> 0, hi) : ptePfn(lo, hi);
        t.insert(vpn, cpu.pcid, frame, flags, mem.gen[frame]!, mem.wpGen[frame]!, owner);
        return cost + this.costs.userAccess;
      }
      if ((lo & _PAGE_ACCESSED) === 0 && off >= 0) words[off] = (lo | _PAGE_ACCESSED) >>> 0;
      const next = ptePfn(lo, hi);
      const pl = this.pscLevelOf[level]!;
      if (pl >= 0) psc.insert(pl, Math.floor(va / this.levelDiv[level]!), cpu.pcid, next, mem.gen[next]!, rights | nx);
      table = next;
      words = mem.words;
    }
    return FAULT;
  }

  /**
   * Reads the leaf entry mapping `va` in the page tables rooted at `pgd`, with no side
   * effects (the oracle's and kernel's view). Returns the word offset of the leaf or -1.
   */
  leafOffset(pgd: number, va: number): number {
    const mem = this.mem;
    const words = mem.words;
    const nlv = this.levelShifts.length;
    let table = pgd;
    for (let level = 0; level < nlv; level++) {
      const idx = Math.floor(va / this.levelDiv[level]!) & this.levelMask[level]!;
      const off = mem.entryOffsetOrNeg(table, idx);
      if (off < 0) return -1;
      const lo = words[off]!;
      if (level === nlv - 1 || (lo & _PAGE_PSE) !== 0) return off;
      if ((lo & _PAGE_PRESENT) === 0) return -1;
      table = ptePfn(lo, words[off + 1]!);
    }
    return -1;
  }

  /** The D-bit assist: re-walk, set D, or fault if the PTE is gone or no longer writable. */
  private dirtyAssist(cpu: Cpu, va: number, t: Tlb, i: number): number {
    this.counters.values[C.dirty_assists]!++;
    const pgd = va >= this.kernelStart || cpu.loadedMm === null ? cpu.cr3 : cpu.loadedMm.pgd;
    const off = this.leafOffset(pgd, va);
    const words = this.mem.words;
    const lo = off >= 0 ? words[off]! : 0;
    if ((lo & _PAGE_PRESENT) === 0 || (lo & _PAGE_RW) === 0) {
      if (this.params.pteLeakErratum && off >= 0) {
        // KNL: the assist sets D in the cleared entry and the write completes.
        words[off] = (lo | _PAGE_DIRTY) >>> 0;
        const pfn = t.pfn[i]!;
        this.oracle.report(3, cpu.id, va, pfn, this.engine.now, "flush before the PTE was cleared (X86_BUG_PTE_LEAK: the CPU sets D after the clear)",
          `CPU ${cpu.id} completed a write through a cached clean entry for pfn ${pfn} whose PTE is no longer present`);
        t.flags[i] = t.flags[i]! | TlbFlag.D;
        return this.costs.dirtyAssist;
      }
      t.drop(i);
      return -1;
    }
    words[off] = (lo | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
    t.flags[i] = t.flags[i]! | TlbFlag.D;
    return this.costs.dirtyAssist;
  }

  /** Slow path of a hit whose frame generation changed: class 1. */
  private staleUse(cpu: Cpu, va: number, pfn: number, t: Tlb, i: number, write: boolean): void {
    const mem = this.mem;
    const frame = t.pageShift === 12 ? pfn : t.pfn[i]!;
    const state = mem.state[frame]!;
    const freedBy = mem.sites[mem.freedBy[frame]!];
    const what = state === FrameState.FREE ? "freed" : `freed and reused as a ${FRAME_NAMES[state]}`;
    this.oracle.report(1, cpu.id, va, pfn, this.engine.now, `TLB flush on CPU ${cpu.id} before ${freedBy} freed the page`,
      `CPU ${cpu.id} ${write ? "wrote" : "read"} through a stale TLB entry to pfn ${pfn}, ${what} (freed at cycle ${mem.freedAt[frame]} by ${freedBy})`);
  }

  /**
   * A write through a cached writable entry whose frame's wpGen moved: compare with the
   * page table; if the PTE no longer grants the write to this frame, the write is lost
   * (class 2). Otherwise the entry is still valid: refresh its wpGen.
   */
  private checkStaleWrite(cpu: Cpu, va: number, pfn: number, t: Tlb, i: number): void {
    const frame = t.pageShift === 12 ? pfn : t.pfn[i]!;
    const pgd = va >= this.kernelStart || cpu.loadedMm === null ? cpu.cr3 : cpu.loadedMm.pgd;
    const off = this.leafOffset(pgd, va);
    const words = this.mem.words;
    const lo = off >= 0 ? words[off]! : 0;
    const hi = off >= 0 ? words[off + 1]! : 0;
    const valid = (lo & _PAGE_PRESENT) !== 0 && (lo & _PAGE_RW) !== 0 && ptePfn(lo & ~0x1fff, hi) === (t.pageShift === 12 ? pfn : t.pfn[i]!);
    if (valid) {
      t.wpGen[i] = this.mem.wpGen[frame]!;
      return;
    }
    const site = this.oracle.sites[this.oracle.wpSite[frame]!];
    this.oracle.report(2, cpu.id, va, pfn, this.engine.now, `TLB flush on CPU ${cpu.id} after ${site} write-protected the PTE`,
      `CPU ${cpu.id} wrote through a stale writable TLB entry to pfn ${pfn} after ${site} made it read-only or unmapped it and relied on that`);
  }

  /** The kernel starts relying on `pfn` not being written through old writable entries. */
  relyWriteProtected(pfn: number, site: string): void {
    this.mem.wpGen[pfn] = (this.mem.wpGen[pfn]! + 1) >>> 0;
    this.oracle.wpSite[pfn] = this.oracle.site(site);
  }

  // ---------------------------------------------------------------------------
  // TLB-maintenance instructions (what the kernel's flush paths execute)
  // ---------------------------------------------------------------------------

  /** MOV to CR3: switch to `pgd`, dropping non-global entries and the paging-structure caches of the PCID. PAE reloads the PDPTE registers. */
  loadCr3(cpu: Cpu, pgd: number): number {
    cpu.cr3 = pgd;
    cpu.tlb.flushNonGlobal(cpu.pcid);
    cpu.tlb2m.flushNonGlobal(cpu.pcid);
    cpu.psc.flushPcid(cpu.pcid);
    if (this.pae) {
      const w = this.mem.words;
      for (let i = 0; i < 4; i++) {
        const off = this.mem.entryOffset(pgd, i);
        cpu.pdpte[i * 2] = w[off]!;
        cpu.pdpte[i * 2 + 1] = w[off + 1]!;
      }
    }
    return this.costs.cr3Flush;
  }

  /** INVLPG: the address in the current PCID plus any global entry for it, and the PCID's paging-structure caches. */
  invlpg(cpu: Cpu, va: number): number {
    cpu.tlb.invalidatePage(Math.floor(va / 4096), cpu.pcid);
    if (cpu.tlb2m.live > 0) cpu.tlb2m.invalidatePage(Math.floor(va / 2097152), cpu.pcid);
    cpu.psc.flushPcid(cpu.pcid);
    return this.costs.invlpg;
  }

  /** CR4.PGE toggle / INVPCID all: everything, globals included. */
  flushTlbGlobal(cpu: Cpu): number {
    cpu.tlb.flushAll();
    cpu.tlb2m.flushAll();
    cpu.psc.flushAll();
    return this.costs.globalFlush;
  }

  // ---------------------------------------------------------------------------
  // Executor
  // ---------------------------------------------------------------------------

  /** Charges `cycles` to the CPU's current mode. */
  charge(cpu: Cpu, cycles: number): void {
    if (cycles <= 0) return;
    const m = cpu.mode;
    if (m === CpuMode.USER) {
      this.cpuCycles[cpu.id * 3]! += cycles;
      this.counters.values[C.cycles_user]! += cycles;
    } else {
      this.cpuCycles[cpu.id * 3 + 1]! += cycles;
      this.counters.values[C.cycles_system]! += cycles;
    }
  }

  /** Starts `task` on `cpu` at the current time. */
  startTask(cpu: Cpu, task: TaskGen): void {
    if (cpu.task !== null) throw new Error(`CPU ${cpu.id} already runs a task`);
    cpu.task = task;
    cpu.finished = false;
    cpu.mode = CpuMode.USER;
    this.running++;
    this.tasksStarted++;
    this.scheduleResume(cpu, this.engine.now);
  }

  /** Runs a kernel path on `cpu` before anything else it does (e.g. the fork/exec of a task). */
  runKernel(cpu: Cpu, gen: KGen<unknown>, returnMode = cpu.mode): void {
    cpu.kgen = gen;
    cpu.kgenReturnMode = returnMode;
    cpu.mode = CpuMode.KERNEL;
  }

  /** Skips the access the CPU faulted on (a SIGSEGV the task handles by moving on). */
  skipAccess(cpu: Cpu): void {
    if (cpu.accessLeft > 0) {
      cpu.accessVa += cpu.accessStride;
      cpu.accessLeft--;
    }
  }

  get runningTasks(): number {
    return this.running;
  }

  private readonly resumeFns: (() => void)[] = [];

  private scheduleResume(cpu: Cpu, time: number): void {
    // Invariant: one pending resume per CPU (two would run its code twice as fast).
    if (cpu.resumeHandle >= 0) throw new Error(`CPU ${cpu.id}: a second resume scheduled at ${time} (one pending at ${cpu.resumeAt})`);
    cpu.resumeAt = time;
    let fn = this.resumeFns[cpu.id];
    if (fn === undefined) fn = this.resumeFns[cpu.id] = () => this.resume(cpu);
    cpu.resumeHandle = this.engine.at(time, fn, Priority.CPU);
  }

  /**
   * Waits for `c` (csd_lock_wait and the like): until its last piece is done, and
   * never before the time that piece completes (a csd can be marked done by an event
   * that ran before its completion time). Returns false when there is nothing to wait for.
   */
  private waitFor(cpu: Cpu, c: Completion): boolean {
    const start = this.engine.now;
    if (c.pending === 0) {
      if (c.doneAt <= start) return false;
      this.charge(cpu, c.doneAt - start);
      this.scheduleResume(cpu, c.doneAt);
      return true;
    }
    const irqBefore = this.cpuCycles[cpu.id * 3 + 2]!;
    cpu.waiting = true;
    c.onDone = (doneAt) => {
      cpu.waiting = false;
      const wake = Math.max(doneAt, cpu.irqBusyUntil, this.engine.now);
      // Spinning in csd_lock_wait: system time, less what interrupts took meanwhile.
      this.charge(cpu, wake - start - (this.cpuCycles[cpu.id * 3 + 2]! - irqBefore));
      this.scheduleResume(cpu, wake);
    };
    return true;
  }

  /**
   * Wakes a kernel thread on `cpu` (wake_up_process): it runs when the CPU's task is
   * next in user mode or idle (no kernel preemption). Returns false if one is
   * already running or pending there.
   */
  wakeKthread(cpu: Cpu, gen: KGen<unknown>): boolean {
    if (cpu.kthread !== null || cpu.pendingKthread !== null) return false;
    cpu.pendingKthread = gen;
    // A CPU with a task resumes by itself (possibly from inside its own resume, when the
    // wake-up comes from its fault path): only an idle CPU needs an event to start it.
    if (cpu.task === null && cpu.kgen === null && !cpu.waiting && cpu.resumeHandle < 0 && !cpu.inResume) {
      this.scheduleResume(cpu, Math.max(this.engine.now, cpu.irqBusyUntil));
    }
    return true;
  }

  private resume(cpu: Cpu): void {
    cpu.resumeHandle = -1;
    cpu.inResume = true;
    try {
      this.resumeSteps(cpu);
    } finally {
      cpu.inResume = false;
    }
  }

  private resumeSteps(cpu: Cpu): void {
    const now = this.engine.now;
    for (;;) {
      if (cpu.pendingKthread !== null && cpu.kthread === null && cpu.kgen === null && cpu.mode !== CpuMode.KERNEL) {
        cpu.kthread = cpu.pendingKthread;
        cpu.pendingKthread = null;
        cpu.kthreadSavedMode = cpu.mode;
        cpu.mode = CpuMode.KERNEL;
        const c = this.kernel!.kthreadEnter(cpu);
        this.charge(cpu, c);
        this.scheduleResume(cpu, now + c);
        return;
      }
      if (cpu.kthread !== null) {
        const r = cpu.kthread.next();
        if (r.done === true) {
          cpu.kthread = null;
          const c = this.kernel!.kthreadExit(cpu);
          this.charge(cpu, c);
          cpu.mode = cpu.kthreadSavedMode;
          if (cpu.mode !== CpuMode.IDLE || cpu.task !== null) this.scheduleResume(cpu, now + c);
          return;
        }
        const y = r.value;
        if (typeof y === "number") {
          this.charge(cpu, y);
          this.scheduleResume(cpu, now + y);
        } else if (!this.waitFor(cpu, y)) {
          continue;
        }
        return;
      }
      if (cpu.kgen !== null) {
        const r = cpu.kgen.next();
        if (r.done === true) {
          cpu.kgen = null;
          cpu.mode = cpu.kgenReturnMode;
          continue;
        }
        const y = r.value;
        if (typeof y === "number") {
          this.charge(cpu, y);
          this.scheduleResume(cpu, now + y);
        } else if (!this.waitFor(cpu, y)) {
          continue;
        }
        return;
      }
      if (cpu.accessLeft > 0) {
        let t = now;
        const horizon = this.engine.peekTime();
        let faulted = false;
        do {
          const c = this.access(cpu, cpu.accessVa, cpu.accessWrite, true);
          if (c < 0) {
            faulted = true;
            break;
          }
          t += c;
          cpu.accessVa += cpu.accessStride;
          cpu.accessLeft--;
        } while (cpu.accessLeft > 0 && t < horizon);
        this.charge(cpu, t - now);
        if (faulted) {
          this.counters.values[C.pgfault]!++;
          // Livelock guard: faults at the same point of the same access run, with no
          // progress of this CPU's run in between.
          const again = cpu.accessVa === cpu.lastFaultVa && cpu.accessRun === cpu.lastFaultRun && cpu.accessLeft === cpu.lastFaultLeft;
          cpu.lastFaultRun = cpu.accessRun;
          cpu.lastFaultLeft = cpu.accessLeft;
          if (again) {
            if (++cpu.repeatFaults > 64) {
              throw new Error(`CPU ${cpu.id} faults endlessly at ${this.oracle.formatVa(cpu.accessVa)}: the fault handler does not make the page table the CPU walks (CR3 = pfn ${cpu.cr3}) map it`);
            }
          } else {
            cpu.lastFaultVa = cpu.accessVa;
            cpu.repeatFaults = 0;
          }
          const f = this.kernel!.handleMmFault(cpu, cpu.accessVa, cpu.accessWrite);
          if (typeof f === "number") {
            // A fault that waits for nothing: kernel time, then the access is retried.
            cpu.mode = CpuMode.KERNEL;
            this.charge(cpu, f);
            cpu.mode = CpuMode.USER;
            this.scheduleResume(cpu, t + f);
            return;
          }
          this.runKernel(cpu, f, CpuMode.USER);
          if (t > now) {
            this.scheduleResume(cpu, t);
            return;
          }
          continue;
        }
        this.scheduleResume(cpu, t);
        return;
      }
      const task = cpu.task;
      if (task === null) return;
      const r = task.next();
      if (r.done === true) {
        cpu.task = null;
        cpu.finished = true;
        cpu.mode = CpuMode.IDLE;
        this.running--;
        this.tasksDone++;
        this.kernel?.taskExit(cpu);
        if (this.events.observed) this.events.emit("progress", { time: this.engine.now, fraction: this.tasksDone / this.tasksStarted });
        // The run ends when the last task exits; nothing after it is measured.
        if (this.running === 0) this.engine.stop();
        return;
      }
      const y = r.value;
      if (typeof y === "number") {
        this.charge(cpu, y);
        this.scheduleResume(cpu, now + y);
        return;
      }
      if (y instanceof Completion) {
        if (!this.waitFor(cpu, y)) continue;
        return;
      }
      cpu.accessVa = y.va;
      cpu.accessRun++;
      cpu.accessLeft = y.count;
      cpu.accessStride = y.stride;
      cpu.accessWrite = y.write;
    }
  }

  // ---------------------------------------------------------------------------
  // APIC: IPIs and the call_single_queue (kernel/smp.c)
  // ---------------------------------------------------------------------------

  /**
   * Queues `csd` on `target`'s call_single_queue at `time`. Like llist_add in
   * __smp_call_single_queue, an IPI is sent only if the queue was empty: requests
   * queued behind a pending IPI share its interrupt. Returns true if an IPI was sent.
   */
  queueCsd(sender: Cpu, target: Cpu, csd: Csd, time: number): boolean {
    this.counters.values[C.csd_queued]!++;
    const q = target.callSingleQueue;
    q.push(csd);
    if (q.length !== 1) return false;
    this.counters.values[C.ipi_sent]!++;
    // The IPI leaves once the sender's ICR write is done.
    const at = time + this.costs.ipiSend + this.ipiLatency(sender, target);
    if (this.events.observed) this.events.emit("ipi_send", { time, from: sender.id, to: target.id, vector: "CALL_FUNCTION" });
    this.engine.at(at, () => this.deliverIpi(target), Priority.INTERRUPT);
    return true;
  }

  /** The CALL_FUNCTION interrupt on `cpu`: runs every queued csd, acks each, and steals the time. */
  private deliverIpi(cpu: Cpu): void {
    const q = cpu.callSingleQueue;
    if (q.length === 0) return;
    const now = this.engine.now;
    this.counters.irqCall[cpu.id]!++;
    if (this.events.observed) this.events.emit("ipi_recv", { time: now, cpu: cpu.id, queued: q.length });
    const start = Math.max(now, cpu.irqBusyUntil);
    let t = start + this.costs.irqEntryExit / 2;
    const prevMode = cpu.mode;
    const isolated = this.kernel !== null && this.kernel.isolated(cpu);
    if (isolated && prevMode === CpuMode.USER) this.counters.values[C.isolated_ipis]!++;
    // An interrupt from user mode is a kernel entry: deferred work runs first.
    if (prevMode === CpuMode.USER && this.kernel !== null) t += this.kernel.kernelEntry(cpu);
    const items = q.splice(0, q.length);
    for (const csd of items) {
      t += this.costs.csdRun;
      t += csd.func(cpu, t);
      if (csd.completion !== null) csd.completion.done(t + this.ackLatency(cpu, this.cpus[csd.sender]!));
    }
    cpu.mode = prevMode;
    t += this.costs.irqEntryExit / 2;
    const busy = t - start;
    cpu.irqBusyUntil = t;
    if (isolated) {
      this.counters.values[C.isolated_interruption_cycles]! += busy;
      if (busy > this.maxIsolatedInterruption) this.maxIsolatedInterruption = busy;
    }
    this.cpuCycles[cpu.id * 3 + 2]! += busy;
    this.counters.values[C.cycles_interrupt]! += busy;
    // A running CPU loses the time; a waiting or idle one overlaps it.
    if (cpu.resumeHandle >= 0) {
      this.engine.cancel(cpu.resumeHandle);
      cpu.resumeHandle = -1;
      this.scheduleResume(cpu, cpu.resumeAt + busy);
    }
  }
}

const FRAME_NAMES = ["free frame", "user page", "page-cache page", "page-table page", "vmalloc page", "kernel page"] as const;
