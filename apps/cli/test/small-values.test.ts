/**
 * Small means in the human tables: a scaled-down run lasts milliseconds, so elapsed_s
 * printed with 2 decimals read "0.00 ± 0.00". compare and sweep print seconds below 1 in
 * ms or µs (the row says which) with 3 significant digits at least.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

const SMALL = ["tlb-flush2", "--plugins", "batched-unmap", "--cpus", "4", "--param", "regions=1", "--param", "memory_kib=128"];
const dir = mkdtempSync(join(tmpdir(), "flushlab-small-values-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("elapsed_s of a short run", () => {
  it("compare: the row is in ms or µs, its mean the JSON's mean scaled, not 0.00 ± 0.00", async () => {
    const json = await runCli(["compare", ...SMALL, "--runs", "2", "--json"], { registry });
    const human = await runCli(["compare", ...SMALL, "--runs", "2"], { registry });
    expect(human.code).toBe(0);
    const mean = (JSON.parse(json.stdout) as { metrics: Record<string, { baseline: number }> }).metrics["elapsed_s"]!.baseline;
    expect(mean).toBeLessThan(1);
    const row = human.stdout.split("\n").find((l) => l.trimStart().startsWith("elapsed_s")) ?? "";
    const m = /^\s*elapsed_s \((ms|µs)\)\s+([\d.,]+)\s+± ([\d.,]+)\s+([\d.,]+)\s+± ([\d.,]+)/.exec(row);
    expect(m, row).not.toBeNull();
    const factor = m![1] === "ms" ? 1e3 : 1e6;
    const shown = Number(m![2]!.replace(/,/g, ""));
    expect(shown).toBeGreaterThan(0);
    expect(Math.abs(shown - mean * factor) / (mean * factor)).toBeLessThan(0.01);
    expect(row).not.toMatch(/ 0\.00 ± 0\.00/);
  });
  it("sweep: the grid's elapsed_s row too", async () => {
    const r = await runCli(["sweep", "tlb-flush2", "--out", join(dir, "g.jsonl"), "--plugins", "batched-unmap", "--cpus", "4", "--param", "regions=1", "--param", "memory_kib=128", "--seeds", "1"], { registry });
    expect(r.code).toBe(0);
    const row = r.stdout.split("\n").find((l) => /\belapsed_s\b/.test(l)) ?? "";
    expect(row).toMatch(/elapsed_s \((ms|µs)\)\s+[1-9][\d.,]*\s+[1-9][\d.,]* \(/);
  });
});
