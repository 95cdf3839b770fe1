/**
 * Command-line parsing, by hand so that every mistake gets one precise line: option
 * specs per command, the parser, and the parsers for option values and `--param k=v`.
 * Every error is a FlushlabInputError (the CLI prints it as `flushlab: <message>`, exit 2).
 */
import { FlushlabInputError } from "@flushlab/core-mmu";
import type { ParamSpec, WorkloadDefinitionLike } from "@flushlab/core-mmu";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** String options only: may be given several times; the values are collected in order. */
  readonly multiple?: boolean;
  readonly short?: string;
  /** Shown in help, e.g. "N" for `--cpus N`. */
  readonly valueName?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<O extends OptionSpec> = O["type"] extends "boolean"
  ? boolean
  : O extends { readonly multiple: true }
    ? readonly string[]
    : string;

export type ParsedOptions<S extends OptionSpecs> = { -readonly [K in keyof S]?: ValueOf<S[K]> };

export interface ParsedArgs<S extends OptionSpecs> {
  readonly positionals: readonly string[];
  readonly options: ParsedOptions<S>;
}

/** Options every command accepts. */
export const HELP_OPTION = {
  help: { type: "boolean", short: "h", description: "show this help" },
} as const satisfies OptionSpecs;

/**
 * Parses `argv` (the words after the command name) against `specs`. Accepts `--name value`,
 * `--name=value`, short booleans (`-h`), and `--` before positionals that start with "-".
 */
export function parseArgs<S extends OptionSpecs>(argv: readonly string[], specs: S, command: string): ParsedArgs<S> {
  const positionals: string[] = [];
  const values = new Map<string, boolean | string | string[]>();
  const shortToLong = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) shortToLong.set(spec.short, name);
  const seeHelp = `see "flushlab ${command} --help"`;

  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (onlyPositionals || arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else {
      const long = arg.length === 2 ? shortToLong.get(arg.slice(1)) : undefined;
      if (long === undefined) throw new FlushlabInputError(`unknown option "${arg}" for ${command} (${seeHelp})`);
      name = long;
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined || name === "") {
      throw new FlushlabInputError(`unknown option "--${name}" for ${command} (${seeHelp})`);
    }
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new FlushlabInputError(`option --${name} takes no value (got "${inline}")`);
      values.set(name, true);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) throw new FlushlabInputError(`option --${name} needs a value`);
      value = next;
      i++;
    }
    if (spec.multiple) {
      const list = values.get(name);
      if (Array.isArray(list)) list.push(value);
      else values.set(name, [value]);
    } else {
      if (values.has(name)) throw new FlushlabInputError(`option --${name} given more than once`);
      values.set(name, value);
    }
  }
  return { positionals, options: Object.fromEntries(values) as ParsedOptions<S> };
}

/** Rejects positionals beyond `max`, naming the first extra one. */
export function expectAtMostPositionals(positionals: readonly string[], max: number, command: string): void {
  const extra = positionals[max];
  if (extra !== undefined) throw new FlushlabInputError(`unexpected argument "${extra}" for ${command}`);
}

const INTEGER_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A positive safe integer from option text. */
export function parsePositiveInt(text: string, what: string): number {
  const n = INTEGER_RE.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new FlushlabInputError(`${what} must be a positive integer (got "${text}")`);
  return n;
}

/** A non-negative safe integer from option text. */
export function parseNonNegativeInt(text: string, what: string): number {
  const n = INTEGER_RE.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new FlushlabInputError(`${what} must be a non-negative integer (got "${text}")`);
  return n;
}

/** `--plugins a,b` → ["a", "b"]; `--plugins ""` → [] (explicitly none). */
export function parseNameList(text: string, what: string): string[] {
  if (text.trim() === "") return [];
  const names = text.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) throw new FlushlabInputError(`${what} has an empty name (got "${text}")`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new FlushlabInputError(`${what} lists "${n}" twice`);
    seen.add(n);
  }
  return names;
}

/** Quoted, comma-separated list for "(known: …)" hints. */
export function knownList(names: readonly string[]): string {
  return names.length === 0 ? "none" : names.join(", ");
}

/** Parses `--param k=v` texts into raw values typed by the workload's ParamSpecs (not yet range-checked). */
export function parseParamFlags(workload: WorkloadDefinitionLike, flags: readonly string[]): Record<string, number | boolean | string> {
  const out: Record<string, number | boolean | string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq <= 0) throw new FlushlabInputError(`--param must be written key=value (got "${flag}")`);
    const key = flag.slice(0, eq).trim();
    const text = flag.slice(eq + 1);
    const spec = findParam(workload, key);
    if (Object.hasOwn(out, key)) throw new FlushlabInputError(`parameter "${key}" given more than once`);
    out[key] = parseParamText(spec, text);
  }
  return out;
}

function findParam(workload: WorkloadDefinitionLike, key: string): ParamSpec {
  const spec = workload.params.find((p) => p.name === key);
  if (spec === undefined) {
    throw new FlushlabInputError(
      `unknown parameter "${key}" for workload "${workload.name}" (known: ${knownList(workload.params.map((p) => p.name))})`,
    );
  }
  return spec;
}

function parseParamText(spec: ParamSpec, text: string): number | boolean | string {
  const t = text.trim();
  switch (spec.type) {
    case "int": {
      const n = INTEGER_RE.test(t) ? Number(t) : Number.NaN;
      if (!Number.isSafeInteger(n)) throw new FlushlabInputError(`parameter "${spec.name}" must be an integer (got "${text}")`);
      return n;
    }
    case "number": {
      const n = NUMBER_RE.test(t) ? Number(t) : Number.NaN;
      if (!Number.isFinite(n)) throw new FlushlabInputError(`parameter "${spec.name}" must be a number (got "${text}")`);
      return n;
    }
    case "boolean": {
      const lower = t.toLowerCase();
      if (lower === "true" || lower === "1" || lower === "yes" || lower === "on") return true;
      if (lower === "false" || lower === "0" || lower === "no" || lower === "off") return false;
      throw new FlushlabInputError(`parameter "${spec.name}" must be true or false (got "${text}")`);
    }
    case "string":
      return text;
  }
}
