/**
 * scripts/setup.mjs, the check every root script starts with: on a built tree it runs
 * no build and prints nothing; after a source changes it builds once (one line on
 * stderr) and then never again until the next change, even when the build was a turbo
 * cache hit that left dist/.tsbuildinfo untouched (the build stamp). Run on a copy of
 * the script in a small fake checkout whose `turbo` only records that it was called and
 * touches nothing, as a cache hit whose outputs are already in place.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const script = fileURLToPath(new URL("../../../scripts/setup.mjs", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A checkout with one built package whose build is older than nothing. Returns its root. */
function fakeCheckout(): string {
  const root = mkdtempSync(join(tmpdir(), "flushlab-setup-"));
  dirs.push(root);
  mkdirSync(join(root, "scripts"));
  copyFileSync(script, join(root, "scripts/setup.mjs"));
  writeFileSync(join(root, "pnpm-lock.yaml"), "lockfileVersion: '9.0'\n");
  mkdirSync(join(root, "node_modules/.bin"), { recursive: true });
  writeFileSync(join(root, "node_modules/.flushlab-stamp"), createHash("sha256").update(readFileSync(join(root, "pnpm-lock.yaml"))).digest("hex"));
  // turbo: records the call, writes nothing (a cache hit with its outputs in place)
  writeFileSync(join(root, "node_modules/.bin/turbo"), `#!/bin/sh\necho "turbo $*" >> "${join(root, "turbo-calls.log")}"\n`);
  chmodSync(join(root, "node_modules/.bin/turbo"), 0o755);
  const pkg = join(root, "packages/a");
  mkdirSync(join(pkg, "src"), { recursive: true });
  mkdirSync(join(pkg, "dist"));
  writeFileSync(join(pkg, "package.json"), "{}\n");
  writeFileSync(join(pkg, "tsconfig.json"), "{}\n");
  writeFileSync(join(pkg, "src/index.ts"), "export {};\n");
  // Everything written a minute ago, the build (.tsbuildinfo) after it.
  const past = new Date(Date.now() - 60_000);
  for (const f of ["pnpm-lock.yaml", "packages/a/package.json", "packages/a/tsconfig.json", "packages/a/src/index.ts"]) utimesSync(join(root, f), past, past);
  writeFileSync(join(pkg, "dist/.tsbuildinfo"), "{}\n");
  const built = new Date(Date.now() - 30_000);
  utimesSync(join(pkg, "dist/.tsbuildinfo"), built, built);
  return root;
}

function setup(root: string): { stderr: string; turbo: number } {
  const r = spawnSync(process.execPath, [join(root, "scripts/setup.mjs")], { cwd: root, encoding: "utf8" });
  expect(r.status).toBe(0);
  const log = join(root, "turbo-calls.log");
  return { stderr: r.stderr, turbo: existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l !== "").length : 0 };
}

describe("scripts/setup.mjs", () => {
  it("on a built tree: no build, no output", () => {
    const root = fakeCheckout();
    expect(setup(root)).toEqual({ stderr: "", turbo: 0 });
    expect(setup(root)).toEqual({ stderr: "", turbo: 0 });
  });

  it("a changed source: one build with one line on stderr, then none, though the cached build left .tsbuildinfo old", () => {
    const root = fakeCheckout();
    const later = new Date(Date.now() - 10_000); // after the build, before now
    utimesSync(join(root, "packages/a/src/index.ts"), later, later);
    expect(setup(root)).toEqual({ stderr: "flushlab setup: building (changed: packages/a)\n", turbo: 1 });
    // turbo touched nothing; the stamp says the build is done
    expect(setup(root)).toEqual({ stderr: "", turbo: 1 });
    expect(setup(root)).toEqual({ stderr: "", turbo: 1 });
  });

  it("a missing dist builds; --no-build and --quiet are honoured", () => {
    const root = fakeCheckout();
    rmSync(join(root, "packages/a/dist"), { recursive: true });
    const noBuild = spawnSync(process.execPath, [join(root, "scripts/setup.mjs"), "--no-build"], { cwd: root, encoding: "utf8" });
    expect(noBuild.status).toBe(0);
    expect(existsSync(join(root, "turbo-calls.log"))).toBe(false);
    const quiet = spawnSync(process.execPath, [join(root, "scripts/setup.mjs"), "--quiet"], { cwd: root, encoding: "utf8" });
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).toBe("");
    expect(readFileSync(join(root, "turbo-calls.log"), "utf8")).toBe("turbo run build --output-logs=errors-only\n");
  });
});
