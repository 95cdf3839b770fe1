import { describe, expect, it } from "vitest";
import { ReportBus, attachReporter, type CliEvent } from "../bus.js";
import { parseArgs } from "../args.js";
import type { Reporter } from "../reporters/types.js";
import { runCli } from "../../test/support/test-io.js";
import { testRegistry } from "../../test/support/test-registry.js";
import { buildCatalog } from "./context.js";
import { runCommand } from "./run.js";

const RUN_KEYS = [
  "workload",
  "arch",
  "cpus",
  "sockets",
  "profile",
  "kernel",
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
      kernel: "v5.17",
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

  it("lists hazards with class, cpu, address, pfn, time, missing, detail", async () => {
    const json = await runJson(["tlb-flush2", "--plugins", "skip-flush"]);
    const hazards = json["hazards"] as Record<string, unknown>[];
    expect(hazards.length).toBeGreaterThan(0);
    for (const h of hazards) {
      expect(Object.keys(h)).toEqual(["class", "cpu", "address", "pfn", "time", "missing", "detail"]);
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

describe("flushlab run --preset", () => {
  it("starts from the preset's machine and profile, named in the output", async () => {
    const json = await runJson(["tlb-flush2", "--preset", "big-box"]);
    expect(json).toMatchObject({ cpus: 16, sockets: 2, preset: "big-box", profile: "kvm-guest" });
    const human = await runCli(["run", "tlb-flush2", "--preset", "big-box"]);
    expect(human.stdout).toMatch(/machine\s+preset big-box: x86-64, 16 CPUs, 2 sockets/);
  });
  it("explicit flags override the preset's fields", async () => {
    const json = await runJson(["tlb-flush2", "--preset=big-box", "--cpus", "8", "--profile", "bare-metal"]);
    expect(json).toMatchObject({ cpus: 8, sockets: 2, preset: "big-box", profile: "bare-metal" });
  });
  it("an unknown preset is one line listing the valid names, exit 2", async () => {
    const r = await runCli(["run", "tlb-flush2", "--preset", "huge-box"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('flushlab: unknown preset "huge-box" (known: big-box)\n');
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

describe("the event stream is the spine", () => {
  it("a reporter's hooks are fed from the stream in order, with the model events it asks for", async () => {
    const calls: string[] = [];
    let live = 0;
    const reporter: Reporter = {
      modelEvents: ["hazard", "tlb_flush"],
      onRunStart: (options) => void calls.push(`start ${options.workload}`),
      onSimulationStart: (s) => void calls.push(`simulation ${s.index + 1}/${s.total}`),
      onRunEvent: (e) => {
        if (e.type === "hazard") live++;
        if (calls.at(-1) !== `event ${e.type}`) calls.push(`event ${e.type}`);
      },
      onRunEnd: (report) => void calls.push(`end ${report.result.hazards.length}`),
    };
    const bus = new ReportBus();
    attachReporter(bus, reporter);
    const ctx = { registry: testRegistry, config: undefined, catalog: buildCatalog(testRegistry, undefined), workloads: testRegistry.workloads, bus };
    await runCommand.run(ctx, parseArgs(["tlb-flush2", "--plugins", "skip-flush"], runCommand.options, "run"));
    expect(calls[0]).toBe("start tlb-flush2");
    expect(calls[1]).toBe("simulation 1/1");
    expect(calls).toContain("event tlb_flush");
    expect(calls).toContain("event hazard");
    expect(calls.at(-1)).toBe(`end ${live}`);
    expect(live).toBeGreaterThan(0);
  });

  it("a test subscriber sees what the CLI prints: the report it printed is the one on the stream", async () => {
    const events: CliEvent[] = [];
    const r = await runCli(["run", "tlb-flush2", "--plugins", "skip-flush", "--json"], { onEvents: (e$) => void e$.subscribe((e) => events.push(e)) });
    expect(r.code).toBe(0);
    const end = events.find((e) => e.type === "cli:run_end");
    expect(end?.type === "cli:run_end" && end.report.result.hazards).toEqual(JSON.parse(r.stdout).hazards);
    const hazards = events.filter((e) => e.type === "hazard");
    expect(hazards.length).toBe(JSON.parse(r.stdout).hazards.length);
    expect(events.map((e) => e.type).slice(0, 3)).toEqual(["cli:run_start", "cli:simulation", "phase"]);
  });

  it("with nobody asking for fine-grained events, the model emits none", async () => {
    const types = new Set<string>();
    const bus = new ReportBus();
    bus.select("cli:run_end", "progress").subscribe((e) => types.add(e.type));
    expect(bus.wantedModelEvents()).toEqual(["progress"]);
    expect(bus.wants("tlb_flush")).toBe(false);
    void types;
  });
});

describe("the progress line", () => {
  it("is drawn on a terminal stderr from the stream's progress events, and erased before the report", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2"], { stderrIsTTY: true });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("compare tlb-flush2: baseline, seed 1 (1/4)");
    expect(r.stderr).toContain("compare tlb-flush2: patched, seed 2 (4/4) 100%");
    expect(r.stderr.endsWith("\r\x1b[K")).toBe(true);
  });
  it("is not drawn when stderr is not a terminal", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2"]);
    expect(r.stderr).toBe("");
  });
});

describe("the progress line's ETA", () => {
  it("scales the wall time so far by the share of the work left", async () => {
    const { ProgressReporter } = await import("../reporters/progress.js");
    let text = "";
    let t = 0;
    const p = new ProgressReporter({ isTTY: true, write: (c: string) => ((text += c), true) }, () => t);
    p.onSimulationStart({ index: 0, total: 4, label: "compare x: baseline, seed 1" });
    t = 10_000; // 10 s for the first of four runs
    p.onSimulationStart({ index: 1, total: 4, label: "compare x: baseline, seed 2" });
    expect(text).toMatch(/\(2\/4\) 25% ETA 30s$/);
    t = 40_000; // 40 s for three of four: 13.4 s left
    p.onSimulationStart({ index: 3, total: 4, label: "compare x: patched, seed 2" });
    expect(text).toMatch(/\(4\/4\) 75% ETA 14s$/);
  });
});
