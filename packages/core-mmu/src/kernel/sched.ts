/**
 * The scheduler and executor: what each CPU runs and when. A CPU runs one user task
 * (a generator of user work, access runs and system calls), the kernel path it
 * entered (a fault, a syscall), or a kernel thread woken on it (kswapd, a device's
 * page-request worker). Kernel threads run when the CPU is next in user mode or idle:
 * no kernel preemption. Time is charged to user, system or interrupt per CPU
 * (/proc/stat's view); what is left of the elapsed time is idle.
 *
 * A task blocks when its kernel path yields a sleeping Completion (an rwsem's wait
 * list): schedule() switches to the idle task (SchedHooks.taskSleep: enter_lazy_tlb,
 * the CPU idles with the task's mm still loaded), and the CPU idles until the waker's
 * try_to_wake_up completes it; then the CPU switches back (SchedHooks.taskWake:
 * switch_mm_irqs_off, which catches up a flush skipped while lazy). Tasks are pinned,
 * one per CPU, so a CPU whose task sleeps has nothing else to run but kernel threads.
 */
import type { Cpu } from "../hw/cpu.js";
import { CpuMode } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { vaToCanonicalString } from "../hw/paging-format.js";
import { Priority } from "../sim/engine.js";
import { Completion, type KGen } from "../sim/process.js";
import { C, type Counters } from "./counters.js";

/**
 * A user-mode run of memory accesses the CPU executes itself, without a generator
 * step per access: `count` accesses from `va`, `stride` bytes apart. Workloads reuse
 * one object; the scheduler copies the fields.
 */
export interface AccessRun {
  readonly kind: "access";
  va: number;
  count: number;
  stride: number;
  write: boolean;
}

/** What a task generator yields: user cycles, a completion, or an access run. */
export type TaskYield = number | Completion | AccessRun;
export type TaskGen = Generator<TaskYield, void, void>;

/** What the scheduler needs from the rest of the kernel. */
export interface SchedHooks {
  /** The page-fault handler (exception entry to iret), run in kernel mode: cycles, or a path that waits. */
  handleMmFault(cpu: Cpu, va: number, write: boolean): number | KGen<unknown>;
  /** The task on `cpu` exited: the CPU goes idle (enter_lazy_tlb). */
  taskExit(cpu: Cpu): void;
  /** A kernel thread starts running on `cpu` (context switch, lazy TLB); returns cycles. */
  kthreadEnter(cpu: Cpu): number;
  /** The kernel thread on `cpu` sleeps; the interrupted task runs again; returns cycles. */
  kthreadExit(cpu: Cpu): number;
  /** The task on `cpu` blocks: context switch to the idle task (lazy TLB); returns cycles. */
  taskSleep(cpu: Cpu): number;
  /** The task on `cpu` was woken: context switch from the idle task back to it; returns cycles. */
  taskWake(cpu: Cpu): number;
}

/**
 * A schedule perturbation (delay-bounded scheduling, Emmi, Qadeer and Rakamarić, POPL
 * 2011): at each scheduling point of a CPU (every step a task or kernel path takes
 * that spends cycles) it may add a delay, as a slower CPU, an interrupt or a cache miss
 * would. `point` counts that CPU's scheduling points from 0. Returns extra cycles (0
 * for none). A tool that explores interleavings (flushlab check) sets it; runs leave it null.
 */
export interface SchedPerturbation {
  /** `atFlush`: the point `point()` offers just before a flush sends its IPIs. */
  delay(cpu: number, point: number, atFlush: boolean): number;
}

/** Faults at the same point of the same access run, with no progress between, before the run stops. */
const LIVELOCK_FAULTS = 64;

