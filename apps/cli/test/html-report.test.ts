/**
 * The --html reports of the real model, opened in headless Chromium (Debian's chromium,
 * driven by playwright-core): no console error, no page error, no request beyond the file
 * itself (so none failed), every chart rendered and drew its data. Each page's screenshot
 * is saved under apps/cli/test-artifacts/ (the README's pictures come from there).
 *
 * Without chromium this test fails and says how to install it; FLUSHLAB_SKIP_BROWSER=1
 * skips it knowingly.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { registry } from "../src/registry.js";
import { SKIP_BROWSER, launch, openReport, type PageOutcome } from "./support/browser.js";
import { runCli } from "./support/test-io.js";

const ARTIFACTS = fileURLToPath(new URL("../test-artifacts/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "flushlab-browser-"));
// The simulations take seconds alone and minutes on a loaded 2-core machine (reproduce-strict's timeout too).
const SLOW = { timeout: 600_000 };
/** The page's series colours (assets/html-report.js), to find the dots of each side on a metric chart. */
const PROBES = { baseline: [0x1f, 0x5f, 0xbf], patched: [0xd2, 0x46, 0x1e], hazard: [0xd6, 0x28, 0x28] } as const;

function expectClean(page: PageOutcome): void {
  expect(page.consoleErrors).toEqual([]);
  expect(page.pageErrors).toEqual([]);
  expect(page.failedRequests).toEqual([]);
  expect(page.otherRequests).toEqual([]);
  expect(page.chartsDeclared).toBeGreaterThan(0);
  expect(page.chartsRendered).toBe(page.chartsDeclared);
  expect(page.charts).toHaveLength(page.chartsDeclared);
  for (const c of page.charts) {
    expect(c.canvases, c.id).toBe(1);
    expect(c.inked, c.id).toBeGreaterThan(500);
    expect(c.marks, c.id).not.toBeNull();
  }
}

async function generate(argv: readonly string[], name: string): Promise<{ file: string; code: number; stdout: string }> {
  const file = join(dir, `${name}.html`);
  const r = await runCli([...argv, "--html", file], { registry });
  // Nothing on stderr but the line saying that the runs went to the worker threads.
  expect(r.stderr).toMatch(/^(flushlab: .* on \d+ worker threads\n)?$/);
  return { file, code: r.code, stdout: r.stdout };
}

describe.skipIf(SKIP_BROWSER)("--html reports in headless Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("compare tlb-flush2 --plugins batched-unmap: a chart per metric with both sides' dots and error bars, the interrupts heat map", SLOW, async () => {
    const { file, code, stdout } = await generate(["compare", "tlb-flush2", "--plugins", "batched-unmap"], "report-compare");
    expect(code).toBe(0);
    const page = await openReport(browser, file, join(ARTIFACTS, "report-compare.png"), PROBES);
    expectClean(page);
    expect(page.title).toBe("flushlab compare tlb-flush2: batched-unmap");
    const metrics = page.charts.filter((c) => c.id.startsWith("metric-"));
    // A chart for every metric row of the report's table (the lines between its header and the footnote).
    const table = stdout.slice(stdout.search(/mean\s+± stddev/), stdout.indexOf("* significant"));
    const rows = table.split("\n").slice(1).filter((l) => l.trim() !== "");
    expect(rows.length).toBeGreaterThan(5);
    expect(metrics.length).toBe(rows.length);
    for (const c of metrics) {
      expect(c.marks, c.id).toBe(2); // an error bar per side
      expect(c.colours["baseline"], c.id).toBeGreaterThan(50);
      expect(c.colours["patched"], c.id).toBeGreaterThan(50);
    }
    const heat = page.charts.filter((c) => c.id.startsWith("heatmap-"));
    expect(heat.map((c) => c.marks)).toEqual([4 * 8]); // TLB and CAL of both sides, 8 CPUs
  });

  it("reproduce --plugins batched-unmap: each figure against its band, and its compare", SLOW, async () => {
    const { file, code } = await generate(["reproduce", "--plugins", "batched-unmap"], "report-reproduce");
    expect(code).toBe(0);
    const page = await openReport(browser, file, join(ARTIFACTS, "report-reproduce.png"), PROBES);
    expectClean(page);
    const figures = page.charts.filter((c) => c.id.startsWith("figure-"));
    expect(figures).toHaveLength(3);
    // band, published line and model dot, each
    for (const f of figures) expect(f.marks, f.id).toBe(3);
    expect(page.charts.filter((c) => c.id.startsWith("heatmap-")).map((c) => c.marks)).toEqual([4 * 48]);
  });

  it("check --plugins bug-99baac21e458: the counterexample's timeline, ending at the hazard", SLOW, async () => {
    const { file, code, stdout } = await generate(["check", "--plugins", "bug-99baac21e458", "--budget", "8000"], "report-check");
    expect(code).toBe(1);
    expect(stdout).toMatch(/HAZARD FOUND/);
    const page = await openReport(browser, file, join(ARTIFACTS, "report-check.png"), PROBES);
    expectClean(page);
    const timeline = page.charts.filter((c) => c.id.startsWith("timeline-"));
    expect(timeline).toHaveLength(1);
    // every timeline line of the text report, up to the hazard, is a mark
    const rows = stdout.split("\n").filter((l) => /^\s+\d+ \|/.test(l)).length;
    expect(timeline[0]!.marks).toBe(rows);
    expect(timeline[0]!.colours["hazard"]).toBeGreaterThan(50);
  });
});
