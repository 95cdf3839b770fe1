/**
 * The worker-thread side of the run pool: one simulation per task. A worker rebuilds what
 * the CLI resolved by name (the registry's plugins and workloads, plus those of the
 * flushlab.config in the command's directory), so a config plugin works here as it does in
 * the main thread. Errors come back as data, so the main thread can rethrow them as the
 * same one-line errors a serial run gives.
 */
import type { RunReply, RunTask } from "./protocol.js";
import { registry } from "../registry.js";
import { loadConfig } from "../config.js";
import { buildCatalog, buildWorkloads } from "../commands/context.js";
import { addPluginRefs } from "../plugin-refs.js";
import type { CatalogEntry } from "../commands/context.js";
import type { WorkloadDefinitionLike } from "@flushlab/core-mmu";

interface WorkerContext {
  readonly catalog: readonly CatalogEntry[];
  readonly workloads: readonly WorkloadDefinitionLike[];
}

const contexts = new Map<string, Promise<WorkerContext>>();

function contextFor(cwd: string, refs: readonly string[]): Promise<WorkerContext> {
  const key = JSON.stringify([cwd, refs]);
  let ctx = contexts.get(key);
  if (ctx === undefined) {
    ctx = loadConfig(cwd, registry.plugins).then(async (config) => ({ catalog: await addPluginRefs(buildCatalog(registry, config), [...refs], cwd), workloads: buildWorkloads(registry, config) }));
    contexts.set(key, ctx);
  }
  return ctx;
}

export default async function runTask(task: RunTask): Promise<RunReply> {
  try {
    const { catalog, workloads } = await contextFor(task.cwd, task.refs);
    const workload = workloads.find((w) => w.name === task.options.workload);
    if (workload === undefined) throw new Error(`worker: workload "${task.options.workload}" is not known here`);
    const plugins = task.options.plugins.map((name) => {
      const entry = catalog.find((e) => e.plugin.name === name) ?? catalog.find((e) => e.refs?.includes(name));
      if (entry === undefined) throw new Error(`worker: plugin "${name}" is not known here`);
      return entry.plugin;
    });
    return { ok: true, result: registry.simulate(task.options, { workload, plugins }) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return { ok: false, name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  }
}
