import { describe, expect, it } from "vitest";
import { COST_PARAM_NAMES, checkCostModel, type CostModel, type CostParams } from "./cost-model.js";

/** A complete profile: every parameter 10 cycles, each with a source. */
function profile(): { params: Record<string, number>; sources: Record<string, string> } {
  const params: Record<string, number> = {};
  const sources: Record<string, string> = {};
  for (const k of COST_PARAM_NAMES) {
    params[k] = 10;
    sources[k] = `[U] test ${k}`;
  }
  return { params, sources };
}

function model(p: { params: Record<string, number>; sources: Record<string, string> }): CostModel {
  return { name: "t", description: "test", params: p.params as unknown as CostParams, sources: p.sources as CostModel["sources"] };
}

describe("checkCostModel", () => {
  it("accepts a profile naming every parameter with a source", () => {
    expect(() => checkCostModel(model(profile()))).not.toThrow();
  });

  it("knows the costs that workloads used to carry", () => {
    expect(COST_PARAM_NAMES).toEqual(expect.arrayContaining(["readPageSequential", "reaimComputeJob", "dmaInterval"]));
  });

  it.each(["readPageSequential", "reaimComputeJob", "dmaInterval", "pageWalk"])("refuses a profile without %s", (k) => {
    const p = profile();
    delete p.params[k];
    expect(() => checkCostModel(model(p))).toThrow(`cost profile t: ${k} is missing`);
  });

  it.each(["readPageSequential", "reaimComputeJob", "dmaInterval"])("refuses %s without a source", (k) => {
    const p = profile();
    delete p.sources[k];
    expect(() => checkCostModel(model(p))).toThrow(`cost profile t: ${k} has no source`);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])("refuses readPageSequential = %s", (v) => {
    const p = profile();
    p.params["readPageSequential"] = v;
    expect(() => checkCostModel(model(p))).toThrow("readPageSequential must be a non-negative number");
  });

  it("refuses a parameter it does not know (a misspelt cost would otherwise be ignored)", () => {
    const p = profile();
    p.params["readPageSequentail"] = 800;
    p.sources["readPageSequentail"] = "[U] typo";
    expect(() => checkCostModel(model(p))).toThrow("unknown parameter readPageSequentail");
  });
});
