import { describe, expect, it } from "vitest";
import { COST_PARAM_NAMES, type CostParams } from "../cost/cost-model.js";
import type { MachineOptions, MachinePreset } from "../plugin/define.js";
import { FlushlabInputError } from "../plugin/errors.js";
import type { WorkloadDefinitionLike } from "./types.js";
import { MAX_CPUS, MAX_SOCKETS } from "../hw/machine.js";
import { checkPreset, resolveParams, validateMachine } from "./validate.js";

const MACHINE: MachineOptions = { arch: "x86-64", cpus: 2, sockets: 1, tlbEntries: 64, tlbWays: 4, tlb2mEntries: 8, pscEntries: 8, iotlbEntries: 16, memoryMiB: 16, la57: false };

const COSTS = Object.fromEntries(COST_PARAM_NAMES.map((k) => [k, 10])) as unknown as CostParams;

describe("validateMachine: the hardware sizes", () => {
  it("accepts powers of two for the 2 MiB TLB and the paging-structure caches", () => {
    expect(() => validateMachine(MACHINE)).not.toThrow();
    expect(() => validateMachine({ ...MACHINE, tlb2mEntries: 1, pscEntries: 1 })).not.toThrow();
  });
  it.each([
    [{ pscEntries: 24 }, /pscEntries must be a power of two \(got 24\)/],
    [{ pscEntries: 0 }, /pscEntries must be a power of two/],
    [{ tlb2mEntries: 3 }, /tlb2mEntries must be a power of two/],
    [{ iotlbEntries: 0 }, /iotlbEntries must be an integer from 1 to 4096/],
    [{ iotlbEntries: 1.5 }, /iotlbEntries must be an integer/],
  ])("%j → one-line input error", (change, msg) => {
    expect(() => validateMachine({ ...MACHINE, ...change } as MachineOptions)).toThrow(FlushlabInputError);
    expect(() => validateMachine({ ...MACHINE, ...change } as MachineOptions)).toThrow(msg);
  });
});

describe("validateMachine: the CPU and socket limit (one for the CLI, runs and presets)", () => {
  it("is 1024 CPUs and 16 sockets", () => {
    expect([MAX_CPUS, MAX_SOCKETS]).toEqual([1024, 16]);
    expect(() => validateMachine({ ...MACHINE, cpus: 1024, sockets: 16 })).not.toThrow();
  });
  it.each([
    [{ cpus: 1025 }, "cpus must be an integer from 1 to 1024 (got 1025)"],
    [{ cpus: 0 }, "cpus must be an integer from 1 to 1024 (got 0)"],
    [{ cpus: 1024, sockets: 17 }, "sockets must be an integer from 1 to 16 (got 17)"],
  ])("%j → one-line input error", (change, msg) => {
    expect(() => validateMachine({ ...MACHINE, ...change } as MachineOptions)).toThrow(new FlushlabInputError(msg));
  });
  it("holds for a preset too", () => {
    const sources = { cpus: "s", sockets: "s", memoryMiB: "s", tlbEntries: "s", tlbWays: "s", profile: "s" };
    const preset = (cpus: number, sockets: number): MachinePreset => ({ name: "p", description: "", machine: { cpus, sockets, memoryMiB: 64, tlbEntries: 64, tlbWays: 4 }, profile: "x", sources, scaled: [] });
    expect(() => checkPreset(preset(1025, 1), MACHINE, { x: {} })).toThrow('preset "p": cpus must be an integer from 1 to 1024 (got 1025)');
    expect(() => checkPreset(preset(1024, 17), MACHINE, { x: {} })).toThrow('preset "p": sockets must be an integer from 1 to 16 (got 17)');
    expect(() => checkPreset(preset(1024, 16), MACHINE, { x: {} })).not.toThrow();
  });
});

const WORKLOAD: WorkloadDefinitionLike = {
  name: "w",
  description: "test",
  params: [
    { name: "reads", description: "", type: "int", defaultFrom: { cost: "readPageSequential" }, min: 0, max: 1000 },
    { name: "atc", description: "", type: "int", defaultFrom: { machine: "iotlbEntries" }, min: 1, max: 4096 },
    { name: "n", description: "", type: "int", default: 3 },
  ],
  metrics: [],
};

describe("resolveParams: defaults from the profile and the machine", () => {
  it("takes a cost-defaulted parameter from the profile and a size-defaulted one from the machine", () => {
    const costs = { ...COSTS, readPageSequential: 777 };
    expect(resolveParams(WORKLOAD, {}, undefined, { costs, machine: MACHINE })).toEqual({ reads: 777, atc: 16, n: 3 });
  });
  it("a given value overrides them", () => {
    expect(resolveParams(WORKLOAD, { reads: 5, atc: 2 }, undefined, { costs: COSTS, machine: MACHINE })).toEqual({ reads: 5, atc: 2, n: 3 });
  });
  it("checks the value from the profile against the parameter's range", () => {
    expect(() => resolveParams(WORKLOAD, {}, undefined, { costs: { ...COSTS, readPageSequential: 5000 }, machine: MACHINE })).toThrow(/parameter "reads" must be <= 1000 \(got 5000\)/);
  });
  it("without a profile and a machine, says where the default would come from", () => {
    expect(() => resolveParams(WORKLOAD, {})).toThrow(/parameter "reads" takes its default from the cost profile's readPageSequential/);
    expect(resolveParams(WORKLOAD, { reads: 1, atc: 1 })).toEqual({ reads: 1, atc: 1, n: 3 });
  });
});
