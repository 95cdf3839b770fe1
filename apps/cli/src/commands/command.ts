import type { OptionSpecs, ParsedArgs } from "../args.js";
import type { CommandContext } from "./context.js";

/** One subcommand: its help, its options, and what it does once arguments are parsed. */
export interface Command<S extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  /** One line for the global help. */
  readonly summary: string;
  /** What follows "flushlab <name>" in the usage line, e.g. "<workload> [options]"; the options are listed from the specs. */
  readonly usage: string;
  /** Paragraph lines for `--help`. */
  readonly details: readonly string[];
  readonly options: S;
  /** Does the command's work; an exit status other than 0 may be returned (check: 1 when it found a hazard). */
  run(ctx: CommandContext, args: ParsedArgs<S>): Promise<void | number>;
}

/** Type-checks a command against its own option specs, then erases them for the dispatcher. */
export function defineCommand<S extends OptionSpecs>(command: Command<S>): Command {
  return command as unknown as Command;
}
