import { describe, expect, it } from "vitest";
import type { RunResult } from "@flushlab/core-mmu";
import type { CliRegistry } from "../registry-types.js";
import { changePct, mean, sampleStddev } from "../stats.js";
import { runCli } from "../../test/support/test-io.js";
import { createTestRegistry } from "../../test/support/test-registry.js";

interface MetricJson {
  baseline: number;
  patched: number;
  baseline_stddev: number;
  patched_stddev: number;
  change_pct: number | null;
  significant: boolean;
}
interface CompareJson {
  workload: string;
  plugins: string[];
  runs: number;
  metrics: Record<string, MetricJson>;
  counters: Record<string, { baseline: number; patched: number }>;
  hazards: { baseline: number; patched: number };
}

async function compareJson(argv: string[], registry?: CliRegistry): Promise<CompareJson> {
  const r = await runCli(["compare", ...argv, "--json"], registry ? { registry } : {});
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as CompareJson;
}

describe("flushlab compare --json", () => {
  it("has the documented shape", async () => {
    const json = await compareJson(["tlb-flush2", "--plugins", "lazy-flush,batch-ipi", "--runs", "4"]);
    expect(Object.keys(json)).toEqual(["workload", "plugins", "machine", "profile", "kernel", "params", "runs", "seeds", "metrics", "counters", "hazards", "notes"]);
    expect(json.workload).toBe("tlb-flush2");
    expect(json.plugins).toEqual(["lazy-flush", "batch-ipi"]);
    expect(json.runs).toBe(4);
    expect(Object.keys(json.metrics)).toEqual(["ops_per_sec", "cycles_per_op", "tlb_ipis_per_sec"]);
    for (const m of Object.values(json.metrics)) {
      expect(Object.keys(m)).toEqual(["baseline", "patched", "baseline_stddev", "patched_stddev", "change_pct", "significant"]);
    }
    expect(Object.keys(json.counters)).toContain("nr_tlb_remote_flush");
    for (const c of Object.values(json.counters)) expect(Object.keys(c)).toEqual(["baseline", "patched"]);
    expect(json.hazards).toEqual({ baseline: 0, patched: 0 });
  });

  it("stands alone: the machine, profile, kernel, params, seeds and notes the human report prints", async () => {
    const argv = ["tlb-flush2", "--plugins", "lazy-flush", "--runs", "3", "--seed", "5", "--cpus", "4", "--sockets", "2", "--memory", "32", "--profile", "kvm-guest", "--param", "threads=2"];
    const json = (await compareJson(argv)) as CompareJson & { machine: Record<string, unknown>; profile: string; kernel: string; params: Record<string, unknown>; seeds: number[]; notes: string[] };
    const human = await runCli(["compare", ...argv]);
    expect(human.code).toBe(0);
    const lines = human.stdout.split("\n");
    const row = (name: string): string => lines.find((l) => l.startsWith(`  ${name} `))!.slice(name.length + 2).trim();
    expect(json.machine).toMatchObject({ arch: "x86-64", cpus: 4, sockets: 2, memoryMiB: 32 });
    expect(row("machine")).toContain("4 CPUs");
    expect(json.profile).toBe("kvm-guest");
    expect(row("profile")).toBe(json.profile);
    expect(row("kernel")).toBe(json.kernel);
    expect(json.seeds).toEqual([5, 6, 7]);
    expect(row("runs")).toBe("3 per side (seeds 5..7)");
    expect(json.params["threads"]).toBe(2);
    expect(row("params")).toBe(Object.entries(json.params).map(([k, v]) => `${k}=${String(v)}`).join(" "));
    // The notes, word for word and in order, as the human report lists them.
    const notes = lines.slice(lines.indexOf("Notes") + 1).filter((l) => l.startsWith("  - ")).map((l) => l.slice(4));
    expect(notes.length).toBeGreaterThan(0);
    expect(json.notes).toEqual(notes);
    expect(json.notes).toContain("memory scaled to 32 MiB");
  });

  it("means, sample stddevs and change_pct come from runs on seeds seed..seed+N-1", async () => {
    const registry = createTestRegistry();
    const seen: { seed: number; plugins: readonly string[] }[] = [];
    const results: RunResult[] = [];
    const spy: CliRegistry = {
      ...registry,
      simulate: (options, onEvents, plugins) => {
        seen.push({ seed: options.seed, plugins: options.plugins });
        const r = registry.simulate(options, onEvents, plugins);
        results.push(r);
        return r;
      },
    };
    const json = await compareJson(["tlb-flush2", "--plugins", "lazy-flush", "--runs", "3", "--seed", "10"], spy);
    // Each seed's baseline, then its patched run (an interrupted compare keeps pairs).
    expect(seen).toEqual([
      { seed: 10, plugins: [] },
      { seed: 10, plugins: ["lazy-flush"] },
      { seed: 11, plugins: [] },
      { seed: 11, plugins: ["lazy-flush"] },
      { seed: 12, plugins: [] },
      { seed: 12, plugins: ["lazy-flush"] },
    ]);
    const base = results.filter((_, i) => i % 2 === 0).map((r) => r.metrics["ops_per_sec"] as number);
    const patched = results.filter((_, i) => i % 2 === 1).map((r) => r.metrics["ops_per_sec"] as number);
    const m = json.metrics["ops_per_sec"] as MetricJson;
    expect(m.baseline).toBe(mean(base));
    expect(m.patched).toBe(mean(patched));
    expect(m.baseline_stddev).toBe(sampleStddev(base));
    expect(m.patched_stddev).toBe(sampleStddev(patched));
    expect(m.change_pct).toBe(Math.round(((mean(patched) - mean(base)) / mean(base)) * 10000) / 100);
  });

  it("a real effect is significant; no effect is not", async () => {
    const lazy = await compareJson(["tlb-flush2", "--plugins", "lazy-flush"]);
    const ops = lazy.metrics["ops_per_sec"] as MetricJson;
    expect(lazy.runs).toBe(5);
    expect(ops.change_pct).toBeGreaterThan(20);
    expect(ops.change_pct).toBeLessThan(30);
    expect(ops.significant).toBe(true);

    const noop = await compareJson(["tlb-flush2", "--plugins", "noop"]);
    for (const m of Object.values(noop.metrics)) {
      expect(m.change_pct).toBe(0);
      expect(m.significant).toBe(false);
    }
  });

  it("runs=1 is never significant and has zero stddev", async () => {
    const json = await compareJson(["tlb-flush2", "--plugins", "lazy-flush", "--runs", "1"]);
    for (const m of Object.values(json.metrics)) {
      expect(m.significant).toBe(false);
      expect(m.baseline_stddev).toBe(0);
      expect(m.patched_stddev).toBe(0);
    }
  });

  it("counts hazards on both sides over all runs", async () => {
    const json = await compareJson(["tlb-flush2", "--plugins", "skip-flush", "--runs", "3"]);
    expect(json.hazards.baseline).toBe(0);
    expect(json.hazards.patched).toBeGreaterThanOrEqual(3);
  });

  it("change_pct is null when the baseline mean is 0", async () => {
    const base = createTestRegistry();
    const registry: CliRegistry = {
      ...base,
      simulate: (options, onEvents, plugins) => {
        const r = base.simulate(options, onEvents, plugins);
        return { ...r, metrics: { ...r.metrics, ops_per_sec: options.plugins.length === 0 ? 0 : 5 } };
      },
    };
    const json = await compareJson(["tlb-flush2", "--plugins", "lazy-flush", "--runs", "2"], registry);
    expect(json.metrics["ops_per_sec"]).toMatchObject({ baseline: 0, patched: 5, change_pct: null, significant: true });
  });

  it("is deterministic", async () => {
    const argv = ["compare", "tlb-flush2", "--plugins", "skip-flush", "--runs", "3"];
    const a = await runCli(argv);
    const b = await runCli(argv);
    expect(a.stdout).toBe(b.stdout);
    const c = await runCli([...argv, "--json"]);
    const d = await runCli([...argv, "--json"]);
    expect(c.stdout).toBe(d.stdout);
  });
});

