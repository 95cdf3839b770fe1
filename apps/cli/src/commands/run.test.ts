import { describe, expect, it } from "vitest";
import type { FlushlabEvent } from "@flushlab/core-mmu";
import { parseArgs } from "../args.js";
import type { Reporter } from "../reporters/types.js";
import { runCli } from "../test-io.js";
import { testRegistry } from "../test-registry.js";
import { buildCatalog } from "./context.js";
import { runCommand } from "./run.js";

const RUN_KEYS = [
  "workload",
  "arch",
  "cpus",
  "sockets",
  "profile",
  "seed",
  "plugins",
  "params",
  "counters",
  "interrupts",
  "metrics",
  "hazards",
  "notes",
];

async function runJson(argv: string[]): Promise<Record<string, unknown>> {
  const r = await runCli(["run", ...argv, "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("flushlab run --json", () => {
  it("prints exactly one JSON object with the required keys, defaults applied", async () => {
    const r = await runCli(["run", "tlb-flush2", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n").length).toBeGreaterThan(1);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(RUN_KEYS);
    expect(json).toMatchObject({
      workload: "tlb-flush2",
      arch: "x86-64",
      cpus: 8,
      sockets: 1,
      profile: "bare-metal",
      seed: 1,
      plugins: [],
      params: { threads: 8, iterations: 10000, unmap: "munmap", huge: false, scale: 1 },
      hazards: [],
    });
    const interrupts = json["interrupts"] as { TLB: number[]; CAL: number[] };
    expect(Object.keys(interrupts)).toEqual(["TLB", "CAL"]);
    expect(interrupts.TLB).toHaveLength(8);
    expect(interrupts.CAL).toHaveLength(8);
    for (const v of Object.values(json["counters"] as Record<string, unknown>)) expect(typeof v).toBe("number");
    expect(Object.keys(json["metrics"] as object)).toEqual(["ops_per_sec", "cycles_per_op", "tlb_ipis_per_sec"]);
  });

  it("shows the full resolved params, typed, in declaration order", async () => {
    const json = await runJson(["tlb-flush2", "--param", "huge=true", "--param", "threads=4", "--param=scale=0.5"]);
    expect(json["params"]).toEqual({ threads: 4, iterations: 10000, unmap: "munmap", huge: true, scale: 0.5 });
    expect(Object.keys(json["params"] as object)).toEqual(["threads", "iterations", "unmap", "huge", "scale"]);
  });

  it("takes machine, profile, seed and plugins from flags (both --k v and --k=v)", async () => {
    const json = await runJson([
      "tlb-flush2",
      "--cpus=4",
      "--sockets",
      "2",
      "--arch",
      "x86-32-pae",
      "--profile=kvm-guest",
      "--seed",
      "42",
      "--plugins",
      "lazy-flush, batch-ipi",
    ]);
    expect(json).toMatchObject({ arch: "x86-32-pae", cpus: 4, sockets: 2, profile: "kvm-guest", seed: 42, plugins: ["lazy-flush", "batch-ipi"] });
    expect((json["interrupts"] as { TLB: number[] }).TLB).toHaveLength(4);
  });

  it("lists hazards with class, cpu, address, pfn, time, missing", async () => {
    const json = await runJson(["tlb-flush2", "--plugins", "skip-flush"]);
    const hazards = json["hazards"] as Record<string, unknown>[];
    expect(hazards.length).toBeGreaterThan(0);
    for (const h of hazards) {
      expect(Object.keys(h)).toEqual(["class", "cpu", "address", "pfn", "time", "missing"]);
      expect(h["class"]).toBe(4);
    }
  });

  it("--plugins \"\" means no plugins", async () => {
    expect((await runJson(["tlb-flush2", "--plugins", ""]))["plugins"]).toEqual([]);
  });

  it("accepts a workload named after --", async () => {
    const r = await runCli(["run", "--json", "--", "tlb-flush2"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { workload: string }).workload).toBe("tlb-flush2");
  });
});

describe("flushlab run: determinism", () => {
  it("same args twice give byte-identical stdout (JSON and human)", async () => {
    for (const extra of [["--json"], []]) {
      const argv = ["run", "tlb-flush2", "--plugins", "skip-flush", "--seed", "7", ...extra];
      const a = await runCli(argv);
      const b = await runCli(argv);
      expect(a.code).toBe(0);
      expect(a.stdout).toBe(b.stdout);
    }
  });
  it("a different seed gives different numbers", async () => {
    const a = await runJson(["tlb-flush2", "--seed", "1"]);
    const b = await runJson(["tlb-flush2", "--seed", "2"]);
    expect(a["metrics"]).not.toEqual(b["metrics"]);
  });
});

describe("flushlab run: human report", () => {
  it("shows machine, counters with separators, interrupts, metrics with units, hazards, notes", async () => {
    const r = await runCli(["run", "tlb-flush2", "--plugins", "skip-flush"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const out = r.stdout;
    expect(out).toMatch(/^flushlab run tlb-flush2\n/);
    expect(out).toContain("x86-64, 8 CPUs, 1 socket");
    expect(out).toContain("plugins  skip-flush");
    expect(out).toMatch(/nr_tlb_remote_flush\s+\d{1,3}(,\d{3})+\n/);
    expect(out).toContain("Interrupts (/proc/interrupts)");
    expect(out).toMatch(/TLB:\s+[\d,]+/);
    expect(out).toMatch(/ops_per_sec\s+[\d,]+\.\d\d\s+ops\/s\s+\(higher is better\)/);
    expect(out).toMatch(/Hazards: \d+ \(class 4: \d+\)/);
    expect(out).toContain("missing flush_tlb_mm_range");
    expect(out).toContain("Notes\n  - fake simulator");
  });
  it("says none when there are no hazards", async () => {
    expect((await runCli(["run", "tlb-flush2"])).stdout).toContain("Hazards: none");
  });
});

describe("reporter hooks", () => {
  it("onRunStart, onRunEvents (live stream) and onRunEnd are called in order", async () => {
    const calls: string[] = [];
    const seen: FlushlabEvent["type"][] = [];
    let live = 0;
    const reporter: Reporter = {
      onRunStart: (options) => void calls.push(`start ${options.workload}`),
      onRunEvents: (events$) => {
        calls.push("events");
        events$.subscribe((e) => {
          seen.push(e.type);
          if (e.type === "hazard") live++;
        });
      },
      onRunEnd: (report) => void calls.push(`end ${report.result.hazards.length}`),
    };
    const ctx = { registry: testRegistry, config: undefined, catalog: buildCatalog(testRegistry, undefined), reporter };
    await runCommand.run(ctx, parseArgs(["tlb-flush2", "--plugins", "skip-flush"], runCommand.options, "run"));
    expect(calls).toEqual(["start tlb-flush2", "events", `end ${live}`]);
    expect(live).toBeGreaterThan(0);
    expect(seen[0]).toBe("phase");
    expect(seen).toContain("tlb_flush");
  });
});
