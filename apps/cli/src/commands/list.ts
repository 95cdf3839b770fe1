import { HELP_OPTION, expectAtMostPositionals } from "../args.js";
import { defineCommand } from "./command.js";

export const listCommand = defineCommand({
  name: "list",
  summary: "list plugins, workloads (with parameters and metrics) and cost profiles",
  usage: "flushlab list [--json]",
  details: [
    "Plugins are the installed ones plus those defined in flushlab.config.{ts,js,mjs}",
    "in the current directory. Each shows its upstream patch (title, commit, kernel)",
    "and the extension-point tokens it overrides.",
  ],
  options: {
    json: { type: "boolean", description: "print one JSON object instead of the listing" },
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 0, "list");
    await ctx.reporter.onListEnd?.({
      plugins: ctx.catalog,
      workloads: ctx.registry.workloads,
      profiles: ctx.registry.profiles,
      defaultMachine: ctx.registry.defaultMachine,
      configFile: ctx.config?.file,
    });
  },
});
