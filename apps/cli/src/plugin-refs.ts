/**
 * Plugins from anywhere: `--plugins` and flushlab.config's `plugins` take, besides the
 * installed plugin names,
 * - a path to a plugin module or package, relative to the current directory (a name that
 *   starts with "." or "/", or contains a path separator and is not an @scope/name):
 *   a file (.js, .mjs, .cjs, .ts, .mts; the extension may be left out) or a directory
 *   (its package.json's exports/main, else src/index.ts for an unbuilt TypeScript
 *   package, else index.*);
 * - a package name not installed with flushlab, resolved from node_modules directories
 *   from the current directory up, as Node does.
 * TypeScript is loaded through tsx, as flushlab.config.ts is. The module's default export
 * is the plugin, or else its one exported plugin. Every plugin so loaded gets the checks
 * of config plugins (validatePluginShape here; conflicts when enabled), and every failure
 * is one FlushlabInputError line.
 */
import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { FlushlabInputError, validatePluginShape, type FlushlabPlugin } from "@flushlab/core-mmu";

/** A catalogue entry (commands/context.ts CatalogEntry; structural here, so that this file imports no command code). */
export interface RefCatalogEntry {
  readonly plugin: FlushlabPlugin;
  readonly source: string;
  readonly refs?: readonly string[];
}

/** A reference that names a path rather than an installed plugin or a package. */
export function isPathRef(ref: string): boolean {
  if (ref.startsWith(".") || isAbsolute(ref)) return true;
  return !ref.startsWith("@") && (ref.includes("/") || ref.includes("\\"));
}

