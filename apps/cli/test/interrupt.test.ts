/**
 * Ctrl-C keeps what finished: the built CLI in a child process, a SIGINT during a long
 * compare, the runs that finished reported as partial, exit 130; a second SIGINT exits at
 * once. Needs the build (dist/bin.js).
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../dist/bin.js");

/** Runs the CLI, sends SIGINT at each of `at` (ms after the start), and collects its output and exit status. */
function interrupted(argv: readonly string[], at: readonly number[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timers = at.map((ms) => setTimeout(() => child.kill("SIGINT"), ms));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      for (const t of timers) clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// 2 × 300 runs of a small workload: far more than can finish before the signal.
const COMPARE = ["compare", "tlb-flush2", "--cpus", "4", "--plugins", "batched-unmap", "--runs", "300"];

describe("SIGINT during a long command", () => {
  it("compare: reports the runs that finished, marked partial, and exits 130", async () => {
    const r = await interrupted(COMPARE, [5000]);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("flushlab: interrupted: stopping after the run in progress and reporting what finished");
    const lines = r.stdout.split("\n");
    const m = /^interrupted: (\d+) of 600 runs finished — partial results$/.exec(lines[0]!);
    expect(m).not.toBeNull();
    const finished = Number(m![1]);
    expect(finished).toBeGreaterThan(0);
    expect(finished).toBeLessThan(600);
    expect(lines).toContain("flushlab compare tlb-flush2");
    // The metrics of the runs that finished, not "n/a": the first seed's pair ran.
    expect(r.stdout).toMatch(/ops_per_s \(ops\/s\)\s+[\d,.]+/);
  }, 60_000);

  it("compare --json: \"partial\": true with the runs that finished", async () => {
    const r = await interrupted([...COMPARE, "--json"], [5000]);
    expect(r.code).toBe(130);
    const j = JSON.parse(r.stdout) as { partial: boolean; finished: number; total: number; workload: string };
    expect(j.partial).toBe(true);
    expect(j.total).toBe(600);
    expect(j.finished).toBeGreaterThan(0);
    expect(j.finished).toBeLessThan(600);
    expect(j.workload).toBe("tlb-flush2");
  }, 60_000);

  it("a second SIGINT exits 130 at once, with no report", async () => {
    // Both signals land in the first run (several seconds at 48 CPUs); the handler sees
    // both when it ends and the process exits there, reporting nothing.
    const r = await interrupted(["compare", "lru-file-mmap-read", "--sockets", "4", "--cpus", "48", "--plugins", "batched-unmap"], [3000, 3100]);
    expect(r.code).toBe(130);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("flushlab: interrupted:");
  }, 120_000);
});
