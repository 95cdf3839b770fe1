import { describe, expect, it } from "vitest";
import type { MetricSpec } from "@flushlab/core-mmu";
import { robotMetrics, robotName } from "./robot-names.js";

const specs: MetricSpec[] = [
  { name: "per_thread_ops", description: "", unit: "ops/s", better: "higher", robot: "will-it-scale.per_thread_ops" },
  { name: "ops_per_s", description: "", unit: "ops/s", better: "higher" },
  { name: "cpu_idle_pct", description: "", unit: "%", better: "none", robot: "mpstat.cpu.all.idle%" },
];

describe("the robot's metric names", () => {
  it("come from the spec, else from ROBOT_METRIC_NAMES; metrics without one are left out", () => {
    expect(robotName(specs, "per_thread_ops")).toBe("will-it-scale.per_thread_ops");
    expect(robotName(specs, "ops_per_s")).toBeUndefined();
    expect(robotName([], "context_switches_per_s")).toBe("vmstat.system.cs");
    expect(robotMetrics(specs, { cpu_idle_pct: 12.5, ops_per_s: 3, per_thread_ops: 7, pgfault: 9 })).toEqual({
      "will-it-scale.per_thread_ops": 7,
      "mpstat.cpu.all.idle%": 12.5,
      "proc-vmstat.pgfault": 9,
    });
  });
});