/** The executor's state of one CPU. */
class RunState {
  task: TaskGen | null = null;
  kgen: KGen<unknown> | null = null;
  /** Mode to return to when the current kernel path ends. */
  kgenReturnMode: CpuMode = CpuMode.USER;
  accessVa = 0;
  accessLeft = 0;
  accessStride = 0;
  accessWrite = false;
  /** Serial number of the current access run (for the livelock guard). */
  accessRun = 0;
  resumeHandle = -1;
  resumeAt = 0;
  /** True while the executor runs this CPU's steps. */
  inResume = false;
  waiting = false;
  finished = false;
  /** A kernel thread running on this CPU, and one woken to run next. */
  kthread: KGen<unknown> | null = null;
  pendingKthread: KGen<unknown> | null = null;
  kthreadSavedMode: CpuMode = CpuMode.IDLE;
  /** Livelock guard: consecutive faults on one address. */
  lastFaultVa = -1;
  lastFaultRun = -1;
  lastFaultLeft = -1;
  repeatFaults = 0;
  /** Time until which this CPU is inside interrupt handlers. */
  irqBusyUntil = 0;
  /** The task blocked (schedule() to idle) and was not woken yet. */
  sleeping = false;
  /** Woken: the next resume switches back to the task. */
  wakeSwitch = false;
  /** The mode the task slept in (the kernel). */
  sleepMode: CpuMode = CpuMode.KERNEL;
  /** System cycles charged to this CPU's next step (a waker's try_to_wake_up). */
  debt = 0;
}

export class Sched {
  /** Cycles each CPU spent by state: [cpu * 3] user, [+1] system, [+2] interrupt. */
  readonly cpuCycles: Float64Array;
  private readonly rq: RunState[];
  private readonly resumeFns: (() => void)[];
  private running = 0;
  private tasksStarted = 0;
  private tasksDone = 0;
  hooks: SchedHooks | null = null;
  /** Delays at scheduling points (flushlab check); null in ordinary runs. */
  perturb: SchedPerturbation | null = null;
  /** Scheduling points each CPU has passed (counted only while `perturb` is set). */
  readonly points: Int32Array;
  /** The step that just ended was `point()`'s (before a flush). */
  private atFlush = false;

  constructor(
    private readonly m: Machine,
    private readonly counters: Counters,
  ) {
    this.cpuCycles = new Float64Array(m.cpus.length * 3);
    this.points = new Int32Array(m.cpus.length);
    this.rq = m.cpus.map(() => new RunState());
    this.resumeFns = m.cpus.map((cpu) => () => this.resume(cpu));
  }

  get runningTasks(): number {
    return this.running;
  }

  /**
   * An extra scheduling point where a kernel path does work the model charges elsewhere
   * (a flush's preamble before its IPIs go out). It exists only while a perturbation is
   * set, so ordinary runs keep their event order; under flushlab check a delay can land
   * between the code before it and the code after.
   */
  *point(): KGen {
    if (this.perturb !== null) {
      this.atFlush = true;
      yield 0;
    }
  }

  /** The task of CPU `cpu` is asleep (not on its CPU). */
  isSleeping(cpu: number): boolean {
    return this.rq[cpu]!.sleeping;
  }

  /** CPU `cpu` runs its idle loop: no task, or its task asleep, and no kernel thread. */
  isIdle(cpu: number): boolean {
    const rq = this.rq[cpu]!;
    return (rq.sleeping || (rq.task === null && rq.kgen === null && !rq.waiting)) && rq.kthread === null && !rq.wakeSwitch;
  }

  /** Charges `cycles` of system time to the CPU's next step, which starts that much later (work done inside a step that had no room for it). */
  chargeLater(cpu: Cpu, cycles: number): void {
    if (cycles > 0) this.rq[cpu.id]!.debt += cycles;
  }

  /** Interrupt time on `cpu` that overlaps whatever it does (a RESCHEDULE IPI's handler on an idle CPU). */
  chargeIrq(cpu: Cpu, cycles: number): void {
    this.cpuCycles[cpu.id * 3 + 2]! += cycles;
    this.counters.values[C.cycles_interrupt]! += cycles;
  }

  /** Whether `cpu` has a task that has not exited. */
  hasTask(cpu: Cpu): boolean {
    return this.rq[cpu.id]!.task !== null;
  }

