import { COUNTER_INFO, EXTENSION_POINTS } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals } from "../args.js";
import { defineCommand } from "./command.js";

export const listCommand = defineCommand({
  name: "list",
  summary: "list plugins, workloads (with parameters and metrics), cost profiles and machine presets",
  usage: "[--json]",
  details: [
    "Plugins are the installed ones plus those defined in flushlab.config.{ts,js,mjs}",
    "in the current directory. Each shows its upstream patch (title, commit, kernel)",
    "and the extension points it overrides. Then the extension points themselves: where",
    "the kernel calls each, and the kernel version its pre-patch default mirrors. Last, the",
    "counters of a run: what each counts, and the kernel's counter it is (/proc/vmstat, a",
    "tracepoint, ...) or \"model-only\" where the kernel has none.",
  ],
  options: {
    json: { type: "boolean", description: "print one JSON object instead of the listing" },
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 0, "list");
    ctx.bus.emit("cli:list", {
      report: {
        plugins: ctx.catalog,
        workloads: ctx.workloads,
        profiles: ctx.registry.profiles,
        extensionPoints: EXTENSION_POINTS,
        defaultMachine: ctx.registry.defaultMachine,
        ...(ctx.registry.machineSources ? { machineSources: ctx.registry.machineSources } : {}),
        presets: ctx.registry.presets ?? [],
        configFile: ctx.config?.file,
        counters: COUNTER_INFO,
      },
    });
  },
});
