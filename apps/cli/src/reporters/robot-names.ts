/**
 * The kernel test robot's names for a run's metrics: a workload's metric spec may name
 * the figure an LKP report prints for it (`MetricSpec.robot`, e.g. tlb-flush2's
 * cpu_idle_pct is "mpstat.cpu.all.idle%"); core-mmu's ROBOT_METRIC_NAMES maps the
 * shared ones. The run report prints them beside ours, so a robot report and a model
 * run read side by side.
 */
import { ROBOT_METRIC_NAMES, type MetricSpec } from "@flushlab/core-mmu";

/** The robot's name for our metric `name` of a workload with `specs`, if it has one. */
export function robotName(specs: readonly MetricSpec[], name: string): string | undefined {
  return specs.find((m) => m.name === name)?.robot ?? ROBOT_METRIC_NAMES[name];
}

/** The run's metrics that have a robot name, under that name, in the workload's metric order. */
export function robotMetrics(specs: readonly MetricSpec[], metrics: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  const names = [...specs.map((m) => m.name), ...Object.keys(metrics)];
  for (const name of names) {
    if (!Object.hasOwn(metrics, name)) continue;
    const robot = robotName(specs, name);
    if (robot !== undefined && !Object.hasOwn(out, robot)) out[robot] = metrics[name]!;
  }
  return out;
}