  /** Charges `cycles` to the CPU's current mode (user, or system for kernel and idle-loop work). */
  charge(cpu: Cpu, cycles: number): void {
    if (cycles <= 0) return;
    if (cpu.mode === CpuMode.USER) {
      this.cpuCycles[cpu.id * 3]! += cycles;
      this.counters.values[C.cycles_user]! += cycles;
    } else {
      this.cpuCycles[cpu.id * 3 + 1]! += cycles;
      this.counters.values[C.cycles_system]! += cycles;
    }
  }

  /** Starts `task` on `cpu` at the current time, in user mode. */
  startTask(cpu: Cpu, task: TaskGen): void {
    const rq = this.rq[cpu.id]!;
    if (rq.task !== null) throw new Error(`CPU ${cpu.id} already runs a task`);
    rq.task = task;
    rq.finished = false;
    cpu.mode = CpuMode.USER;
    this.running++;
    this.tasksStarted++;
    this.scheduleResume(cpu, this.m.now);
  }

  /** Runs a kernel path on `cpu` before anything else it does; the CPU returns to `returnMode` after it. */
  runKernel(cpu: Cpu, gen: KGen<unknown>, returnMode = cpu.mode): void {
    const rq = this.rq[cpu.id]!;
    rq.kgen = gen;
    rq.kgenReturnMode = returnMode;
    cpu.mode = CpuMode.KERNEL;
  }

  /** Skips the access the CPU faulted on (a SIGSEGV the task handles by moving on). */
  skipAccess(cpu: Cpu): void {
    const rq = this.rq[cpu.id]!;
    if (rq.accessLeft > 0) {
      rq.accessVa += rq.accessStride;
      rq.accessLeft--;
    }
  }

  /**
   * Wakes a kernel thread on `cpu` (wake_up_process): it runs when the CPU's task is
   * next in user mode or idle (no kernel preemption). Returns false if one is
   * already running or pending there.
   */
  wakeKthread(cpu: Cpu, gen: KGen<unknown>): boolean {
    const rq = this.rq[cpu.id]!;
    if (rq.kthread !== null || rq.pendingKthread !== null) return false;
    rq.pendingKthread = gen;
    // A CPU with a task resumes by itself (possibly from inside its own resume, when the
    // wake-up comes from its fault path): only an idle CPU needs an event to start it.
    if ((rq.sleeping || (rq.task === null && rq.kgen === null && !rq.waiting)) && rq.resumeHandle < 0 && !rq.inResume) {
      this.scheduleResume(cpu, Math.max(this.m.now, rq.irqBusyUntil));
    }
    return true;
  }

  // ---- interrupts ----

  /** An interrupt arrives on `cpu` now: its handler starts when the handlers before it are done. */
  irqEnter(cpu: Cpu): number {
    return Math.max(this.m.now, this.rq[cpu.id]!.irqBusyUntil);
  }

  /**
   * The handler that started at `start` returned at `end`: interrupt time. A running
   * CPU loses the time (its next step moves later); a waiting or idle one overlaps it.
   */
  irqExit(cpu: Cpu, start: number, end: number): void {
    const rq = this.rq[cpu.id]!;
    const busy = end - start;
    rq.irqBusyUntil = end;
    this.cpuCycles[cpu.id * 3 + 2]! += busy;
    this.counters.values[C.cycles_interrupt]! += busy;
    if (rq.resumeHandle >= 0) {
      this.m.engine.cancel(rq.resumeHandle);
      rq.resumeHandle = -1;
      this.scheduleResume(cpu, rq.resumeAt + busy);
    }
  }

  // ---- the executor ----

  /** The CPU goes on at `time` after a step: a scheduling point, where a perturbation may delay it. */
  private stepResume(cpu: Cpu, time: number): void {
    const p = this.perturb;
    if (p !== null) {
      time += p.delay(cpu.id, this.points[cpu.id]!++, this.atFlush);
      this.atFlush = false;
    }
    this.scheduleResume(cpu, time);
  }

