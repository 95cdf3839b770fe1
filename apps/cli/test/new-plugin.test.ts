/** flushlab new-plugin: the package it writes, where, and that it builds and passes its own tests. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findCheckout, planScaffold } from "../src/commands/new-plugin.js";
import { runCli } from "./support/test-io.js";

const tmp = mkdtempSync(join(tmpdir(), "flushlab-new-plugin-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const checkout = findCheckout();

describe("where new-plugin writes, and what it links to", () => {
  it("finds this checkout and its packages", () => {
    expect(checkout.root).toBeDefined();
    expect(existsSync(join(checkout.root!, "pnpm-workspace.yaml"))).toBe(true);
    expect(existsSync(join(checkout.packages["@flushlab/core-mmu"], "src", "index.ts"))).toBe(true);
  });

  it("outside the repository: file: links to this checkout's packages", () => {
    const plan = planScaffold("demo", join(tmp, "plan-out"), tmp, checkout);
    expect(plan.mode).toBe("linked");
    expect(plan.packageName).toBe("flushlab-plugin-demo");
    const pkg = JSON.parse(plan.files.get(join(plan.dir, "package.json"))!);
    expect(pkg.dependencies["@flushlab/core-mmu"]).toBe(`file:${checkout.packages["@flushlab/core-mmu"]}`);
    expect(pkg.devDependencies["@flushlab/cli"]).toBe(`file:${checkout.packages["@flushlab/cli"]}`);
    expect([...plan.files.keys()].map((f) => f.slice(plan.dir.length + 1)).sort()).toEqual(
      [".changeset/config.json", ".changeset/demo-initial.md", ".gitignore", "README.md", "package.json", "src/index.test.ts", "src/index.ts", "tsconfig.json", "vitest.config.ts"].sort(),
    );
    const index = plan.files.get(join(plan.dir, "src", "index.ts"))!;
    expect(index).toContain("definePlugin({");
    expect(index).toContain('name: "demo"');
    expect(index).toContain("policy(KERNEL_RANGE_FLUSH");
    // Default directory outside the workspace: ./flushlab-plugin-<name>.
    expect(planScaffold("demo", undefined, tmp, checkout).dir).toBe(join(tmp, "flushlab-plugin-demo"));
  });

  it("inside the workspace: a workspace package in packages/, its changeset in the repository's .changeset", () => {
    const plan = planScaffold("demo", undefined, checkout.root!, checkout);
    expect(plan.mode).toBe("workspace");
    expect(plan.dir).toBe(join(checkout.root!, "packages", "plugin-demo"));
    expect(plan.packageName).toBe("@flushlab/plugin-demo");
    const pkg = JSON.parse(plan.files.get(join(plan.dir, "package.json"))!);
    expect(pkg.peerDependencies["@flushlab/core-mmu"]).toBe("workspace:^");
    expect(pkg.devDependencies["@flushlab/cli"]).toBe("workspace:^");
    expect(plan.files.has(join(checkout.root!, ".changeset", "plugin-demo.md"))).toBe(true);
    expect(JSON.parse(plan.files.get(join(plan.dir, "tsconfig.json"))!).extends).toBe("../../tsconfig.base.json");
  });

  it.each([
    [["new-plugin"], "flushlab: new-plugin needs a name (flushlab new-plugin <name> [--dir D])\n"],
    [["new-plugin", "Demo"], 'flushlab: plugin name must be lower-case words joined by "-" (got "Demo")\n'],
    [["new-plugin", "demo", "extra"], 'flushlab: unexpected argument "extra" for new-plugin\n'],
  ])("%j → one line, exit 2", async (argv, message) => {
    const r = await runCli(argv, { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(message);
  });

  it("refuses a directory that is not empty, and one in the repository outside packages/", async () => {
    const full = join(tmp, "full");
    mkdirSync(full);
    writeFileSync(join(full, "keep.txt"), "");
    const r = await runCli(["new-plugin", "demo", "--dir", full], { cwd: tmp });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`flushlab: --dir ${full} is not empty (new-plugin writes into an empty or new directory)\n`);
    const inRepo = join(checkout.root!, "docs", "plugin-demo");
    const s = await runCli(["new-plugin", "demo", "--dir", inRepo], { cwd: tmp });
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/^flushlab: --dir .*docs\/plugin-demo is inside the flushlab repository but not a workspace package directory/);
    expect(existsSync(inRepo)).toBe(false);
  });
});

describe("flushlab new-plugin demo --dir <empty directory outside the repository>", () => {
  const dir = join(tmp, "demo");

  it("writes the package and says what to do next", async () => {
    const r = await runCli(["new-plugin", "demo", "--dir", dir], { cwd: tmp });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Wrote flushlab-plugin-demo in ${dir}:`);
    expect(r.stdout).toContain("cd demo && npm install && npm test");
    expect(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name).toBe("flushlab-plugin-demo");
  });

  // npm install takes typescript and vitest from the registry; the @flushlab packages are links to this checkout.
  it("installs, builds and passes its own tests unchanged", { timeout: 900_000 }, () => {
    // The outer vitest's variables stay out of the package's own vitest.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS" && k !== "FORCE_COLOR"));
    const npm = (args: string[]) => {
      const r = spawnSync("npm", args, { cwd: dir, encoding: "utf8", env: { ...env, npm_config_audit: "false", npm_config_fund: "false", NO_COLOR: "1", CI: "true" } });
      return { code: r.status, out: `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, "") };
    };
    const install = npm(["install"]);
    expect(install.code, install.out).toBe(0);
    const build = npm(["run", "build"]);
    expect(build.code, build.out).toBe(0);
    expect(existsSync(join(dir, "dist", "index.js"))).toBe(true);
    const test = npm(["test"]);
    expect(test.code, test.out).toBe(0);
    expect(test.out).toMatch(/Tests\s+3 passed/);
  });
});
