/**
 * Independent runs on worker threads (tinypool): the output is byte-identical for every
 * --jobs, a config plugin works inside the workers, and a worker's error is the same one
 * line a serial run prints. The workers load the built CLI (dist), which turbo builds
 * before it tests.
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

/** A project directory with a flushlab.config.mjs and @flushlab/core-mmu linked in, as a user's install would be. */
function project(config: string): string {
  const dir = mkdtempSync(join(tmpdir(), "flushlab-pool-"));
  dirs.push(dir);
  writeFileSync(join(dir, "flushlab.config.mjs"), config);
  mkdirSync(join(dir, "node_modules/@flushlab"), { recursive: true });
  symlinkSync(join(dirname(fileURLToPath(import.meta.url)), "../../../packages/core-mmu"), join(dir, "node_modules/@flushlab/core-mmu"), "dir");
  return dir;
}

const plugin = (name: string, factory: string) => `import { MMU_GATHER_FLUSH, definePlugin, policy } from "@flushlab/core-mmu";
export default { plugins: [definePlugin({
  name: "${name}",
  description: "a config plugin, to be rebuilt inside the workers",
  patch: { title: "mm: local experiment", commit: "deadbeef", kernel: "not merged" },
  appliesTo: ["x86-64"],
  policies: [policy(MMU_GATHER_FLUSH, ${factory})],
})] };
`;

describe("--jobs: runs on worker threads", () => {
  it("compare prints byte-identical JSON with --jobs 1 and --jobs 2, and says on stderr that it used the workers", { timeout: 120_000 }, async () => {
    const argv = ["compare", "tlb-flush2", "--plugins", "batched-unmap", "--runs", "2", "--json"];
    const one = await runCli([...argv, "--jobs", "1"], { registry });
    const two = await runCli([...argv, "--jobs", "2"], { registry });
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(one.stderr).toBe("");
    expect(two.stderr).toBe("flushlab: 4 runs on 2 worker threads\n");
    expect(two.stdout).toBe(one.stdout);
    expect(JSON.parse(two.stdout).runs).toBe(2);
  });

  it("a config plugin runs inside the workers as in this thread", { timeout: 120_000 }, async () => {
    const cwd = project(plugin("cfg-same", "(_kernel, before) => before"));
    const argv = ["compare", "tlb-flush2", "--plugins", "cfg-same", "--runs", "2", "--json"];
    const one = await runCli([...argv, "--jobs", "1"], { registry, cwd });
    const two = await runCli([...argv, "--jobs", "2"], { registry, cwd });
    expect(two.stderr).toBe("flushlab: 4 runs on 2 worker threads\n");
    expect(two.code).toBe(0);
    expect(two.stdout).toBe(one.stdout);
  });

  it("a plugin given by path runs inside the workers as in this thread", { timeout: 120_000 }, async () => {
    const cwd = join(dirname(fileURLToPath(import.meta.url)), "fixtures/plugins");
    const argv = ["compare", "tlb-flush2", "--plugins", "./one-policy.mjs", "--runs", "2", "--json"];
    const one = await runCli([...argv, "--jobs", "1"], { registry, cwd });
    const two = await runCli([...argv, "--jobs", "2"], { registry, cwd });
    expect(two.stderr).toBe("flushlab: 4 runs on 2 worker threads\n");
    expect(two.code).toBe(0);
    expect(JSON.parse(two.stdout).plugins).toEqual(["fixture-one"]);
    expect(two.stdout).toBe(one.stdout);
  });

  it("a plugin that throws in a worker gets the serial run's one line and exit 2", { timeout: 120_000 }, async () => {
    const cwd = project(plugin("cfg-throws", '() => { throw new Error("boom in factory"); }'));
    const argv = ["compare", "tlb-flush2", "--plugins", "cfg-throws", "--runs", "2"];
    const one = await runCli([...argv, "--jobs", "1"], { registry, cwd });
    const two = await runCli([...argv, "--jobs", "2"], { registry, cwd });
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/^flushlab: plugin "cfg-throws" .*boom in factory\n$/);
    expect(two.code).toBe(2);
    expect(two.stderr.split("\n").filter((l) => l !== "").pop()).toBe(one.stderr.trim());
  });

  it("--jobs must be a positive integer", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "batched-unmap", "--jobs", "0"], { registry });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: --jobs must be a positive integer (got "0")\n');
  });
});

describe("check --jobs: the search's scenarios on worker threads", () => {
  it("finds the same counterexample, shrunk the same way, with --jobs 1 and --jobs 2", { timeout: 300_000 }, async () => {
    const argv = ["check", "--plugins", "bug-99baac21e458", "--budget", "8000", "--json"];
    const one = await runCli([...argv, "--jobs", "1"], { registry });
    const two = await runCli([...argv, "--jobs", "2"], { registry });
    expect(one.code).toBe(1);
    expect(two.stderr).toBe("flushlab: the search's scenarios on 2 worker threads\n");
    expect(two.code).toBe(1);
    expect(two.stdout).toBe(one.stdout);
  });

  it("explores the same schedules when it finds nothing", { timeout: 300_000 }, async () => {
    const argv = ["check", "--plugins", "mprotect-gather", "--budget", "1500", "--json"];
    const one = await runCli([...argv, "--jobs", "1"], { registry });
    const two = await runCli([...argv, "--jobs", "2"], { registry });
    expect(one.code).toBe(0);
    expect(two.stdout).toBe(one.stdout);
    expect(JSON.parse(two.stdout).explored.schedules).toBe(1500);
  });
});
