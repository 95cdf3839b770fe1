/**
 * A user's flushlab.config where the README tells them to put it: in the directory they
 * run flushlab from, the repository root or examples/ (outside any workspace package of
 * its own). Its `import … from "@flushlab/core-mmu"` must resolve there: Node looks in
 * node_modules of that directory and its parents, so the root package.json lists
 * @flushlab/core-mmu (workspace:*) among its devDependencies. Without it this test fails
 * with `Cannot find package '@flushlab/core-mmu'`.
 *
 * The CLI is the built one, run as a child process as `npm run flushlab` runs it, so
 * the config goes through plain Node and tsx, not through vitest's resolver.
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "apps/cli/dist/bin.js");

const CONFIG = (name: string) => `import { KERNEL_RANGE_FLUSH, defineConfig, definePlugin, policy } from "@flushlab/core-mmu";

export default defineConfig({
  plugins: [
    definePlugin({
      name: "${name}",
      description: "a plugin in a config at the ${name}",
      patch: { title: "example only", commit: "none", kernel: "none" },
      appliesTo: ["x86-64"],
      policies: [policy(KERNEL_RANGE_FLUSH, (_kernel, before) => before)],
    }),
  ],
  machine: { cpus: 2 },
});
`;

/** Runs the built CLI in `cwd` (INIT_CWD unset: it would name where vitest was started). */
function flushlab(cwd: string, argv: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env["INIT_CWD"];
  const r = spawnSync(process.execPath, [bin, ...argv], { cwd, env, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("a flushlab.config at the repository root or in examples/", () => {
  const places = [
    { dir: root, file: "flushlab.config.ts", name: "root-config" },
    { dir: join(root, "examples"), file: "flushlab.config.ts", name: "examples-config" },
    { dir: join(root, "examples"), file: "flushlab.config.mjs", name: "examples-mjs-config" },
  ];
  it.each(places)("$file in $name's directory imports defineConfig from @flushlab/core-mmu", ({ dir, file, name }) => {
    expect(existsSync(bin), "build first: npm run build").toBe(true);
    for (const f of ["flushlab.config.ts", "flushlab.config.mjs", "flushlab.config.js"]) {
      // Never overwrite a config of the developer's own.
      expect(existsSync(join(dir, f)), `${join(dir, f)} exists: move it away to run this test`).toBe(false);
    }
    const path = join(dir, file);
    writeFileSync(path, CONFIG(name));
    try {
      const list = flushlab(dir, ["list"]);
      expect(list.stderr).toBe("");
      expect(list.status).toBe(0);
      expect(list.stdout).toContain(`${name}  [${file}]`);
      const run = flushlab(dir, ["run", "tlb-flush2", "--json", "--param", "regions=1"]);
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ cpus: 2, plugins: [name] });
    } finally {
      rmSync(path, { force: true });
    }
  });
});