  private scheduleResume(cpu: Cpu, time: number): void {
    const rq = this.rq[cpu.id]!;
    // Invariant: one pending resume per CPU (two would run its code twice as fast).
    if (rq.resumeHandle >= 0) throw new Error(`CPU ${cpu.id}: a second resume scheduled at ${time} (one pending at ${rq.resumeAt})`);
    if (rq.debt > 0) {
      time += rq.debt;
      this.cpuCycles[cpu.id * 3 + 1]! += rq.debt;
      this.counters.values[C.cycles_system]! += rq.debt;
      rq.debt = 0;
    }
    rq.resumeAt = time;
    rq.resumeHandle = this.m.engine.at(time, this.resumeFns[cpu.id]!, Priority.CPU);
  }

  /**
   * Waits for `c` (csd_lock_wait and the like): until its last piece is done, and
   * never before the time that piece completes (a csd can be marked done by an event
   * that ran before its completion time). Returns false when there is nothing to wait for.
   */
  private waitFor(cpu: Cpu, c: Completion): boolean {
    const start = this.m.now;
    if (c.pending === 0) {
      if (c.doneAt <= start) return false;
      this.charge(cpu, c.doneAt - start);
      this.scheduleResume(cpu, c.doneAt);
      return true;
    }
    const rq = this.rq[cpu.id]!;
    // A kernel thread that blocks keeps its CPU and waits as a spin would: the model
    // does not switch back to the task it interrupted (a limitation; kthreads run only
    // when the CPU's task is in user mode or idle).
    if (c.sleeps && rq.kthread === null) {
      this.sleep(cpu, rq, c);
      return true;
    }
    const irqBefore = this.cpuCycles[cpu.id * 3 + 2]!;
    rq.waiting = true;
    c.onDone = (doneAt) => {
      rq.waiting = false;
      const wake = Math.max(doneAt, rq.irqBusyUntil, this.m.now);
      // Spinning in csd_lock_wait: system time, less what interrupts took meanwhile.
      this.charge(cpu, wake - start - (this.cpuCycles[cpu.id * 3 + 2]! - irqBefore));
      this.scheduleResume(cpu, wake);
    };
    return true;
  }

  /**
   * schedule() from a task that blocked on `c`: the CPU switches to the idle task and
   * idles until `c` is done (the waker's try_to_wake_up says when the CPU can switch
   * back, its idle-state exit included).
   */
  private sleep(cpu: Cpu, rq: RunState, c: Completion): void {
    const cost = this.hooks!.taskSleep(cpu);
    this.charge(cpu, cost);
    const asleepAt = this.m.now + cost;
    rq.sleeping = true;
    rq.sleepMode = cpu.mode;
    cpu.mode = CpuMode.IDLE;
    c.onDone = (at) => {
      rq.sleeping = false;
      rq.wakeSwitch = true;
      this.counters.values[C.sched_sleep_cycles]! += Math.max(0, at - asleepAt);
      if (rq.resumeHandle < 0 && !rq.inResume) this.scheduleResume(cpu, Math.max(at, asleepAt, rq.irqBusyUntil, this.m.now));
    };
  }

  /**
   * What a kernel path (a fault, a syscall, a kernel thread) yielded: cycles to spend, or
   * a completion to wait for. Returns false when there is nothing to wait for and the
   * CPU goes on at once.
   */
  private kernelStep(cpu: Cpu, y: number | Completion, now: number): boolean {
    if (typeof y === "number") {
      this.charge(cpu, y);
      this.stepResume(cpu, now + y);
      return true;
    }
    return this.waitFor(cpu, y);
  }

  private resume(cpu: Cpu): void {
    const rq = this.rq[cpu.id]!;
    rq.resumeHandle = -1;
    rq.inResume = true;
    try {
      this.resumeSteps(cpu, rq);
    } finally {
      rq.inResume = false;
    }
  }

