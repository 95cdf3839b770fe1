/**
 * The `flushlab` command: dispatch, help, and the error policy.
 *
 * - bad input (FlushlabInputError from the CLI or the engine): one line
 *   `flushlab: <what is wrong>` on stderr, exit 2;
 * - anything else: `flushlab: internal error: <message>`, exit 1 (stack with FLUSHLAB_DEBUG=1);
 * - stdout depends only on the inputs (no timestamps, no timings).
 */
import { readFileSync } from "node:fs";
import { FlushlabInputError } from "@flushlab/core-mmu";
import { knownList, parseArgs } from "./args.js";
import type { OptionSpecs } from "./args.js";
import type { Command } from "./commands/command.js";
import { checkCommand } from "./commands/check.js";
import { compareCommand } from "./commands/compare.js";
import { buildCatalog, buildWorkloads } from "./commands/context.js";
import type { CommandContext } from "./commands/context.js";
import { listCommand } from "./commands/list.js";
import { newPluginCommand } from "./commands/new-plugin.js";
import { reproduceCommand } from "./commands/reproduce.js";
import { runCommand } from "./commands/run.js";
import { loadConfig } from "./config.js";
import { addPluginRefs } from "./plugin-refs.js";
import type { CliIo, CliRegistry } from "./registry-types.js";
import { ReportBus, attachReporter } from "./bus.js";
import { HumanReporter } from "./reporters/human.js";
import { JsonReporter } from "./reporters/json.js";
import { ProgressReporter } from "./reporters/progress.js";

export const COMMANDS: readonly Command[] = [listCommand, runCommand, compareCommand, reproduceCommand, checkCommand, newPluginCommand];

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "flushlab — simulate Linux TLB-flush policies on a model x86 SMP machine",
    "",
    "Usage: flushlab <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Options:",
    "  -h, --help   show help (flushlab <command> --help for a command)",
    "  --version    print the version",
    "",
    "Plugins come from installed packages and from flushlab.config.{ts,js,mjs} in the current",
    "directory (fields: plugins, workloads, machine, profile, seed); command-line flags override the config.",
    "--plugins and the config's plugins also take a path to a plugin module or package (./my-policy)",
    "or a package name found in node_modules; \"flushlab new-plugin <name>\" writes a plugin package.",
    "Exit status: 0 ok, 2 bad input, 1 internal error (FLUSHLAB_DEBUG=1 prints the stack); check: 1 when it found a hazard.",
    "",
  ].join("\n");
}

function optionLabel(name: string, spec: OptionSpecs[string]): string {
  const long = `--${name}${spec.type === "string" ? ` ${spec.valueName ?? "value"}` : ""}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

export function commandHelp(command: Command): string {
  const entries = Object.entries(command.options).map(([name, spec]) => [optionLabel(name, spec), spec.description] as const);
  const width = Math.max(...entries.map(([label]) => label.length)) + 2;
  return [
    `Usage: ${command.usage}`,
    "",
    ...command.details,
    "",
    "Options:",
    ...entries.map(([label, description]) => `  ${label.padEnd(width)}${description}`),
    "",
  ].join("\n");
}

function isInputError(error: unknown): error is Error {
  // By name too: a config file may load its own copy of @flushlab/core-mmu.
  return error instanceof FlushlabInputError || (error instanceof Error && error.name === "FlushlabInputError");
}

function oneLine(message: string): string {
  const line = message
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ");
  return line === "" ? "(no message)" : line;
}

async function dispatch(argv: readonly string[], registry: CliRegistry, io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new FlushlabInputError(`missing command (known: ${knownList(COMMANDS.map((c) => c.name))}; see "flushlab --help")`);
  if (first === "--help" || first === "-h") {
    io.stdout.write(globalHelp());
    return 0;
  }
  if (first === "--version") {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(globalHelp());
      return 0;
    }
    const command = COMMANDS.find((c) => c.name === topic);
    if (command === undefined) throw new FlushlabInputError(`unknown command "${topic}" (known: ${knownList(COMMANDS.map((c) => c.name))})`);
    io.stdout.write(commandHelp(command));
    return 0;
  }
  if (first.startsWith("-")) throw new FlushlabInputError(`unknown option "${first}" (options go after the command; see "flushlab --help")`);
  const command = COMMANDS.find((c) => c.name === first);
  if (command === undefined) throw new FlushlabInputError(`unknown command "${first}" (known: ${knownList(COMMANDS.map((c) => c.name))})`);

  const args = parseArgs(rest, command.options, command.name);
  const flags = args.options as Readonly<Record<string, unknown>>;
  if (flags["help"] === true) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  const cwd = io.cwd ?? process.cwd();
  const config = await loadConfig(cwd, registry.plugins);
  // The command's event stream and its consumers: the report on stdout, the progress
  // line on a terminal stderr, and whoever else subscribes.
  const bus = new ReportBus();
  attachReporter(bus, flags["json"] === true ? new JsonReporter(io.stdout) : new HumanReporter(io.stdout));
  if (io.stderr.isTTY === true) attachReporter(bus, new ProgressReporter(io.stderr));
  io.onEvents?.(bus.events$);
  const ctx: CommandContext = {
    registry,
    config,
    catalog: await addPluginRefs(buildCatalog(registry, config), flags["plugins"], cwd),
    workloads: buildWorkloads(registry, config),
    bus,
    cwd,
  };
  let status: void | number;
  try {
    status = await command.run(ctx, args);
  } finally {
    bus.complete();
  }
  return typeof status === "number" ? status : 0;
}

/**
 * Runs the CLI on `argv` (the words after `flushlab`) and returns the exit code.
 * Never throws and never calls process.exit, so tests can call it in-process.
 */
export async function main(
  argv: readonly string[],
  registry: CliRegistry,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    return await dispatch(argv, registry, io);
  } catch (error) {
    if (isInputError(error)) {
      io.stderr.write(`flushlab: ${oneLine(error.message)}\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`flushlab: internal error: ${oneLine(message)}\n`);
    const env = io.env ?? process.env;
    if (env["FLUSHLAB_DEBUG"] === "1" && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
