/**
 * The kernel test robot's view of a run: the figures an LKP report prints for a
 * will-it-scale job (mpstat's CPU shares, vmstat's interrupt and context-switch rates,
 * /proc/vmstat's pgfault), computed from the model over a measurement window, with
 * the robot's names beside ours. A workload takes a snapshot when its window opens and
 * one when it closes, and reports `systemMetrics` of the two; its metric specs carry
 * the robot's names (MetricSpec.robot), and ROBOT_METRIC_NAMES maps every one of them.
 */
import { C } from "../kernel/counters.js";
import type { Kernel } from "../kernel/kernel.js";
import type { MetricSpec } from "../run/types.js";

/** Our metric name → the robot's (lkp-tests' stats names), for reporters that print the robot's. */
export const ROBOT_METRIC_NAMES: Readonly<Record<string, string>> = Object.freeze({
  per_thread_ops: "will-it-scale.per_thread_ops",
  per_process_ops: "will-it-scale.per_process_ops",
  cpu_idle_pct: "mpstat.cpu.all.idle%",
  cpu_irq_pct: "mpstat.cpu.all.irq%",
  cpu_sys_pct: "mpstat.cpu.all.sys%",
  cpu_usr_pct: "mpstat.cpu.all.usr%",
  interrupts_per_s: "vmstat.system.in",
  context_switches_per_s: "vmstat.system.cs",
  pgfault: "proc-vmstat.pgfault",
});

/**
 * CONFIG_HZ of the robot's kernels (x86_64-rhel-8.3: CONFIG_HZ_1000): the local timer
 * interrupts a busy CPU takes per second. The tick is not an event of the model; with
 * NO_HZ idle an idle CPU takes none, so `interrupts_per_s` adds HZ × the non-idle CPU time.
 */
export const ROBOT_HZ = 1000;

/** The system metrics, with the robot's names. */
export const SYSTEM_METRICS: readonly MetricSpec[] = [
  { name: "cpu_idle_pct", description: "idle share of all CPUs' time in the window (mpstat %idle)", unit: "%", better: "none", robot: ROBOT_METRIC_NAMES["cpu_idle_pct"] },
  { name: "cpu_sys_pct", description: "system share of all CPUs' time (mpstat %sys)", unit: "%", better: "none", robot: ROBOT_METRIC_NAMES["cpu_sys_pct"] },
  { name: "cpu_irq_pct", description: "hard-interrupt share of all CPUs' time (mpstat %irq)", unit: "%", better: "none", robot: ROBOT_METRIC_NAMES["cpu_irq_pct"] },
  { name: "cpu_usr_pct", description: "user share of all CPUs' time (mpstat %usr)", unit: "%", better: "none", robot: ROBOT_METRIC_NAMES["cpu_usr_pct"] },
  {
    name: "interrupts_per_s",
    description: "interrupts per second, all CPUs (vmstat in: /proc/stat's sum, where an IPI's TLB and CAL counts both add; RES; and HZ local-timer ticks per non-idle CPU-second)",
    unit: "/s",
    better: "lower",
    robot: ROBOT_METRIC_NAMES["interrupts_per_s"],
  },
  { name: "context_switches_per_s", description: "context switches per second, all CPUs (vmstat cs)", unit: "/s", better: "none", robot: ROBOT_METRIC_NAMES["context_switches_per_s"] },
  { name: "pgfault", description: "page faults in the window (proc-vmstat pgfault)", unit: "faults", better: "none", robot: ROBOT_METRIC_NAMES["pgfault"] },
];

/** The counters and per-CPU times at one moment. */
export interface SystemSnapshot {
  readonly time: number;
  /** Sched.cpuCycles: user, system, interrupt per CPU. */
  readonly cycles: Float64Array;
  readonly values: Float64Array;
  /** /proc/interrupts TLB + CAL, all CPUs. */
  readonly ipis: number;
}

export function systemSnapshot(kernel: Kernel): SystemSnapshot {
  let ipis = 0;
  for (const n of kernel.counters.irqTlb) ipis += n;
  for (const n of kernel.counters.irqCall) ipis += n;
  return { time: kernel.machine.now, cycles: kernel.sched.cpuCycles.slice(), values: kernel.counters.values.slice(), ipis };
}

/**
 * The system metrics between two snapshots. A CPU's time is charged when a step
 * starts, so a window's shares are exact to one step per CPU at each edge.
 */
export function systemMetrics(a: SystemSnapshot, b: SystemSnapshot, freqHz: number): Record<string, number> {
  const n = a.cycles.length / 3;
  const window = b.time - a.time;
  const total = window * n;
  let usr = 0;
  let sys = 0;
  let irq = 0;
  for (let i = 0; i < n * 3; i += 3) {
    usr += b.cycles[i]! - a.cycles[i]!;
    sys += b.cycles[i + 1]! - a.cycles[i + 1]!;
    irq += b.cycles[i + 2]! - a.cycles[i + 2]!;
  }
  const busy = Math.min(total, usr + sys + irq);
  const seconds = window / freqHz;
  const pct = (x: number): number => (total > 0 ? (100 * x) / total : 0);
  const d = (i: number): number => b.values[i]! - a.values[i]!;
  const ticks = (ROBOT_HZ * busy) / freqHz;
  return {
    cpu_idle_pct: pct(total - busy),
    cpu_sys_pct: pct(sys),
    cpu_irq_pct: pct(irq),
    cpu_usr_pct: pct(usr),
    interrupts_per_s: seconds > 0 ? (b.ipis - a.ipis + d(C.irq_resched) + ticks) / seconds : 0,
    context_switches_per_s: seconds > 0 ? d(C.context_switches) / seconds : 0,
    pgfault: d(C.pgfault),
  };
}
