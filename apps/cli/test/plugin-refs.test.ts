/** --plugins and flushlab.config take paths and node_modules packages as well as installed names. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isPathRef } from "../src/plugin-refs.js";
import { runCli } from "./support/test-io.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/plugins/", import.meta.url));

async function runJson(argv: string[], cwd = FIXTURES): Promise<{ plugins: string[] }> {
  const r = await runCli([...argv, "--json"], { cwd });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { plugins: string[] };
}

const tmp = mkdtempSync(join(tmpdir(), "flushlab-plugin-refs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("what is a path", () => {
  it.each([
    ["./my-policy", true],
    ["../x", true],
    ["/abs/plugin.mjs", true],
    ["plugins/demo", true],
    ["lazy-flush", false],
    ["@scope/flushlab-plugin", false],
    ["flushlab-plugin-x", false],
  ])("%s → %s", (ref, path) => expect(isPathRef(ref)).toBe(path));
});

describe("--plugins <path or package>", () => {
  it("a module file, relative to the current directory, with or without its extension", async () => {
    expect((await runJson(["run", "tlb-flush2", "--plugins", "./one-policy.mjs"])).plugins).toEqual(["fixture-one"]);
    expect((await runJson(["run", "tlb-flush2", "--plugins", "./one-policy"])).plugins).toEqual(["fixture-one"]);
    expect((await runJson(["run", "tlb-flush2", "--plugins", join(FIXTURES, "one-policy.mjs")], tmp)).plugins).toEqual(["fixture-one"]);
  });

  it("next to installed plugins, in the order given", async () => {
    expect((await runJson(["run", "tlb-flush2", "--plugins", "noop,./one-policy.mjs"])).plugins).toEqual(["noop", "fixture-one"]);
  });

  it("a module whose one plugin is a named export", async () => {
    expect((await runJson(["run", "tlb-flush2", "--plugins", "./named-only.mjs"])).plugins).toEqual(["fixture-named"]);
  });

  it("an unbuilt TypeScript package directory: its src/index.ts through tsx", async () => {
    expect((await runJson(["run", "tlb-flush2", "--plugins", "./ts-package"])).plugins).toEqual(["fixture-ts"]);
  });

  it("compare takes it too", async () => {
    const r = await runCli(["compare", "tlb-flush2", "--plugins", "./one-policy.mjs", "--runs", "2"], { cwd: FIXTURES });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/patched\s+fixture-one/);
  });

  it("a package name from node_modules of the current directory or a parent", async () => {
    const pkg = join(tmp, "node_modules", "flushlab-plugin-fixture");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "flushlab-plugin-fixture", type: "module", exports: { ".": { import: "./index.mjs" } } }));
    // Self-contained (no import of @flushlab/core-mmu): a plugin with no policies is a valid plugin.
    const plugin = { name: "fixture-pkg", patch: { title: "fixture: package", commit: "none", kernel: "none" }, appliesTo: ["x86-64"], policies: [] };
    writeFileSync(join(pkg, "index.mjs"), `export default ${JSON.stringify(plugin)};\n`);
    const sub = join(tmp, "work");
    mkdirSync(sub, { recursive: true });
    expect((await runJson(["run", "tlb-flush2", "--plugins", "flushlab-plugin-fixture"], sub)).plugins).toEqual(["fixture-pkg"]);
  });

  it("installed names come first", async () => {
    expect((await runJson(["run", "tlb-flush2", "--plugins", "noop"])).plugins).toEqual(["noop"]);
  });

  it.each([
    [["--plugins", "./nope"], `flushlab: plugin path "./nope" does not exist (looked for ${join(FIXTURES, "nope")})\n`],
    [["--plugins", "./no-plugin.mjs"], 'flushlab: plugin "./no-plugin.mjs" exports no flushlab plugin (export default definePlugin({ … }))\n'],
    [["--plugins", "./two-plugins.mjs"], 'flushlab: plugin "./two-plugins.mjs" exports 2 plugins (fixture-first, fixture-second): export default the one to enable\n'],
    [["--plugins", "./bad-shape.mjs"], 'flushlab: plugin "./bad-shape.mjs": its default export: plugin "fixture-bad" has no patch provenance (patch.title, patch.commit, patch.kernel)\n'],
    [["--plugins", "./same-name.mjs"], 'flushlab: two different plugins are named "lazy-flush" (installed and in ./same-name.mjs)\n'],
    [["--plugins", "not-installed-anywhere"], 'flushlab: unknown plugin "not-installed-anywhere" (known: lazy-flush, skip-flush, batch-ipi, noop, pae-only)\n'],
  ])("%j → one line, exit 2", async (extra, message) => {
    const r = await runCli(["run", "tlb-flush2", ...extra], { cwd: FIXTURES });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(message);
  });

  it("a plugin loaded from a path is checked against the others like any plugin", async () => {
    const r = await runCli(["run", "tlb-flush2", "--plugins", "./named-only.mjs", "--arch", "x86-32-pae"], { cwd: FIXTURES });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: plugin "fixture-named" does not apply to arch x86-32-pae (it applies to x86-64)\n');
  });
});

describe("flushlab.config plugins as strings", () => {
  function configDir(name: string, body: string): string {
    const dir = join(tmp, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "flushlab.config.mjs"), body);
    return dir;
  }

  it("installed names, paths relative to the config's directory, and plugin objects mix", async () => {
    const dir = configDir("mixed", `export default { plugins: ["noop", ${JSON.stringify(join(FIXTURES, "one-policy.mjs"))}] };\n`);
    expect((await runJson(["run", "tlb-flush2"], dir)).plugins).toEqual(["noop", "fixture-one"]);
    // The same module named on the command line is the same plugin (no "two different plugins").
    expect((await runJson(["run", "tlb-flush2", "--plugins", join(FIXTURES, "one-policy.mjs")], dir)).plugins).toEqual(["fixture-one"]);
    const list = await runCli(["list"], { cwd: dir });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("fixture-one");
  });

  it.each([
    ["missing-path", `export default { plugins: ["./nope.mjs"] };\n`, /^flushlab: flushlab\.config\.mjs: plugin path "\.\/nope\.mjs" does not exist \(looked for .*nope\.mjs\)\n$/],
    ["no-plugin", `export default { plugins: [${JSON.stringify(join(FIXTURES, "no-plugin.mjs"))}] };\n`, /^flushlab: flushlab\.config\.mjs: plugin ".*no-plugin\.mjs" exports no flushlab plugin/],
    ["unknown", `export default { plugins: ["nowhere-to-be-found"] };\n`, /^flushlab: flushlab\.config\.mjs: unknown plugin "nowhere-to-be-found" \(not an installed plugin, not a path, and no node_modules has a package of that name\)\n$/],
    ["empty", `export default { plugins: [""] };\n`, /^flushlab: flushlab\.config\.mjs: plugins\[0\] is an empty name\n$/],
  ])("%s → one line, exit 2", async (name, body, message) => {
    const r = await runCli(["run", "tlb-flush2"], { cwd: configDir(name, body) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
