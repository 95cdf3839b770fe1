/**
 * The worker-thread side of `check --jobs`: computes one scenario of the search (its
 * natural schedule, then its delayed ones until a hazard). The target is rebuilt here by
 * name, from the registry and the flushlab.config of the command's directory.
 */
import { exploreScenario, type CheckTarget } from "@flushlab/check";
import type { ScenarioReply, ScenarioTask } from "./protocol.js";
import { registry } from "../registry.js";
import { loadConfig } from "../config.js";
import { buildCatalog } from "../commands/context.js";
import { addPluginRefs } from "../plugin-refs.js";
import type { CatalogEntry } from "../commands/context.js";

const catalogs = new Map<string, Promise<readonly CatalogEntry[]>>();
const targets = new Map<string, CheckTarget>();

async function targetOf(task: ScenarioTask): Promise<CheckTarget> {
  const key = JSON.stringify([task.cwd, task.refs, task.archName, task.plugins, task.features, task.kernel]);
  const known = targets.get(key);
  if (known !== undefined) return known;
  const where = JSON.stringify([task.cwd, task.refs]);
  let catalog = catalogs.get(where);
  if (catalog === undefined) {
    catalog = loadConfig(task.cwd, registry.plugins).then((config) => addPluginRefs(buildCatalog(registry, config), [...task.refs], task.cwd));
    catalogs.set(where, catalog);
  }
  const entries = await catalog;
  const plugins = task.plugins.map((name) => {
    const e = entries.find((x) => x.plugin.name === name) ?? entries.find((x) => x.refs?.includes(name));
    if (e === undefined) throw new Error(`worker: plugin "${name}" is not known here`);
    return e.plugin;
  });
  if (registry.arch === undefined) throw new Error("worker: the registry has no arch layer");
  const target: CheckTarget = { arch: registry.arch, archName: task.archName, plugins, ...(task.features ? { features: task.features } : {}), ...(task.kernel ? { kernel: task.kernel } : {}) };
  targets.set(key, target);
  return target;
}

export default async function runScenario(task: ScenarioTask): Promise<ScenarioReply> {
  try {
    return { ok: true, work: exploreScenario(task.index, task.plan, await targetOf(task), task.cap) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    return { ok: false, name: e.name, message: e.message };
  }
}
