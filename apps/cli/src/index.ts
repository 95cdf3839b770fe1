export { main, COMMANDS, globalHelp, commandHelp, version } from "./cli.js";
export type { CliIo, CliRegistry, TextSink } from "./registry-types.js";
export type {
  CompareSummary,
  CounterComparison,
  FigureOutcome,
  ListReport,
  MetricComparison,
  Reporter,
  ReproduceSummary,
  ReproductionOutcome,
  RunReport,
} from "./reporters/types.js";
export { HumanReporter } from "./reporters/human.js";
export { JsonReporter } from "./reporters/json.js";
export { mean, sampleStddev, studentTCdf, studentTTwoSidedP, welchTTest, regularizedIncompleteBeta } from "./stats.js";
export type { WelchResult } from "./stats.js";
export { registry, installedPlugins } from "./registry.js";
