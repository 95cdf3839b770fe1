/**
 * Under `npm run -s flushlab -- …` the process starts in the repository root and npm
 * sets INIT_CWD to the directory the user ran it from. A relative output path must land
 * there, as `--plugins ./dir` and the config did: scripts/flushlab.mjs (what `npm run
 * flushlab` runs) is started in the root with INIT_CWD at a temporary directory. The
 * installed bin itself ignores INIT_CWD: an outer npm script may have set it anywhere
 * (the packed CLI run by scripts/check-packages.mjs is one such case).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "apps/cli/dist/bin.js");
const script = join(root, "scripts/flushlab.mjs");
const user = mkdtempSync(join(tmpdir(), "flushlab-init-cwd-"));
afterAll(() => rmSync(user, { recursive: true, force: true }));

describe("relative paths under npm run are the user's", () => {
  it("run --trace t.json writes t.json in INIT_CWD, not in the repository root", () => {
    expect(existsSync(bin), "build first: npm run build").toBe(true);
    const name = `init-cwd-${process.pid}.json`;
    const r = spawnSync(process.execPath, [script, "--quiet", "run", "tlb-flush2", "--cpus", "2", "--param", "regions=1", "--trace", name], {
      cwd: root,
      env: { ...process.env, INIT_CWD: user },
      encoding: "utf8",
    });
    expect(r.stderr).toContain(`trace ${name}`);
    expect(r.status).toBe(0);
    expect(existsSync(join(user, name))).toBe(true);
    expect(existsSync(join(root, name))).toBe(false);
  });

  it("the bin alone ignores INIT_CWD: its files go to its working directory", () => {
    const name = `init-cwd-bin-${process.pid}.json`;
    const r = spawnSync(process.execPath, [bin, "run", "tlb-flush2", "--cpus", "2", "--param", "regions=1", "--trace", name], {
      cwd: user,
      env: { ...process.env, INIT_CWD: root },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(existsSync(join(user, name))).toBe(true);
    expect(existsSync(join(root, name))).toBe(false);
  });

  it("an INIT_CWD that does not exist is one line and exit 2", () => {
    const r = spawnSync(process.execPath, [script, "--quiet", "list"], { cwd: root, env: { ...process.env, INIT_CWD: join(user, "gone") }, encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^flushlab: cannot change to the directory npm was run from/);
  });
});
