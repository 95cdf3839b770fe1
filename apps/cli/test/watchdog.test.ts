/**
 * A config plugin whose policy loops forever, through the CLI with the real model: the run
 * stops with the kernel's one-line lockup report naming the plugin and the hook, exit 2,
 * in a second or two of wall time, instead of hanging.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A project directory whose flushlab.config.mjs defines plugin "loop" with `tlbFlushMmu` = `body`, and `machine`. */
function project(body: string, machine = "{}"): string {
  const dir = mkdtempSync(join(tmpdir(), "flushlab-watchdog-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "flushlab.config.mjs"),
    `import { MMU_GATHER_FLUSH, definePlugin, policy } from "@flushlab/core-mmu";
export default {
  machine: ${machine},
  plugins: [definePlugin({
    name: "loop",
    description: "a tlbFlushMmu with a bug",
    patch: { title: "test", commit: "none", kernel: "none" },
    appliesTo: ["x86-64", "x86-32-pae"],
    policies: [policy(MMU_GATHER_FLUSH, () => ({ *tlbFlushMmu() { ${body} } }))],
  })],
};
`,
  );
  mkdirSync(join(dir, "node_modules/@flushlab"), { recursive: true });
  symlinkSync(join(dirname(fileURLToPath(import.meta.url)), "../../../packages/core-mmu"), join(dir, "node_modules/@flushlab/core-mmu"), "dir");
  return dir;
}

describe("flushlab run tlb-flush2 --plugins loop (a policy that never returns)", () => {
  it.each([
    ["while (true) yield 0;", /^flushlab: watchdog: BUG: no progress - CPU#\d+ took 1000000 steps at cycle \d+ without simulated time advancing! \[in plugin "loop", MmuGatherFlush\.tlbFlushMmu\]\n$/],
    ["while (true) yield 1000;", /^flushlab: watchdog: BUG: soft lockup - CPU#\d+ stuck for 200000\d{3} cycles \(over watchdogCycles 200000000\)! \[in plugin "loop", MmuGatherFlush\.tlbFlushMmu\]\n$/],
  ])("%s → one line, exit 2, in seconds", async (body, line) => {
    const started = performance.now();
    const r = await runCli(["run", "tlb-flush2", "--plugins", "loop"], { registry, cwd: project(body) });
    // 1 to 2 s on an idle machine (the issue asks for under 10 s); the bound leaves room
    // for a machine busy with other test files, and still tells a stop from a hang.
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(line);
    expect(r.stdout).toBe("");
  }, 30_000);

  it("watchdogThresh in the config: the seconds threshold, as the kernel reports it", async () => {
    const r = await runCli(["run", "tlb-flush2", "--plugins", "loop"], { registry, cwd: project("while (true) yield 100000000;", "{ watchdogThresh: 10, watchdogCycles: 0 }") });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^flushlab: watchdog: BUG: soft lockup - CPU#\d+ stuck for 22s! \[in plugin "loop", MmuGatherFlush\.tlbFlushMmu\]\n$/);
  }, 30_000);

  it("bad values are one-line errors", async () => {
    const r = await runCli(["run", "tlb-flush2"], { registry, cwd: project("yield 0;", "{ watchdogThresh: 99 }") });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("flushlab: flushlab.config.mjs: machine.watchdogThresh must be an integer number of seconds from 0 (off) to 60 (got 99)\n");
  }, 30_000);
});
