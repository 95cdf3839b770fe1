import type { WorkloadDefinition } from "@flushlab/core-mmu";
import { tlbFlush2 } from "./tlb-flush2.js";
import { reaim } from "./reaim.js";
import { lruFileMmapRead } from "./lru-file-mmap-read.js";
import { mprotectBench } from "./mprotect-bench.js";
import { nohzIsolation } from "./nohz-isolation.js";
import { notifierDevice } from "./notifier-device.js";

export { tlbFlush2 } from "./tlb-flush2.js";
export { reaim } from "./reaim.js";
export { lruFileMmapRead } from "./lru-file-mmap-read.js";
export { mprotectBench } from "./mprotect-bench.js";
export { nohzIsolation } from "./nohz-isolation.js";
export { notifierDevice } from "./notifier-device.js";

/** Every built-in workload, in the order `flushlab list` shows them. */
export const builtinWorkloads: readonly WorkloadDefinition[] = [tlbFlush2, reaim, lruFileMmapRead, mprotectBench, nohzIsolation, notifierDevice];
