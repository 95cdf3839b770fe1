/** Helpers for scenario tests: run a small inline workload with or without a test plugin. */
import type { Observable } from "rxjs";
import { defineWorkload, simulate, type FlushlabEvent, type FlushlabPlugin, type KernelVersion, type RunResult, type TaskApi, type TaskGen, type WorkloadContext } from "@flushlab/core-mmu";
import { x86 } from "../src/index.js";

export type Body = (t: TaskApi) => TaskGen;

/** Runs `bodies[i]` on CPU i, all threads of one process. */
export function runScenario(name: string, bodies: readonly Body[], plugins: readonly FlushlabPlugin[] = [], arch: "x86-64" | "x86-32-pae" = "x86-64", setup?: (ctx: WorkloadContext) => void, sockets = 1, onEvents?: (e$: Observable<FlushlabEvent>) => void, kernel?: KernelVersion): RunResult {
  const workload = defineWorkload({
    name,
    description: "test scenario",
    mirrors: "test",
    params: [],
    metrics: [],
    setup(ctx) {
      setup?.(ctx);
      const mm = ctx.createProcess();
      bodies.forEach((b, i) => ctx.spawn(i, mm, b));
    },
    collect: () => ({}),
  });
  return simulate({
    options: { workload: name, machine: { ...x86.defaultMachine, arch, cpus: Math.max(2, bodies.length), sockets, memoryMiB: 64 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: {}, ...(kernel ? { kernel } : {}) },
    arch: x86,
    workload,
    plugins,
    ...(onEvents ? { onEvents: (events) => onEvents(events.events$) } : {}),
  });
}

export const classes = (r: RunResult): number[] => [...new Set(r.hazards.map((h) => h.class))].sort();
