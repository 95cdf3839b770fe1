/**
 * The real registry: the x86 arch layer, the built-in workloads, the installed
 * patch plugins, and core-mmu's simulate().
 */
import { FlushlabInputError, isWorkloadDefinition, simulate, type FlushlabPlugin } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { builtinWorkloads } from "@flushlab/workloads";
import { vmallocSync } from "@flushlab/patch-vmalloc-sync";
import { batchedUnmap } from "@flushlab/patch-batched-unmap";
import { flushBatchedPending } from "@flushlab/patch-flush-batched-pending";
import { mprotectGather } from "@flushlab/patch-mprotect-gather";
import { nohzDefer } from "@flushlab/patch-nohz-defer";
import { mmuNotifierOnlyEnd } from "@flushlab/patch-mmu-notifier";
import { bugPlugins } from "@flushlab/bugs";
import type { CliRegistry } from "./registry-types.js";

/** Patch plugins shipped with flushlab, each its own package; then the pre-fix kernels of @flushlab/bugs. */
export const installedPlugins: readonly FlushlabPlugin[] = [vmallocSync, batchedUnmap, flushBatchedPending, mprotectGather, nohzDefer, mmuNotifierOnlyEnd, ...bugPlugins];

export const registry: CliRegistry = {
  plugins: installedPlugins,
  workloads: builtinWorkloads,
  profiles: Object.values(x86.profiles).map((p) => ({ name: p.name, description: p.description, ...(p.features ? { features: p.features } : {}), params: p.params, sources: p.sources })),
  defaultMachine: x86.defaultMachine,
  machineSources: x86.machineSources,
  presets: Object.values(x86.presets ?? {}),
  arch: x86,
  workers: true,
  simulate(options, { workload, plugins }, onEvents) {
    if (!isWorkloadDefinition(workload)) throw new FlushlabInputError(`workload "${workload.name}" cannot be simulated (it has no setup and collect)`);
    return simulate({ options, arch: x86, workload, plugins, ...(onEvents ? { onEvents } : {}) });
  },
};
