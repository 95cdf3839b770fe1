import { HELP_OPTION, expectAtMostPositionals } from "../args.js";
import { TRACE_OPTIONS, parseTraceOptions, recordTrace } from "../reporters/trace.js";
import { defineCommand } from "./command.js";
import { RUN_OPTIONS, resolveRunSetup, simulate } from "./context.js";

export const runCommand = defineCommand({
  name: "run",
  summary: "run one workload and report counters, interrupts, metrics and hazards",
  usage: "<workload> [options]",
  details: [
    "Simulates <workload> once on the machine (registry default, then flushlab.config, then flags)",
    "with the given plugins enabled (default: the config's plugins, else none) and reports the",
    "kernel-named counters, the /proc/interrupts TLB and CAL rows, the workload's metrics and",
    "every hazard the oracle found. Parameters not given take their defaults (see flushlab list).",
  ],
  options: { ...RUN_OPTIONS, ...TRACE_OPTIONS, ...HELP_OPTION },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 1, "run");
    const trace = parseTraceOptions(args.options);
    const setup = resolveRunSetup(ctx, args.positionals[0], args.options);
    ctx.bus.emit("cli:run_start", { options: setup.options });
    const which = { index: 0, total: 1, label: `run ${setup.workload.name}` };
    const result = trace === undefined ? simulate(ctx, setup, which) : recordTrace(ctx.bus, trace, trace.file, `${which.label}, seed ${setup.options.seed}`, () => simulate(ctx, setup, which));
    ctx.bus.emit("cli:run_end", { report: { options: setup.options, workload: setup.workload, plugins: setup.plugins, result } });
  },
});
