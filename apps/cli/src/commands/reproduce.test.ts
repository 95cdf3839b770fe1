import { describe, expect, it } from "vitest";
import type { FlushlabPlugin } from "@flushlab/core-mmu";
import { NO_REPRODUCTION_LINE } from "../reporters/human.js";
import { runCli } from "../../test/support/test-io.js";
import { FAKE_PLUGINS, createTestRegistry } from "../../test/support/test-registry.js";

function fake(name: string): FlushlabPlugin {
  const p = FAKE_PLUGINS.find((x) => x.name === name);
  if (p === undefined) throw new Error(name);
  return p;
}

/** lazy-flush (+25 % ops/s in the fake) declaring a reproduction with one figure deliberately out of band. */
const lazyWithReproduction: FlushlabPlugin = {
  ...fake("lazy-flush"),
  reproduction: {
    workload: "tlb-flush2",
    machine: { cpus: 4 },
    profile: "kvm-guest",
    params: { threads: 4 },
    runs: 3,
    requireNoHazards: true,
    figures: [
      { metric: "ops_per_sec", kind: "change_pct", published: 25, accept: { min: 20, max: 30 }, source: "commit message, table 1" },
      { metric: "ops_per_sec", kind: "ratio", published: 0.8, accept: { min: 0.75, max: 0.85 }, source: "commit message" },
      { metric: "nr_tlb_remote_flush", kind: "patched", published: 30000, accept: { min: 1, max: 1e9 }, source: "perf stat" },
      { metric: "cycles_per_op", kind: "change_pct", published: 0, accept: { min: -5, max: 5 }, source: "made up" },
      { metric: "no_such_metric", kind: "baseline", published: 1, accept: { min: 0, max: 2 }, source: "nowhere" },
    ],
  },
};

const skipWithReproduction: FlushlabPlugin = {
  ...fake("skip-flush"),
  reproduction: {
    workload: "tlb-flush2",
    runs: 2,
    requireNoHazards: true,
    figures: [{ metric: "ops_per_sec", kind: "change_pct", published: 50, accept: { min: 40, max: 60 }, source: "cover letter" }],
  },
};

const registry = createTestRegistry({ plugins: [lazyWithReproduction, skipWithReproduction, fake("noop")] });

interface ReproJson {
  reproductions: {
    plugin: string;
    workload: string;
    figures: { metric: string; kind: string; model: number | null; published: number; accept: { min: number; max: number }; source: string; ok: boolean }[];
    hazards: { baseline: number; patched: number };
    ok: boolean;
  }[];
  demo?: Record<string, unknown>;
}

