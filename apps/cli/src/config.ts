/**
 * flushlab.config.{ts,js,mjs}: found in the current directory, loaded, checked field by
 * field against ConfigSchema (zod). `.mjs`/`.js` are loaded with a plain dynamic import; `.ts` through tsx's ESM API
 * (`tsImport`), so it works on any supported Node. Load failures become one line.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ARCH_NAMES, FlushlabInputError, WATCHDOG_THRESH_MAX, validateKernelVersion, validatePluginShape } from "@flushlab/core-mmu";
import type { FlushlabConfig, FlushlabPlugin } from "@flushlab/core-mmu";
import { z } from "zod";
import { resolveConfigPluginRefs } from "./plugin-refs.js";

export const CONFIG_FILE_NAMES = ["flushlab.config.ts", "flushlab.config.mjs", "flushlab.config.js"] as const;

export interface LoadedConfig {
  /** File name (not path), for messages and `flushlab list`. */
  readonly file: string;
  /** The config with its plugin names, paths and packages resolved to plugins. */
  readonly config: Omit<FlushlabConfig, "plugins"> & { readonly plugins?: readonly FlushlabPlugin[] };
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

/** Loads the config of `cwd`; its plugin entries that are strings name `installed` plugins, paths or packages. */
export async function loadConfig(cwd: string, installed: readonly FlushlabPlugin[] = []): Promise<LoadedConfig | undefined> {
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
  const { plugins, ...rest } = config as FlushlabConfig;
  if (plugins === undefined) return { file, config: rest };
  return { file, config: { ...rest, plugins: await resolveConfigPluginRefs(plugins, file, cwd, installed) } };
}

const M_POSITIVE = "must be a positive integer";
const positive = z.int({ error: M_POSITIVE }).min(1, { error: M_POSITIVE });
const flag = z.boolean({ error: "must be true or false" });

/** The machine fields a config may set; core-mmu's validateMachine checks their ranges where they are used. */
const MachineSchema = z.strictObject(
  {
    arch: z.enum(ARCH_NAMES, { error: `must be one of ${ARCH_NAMES.join(", ")}` }),
    cpus: positive,
    sockets: positive,
    tlbEntries: positive,
    tlbWays: positive,
    tlb2mEntries: positive,
    pscEntries: positive,
    iotlbEntries: positive,
    memoryMiB: positive,
    la57: flag,
    pteLeakErratum: flag,
    pcid: flag,
    invpcid: flag,
    pti: flag,
    thp: z.enum(["always", "never"], { error: 'must be "always" or "never"' }),
    watchdogThresh: z
      .int({ error: `must be an integer number of seconds from 0 (off) to ${WATCHDOG_THRESH_MAX}` })
      .min(0, { error: `must be an integer number of seconds from 0 (off) to ${WATCHDOG_THRESH_MAX}` })
      .max(WATCHDOG_THRESH_MAX, { error: `must be an integer number of seconds from 0 (off) to ${WATCHDOG_THRESH_MAX}` }),
    watchdogCycles: z.int({ error: "must be a non-negative integer, 0 for off" }).min(0, { error: "must be a non-negative integer, 0 for off" }),
  },
  { error: "must be an object" },
).partial();

/** A message printed as it is, not after the field's path. */
const whole = (message: string) => ({ code: "custom" as const, message, params: { whole: true } });

const WorkloadSchema = z.unknown().superRefine((w, ctx) => {
  const wl = w as Record<string, unknown> | null;
  if (wl === null || typeof wl !== "object" || typeof wl["name"] !== "string" || wl["name"] === "") return void ctx.addIssue({ code: "custom", message: "has no name" });
  for (const field of ["setup", "collect"]) if (typeof wl[field] !== "function") return void ctx.addIssue(whole(`workload "${wl["name"]}" has no ${field} function`));
  for (const field of ["params", "metrics"]) if (!Array.isArray(wl[field])) return void ctx.addIssue(whole(`workload "${wl["name"]}" has no ${field} array`));
});

/**
 * The config file's shape, as one zod schema: the types come from FlushlabConfig, the
 * one-line errors from the messages here. Semantic checks (a known profile or preset,
 * sockets dividing cpus, a plugin's policies) happen where the values are used.
 */
export const ConfigSchema = z.strictObject({
  plugins: z.array(z.unknown(), { error: "must be an array of plugins" }),
  workloads: z.array(WorkloadSchema, { error: "must be an array of workloads (defineWorkload)" }),
  preset: z.string({ error: "must be a preset name" }).min(1, { error: "must be a preset name" }),
  machine: MachineSchema,
  profile: z.string({ error: "must be a profile name" }).min(1, { error: "must be a profile name" }),
  seed: z.int({ error: "must be a non-negative integer" }).min(0, { error: "must be a non-negative integer" }),
  kernel: z.string({ error: "must be a kernel release" }),
}).partial();

function pathText(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i === 0 ? "" : "."}${String(k)}`)).join("");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Shape checks by ConfigSchema; the first problem becomes one line naming the file and the field. */
export function validateConfig(config: Record<string, unknown>, file: string): void {
  const r = ConfigSchema.safeParse(config);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = pathText(issue.path);
    if (issue.code === "unrecognized_keys") {
      const known = Object.keys(issue.path.length === 0 ? ConfigSchema.shape : MachineSchema.shape);
      throw new FlushlabInputError(`${file}: unknown field "${where === "" ? "" : `${where}.`}${issue.keys[0]}" (known: ${known.join(", ")})`);
    }
    if ((issue as { params?: { whole?: boolean } }).params?.whole === true) throw new FlushlabInputError(`${file}: ${issue.message}`);
    const value = valueAt(config, issue.path);
    const got = value === undefined || (typeof value === "object" && value !== null) || typeof value === "function" ? "" : ` (got ${JSON.stringify(value)})`;
    throw new FlushlabInputError(`${file}: ${where} ${issue.message}${got}`);
  }
  if (r.data.kernel !== undefined) validateKernelVersion(r.data.kernel, file);
  r.data.plugins?.forEach((p, i) => {
    // A string names an installed plugin, a path or a package (resolved by loadConfig).
    if (typeof p === "string") {
      if (p.trim() === "") throw new FlushlabInputError(`${file}: plugins[${i}] is an empty name`);
    } else validatePluginShape(p, `${file}: plugins[${i}]`);
  });
}
