/**
 * `flushlab.config.ts` (or .mjs/.js): plugins and workloads of the user's own, and
 * defaults for the machine, profile and seed. Every field is optional; command-line
 * flags override the config.
 */
import type { KernelVersion } from "../kernel/version.js";
import type { FlushlabPlugin, MachineOptions } from "../plugin/define.js";
import type { WorkloadDefinition } from "../workload/types.js";

export interface FlushlabConfig {
  /**
   * Plugins added to the installed ones; enabled by default when no --plugins flag is given.
   * A string names an installed plugin, a path to a plugin module or package (relative to
   * the config's directory: "./my-policy"), or a package in node_modules.
   */
  readonly plugins?: readonly (FlushlabPlugin | string)[];
  /** Workloads added to the built-in ones (defineWorkload). */
  readonly workloads?: readonly WorkloadDefinition[];
  /** A machine preset (`flushlab list` shows them); `machine` and flags override its fields. */
  readonly preset?: string;
  readonly machine?: Partial<MachineOptions>;
  readonly profile?: string;
  readonly seed?: number;
  /** The kernel release modelled (default v5.17; see KERNEL_VERSIONS). */
  readonly kernel?: KernelVersion;
}

/** Identity helper for type inference: `export default defineConfig({ … })`. */
export function defineConfig<const C extends FlushlabConfig>(config: C): C {
  return config;
}
