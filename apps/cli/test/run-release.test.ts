import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { Machine } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { simulate } from "@flushlab/core-mmu";
import { tlbFlush2 } from "@flushlab/workloads";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/**
 * A run's machine (its TLBs, memory and page tables: ~200 MiB of typed arrays at 1024
 * CPUs) must be garbage once simulate() has returned, with no microtask run in between:
 * a caller that runs simulations in a loop without awaiting (the bench, a script) must
 * not hold every run until the loop ends.
 */
describe("simulate: a finished run holds nothing", () => {
  it("its machine is collected by a GC before the caller yields", async () => {
    // A FinalizationRegistry, not a WeakRef: creating a WeakRef keeps its target alive
    // until the end of the current job, and the GC below must run inside that job.
    let collected = false;
    const registry = new FinalizationRegistry<string>(() => {
      collected = true;
    });
    const result = simulate({
      options: { workload: tlbFlush2.name, machine: { ...x86.defaultMachine, cpus: 4 }, profile: "bare-metal", seed: 1, plugins: [], params: { threads: 4, regions: 1, memory_kib: 8 } },
      arch: x86,
      workload: tlbFlush2,
      plugins: [],
      instrument: (run: { readonly machine: Machine }) => registry.register(run.machine, "machine"),
    });
    expect(result.counters["madvise_calls"]).toBeGreaterThan(0);
    gc(); // no microtask has run since simulate() returned
    // The registry's callback runs as a task after the GC that collected the machine.
    for (let i = 0; i < 20 && !collected; i++) await new Promise((r) => setTimeout(r, 10));
    expect(collected).toBe(true);
  });
});