  private resumeSteps(cpu: Cpu, rq: RunState): void {
    const now = this.m.now;
    const hooks = this.hooks!;
    for (;;) {
      if (rq.pendingKthread !== null && rq.kthread === null && rq.kgen === null && cpu.mode !== CpuMode.KERNEL) {
        rq.kthread = rq.pendingKthread;
        rq.pendingKthread = null;
        rq.kthreadSavedMode = cpu.mode;
        cpu.mode = CpuMode.KERNEL;
        const c = hooks.kthreadEnter(cpu);
        this.charge(cpu, c);
        this.scheduleResume(cpu, now + c);
        return;
      }
      if (rq.kthread !== null) {
        const r = rq.kthread.next();
        if (r.done === true) {
          rq.kthread = null;
          const c = hooks.kthreadExit(cpu);
          this.charge(cpu, c);
          cpu.mode = rq.kthreadSavedMode;
          if (cpu.mode !== CpuMode.IDLE || rq.task !== null) this.scheduleResume(cpu, now + c);
          return;
        }
        if (this.kernelStep(cpu, r.value, now)) return;
        continue;
      }
      if (rq.sleeping) return;
      if (rq.wakeSwitch) {
        rq.wakeSwitch = false;
        cpu.mode = rq.sleepMode;
        const c = hooks.taskWake(cpu);
        this.charge(cpu, c);
        this.scheduleResume(cpu, now + c);
        return;
      }
      if (rq.kgen !== null) {
        const r = rq.kgen.next();
        if (r.done === true) {
          rq.kgen = null;
          cpu.mode = rq.kgenReturnMode;
          continue;
        }
        if (this.kernelStep(cpu, r.value, now)) return;
        continue;
      }
      if (rq.accessLeft > 0) {
        const mmu = this.m.mmu;
        let t = now;
        const horizon = this.m.engine.peekTime();
        let faulted = false;
        do {
          const c = mmu.access(cpu, rq.accessVa, rq.accessWrite, true);
          if (c < 0) {
            faulted = true;
            break;
          }
          t += c;
          rq.accessVa += rq.accessStride;
          rq.accessLeft--;
        } while (rq.accessLeft > 0 && t < horizon);
        this.charge(cpu, t - now);
        if (faulted) {
          this.counters.values[C.pgfault]!++;
          // Livelock guard: faults at the same point of the same access run, with no
          // progress of this CPU's run in between.
          const again = rq.accessVa === rq.lastFaultVa && rq.accessRun === rq.lastFaultRun && rq.accessLeft === rq.lastFaultLeft;
          rq.lastFaultRun = rq.accessRun;
          rq.lastFaultLeft = rq.accessLeft;
          if (again) {
            if (++rq.repeatFaults > LIVELOCK_FAULTS) {
              throw new Error(`CPU ${cpu.id} faults endlessly at ${vaToCanonicalString(this.m.format, rq.accessVa)}: the fault handler does not make the page table the CPU walks (CR3 = pfn ${cpu.cr3}) map it`);
            }
          } else {
            rq.lastFaultVa = rq.accessVa;
            rq.repeatFaults = 0;
          }
          const f = hooks.handleMmFault(cpu, rq.accessVa, rq.accessWrite);
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
        this.stepResume(cpu, t);
        return;
      }
      const task = rq.task;
      if (task === null) return;
      const r = task.next();
      if (r.done === true) {
        rq.task = null;
        rq.finished = true;
        cpu.mode = CpuMode.IDLE;
        this.running--;
        this.tasksDone++;
        hooks.taskExit(cpu);
        if (this.m.events.wants("progress")) this.m.events.emit("progress", { time: this.m.now, fraction: this.tasksDone / this.tasksStarted });
        // The run ends when the last task exits; nothing after it is measured.
        if (this.running === 0) this.m.engine.stop();
        return;
      }
      const y = r.value;
      if (typeof y === "number") {
        this.charge(cpu, y);
        this.stepResume(cpu, now + y);
        return;
      }
      if (y instanceof Completion) {
        if (!this.waitFor(cpu, y)) continue;
        return;
      }
      rq.accessVa = y.va;
      rq.accessRun++;
      rq.accessLeft = y.count;
      rq.accessStride = y.stride;
      rq.accessWrite = y.write;
    }
  }
}
