/**
 * flushlab.config.{ts,js,mjs}: found in the current directory, loaded, checked field by
 * field. `.mjs`/`.js` are loaded with a plain dynamic import; `.ts` through tsx's ESM API
 * (`tsImport`), so it works on any supported Node. Load failures become one line.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ARCH_NAMES, FlushlabInputError, WATCHDOG_THRESH_MAX, validateKernelVersion, validatePluginShape } from "@flushlab/core-mmu";
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

/**
 * First useful line of a load error. esbuild (used by tsx) reports syntax errors as
 * "Transform failed with 1 error:\n/abs/path/flushlab.config.ts:1:16: ERROR: Expected …";
 * the header says nothing, so the next line is used, with the path shortened to the file name.
 */
function loadErrorLine(error: unknown, path: string, file: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length > 1 && /^Transform failed with \d+ errors?:?$/.test(lines[0] ?? "")) {
    const detail = lines[1] ?? "";
    return (detail.startsWith(path) ? file + detail.slice(path.length) : detail).replace(/: ERROR: /, ": ");
  }
  return firstLine(message);
}

/** A `.ts` config: tsx transpiles it (and whatever it imports) on the fly, in its own loader namespace. */
async function importTypeScript(path: string, cwd: string): Promise<unknown> {
  const { tsImport } = await import("tsx/esm/api");
  const tsconfig = join(cwd, "tsconfig.json");
  return tsImport(pathToFileURL(path).href, { parentURL: import.meta.url, tsconfig: existsSync(tsconfig) ? tsconfig : false });
}

/**
 * The config's default export. A `.ts` file outside a `"type": "module"` package is compiled
 * to CommonJS, so its namespace's default is `{ __esModule: true, default: config }`: unwrap it.
 */
function defaultExport(mod: unknown): unknown {
  const value = (mod as { default?: unknown } | null | undefined)?.default;
  if (value !== null && typeof value === "object" && (value as { __esModule?: unknown }).__esModule === true && "default" in value) {
    return (value as { default: unknown }).default;
  }
  return value;
}

export async function loadConfig(cwd: string): Promise<LoadedConfig | undefined> {
  const file = findConfigFile(cwd);
  if (file === undefined) return undefined;
  const path = join(cwd, file);
  let mod: unknown;
  try {
    mod = file.endsWith(".ts") ? await importTypeScript(path, cwd) : await import(pathToFileURL(path).href);
  } catch (error) {
    throw new FlushlabInputError(`cannot load ${file}: ${loadErrorLine(error, path, file)}`);
  }
  const config = defaultExport(mod);
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new FlushlabInputError(`${file} must export default an object (use defineConfig({ … }))`);
  }
  validateConfig(config as Record<string, unknown>, file);
  return { file, config: config as FlushlabConfig };
}

const KNOWN_FIELDS = ["plugins", "workloads", "preset", "machine", "profile", "seed", "kernel"];
const MACHINE_FIELDS = ["arch", "cpus", "sockets", "tlbEntries", "tlbWays", "tlb2mEntries", "pscEntries", "iotlbEntries", "memoryMiB", "la57", "pcid", "invpcid", "pti", "thp", "watchdogThresh", "watchdogCycles"];

/** Shape checks; semantic checks (known profile, sockets dividing cpus) happen where the values are used. */
export function validateConfig(config: Record<string, unknown>, file: string): void {
  for (const key of Object.keys(config)) {
    if (!KNOWN_FIELDS.includes(key)) throw new FlushlabInputError(`${file}: unknown field "${key}" (known: ${KNOWN_FIELDS.join(", ")})`);
  }
  const { plugins, workloads, preset, machine, profile, seed, kernel } = config;
  if (kernel !== undefined) validateKernelVersion(kernel, file);
  if (preset !== undefined && (typeof preset !== "string" || preset === "")) throw new FlushlabInputError(`${file}: preset must be a preset name`);
  if (plugins !== undefined) {
    if (!Array.isArray(plugins)) throw new FlushlabInputError(`${file}: plugins must be an array of plugins`);
    plugins.forEach((p: unknown, i) => validatePluginShape(p, `${file}: plugins[${i}]`));
  }
  if (workloads !== undefined) {
    if (!Array.isArray(workloads)) throw new FlushlabInputError(`${file}: workloads must be an array of workloads (defineWorkload)`);
    workloads.forEach((w: unknown, i) => {
      const wl = w as Record<string, unknown> | null;
      if (wl === null || typeof wl !== "object" || typeof wl["name"] !== "string" || wl["name"] === "") throw new FlushlabInputError(`${file}: workloads[${i}] has no name`);
      for (const field of ["setup", "collect"]) {
        if (typeof wl[field] !== "function") throw new FlushlabInputError(`${file}: workload "${wl["name"]}" has no ${field} function`);
      }
      for (const field of ["params", "metrics"]) {
        if (!Array.isArray(wl[field])) throw new FlushlabInputError(`${file}: workload "${wl["name"]}" has no ${field} array`);
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
    for (const key of ["cpus", "sockets", "tlbEntries", "tlbWays", "tlb2mEntries", "pscEntries", "iotlbEntries", "memoryMiB"]) {
      const v = m[key];
      if (v !== undefined && !(typeof v === "number" && Number.isSafeInteger(v) && v > 0)) {
        throw new FlushlabInputError(`${file}: machine.${key} must be a positive integer (got ${JSON.stringify(v)})`);
      }
    }
    for (const f of ["la57", "pcid", "invpcid", "pti"]) {
      if (m[f] !== undefined && typeof m[f] !== "boolean") throw new FlushlabInputError(`${file}: machine.${f} must be true or false`);
    }
    if (m["thp"] !== undefined && m["thp"] !== "always" && m["thp"] !== "never") throw new FlushlabInputError(`${file}: machine.thp must be "always" or "never"`);
    const thresh = m["watchdogThresh"];
    if (thresh !== undefined && !(typeof thresh === "number" && Number.isInteger(thresh) && thresh >= 0 && thresh <= WATCHDOG_THRESH_MAX)) {
      throw new FlushlabInputError(`${file}: machine.watchdogThresh must be an integer number of seconds from 0 (off) to ${WATCHDOG_THRESH_MAX} (got ${JSON.stringify(thresh)})`);
    }
    const cycles = m["watchdogCycles"];
    if (cycles !== undefined && !(typeof cycles === "number" && Number.isSafeInteger(cycles) && cycles >= 0)) {
      throw new FlushlabInputError(`${file}: machine.watchdogCycles must be a non-negative integer, 0 for off (got ${JSON.stringify(cycles)})`);
    }
  }
  if (profile !== undefined && (typeof profile !== "string" || profile === "")) throw new FlushlabInputError(`${file}: profile must be a profile name`);
  if (seed !== undefined && !(typeof seed === "number" && Number.isSafeInteger(seed) && seed >= 0)) {
    throw new FlushlabInputError(`${file}: seed must be a non-negative integer (got ${JSON.stringify(seed)})`);
  }
}
