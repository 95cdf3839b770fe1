import { describe, expect, it } from "vitest";
import { MACHINE_SIZE_NAMES, checkCostModel, validateMachine } from "@flushlab/core-mmu";
import { PROFILES, x86 } from "../src/index.js";

describe("x86 cost profiles and machine defaults", () => {
  it.each(Object.keys(PROFILES))("%s names every cost with a source", (name) => {
    expect(() => checkCostModel(PROFILES[name]!)).not.toThrow();
  });

  it.each(Object.keys(PROFILES))("%s states where the costs workloads used to carry come from", (name) => {
    const p = PROFILES[name]!;
    for (const k of ["readPageSequential", "reaimComputeJob", "dmaInterval"] as const) {
      expect(p.params[k]).toBeGreaterThan(0);
      expect(p.sources[k]).toMatch(/^\[(K|P|D|U)\] /);
    }
  });

  it("the default machine is valid and each of its hardware sizes has a source", () => {
    expect(() => validateMachine(x86.defaultMachine)).not.toThrow();
    for (const k of MACHINE_SIZE_NAMES) {
      expect(typeof x86.defaultMachine[k]).toBe("number");
      expect(x86.machineSources[k]).toMatch(/^\[(K|P|D|U)\] /);
    }
  });
});
