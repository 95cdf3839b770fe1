/** `flushlab check` through the CLI, in-process, with the real registry. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

const oneLine = (stderr: string) => {
  expect(stderr.endsWith("\n")).toBe(true);
  expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  return stderr.trimEnd();
};

describe("flushlab check", () => {
  it("finds bug-99baac21e458, exits 1, and prints the hazard, the scenario and a per-CPU timeline", async () => {
    const r = await runCli(["check", "--plugins", "bug-99baac21e458", "--budget", "8000", "--jobs", "2"], { registry });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("flushlab: the search's scenarios on 2 worker threads\n");
    expect(r.stdout).toMatch(/^flushlab check: plugins bug-99baac21e458, x86-64, kernel v5.17, 2\.\.4 CPUs, seed 1, budget 8,000 schedules$/m);
    expect(r.stdout).toMatch(/^HAZARD FOUND; shrunk in \d+ runs from/m);
    expect(r.stdout).toMatch(/^hazard: class [27] \(/m);
    expect(r.stdout).toMatch(/madvise\(page 0, MADV_(FREE|DONTNEED)\)/);
    expect(r.stdout).toMatch(/^ +cycle \| CPU 0 +\| CPU 1/m);
    expect(r.stdout).toMatch(/\*\* HAZARD class/);
  });

  it("--json carries the same and a replayable case; --replay runs it again exactly (exit 1, same hazard)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flushlab-check-"));
    const saved = join(dir, "cx.json");
    const r = await runCli(["check", "--plugins", "bug-eb66ae030829", "--budget", "8000", "--json", "--save", saved], { registry });
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ command: "check", found: true, arch: "x86-64", plugins: ["bug-eb66ae030829"], seed: 1, saved });
    expect(j.counterexample.hazard.class).toBe(1);
    expect(j.counterexample.timeline.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(saved, "utf8"))).toEqual(j.counterexample.replay);

    for (const file of [saved, (writeFileSync(join(dir, "report.json"), r.stdout), join(dir, "report.json"))]) {
      const again = await runCli(["check", "--replay", file, "--json"], { registry });
      expect(again.code).toBe(1);
      const a = JSON.parse(again.stdout);
      expect(a.counterexample.hazard).toEqual(j.counterexample.hazard);
      expect(a.counterexample.timeline).toEqual(j.counterexample.timeline);
    }
  });

  it("is deterministic: the same command prints the same bytes", async () => {
    const argv = ["check", "--budget", "400", "--seed", "3", "--json"];
    const a = await runCli(argv, { registry });
    const b = await runCli(argv, { registry });
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).toMatchObject({ found: false, explored: { schedules: 400 } });
  });

  it("finds nothing for the pre-patch kernel within a small budget, on both arch modes (exit 0)", async () => {
    for (const arch of ["x86-64", "x86-32-pae"]) {
      const r = await runCli(["check", "--arch", arch, "--budget", "600"], { registry });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^no hazard found \(this is not a proof/m);
    }
  });

  it("draws progress on a terminal stderr only, and erases it", async () => {
    const tty = await runCli(["check", "--budget", "200"], { registry, stderrIsTTY: true });
    expect(tty.stderr).toMatch(/flushlab: check \d+\/200 schedules/);
    expect(tty.stderr.endsWith("\r\x1b[K")).toBe(true);
    const pipe = await runCli(["check", "--budget", "200", "--jobs", "1"], { registry });
    expect(pipe.stderr).toBe("");
  });

  it.each([
    [["check", "--cpus", "5"], '--cpus must be N or M..N with 1 <= M <= N <= 4 (got "5")'],
    [["check", "--pti", "maybe"], '--pti must be on or off (got "maybe")'],
    [["check", "--arch", "x86-32-pae", "--pcid", "on"], "--pcid on needs arch x86-64"],
    [["check", "--cpus", "3..2"], '--cpus must be N or M..N with 1 <= M <= N <= 4 (got "3..2")'],
    [["check", "--budget", "0"], /--budget/],
    [["check", "--ops", "read,teleport"], 'unknown operation "teleport" in --ops'],
    [["check", "--plugins", "nope"], 'unknown plugin "nope"'],
    [["check", "--plugins", "flush-batched-pending"], 'plugin "flush-batched-pending" requires plugin "batched-unmap", which is not enabled'],
    [["check", "--plugins", "bug-3f8fd02b1bf1"], 'plugin "bug-3f8fd02b1bf1" does not apply to arch x86-64'],
    [["check", "--arch", "arm64"], 'unknown arch "arm64"'],
    [["check", "--replay", "/nonexistent/cx.json"], "cannot read /nonexistent/cx.json: ENOENT"],
    [["check", "--replay", "x.json", "--seed", "2"], "--replay runs the saved case as it was: --seed cannot be given with it"],
    [["check", "extra"], /check/],
  ])("bad input %j: one line, exit 2", async (argv, expected) => {
    const r = await runCli(argv as string[], { registry });
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    if (typeof expected === "string") expect(line).toContain(expected);
    else expect(line).toMatch(expected);
    expect(r.stdout).toBe("");
  });

  it("a malformed saved case is refused with the field that is wrong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flushlab-check-"));
    const cases: [string, string][] = [
      ["{", "is not JSON"],
      ['{"flushlab":"something-else"}', "holds no counterexample"],
      [JSON.stringify({ flushlab: "check-counterexample", arch: "x86-64", plugins: [], case: { scenario: { region: { kind: "anon", pages: 1 }, threads: [{ warm: "read", ops: [{ op: "jump" }], sweep: "read" }] }, delays: [] } }), "case.scenario.threads.0.ops.0.op"],
      [JSON.stringify({ flushlab: "check-counterexample", arch: "x86-64", plugins: [], case: { scenario: { region: { kind: "anon", pages: 1 }, threads: [{ warm: "read", ops: [{ op: "read", page: 3 }], sweep: "read" }] }, delays: [] } }), "reaches page 3 of a 1-page region"],
    ];
    for (const [text, expected] of cases) {
      const file = join(dir, "bad.json");
      writeFileSync(file, text);
      const r = await runCli(["check", "--replay", file], { registry });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toContain(expected);
    }
  });
});
