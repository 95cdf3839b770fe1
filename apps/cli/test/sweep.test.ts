/** flushlab sweep: the grid, its JSON lines, resuming without redoing a run, and --jobs. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import type { CliRegistry } from "../src/registry-types.js";
import { createTestRegistry } from "./support/test-registry.js";
import { runCli } from "./support/test-io.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "flushlab-sweep-"));
  dirs.push(d);
  return d;
}
const keys = (file: string): string[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l).key as string);

// 2 plugin sets (baseline, lazy-flush) × 2 CPU counts × 2 thread counts × 3 seeds = 24 runs.
const grid = (out: string) => ["sweep", "tlb-flush2", "--out", out, "--plugins", "lazy-flush", "--cpus", "4,8", "--param", "threads=2,4", "--seeds", "3"];

describe("flushlab sweep", () => {
  it("stopped halfway and started again, it finishes the grid without repeating a run", async () => {
    const out = join(tmp(), "grid.jsonl");
    const first = await runCli([...grid(out), "--max-runs", "12"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/24 runs in the grid; 0 already in .*grid\.jsonl, 12 run now/);
    expect(first.stdout).toMatch(/12 runs still to do/);
    expect(keys(out)).toHaveLength(12);

    const second = await runCli(grid(out));
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/24 runs in the grid; 12 already in .*, 12 run now/);
    const all = keys(out);
    expect(all).toHaveLength(24);
    expect(new Set(all).size).toBe(24);
    expect(second.stdout).toMatch(/grid point\s+metric\s+baseline\s+lazy-flush/);
    expect(second.stdout).toMatch(/cpus=8 sockets=1 threads=4/);

    const third = await runCli(grid(out));
    expect(third.stdout).toMatch(/24 already in .*, 0 run now/);
    expect(keys(out)).toHaveLength(24);
    // The table comes from the lines in the file: the same as when the runs were fresh.
    expect(third.stdout.split("\n").slice(1)).toEqual(second.stdout.split("\n").slice(1));
  });

  it("each JSON line says what its run was (workload, machine, profile, kernel, plugins, params, seed) and carries its notes", async () => {
    const out = join(tmp(), "grid.jsonl");
    const r = await runCli(["sweep", "tlb-flush2", "--out", out, "--plugins", "lazy-flush", "--cpus", "4", "--sockets", "2", "--profile", "kvm-guest", "--param", "threads=2", "--seed", "7", "--seeds", "1"]);
    expect(r.code).toBe(0);
    const lines = readFileSync(out, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l["variant"])).toEqual(["baseline", "lazy-flush"]);
    for (const l of lines) {
      expect(l).toMatchObject({ workload: "tlb-flush2", machine: { arch: "x86-64", cpus: 4, sockets: 2 }, profile: "kvm-guest", seed: 7 });
      expect((l["params"] as Record<string, unknown>)["threads"]).toBe(2);
      expect(l["kernel"]).toMatch(/^v\d/);
      expect(l["plugins"]).toEqual(l["variant"] === "baseline" ? [] : ["lazy-flush"]);
      expect(l["notes"]).toContain("fake simulator (test registry): the numbers are illustrative, not a model");
    }
  });

  it("--shard K/N splits the grid into independent jobs whose files, concatenated, make the whole grid", async () => {
    const d = tmp();
    const a = await runCli([...grid(join(d, "1.jsonl")), "--shard", "1/2"]);
    const b = await runCli([...grid(join(d, "2.jsonl")), "--shard", "2/2"]);
    expect(a.stdout).toMatch(/shard 1\/2 \(12 runs\) is complete/);
    expect(b.stdout).toMatch(/shard 2\/2 \(12 runs\) is complete/);
    const all = join(d, "all.jsonl");
    writeFileSync(all, readFileSync(join(d, "1.jsonl"), "utf8") + readFileSync(join(d, "2.jsonl"), "utf8"));
    const merged = await runCli(grid(all));
    expect(merged.stdout).toMatch(/24 already in .*, 0 run now/);
    const whole = await runCli(grid(join(d, "whole.jsonl")));
    expect(merged.stdout.split("\n").slice(1)).toEqual(whole.stdout.split("\n").slice(1));
  });

  it("Ctrl-C: the runs that finished are in the file and reported as partial, exit 130; the same command goes on", async () => {
    const out = join(tmp(), "grid.jsonl");
    const base = createTestRegistry();
    let runs = 0;
    const interrupting: CliRegistry = {
      ...base,
      simulate: (options, resolved, onEvents) => {
        const r = base.simulate(options, resolved, onEvents);
        if (++runs === 3) process.emit("SIGINT", "SIGINT");
        return r;
      },
    };
    const first = await runCli(grid(out), { registry: interrupting });
    expect(first.code).toBe(130);
    expect(first.stdout.split("\n")[0]).toBe("interrupted: 3 of 24 runs finished — partial results");
    expect(first.stdout).toMatch(/0 already in .*, 3 run now/);
    expect(keys(out)).toHaveLength(3);
    expect(process.listenerCount("SIGINT")).toBe(0);
    const again = await runCli(grid(out));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/3 already in .*, 21 run now/);
    expect(new Set(keys(out)).size).toBe(24);
  });

  it("a last line cut short by an interrupt is run again; a bad line elsewhere is an error", async () => {
    const out = join(tmp(), "grid.jsonl");
    await runCli([...grid(out), "--max-runs", "5"]);
    const text = readFileSync(out, "utf8");
    writeFileSync(out, text + text.split("\n")[0]!.slice(0, 20));
    const again = await runCli([...grid(out), "--max-runs", "1"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/5 already in .*, 1 run now/);
    expect(keys(out)).toHaveLength(6);
    writeFileSync(out, `not json\n${text}`);
    const bad = await runCli(grid(out));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/grid\.jsonl:1 is not a JSON line of a sweep/);
  });

  it("the file and the table are the same for --jobs 1 and --jobs 2 (real model, worker threads)", { timeout: 180_000 }, async () => {
    const d = tmp();
    const argv = (out: string, jobs: string) => ["sweep", "tlb-flush2", "--out", join(d, out), "--plugins", "batched-unmap", "--cpus", "2,4", "--seeds", "2", "--jobs", jobs];
    const one = await runCli(argv("a.jsonl", "1"), { registry });
    const two = await runCli(argv("b.jsonl", "2"), { registry });
    expect(one.code).toBe(0);
    expect(two.stderr).toBe("flushlab: 8 runs on 2 worker threads\n");
    expect(readFileSync(join(d, "b.jsonl"), "utf8")).toBe(readFileSync(join(d, "a.jsonl"), "utf8"));
    expect(two.stdout.replace(/b\.jsonl/g, "a.jsonl")).toBe(one.stdout);
  });

  it.each([
    [["sweep", "tlb-flush2"], /sweep needs --out FILE/],
    [["sweep", "tlb-flush2", "--out", "x", "--cpus", "4,x"], /--cpus must be positive integers, comma-separated/],
    [["sweep", "tlb-flush2", "--out", "x", "--cpus", "3", "--sockets", "2"], /the grid is empty/],
    [["sweep", "tlb-flush2", "--out", "x", "--param", "threads"], /--param must be written key=v1,v2/],
    [["sweep", "tlb-flush2", "--out", "x", "--plugins", "nope"], /unknown plugin "nope"/],
  ])("%j → one line, exit 2", async (argv, msg) => {
    const r = await runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
