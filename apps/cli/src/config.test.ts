import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./test-io.js";

describe("flushlab.config", () => {
  const dirs: string[] = [];
  function project(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), "flushlab-cli-"));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const configPlugin = `{
    name: "cfg-policy",
    description: "a plugin defined in the config",
    patch: { title: "mm: local experiment", commit: "deadbeef", kernel: "not merged" },
    appliesTo: ["x86-64"],
    overrides: [Symbol.for("@flushlab/test:Other")],
    register() {},
  }`;

  it("adds its plugins (enabled by default) and sets machine, profile, seed; flags override", async () => {
    const cwd = project({
      "flushlab.config.mjs": `export default { plugins: [${configPlugin}], machine: { cpus: 4, sockets: 2 }, profile: "kvm-guest", seed: 9 };\n`,
    });
    const list = await runCli(["list"], { cwd });
    expect(list.stdout).toContain("Plugins (installed, and from flushlab.config.mjs)");
    expect(list.stdout).toContain("cfg-policy  [flushlab.config.mjs]");
    expect(list.stdout).toContain("overrides:  @flushlab/test:Other");

    const run = await runCli(["run", "tlb-flush2", "--json"], { cwd });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ cpus: 4, sockets: 2, profile: "kvm-guest", seed: 9, plugins: ["cfg-policy"] });

    const flags = await runCli(["run", "tlb-flush2", "--json", "--cpus", "6", "--sockets", "3", "--profile", "bare-metal", "--seed", "2", "--plugins", "lazy-flush"], { cwd });
    expect(JSON.parse(flags.stdout)).toMatchObject({ cpus: 6, sockets: 3, profile: "bare-metal", seed: 2, plugins: ["lazy-flush"] });

    const compare = await runCli(["compare", "tlb-flush2", "--runs", "2", "--json"], { cwd });
    expect(compare.code).toBe(0);
    expect(JSON.parse(compare.stdout)).toMatchObject({ plugins: ["cfg-policy"], runs: 2 });

    const sockets = await runCli(["run", "tlb-flush2", "--cpus", "3"], { cwd });
    expect(sockets.stderr).toBe("flushlab: sockets (2) must divide cpus (3)\n");
  });

  it("a plugin named like an installed one is an error", async () => {
    const cwd = project({ "flushlab.config.js": `export default { plugins: [${configPlugin.replace("cfg-policy", "noop")}] };\n` });
    const r = await runCli(["list"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: two different plugins are named "noop" (installed and in flushlab.config.js)\n');
  });

  const bad: [string, string, RegExp][] = [
    ["flushlab.config.mjs", "export default { seeed: 1 };", /^flushlab: flushlab\.config\.mjs: unknown field "seeed"/],
    ["flushlab.config.mjs", "export default { seed: -1 };", /seed must be a non-negative integer/],
    ["flushlab.config.mjs", "export default { profile: 'cloud' };", /^flushlab: flushlab\.config\.mjs: unknown profile "cloud"/],
    ["flushlab.config.mjs", "export default { machine: { cpus: 0 } };", /machine\.cpus must be a positive integer/],
    ["flushlab.config.mjs", "export default { machine: { arch: 'arm64' } };", /machine\.arch must be one of x86-64, x86-32-pae/],
    ["flushlab.config.mjs", "export default { plugins: [{ name: 'x' }] };", /plugin "x" has no register/],
    ["flushlab.config.mjs", "export default 42;", /must export default an object/],
    ["flushlab.config.mjs", "export default {;", /^flushlab: cannot load flushlab\.config\.mjs: /],
    ["flushlab.config.mjs", "throw new Error('config blew up\\nline two');", /^flushlab: cannot load flushlab\.config\.mjs: config blew up$/],
  ];
  for (const [file, text, expected] of bad) {
    it(`rejects ${text}`, async () => {
      const r = await runCli(["run", "tlb-flush2"], { cwd: project({ [file]: text }) });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(r.stderr.trimEnd()).toMatch(expected);
    });
  }

  it("two config files are an error", async () => {
    const cwd = project({ "flushlab.config.mjs": "export default {};", "flushlab.config.js": "export default {};" });
    const r = await runCli(["list"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/more than one config file .*flushlab\.config\.mjs, flushlab\.config\.js/);
  });

  it("--help does not load the config", async () => {
    const cwd = project({ "flushlab.config.mjs": "export default {;" });
    expect((await runCli(["run", "--help"], { cwd })).code).toBe(0);
  });
});