describe("flushlab compare: human table", () => {
  it("shows mean ± stddev per side, % change and * for significant rows", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const ops = lines.find((l) => l.trimStart().startsWith("ops_per_sec")) ?? "";
    expect(ops).toMatch(/ops_per_sec \(ops\/s\)\s+[\d,]+\.\d\d\s+± [\d,]+\.\d\d\s+[\d,]+\.\d\d\s+± [\d,]+\.\d\d\s+\+2\d\.\d\d%\s+\*$/);
    expect(r.stdout).toContain("runs      5 per side (seeds 1..5)");
    expect(r.stdout).toContain("Welch's two-sided t-test, p < 0.05");
    expect(r.stdout).toContain("Hazards (all runs): baseline 0, patched 0");
    const noop = await runCli(["compare", "tlb-flush2", "--plugins", "noop"]);
    const row = noop.stdout.split("\n").find((l) => l.trimStart().startsWith("ops_per_sec")) ?? "";
    expect(row).toMatch(/0\.00%$/);
  });
});

describe("changePct", () => {
  it("rounds to 2 decimals and is null for a zero baseline", () => {
    expect(changePct(3, 4)).toBe(33.33);
    expect(changePct(4, 3)).toBe(-25);
    expect(changePct(0, 3)).toBeNull();
  });
});