const CODE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs", ".cjs"];
const ENTRY_CONDITIONS = new Set(["import", "node", "default", "module-sync"]);

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** An exports target under Node's import conditions (the first matching key, in order). */
function conditionalTarget(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    for (const v of value) {
      const t = conditionalTarget(v);
      if (t !== undefined) return t;
    }
    return undefined;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, v] of Object.entries(value)) {
      if (!ENTRY_CONDITIONS.has(key)) continue;
      const t = conditionalTarget(v);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/** The file a package directory's "." resolves to (exports, then main, then index.*), or its src/index.ts when that is not built. */
function packageEntry(dir: string, ref: string): string {
  const pkgPath = join(dir, "package.json");
  let declared: string | undefined;
  if (isFile(pkgPath)) {
    let pkg: { exports?: unknown; main?: unknown };
    try {
      pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as typeof pkg;
    } catch (error) {
      throw new FlushlabInputError(`plugin "${ref}": cannot read its package.json (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`);
    }
    const exp = pkg.exports;
    const dot =
      exp !== null && typeof exp === "object" && !Array.isArray(exp) && Object.keys(exp).some((k) => k.startsWith("."))
        ? (exp as Record<string, unknown>)["."]
        : exp;
    declared = conditionalTarget(dot) ?? (typeof pkg.main === "string" ? pkg.main : undefined);
  }
  const candidates = [
    ...(declared !== undefined ? [join(dir, declared)] : []),
    ...CODE_EXTENSIONS.map((e) => join(dir, `index${e}`)),
  ];
  const found = candidates.find(isFile);
  if (found !== undefined) return found;
  const source = join(dir, "src", "index.ts");
  if (isFile(source)) return source;
  throw new FlushlabInputError(
    declared !== undefined
      ? `plugin "${ref}": its package.json points at ${declared}, which does not exist (build the package first)`
      : `plugin "${ref}": ${dir} has no package.json entry, index file or src/index.ts`,
  );
}

/** The module file a path reference names, or a one-line error when there is none. */
export function resolvePathRef(ref: string, cwd: string): string {
  const path = resolve(cwd, ref);
  if (isDirectory(path)) return packageEntry(path, ref);
  if (isFile(path)) return path;
  const withExt = CODE_EXTENSIONS.map((e) => path + e).find(isFile);
  if (withExt !== undefined) return withExt;
  throw new FlushlabInputError(`plugin path "${ref}" does not exist (looked for ${path})`);
}

/** The directory of package `name` in the node_modules of `cwd` or a parent, as Node looks it up; undefined when none has it. */
export function findPackageDir(name: string, cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (isFile(join(candidate, "package.json"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

async function importModule(file: string): Promise<unknown> {
  const ext = extname(file);
  if (ext !== ".ts" && ext !== ".mts" && ext !== ".cts") return import(pathToFileURL(file).href);
  // TypeScript through tsx, with the nearest tsconfig.json of the plugin's own package.
  let tsconfig: string | false = false;
  for (let d = dirname(file); ; d = dirname(d)) {
    if (isFile(join(d, "tsconfig.json"))) {
      tsconfig = join(d, "tsconfig.json");
      break;
    }
    if (isFile(join(d, "package.json")) || dirname(d) === d) break;
  }
  const { tsImport } = await import("tsx/esm/api");
  return tsImport(pathToFileURL(file).href, { parentURL: import.meta.url, tsconfig });
}

function looksLikePlugin(value: unknown): value is FlushlabPlugin {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v["name"] === "string" && Array.isArray(v["policies"]);
}

/** The plugin a module exports: its default export, else its one exported plugin. */
export function pluginOfModule(mod: unknown, ref: string): FlushlabPlugin {
  const ns = (mod ?? {}) as Record<string, unknown>;
  let def = ns["default"];
  // A .ts file outside a "type": "module" package is compiled to CommonJS: unwrap its default.
  if (def !== null && typeof def === "object" && (def as { __esModule?: unknown }).__esModule === true && "default" in def) {
    def = (def as { default: unknown }).default;
  }
  if (def !== undefined && def !== null && typeof def === "object" && "name" in def) {
    validatePluginShape(def, `plugin "${ref}": its default export`);
    return def;
  }
  const named = [...new Set(Object.entries(ns).filter(([k, v]) => k !== "default" && looksLikePlugin(v)).map(([, v]) => v as FlushlabPlugin))];
  if (named.length === 0) throw new FlushlabInputError(`plugin "${ref}" exports no flushlab plugin (export default definePlugin({ … }))`);
  if (named.length > 1) {
    throw new FlushlabInputError(`plugin "${ref}" exports ${named.length} plugins (${named.map((p) => p.name).join(", ")}): export default the one to enable`);
  }
  const only = named[0] as FlushlabPlugin;
  validatePluginShape(only, `plugin "${ref}"`);
  return only;
}

/** Loaded plugins by module file, so a module named twice (config and flag) is one plugin. */
const loaded = new Map<string, FlushlabPlugin>();

async function loadFile(file: string, ref: string): Promise<FlushlabPlugin> {
  const key = realpathSync(file);
  const cached = loaded.get(key);
  if (cached !== undefined) return cached;
  let mod: unknown;
  try {
    mod = await importModule(key);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const line = message.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !/^Transform failed with/.test(l))[0] ?? message;
    throw new FlushlabInputError(`cannot load plugin "${ref}": ${line}`);
  }
  const plugin = pluginOfModule(mod, ref);
  loaded.set(key, plugin);
  return plugin;
}

/**
 * Loads the plugin `ref` names when it is a path, or a package found in node_modules;
 * undefined for a plain name no node_modules has (left to the catalogue's "unknown plugin").
 */
export async function loadPluginRef(ref: string, cwd: string): Promise<FlushlabPlugin | undefined> {
  if (isPathRef(ref)) return loadFile(resolvePathRef(ref, cwd), ref);
  const dir = findPackageDir(ref, cwd);
  if (dir === undefined) return undefined;
  return loadFile(packageEntry(dir, ref), ref);
}

/**
 * flushlab.config's `plugins` with every string resolved: an installed plugin's name,
 * a path (relative to the config's directory) or a package in node_modules.
 */
export async function resolveConfigPluginRefs(
  plugins: readonly unknown[],
  file: string,
  cwd: string,
  installed: readonly FlushlabPlugin[],
): Promise<FlushlabPlugin[]> {
  const out: FlushlabPlugin[] = [];
  for (const entry of plugins) {
    if (typeof entry !== "string") {
      out.push(entry as FlushlabPlugin);
      continue;
    }
    let plugin: FlushlabPlugin | undefined = isPathRef(entry) ? undefined : installed.find((p) => p.name === entry);
    if (plugin === undefined) {
      try {
        plugin = await loadPluginRef(entry, cwd);
      } catch (error) {
        if (error instanceof FlushlabInputError) throw new FlushlabInputError(`${file}: ${error.message}`);
        throw error;
      }
    }
    if (plugin === undefined) {
      throw new FlushlabInputError(`${file}: unknown plugin "${entry}" (not an installed plugin, not a path, and no node_modules has a package of that name)`);
    }
    out.push(plugin);
  }
  return out;
}

/**
 * The references of `--plugins`: as parsed (a list of names, or for a sweep a list of
 * lists), or as text split leniently (the command itself reports a malformed list).
 */
export function flagRefs(flag: unknown): string[] {
  if (Array.isArray(flag)) return flag.flatMap((f) => flagRefs(f));
  if (typeof flag !== "string") return [];
  return flag.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * The catalogue plus the plugins that `--plugins` names by path or package: each such
 * entry remembers the reference it was asked by, so `findPlugin` finds it under it.
 * A reference that is already a catalogue name is left alone (installed names first).
 */
export async function addPluginRefs(catalog: readonly RefCatalogEntry[], pluginsFlag: unknown, cwd: string): Promise<RefCatalogEntry[]> {
  const entries = [...catalog];
  for (const ref of flagRefs(pluginsFlag)) {
    if (!isPathRef(ref) && entries.some((e) => e.plugin.name === ref)) continue;
    if (entries.some((e) => e.refs?.includes(ref))) continue;
    const plugin = await loadPluginRef(ref, cwd);
    if (plugin === undefined) continue;
    const i = entries.findIndex((e) => e.plugin.name === plugin.name);
    const existing = entries[i];
    if (existing === undefined) {
      entries.push({ plugin, source: ref, refs: [ref] });
    } else if (existing.plugin === plugin) {
      entries[i] = { ...existing, refs: [...(existing.refs ?? []), ref] };
    } else {
      throw new FlushlabInputError(
        `two different plugins are named "${plugin.name}" (${existing.source === "installed" ? "installed" : `in ${existing.source}`} and in ${ref})`,
      );
    }
  }
  return entries;
}
