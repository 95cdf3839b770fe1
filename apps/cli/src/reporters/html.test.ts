/** --html: what the file holds (without a browser; test/html-report.test.ts opens it in one). */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { FlushlabPlugin } from "@flushlab/core-mmu";
import { runCli } from "../../test/support/test-io.js";
import { FAKE_PLUGINS, createTestRegistry } from "../../test/support/test-registry.js";
import { registry as realRegistry } from "../registry.js";
import { checkHtmlPath, esc } from "./html.js";
import type { ChartSpec } from "./html.js";

const dir = mkdtempSync(join(tmpdir(), "flushlab-html-"));
afterAll(() => {
  chmodSync(dir, 0o755);
});

/** The chart data a page embeds. */
function chartsOf(html: string): ChartSpec[] {
  const m = /<script type="application\/json" id="flushlab-data">(.*?)<\/script>/s.exec(html);
  if (m === null) throw new Error("no chart data in the page");
  return (JSON.parse(m[1]!) as { charts: ChartSpec[] }).charts;
}

const lazy = FAKE_PLUGINS.find((p) => p.name === "lazy-flush")!;
// The source text carries markup, so the page must escape it (in the table and in the JSON).
const lazyReproducing: FlushlabPlugin = {
  ...lazy,
  reproduction: {
    workload: "tlb-flush2",
    machine: { cpus: 4 },
    params: { threads: 4 },
    runs: 3,
    requireNoHazards: true,
    figures: [
      { metric: "ops_per_sec", kind: "change_pct", published: 25, accept: { min: 20, max: 30 }, source: "table 1 </script><script>alert(1)</script>" },
      { metric: "cycles_per_op", kind: "change_pct", published: -20, accept: { min: -25, max: -15 }, source: "calibrated", role: "calibration" },
      { metric: "ops_per_sec", kind: "ratio", published: 0.5, accept: { min: 0.4, max: 0.6 }, source: "deliberately out of band" },
    ],
  },
};
const registry = createTestRegistry({ plugins: [lazyReproducing, ...FAKE_PLUGINS.filter((p) => p.name !== "lazy-flush")] });

