/**
 * flushlab.config.{ts,js,mjs}: found in the current directory, loaded with dynamic
 * import, checked field by field. A `.ts` config needs a runtime that can import
 * TypeScript (tsx, vitest, a Node with type stripping); otherwise one line says so.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ARCH_NAMES, FlushlabInputError } from "@flushlab/core-mmu";
import type { FlushlabConfig } from "@flushlab/core-mmu";

export const CONFIG_FILE_NAMES = ["flushlab.config.ts", "flushlab.config.mjs", "flushlab.config.js"] as const;

export interface LoadedConfig {
  /** File name (not path), for messages and `flushlab list`. */
  readonly file: string;
  readonly config: FlushlabConfig;
}

/** Returns the config file name present in `cwd`, or undefined; two or more present is an error. */
export function findConfigFile(cwd: string): string | undefined {
  const present = CONFIG_FILE_NAMES.filter((name) => existsSync(join(cwd, name)));
  if (present.length > 1) throw new FlushlabInputError(`more than one config file in ${cwd}: ${present.join(", ")} (keep one)`);
  return present[0];
}

function firstLine(message: string): string {
  return (message.split("\n").find((l) => l.trim() !== "") ?? message).trim();
}

export async function loadConfig(cwd: string): Promise<LoadedConfig | undefined> {
  const file = findConfigFile(cwd);
  if (file === undefined) return undefined;
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(join(cwd, file)).href)) as { default?: unknown };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (file.endsWith(".ts") && code === "ERR_UNKNOWN_FILE_EXTENSION") {
      throw new FlushlabInputError(
        `cannot load ${file}: this Node cannot import TypeScript; run flushlab through tsx or rename it to flushlab.config.mjs`,
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new FlushlabInputError(`cannot load ${file}: ${firstLine(message)}`);
  }
  const config = mod.default;
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new FlushlabInputError(`${file} must export default an object (use defineConfig({ … }))`);
  }
  validateConfig(config as Record<string, unknown>, file);
  return { file, config: config as FlushlabConfig };
}

const KNOWN_FIELDS = ["plugins", "machine", "profile", "seed", "workloads"];
const MACHINE_FIELDS = ["arch", "cpus", "sockets", "tlbEntries", "tlbWays", "memoryMiB", "la57"];

/** Shape checks; semantic checks (known profile, sockets dividing cpus) happen where the values are used. */
export function validateConfig(config: Record<string, unknown>, file: string): void {
  for (const key of Object.keys(config)) {
    if (!KNOWN_FIELDS.includes(key)) throw new FlushlabInputError(`${file}: unknown field "${key}" (known: ${KNOWN_FIELDS.join(", ")})`);
  }
  const { plugins, machine, profile, seed } = config;
  if (plugins !== undefined) {
    if (!Array.isArray(plugins)) throw new FlushlabInputError(`${file}: plugins must be an array of plugins`);
    plugins.forEach((p: unknown, i) => {
      if (p === null || typeof p !== "object") throw new FlushlabInputError(`${file}: plugins[${i}] is not a plugin object`);
      const plugin = p as Record<string, unknown>;
      if (typeof plugin["name"] !== "string" || plugin["name"] === "") throw new FlushlabInputError(`${file}: plugins[${i}] has no name`);
      const name = plugin["name"];
      if (typeof plugin["register"] !== "function") throw new FlushlabInputError(`${file}: plugin "${name}" has no register(container) function`);
      if (!Array.isArray(plugin["appliesTo"])) throw new FlushlabInputError(`${file}: plugin "${name}" has no appliesTo array`);
      if (!Array.isArray(plugin["overrides"])) throw new FlushlabInputError(`${file}: plugin "${name}" has no overrides array`);
      const patch = plugin["patch"] as Record<string, unknown> | undefined;
      if (patch === null || typeof patch !== "object" || typeof patch["title"] !== "string") {
        throw new FlushlabInputError(`${file}: plugin "${name}" has no patch provenance (patch.title, patch.commit, patch.kernel)`);
      }
    });
  }
  if (machine !== undefined) {
    if (machine === null || typeof machine !== "object" || Array.isArray(machine)) throw new FlushlabInputError(`${file}: machine must be an object`);
    const m = machine as Record<string, unknown>;
    for (const key of Object.keys(m)) {
      if (!MACHINE_FIELDS.includes(key)) throw new FlushlabInputError(`${file}: unknown field "machine.${key}" (known: ${MACHINE_FIELDS.join(", ")})`);
    }
    if (m["arch"] !== undefined && !ARCH_NAMES.includes(m["arch"] as never)) {
      throw new FlushlabInputError(`${file}: machine.arch must be one of ${ARCH_NAMES.join(", ")} (got ${JSON.stringify(m["arch"])})`);
    }
    for (const key of ["cpus", "sockets", "tlbEntries", "tlbWays", "memoryMiB"]) {
      const v = m[key];
      if (v !== undefined && !(typeof v === "number" && Number.isSafeInteger(v) && v > 0)) {
        throw new FlushlabInputError(`${file}: machine.${key} must be a positive integer (got ${JSON.stringify(v)})`);
      }
    }
    if (m["la57"] !== undefined && typeof m["la57"] !== "boolean") throw new FlushlabInputError(`${file}: machine.la57 must be true or false`);
  }
  if (profile !== undefined && (typeof profile !== "string" || profile === "")) throw new FlushlabInputError(`${file}: profile must be a profile name`);
  if (seed !== undefined && !(typeof seed === "number" && Number.isSafeInteger(seed) && seed >= 0)) {
    throw new FlushlabInputError(`${file}: seed must be a non-negative integer (got ${JSON.stringify(seed)})`);
  }
}
