/**
 * Command-line parsing on commander, with every value checked by its zod schema
 * (./schemas.ts): option specs per command, the parser, and `--param k=v`. Commander does
 * the syntax (long and short names, `--name=value`, `--`); its errors and the schemas'
 * become one precise line each, a FlushlabInputError (the CLI prints it as
 * `flushlab: <message>`, exit 2). Help is generated from the same specs (./help.ts).
 */
import { Command as Commander, CommanderError } from "commander";
import { FlushlabInputError } from "@flushlab/core-mmu";
import type { ParamSpec, WorkloadDefinitionLike } from "@flushlab/core-mmu";
import type { z } from "zod";
import { nameListText, nonNegativeIntText, paramText, parseText, positiveIntText, type TextSchema } from "./schemas.js";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** String options only: may be given several times; the values are collected in order. */
  readonly multiple?: boolean;
  readonly short?: string;
  /** Shown in help, e.g. "N" for `--cpus N`. */
  readonly valueName?: string;
  readonly description: string;
  /** String options: the schema the text (each text, when multiple) must pass; its output is the parsed value. */
  readonly schema?: TextSchema<unknown>;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type Scalar<O extends OptionSpec> = O extends { readonly schema: infer Z extends z.ZodType } ? z.output<Z> : string;

type ValueOf<O extends OptionSpec> = O["type"] extends "boolean"
  ? boolean
  : O extends { readonly multiple: true }
    ? readonly Scalar<O>[]
    : Scalar<O>;

export type ParsedOptions<S extends OptionSpecs> = { -readonly [K in keyof S]?: ValueOf<S[K]> };

export interface ParsedArgs<S extends OptionSpecs> {
  readonly positionals: readonly string[];
  readonly options: ParsedOptions<S>;
}

/** Options every command accepts. */
export const HELP_OPTION = {
  help: { type: "boolean", short: "h", description: "show this help" },
} as const satisfies OptionSpecs;

/** Common option value kinds, each with its schema. */
export const positiveInt = (valueName: string, description: string) => ({ type: "string", valueName, description, schema: positiveIntText }) as const;
export const nonNegativeInt = (valueName: string, description: string) => ({ type: "string", valueName, description, schema: nonNegativeIntText }) as const;
export const nameList = (valueName: string, description: string) => ({ type: "string", valueName, description, schema: nameListText }) as const;

/** The commander program for one command's specs: syntax only (values are checked by the schemas). */
export function commanderFor(command: string, specs: OptionSpecs): Commander {
  const program = new Commander(command)
    .exitOverride()
    .helpOption(false)
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined })
    .allowExcessArguments(true)
    .argument("[args...]");
  for (const [name, spec] of Object.entries(specs)) {
    const flags = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.type === "string" ? ` <${spec.valueName ?? "value"}>` : ""}`;
    if (spec.type === "boolean") {
      program.option(flags, spec.description);
      continue;
    }
    program.option(flags, spec.description, (text: string, previous: unknown) => {
      if (text.startsWith("--")) throw new FlushlabInputError(`option --${name} needs a value`);
      const value = spec.schema === undefined ? text : parseText(spec.schema, text, `--${name}`);
      if (spec.multiple) return [...((previous as unknown[] | undefined) ?? []), value];
      if (previous !== undefined) throw new FlushlabInputError(`option --${name} given more than once`);
      return value;
    });
  }
  return program;
}

/** Commander's own errors, as one line naming the command. */
function commanderMessage(error: CommanderError, command: string): string {
  const seeHelp = `see "flushlab ${command} --help"`;
  const text = error.message.replace(/^error: /, "");
  const unknown = /^unknown option '([^']+)'/.exec(text);
  if (unknown) {
    const hint = /\(Did you mean (\S+)\?\)/.exec(text);
    return `unknown option "${unknown[1]}" for ${command} (${hint ? `did you mean ${hint[1]}? ` : ""}${seeHelp})`;
  }
  const missing = /^option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(text);
  if (missing) return `option ${missing[1]} needs a value`;
  return `${text} (${seeHelp})`;
}

/**
 * Parses `argv` (the words after the command name) against `specs`. Accepts `--name value`,
 * `--name=value`, short booleans (`-h`), and `--` before positionals that start with "-".
 */
export function parseArgs<S extends OptionSpecs>(argv: readonly string[], specs: S, command: string): ParsedArgs<S> {
  // Commander reads `--flag=x` on a boolean as an unknown option; say what is wrong instead.
  for (const arg of argv) {
    if (arg === "--") break;
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (m && Object.hasOwn(specs, m[1]!) && specs[m[1]!]!.type === "boolean") throw new FlushlabInputError(`option --${m[1]} takes no value (got "${m[2]}")`);
  }
  const program = commanderFor(command, specs);
  try {
    program.parse([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) throw new FlushlabInputError(commanderMessage(error, command));
    throw error;
  }
  const raw = program.opts();
  const options: Record<string, unknown> = {};
  for (const name of Object.keys(specs)) {
    // commander camel-cases option names; the specs' names are the keys we promise.
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (raw[key] !== undefined) options[name] = raw[key];
  }
  return { positionals: program.processedArgs[0] as string[], options: options as ParsedOptions<S> };
}

/** Rejects positionals beyond `max`, naming the first extra one. */
export function expectAtMostPositionals(positionals: readonly string[], max: number, command: string): void {
  const extra = positionals[max];
  if (extra !== undefined) throw new FlushlabInputError(`unexpected argument "${extra}" for ${command}`);
}

/** A positive safe integer from option text. */
export function parsePositiveInt(text: string, what: string): number {
  return parseText(positiveIntText, text, what);
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
  return parseText(paramText(spec), text, `parameter "${spec.name}"`);
}