describe("flushlab compare --html", () => {
  it("writes one page that loads nothing: uPlot and the script inline, a CSP that forbids fetches, no URL to load", async () => {
    const file = join(dir, "compare.html");
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "4", "--cpus", "4", "--html", file], { registry });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    // The report on stdout is unchanged by --html.
    const plain = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "4", "--cpus", "4"], { registry });
    expect(r.stdout).toBe(plain.stdout);
    const html = readFileSync(file, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain(`content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<(script|img|iframe)[^>]*\ssrc=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
    expect(html).toContain("uPlot"); // the library itself, inlined
    expect(html).toContain("flushlab-data");
  });

  it("plots each metric per seed, with the means and stddevs of the summary, and the interrupts per CPU of each side", async () => {
    const file = join(dir, "compare-data.html");
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "4", "--cpus", "4", "--seed", "7", "--html", file], { registry });
    expect(r.code).toBe(0);
    const json = JSON.parse((await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "4", "--cpus", "4", "--seed", "7", "--json"], { registry })).stdout);
    const charts = chartsOf(readFileSync(file, "utf8"));
    const metrics = charts.filter((c) => c.type === "metric");
    expect(metrics.map((c) => c.title)).toEqual(Object.keys(json.metrics));
    for (const c of metrics) {
      const m = json.metrics[c.title];
      expect(c.baseline).toHaveLength(4);
      expect(c.patched).toHaveLength(4);
      expect(c.baselineLabels).toEqual(["seed 7", "seed 8", "seed 9", "seed 10"]);
      expect(c.baselineMean).toBe(m.baseline);
      expect(c.patchedStddev).toBe(m.patched_stddev);
      expect(c.baseline.reduce((a, b) => a + b, 0) / 4).toBeCloseTo(m.baseline, 9);
    }
    const heat = charts.find((c) => c.type === "heatmap");
    if (heat?.type !== "heatmap") throw new Error("no heat map");
    expect(heat.cpus).toBe(4);
    expect(heat.rows.map((row) => row.label)).toEqual(["TLB baseline", "TLB patched", "CAL baseline", "CAL patched"]);
    // The fake spreads the received shootdowns over the CPUs: the rows add up to the counter.
    const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
    expect(sum(heat.rows[0]!.values)).toBeCloseTo(json.counters.nr_tlb_remote_flush_received.baseline, 6);
    expect(sum(heat.rows[1]!.values)).toBeCloseTo(json.counters.nr_tlb_remote_flush_received.patched, 6);
  });

  it("gives the same bytes for the same inputs", async () => {
    const a = join(dir, "a.html");
    const b = join(dir, "b.html");
    await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2", "--html", a], { registry });
    await runCli(["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "2", "--html", b], { registry });
    expect(readFileSync(a, "utf8")).toBe(readFileSync(b, "utf8"));
  });
});

describe("flushlab reproduce --html", () => {
  it("shows every figure beside its published value and band, with its role, and escapes what it quotes", async () => {
    const file = join(dir, "reproduce.html");
    const r = await runCli(["reproduce", "--plugins", "lazy-flush", "--html", file], { registry });
    expect(r.code).toBe(0);
    const html = readFileSync(file, "utf8");
    const figures = chartsOf(html).filter((c) => c.type === "figure");
    expect(figures.map((f) => [f.title, f.role, f.published, f.min, f.max])).toEqual([
      ["ops_per_sec (change_pct)", "prediction", 25, 20, 30],
      ["cycles_per_op (change_pct)", "calibration", -20, -25, -15],
      ["ops_per_sec (ratio)", "prediction", 0.5, 0.4, 0.6],
    ]);
    const json = JSON.parse((await runCli(["reproduce", "--plugins", "lazy-flush", "--json"], { registry })).stdout);
    expect(figures.map((f) => [f.model, f.ok])).toEqual(json.reproductions[0].figures.map((f: { model: number; ok: boolean }) => [f.model, f.ok]));
    expect(figures[2]!.ok).toBe(false);
    expect(html).toContain("not reproduced");
    expect(html).toContain(esc("table 1 </script><script>alert(1)</script>"));
    expect(html).not.toContain("<script>alert(1)");
    // Its compare is there too: a chart per metric and the interrupts heat map.
    expect(chartsOf(html).filter((c) => c.type === "metric").length).toBeGreaterThan(0);
    expect(chartsOf(html).filter((c) => c.type === "heatmap")).toHaveLength(1);
  });
});

describe("flushlab reproduce --html without a reproduction", () => {
  it("shows the demo run with its interrupts per CPU", async () => {
    const file = join(dir, "demo.html");
    const r = await runCli(["reproduce", "--plugins", "noop", "--html", file], { registry });
    expect(r.code).toBe(0);
    const html = readFileSync(file, "utf8");
    expect(html).toContain("No enabled plugin declares a reproduction");
    const charts = chartsOf(html);
    expect(charts.map((c) => c.type)).toEqual(["heatmap"]);
    const heat = charts[0]!;
    if (heat.type !== "heatmap") throw new Error("no heat map");
    expect(heat.rows.map((row) => row.label)).toEqual(["TLB", "CAL"]);
    expect(heat.rows[0]!.values.length).toBe(heat.cpus);
  });
});

describe("--html FILE that cannot be written", () => {
  it.each([
    [["compare", "tlb-flush2", "--plugins", "lazy-flush"], "compare"],
    [["reproduce", "--plugins", "lazy-flush"], "reproduce"],
    [["check", "--budget", "10"], "check"],
  ])("%j with a missing directory: one line, exit 2, before any simulation", async (argv, command) => {
    const events: string[] = [];
    const r = await runCli([...argv, "--html", "/nonexistent-flushlab-dir/r.html"], {
      // check needs the real arch layer.
      registry: command === "check" ? realRegistry : registry,
      onEvents: (e$) => void e$.subscribe((e) => events.push(e.type)),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("flushlab: --html /nonexistent-flushlab-dir/r.html: cannot write there: directory /nonexistent-flushlab-dir does not exist\n");
    expect(r.stdout).toBe("");
    expect(events.filter((t) => t === "cli:simulation" || t === "cli:check_start")).toEqual([]);
  });

  it("a directory, or a file under a file, is refused", () => {
    const sub = join(dir, "sub");
    mkdirSync(sub, { recursive: true });
    expect(() => checkHtmlPath(sub)).toThrow(`--html ${sub}: is a directory`);
    const plain = join(dir, "plain.txt");
    writeFileSync(plain, "x");
    expect(() => checkHtmlPath(join(plain, "r.html"))).toThrow(`cannot write there: ${plain} is not a directory`);
    expect(() => checkHtmlPath("")).toThrow("--html needs a file name");
  });

  it.skipIf(process.getuid?.() === 0)("a read-only directory is refused (root can write anywhere, so not as root)", () => {
    const ro = join(dir, "ro");
    mkdirSync(ro, { recursive: true });
    chmodSync(ro, 0o555);
    try {
      expect(() => checkHtmlPath(join(ro, "r.html"))).toThrow(`directory ${ro} is not writable`);
    } finally {
      chmodSync(ro, 0o755);
    }
  });
});