describe("flushlab reproduce", () => {
  it("--json: runs each declared reproduction and judges every figure", async () => {
    const r = await runCli(["reproduce", "--json"], { registry });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as ReproJson;
    expect(Object.keys(json)).toEqual(["reproductions"]);
    expect(json.reproductions.map((x) => x.plugin)).toEqual(["lazy-flush", "skip-flush"]);

    const lazy = json.reproductions[0]!;
    expect(Object.keys(lazy)).toEqual(["plugin", "workload", "machine", "profile", "kernel", "params", "runs", "seeds", "figures", "hazards", "ok", "notes"]);
    // What the runs were, so the JSON stands alone: the reproduction's machine, profile, params, seeds, and the runs' notes.
    const runs = lazy as unknown as { machine: Record<string, unknown>; profile: string; kernel: string; params: Record<string, unknown>; runs: number; seeds: number[]; notes: string[] };
    expect(runs.machine).toMatchObject({ arch: "x86-64", cpus: 4 });
    expect(runs.profile).toBe("kvm-guest");
    expect(runs.kernel).toMatch(/^v\d/);
    expect(runs.params["threads"]).toBe(4);
    expect(runs.runs).toBe(3);
    expect(runs.seeds).toEqual([1, 2, 3]);
    expect(runs.notes).toContain("fake simulator (test registry): the numbers are illustrative, not a model");
    expect(lazy.workload).toBe("tlb-flush2");
    for (const f of lazy.figures) expect(Object.keys(f)).toEqual(["metric", "kind", "role", "model", "published", "accept", "source", "ok", "result"]);
    // A prediction outside its band is labelled "not reproduced".
    for (const f of lazy.figures as { ok: boolean; role: string; result: string }[]) expect(f.result).toBe(f.ok ? "ok" : f.role === "prediction" ? "not reproduced" : "OUT");
    const [pct, ratio, counter, cycles, missing] = lazy.figures;
    expect(pct).toMatchObject({ metric: "ops_per_sec", kind: "change_pct", published: 25, ok: true, source: "commit message, table 1" });
    expect(pct!.model).toBeGreaterThan(20);
    expect(ratio!.ok).toBe(true);
    expect(ratio!.model).toBeCloseTo(0.8, 1);
    expect(counter!.ok).toBe(true); // counters can be figures too
    expect(cycles!.ok).toBe(false); // -20 % is outside [-5, 5]
    expect(missing).toMatchObject({ model: null, ok: false });
    expect(lazy.hazards).toEqual({ baseline: 0, patched: 0 });
    expect(lazy.ok).toBe(false);

    const skip = json.reproductions[1]!;
    expect(skip.figures[0]!.ok).toBe(true);
    expect(skip.hazards.baseline).toBe(0);
    expect(skip.hazards.patched).toBeGreaterThan(0);
    expect(skip.ok).toBe(false); // requireNoHazards
  });

  it("uses the reproduction's machine, profile, params and runs", async () => {
    const seen: string[] = [];
    const spy = {
      ...registry,
      simulate: ((options, onEvents, plugins) => {
        seen.push(`${options.machine.cpus} ${options.profile} ${String(options.params["threads"])} ${options.seed} ${options.plugins.join(",")}`);
        return registry.simulate(options, onEvents, plugins);
      }) as typeof registry.simulate,
    };
    const r = await runCli(["reproduce", "--plugins", "lazy-flush", "--json"], { registry: spy });
    expect(r.code).toBe(0);
    expect(seen).toEqual(["4 kvm-guest 4 1 ", "4 kvm-guest 4 1 lazy-flush", "4 kvm-guest 4 2 ", "4 kvm-guest 4 2 lazy-flush", "4 kvm-guest 4 3 ", "4 kvm-guest 4 3 lazy-flush"]);
  });

  it("human: model beside published, ok/OUT, hazards both sides", async () => {
    const r = await runCli(["reproduce", "--plugins", "lazy-flush,skip-flush"], { registry });
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain("Reproduction: lazy-flush");
    expect(out).toMatch(/metric\s+kind\s+role\s+model\s+published\s+accept/);
    expect(out).toMatch(/ops_per_sec\s+change_pct\s+prediction\s+\+2\d\.\d\d%\s+\+25\.00%\s+\[\+20\.00%, \+30\.00%\]\s+ok\s+commit message, table 1/);
    expect(out).toMatch(/cycles_per_op\s+change_pct\s+prediction\s+-\d+\.\d\d%.*not reproduced/);
    expect(out).toMatch(/no_such_metric\s+baseline\s+prediction\s+n\/a.*not reproduced/);
    expect(out).toContain("hazards: baseline 0, patched 0 (required: none)  ok");
    expect(out).toMatch(/hazards: baseline 0, patched \d+ \(required: none\)  OUT/);
    expect(out).toContain("NOT reproduced");
    expect((await runCli(["reproduce", "--plugins", "lazy-flush,skip-flush"], { registry })).stdout).toBe(out);
  });

  it("only the selected plugins are reproduced", async () => {
    const json = JSON.parse((await runCli(["reproduce", "--plugins", "skip-flush", "--json"], { registry })).stdout) as ReproJson;
    expect(json.reproductions.map((x) => x.plugin)).toEqual(["skip-flush"]);
  });

  it("a reproduction naming an unknown workload is a one-line input error", async () => {
    const bad: FlushlabPlugin = { ...fake("noop"), reproduction: { workload: "nope", requireNoHazards: false, figures: [] } };
    const r = await runCli(["reproduce"], { registry: createTestRegistry({ plugins: [bad] }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: plugin "noop" reproduction: unknown workload "nope" (known: tlb-flush2, mprotect-loop)\n');
  });

  it("a reproduction on an arch the plugin excludes is an input error", async () => {
    const bad: FlushlabPlugin = { ...skipWithReproduction, reproduction: { ...skipWithReproduction.reproduction!, machine: { arch: "x86-32-pae" } } };
    const r = await runCli(["reproduce"], { registry: createTestRegistry({ plugins: [bad] }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flushlab: plugin "skip-flush" does not apply to arch x86-32-pae \(it applies to x86-64\)\n$/);
  });

  describe("when no plugin declares a reproduction", () => {
    const plain = createTestRegistry();
    it("prints a demo run of the first workload, preceded by a notice", async () => {
      const r = await runCli(["reproduce"], { registry: plain });
      expect(r.code).toBe(0);
      const [first, blank, ...rest] = r.stdout.split("\n");
      expect(first).toBe(NO_REPRODUCTION_LINE);
      expect(blank).toBe("");
      expect(rest.join("\n")).toBe((await runCli(["run", "tlb-flush2"], { registry: plain })).stdout);
    });
    it("--json gives no reproductions and the demo run", async () => {
      const r = await runCli(["reproduce", "--json"], { registry: plain });
      const json = JSON.parse(r.stdout) as ReproJson;
      expect(json.reproductions).toEqual([]);
      expect(json.demo?.["workload"]).toBe("tlb-flush2");
    });
  });
});
