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
import { NO_PROGRESS_STEPS, Watchdog, WatchdogError } from "./watchdog.js";

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

/**
 * A generator that has already finished: `yield*` on it returns at once, so `point()`
 * costs no generator object when no perturbation is set (every flush passes there).
 */
const DONE: KGen = (function* (): KGen {})();
DONE.next();

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

/** The no-progress guard's report when a run has no Watchdog (a kernel built outside simulate). */
const NO_PROGRESS_REPORTER = new Watchdog(0, 0, 1);

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
  /** The kernel path in `kgen` is a page fault's handler (page_fault_exit when it ends). */
  kgenFault = false;
  /**
   * A page fault's handler (1) or a kernel thread (2) whose cycles were charged ahead
   * ended: its exit event is emitted when the CPU resumes, at the time it really goes
   * on (later than planned when an interrupt took the CPU meanwhile).
   */
  exitAtResume: 0 | 1 | 2 = 0;
  /** Livelock guard: consecutive faults on one address. */
  lastFaultVa = -1;
  lastFaultRun = -1;
  lastFaultLeft = -1;
  repeatFaults = 0;
  /** Time until which this CPU is inside interrupt handlers. */
  irqBusyUntil = 0;
  /** Time of this CPU's last resume. */
  lastResume = 0;
  /**
   * Soft-lockup watchdog: cpu.preemptible as the last resume in kernel mode saw it (-1
   * after one in user mode or idle), when the kernel stretch began, and the time before
   * which no report can be due.
   */
  seenPreemptible = -1;
  kernelSince = 0;
  lockupCheck = Infinity;
  /** No-progress guard: the time of this CPU's last step and the steps taken at it. */
  stepTime = -1;
  sameTimeSteps = 0;
  /** What the CPU waits for (a spinning or sleeping wait), and since when. */
  waitingOn: Completion | null = null;
  /** How it waits: the completion's kind in kernel mode; a task's wait in user mode sleeps (a futex). */
  waitKind: Completion["kind"] = "sleep";
  waitSince = 0;
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
  /**
   * The run's lockup detectors (kernel/watchdog.ts), set by simulate from the machine
   * options; null: only the no-progress guard watches.
   */
  watchdog: Watchdog | null = null;
  /** Smp's csd_lock_wait_getcpu, for the csd-lock report. */
  csdTarget: ((c: Completion) => { cpu: number; func: string }) | null = null;
  /** The earliest time a CPU spinning in csd_lock_wait passes CSD_LOCK_TIMEOUT, and which CPU. */
  private csdDeadline = Infinity;
  private csdDeadlineCpu = -1;
  private csdBugCount = 0;

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
  point(): KGen {
    return this.perturb !== null ? this.perturbedPoint() : DONE;
  }

  private *perturbedPoint(): KGen {
    this.atFlush = true;
    yield 0;
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
    if (this.m.events.wants("cpu_task")) this.m.events.emit("cpu_task", { time: this.m.now, cpu: cpu.id, state: "user" });
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

  // ---- the lockup detectors (kernel/watchdog.ts) ----

  /** A kernel stretch without a schedule begins on the CPU at `since`. */
  private kernelStretch(rq: RunState, since: number): void {
    rq.kernelSince = since;
    rq.lockupCheck = this.watchdog === null ? Infinity : this.watchdog.firstCheck(since);
  }

  private checkSoftLockup(cpu: Cpu, rq: RunState, now: number): void {
    const r = this.watchdog!.check(cpu.id, rq.kernelSince, now);
    if ("report" in r) this.stuck(rq, r.report);
    rq.lockupCheck = r.next;
  }

  /** The earliest csd_lock_wait deadline of the CPUs still spinning there. */
  private nextCsdDeadline(): void {
    this.csdDeadline = Infinity;
    this.csdDeadlineCpu = -1;
    const wd = this.watchdog;
    if (wd === null) return;
    for (let i = 0; i < this.rq.length; i++) {
      const w = this.rq[i]!;
      if (w.waitingOn === null || w.waitKind !== "csd") continue;
      const d = w.waitSince + wd.csdTimeoutCycles;
      if (d < this.csdDeadline) {
        this.csdDeadline = d;
        this.csdDeadlineCpu = i;
      }
    }
  }

  /** csd_lock_wait_toolong: a CPU has spun in csd_lock_wait past CSD_LOCK_TIMEOUT at `now`. */
  private csdLockTimeout(now: number): never {
    const id = this.csdDeadlineCpu;
    const rq = this.rq[id]!;
    const target = this.csdTarget?.(rq.waitingOn!) ?? { cpu: -1, func: "(no csd)" };
    this.stuck(rq, this.watchdog!.csdReport(++this.csdBugCount, id, now - rq.waitSince, target.cpu, target.func));
  }

  /**
   * The run ended with nothing left to happen while `runningTasks` tasks had not exited:
   * a CPU waits for what nothing will ever complete. Reports it as the kernel would once
   * its timeout passed: csd_lock_wait_toolong for a csd wait, the soft-lockup watchdog for
   * another spinning wait, the hung-task detector for a sleeping one. No-op otherwise.
   */
  checkStalled(): void {
    if (this.running === 0) return;
    const wd = this.watchdog;
    for (let id = 0; id < this.rq.length; id++) {
      const rq = this.rq[id]!;
      const c = rq.waitingOn;
      if (c === null) continue;
      const cpu = this.m.cpus[id]!;
      if (rq.waitKind === "csd" && wd !== null) {
        const target = this.csdTarget?.(c) ?? { cpu: -1, func: "(no csd)" };
        this.stuck(rq, wd.csdReport(++this.csdBugCount, id, wd.csdTimeoutCycles + 1, target.cpu, target.func));
      }
      if (rq.waitKind === "sleep" || wd === null) {
        // kernel/hung_task.c (v5.17): "INFO: task %s:%d blocked for more than %ld seconds.",
        // sysctl_hung_task_timeout_secs = CONFIG_DEFAULT_HUNG_TASK_TIMEOUT (120).
        this.stuck(rq, `INFO: task on CPU#${id} blocked for more than 120 seconds (nothing left in the run wakes it).`);
      }
      // A spinning wait: the soft-lockup report, at the first tick that would give it.
      const since = rq.seenPreemptible === cpu.preemptible ? rq.kernelSince : rq.lastResume;
      let t = this.m.now;
      for (;;) {
        const r = wd.check(id, since, t);
        if ("report" in r) this.stuck(rq, r.report);
        if (r.next === Infinity) this.stuck(rq, `watchdog: BUG: CPU#${id} spins forever (the watchdog is off and nothing left in the run ends the wait)`);
        t = Math.max(t, r.next);
      }
    }
  }

  /**
   * Stops the run with `report`: thrown into the generator the CPU was running (its
   * innermost plugin hook names itself on the way out), then out of the engine.
   */
  private stuck(rq: RunState, report: string): never {
    const err = new WatchdogError(report);
    const gen: Generator<unknown, unknown, void> | null = rq.kthread ?? rq.kgen ?? rq.task;
    rq.kthread = rq.kgen = rq.task = null;
    if (gen !== null) {
      try {
        gen.throw(err);
      } catch (e) {
        if (e !== err) throw e;
      }
    }
    throw err;
  }

  // ---- the executor ----

  /** A page fault's handler returned at `time`. */
  private faultExit(cpu: Cpu, time: number): void {
    if (this.m.events.wants("page_fault_exit")) this.m.events.emit("page_fault_exit", { time, cpu: cpu.id });
    this.m.sampleTlb(cpu, time);
  }

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
    rq.waitingOn = c;
    rq.waitSince = start;
    const kind = (rq.waitKind = cpu.mode === CpuMode.KERNEL ? c.kind : "sleep");
    if (kind === "csd" && this.watchdog !== null) {
      const d = start + this.watchdog.csdTimeoutCycles;
      if (d < this.csdDeadline) {
        this.csdDeadline = d;
        this.csdDeadlineCpu = cpu.id;
      }
    }
    c.onDone = (doneAt) => {
      rq.waiting = false;
      rq.waitingOn = null;
      if (this.csdDeadlineCpu === cpu.id) this.nextCsdDeadline();
      const wake = Math.max(doneAt, rq.irqBusyUntil, this.m.now);
      // A sleeping wait schedules: the soft-lockup stretch starts again at the wake-up.
      if (kind === "sleep") this.kernelStretch(rq, wake);
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
    // For the lockup detectors: what the task sleeps on (a run left with nothing to do
    // while it still sleeps reports it); the wake-up starts a new soft-lockup stretch.
    rq.waitingOn = c;
    rq.waitKind = "sleep";
    rq.waitSince = this.m.now;
    c.onDone = (at) => {
      rq.waitingOn = null;
      this.kernelStretch(rq, Math.max(at, asleepAt, rq.irqBusyUntil, this.m.now));
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
    const now = this.m.now;
    // The lockup detectors: a few compares a step (kernel/watchdog.ts).
    if (now !== rq.stepTime) {
      rq.stepTime = now;
      rq.sameTimeSteps = 0;
    }
    if (cpu.mode === CpuMode.KERNEL) {
      if (cpu.preemptible !== rq.seenPreemptible) {
        // Kernel mode since the step that began at the last resume.
        rq.seenPreemptible = cpu.preemptible;
        this.kernelStretch(rq, rq.lastResume);
      } else if (now >= rq.lockupCheck) this.checkSoftLockup(cpu, rq, now);
    } else rq.seenPreemptible = -1;
    rq.lastResume = now;
    if (now > this.csdDeadline) this.csdLockTimeout(now);
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
    if (rq.exitAtResume !== 0) {
      if (rq.exitAtResume === 1) this.faultExit(cpu, now);
      else if (this.m.events.wants("kthread_exit")) this.m.events.emit("kthread_exit", { time: now, cpu: cpu.id });
      rq.exitAtResume = 0;
    }
    for (;;) {
      // No-progress guard: steps at one simulated time (each pass of this loop is one).
      if (++rq.sameTimeSteps > NO_PROGRESS_STEPS) this.stuck(rq, (this.watchdog ?? NO_PROGRESS_REPORTER).noProgress(cpu.id, now));
      if (rq.pendingKthread !== null && rq.kthread === null && rq.kgen === null && cpu.mode !== CpuMode.KERNEL) {
        rq.kthread = rq.pendingKthread;
        rq.pendingKthread = null;
        rq.kthreadSavedMode = cpu.mode;
        cpu.mode = CpuMode.KERNEL;
        if (this.m.events.wants("kthread_enter")) this.m.events.emit("kthread_enter", { time: now, cpu: cpu.id });
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
          if (cpu.mode !== CpuMode.IDLE || rq.task !== null) {
            rq.exitAtResume = 2;
            this.scheduleResume(cpu, now + c);
          } else if (this.m.events.wants("kthread_exit")) this.m.events.emit("kthread_exit", { time: now + c, cpu: cpu.id });
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
          if (rq.kgenFault) {
            rq.kgenFault = false;
            this.faultExit(cpu, now);
          }
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
          const events = this.m.events;
          if (events.wants("page_fault_enter")) events.emit("page_fault_enter", { time: t, cpu: cpu.id, address: rq.accessVa, write: rq.accessWrite });
          this.m.sampleTlb(cpu, t);
          const f = hooks.handleMmFault(cpu, rq.accessVa, rq.accessWrite);
          if (typeof f === "number") {
            // A fault that waits for nothing: kernel time, then the access is retried.
            cpu.mode = CpuMode.KERNEL;
            this.charge(cpu, f);
            cpu.mode = CpuMode.USER;
            rq.exitAtResume = 1;
            this.scheduleResume(cpu, t + f);
            return;
          }
          this.runKernel(cpu, f, CpuMode.USER);
          rq.kgenFault = true;
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
        if (this.m.events.wants("cpu_task")) this.m.events.emit("cpu_task", { time: now, cpu: cpu.id, state: "idle" });
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
