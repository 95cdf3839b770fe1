#!/usr/bin/env node
// Installs what is missing (pnpm from the npm registry, then the workspace from the
// lockfile) and builds what is stale. Idempotent and quick when nothing changed, so
// every root script can start with it: on an installed, built tree it runs no other
// program and prints nothing. Progress goes to stderr: stdout stays clean for
// `npm run -s flushlab -- ... --json`.
//   (no flag)      install if needed, build if stale; one line on stderr for each
//   --no-build     install only
//   --quiet        print nothing unless something fails
//   --force-build  always run the (turbo-cached) build, its output shown
//
// Staleness: a package is stale when a file under its src/, its package.json or
// tsconfig.json, or a root build input (tsconfig.base.json, turbo.json, the lockfile) is
// newer than its last build. The last build is the later of its dist/.tsbuildinfo (tsc
// writes it on a real compile) and the stamp this script touches after every
// successful build (node_modules/.flushlab-build-stamp): a turbo cache hit restores
// dist/ without touching .tsbuildinfo, so without the stamp a tree whose sources were
// merely touched would stay "stale" for good and every command would run turbo again.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PNPM = "pnpm@10.34.9";
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, TURBO_TELEMETRY_DISABLED: "1" };
export const BUILD_STAMP = join(root, "node_modules", ".flushlab-build-stamp");
const INSTALL_STAMP = join(root, "node_modules", ".flushlab-stamp");

/** Runs a tool; on failure prints what it printed (when it was captured) and exits with its status. */
function run(cmd, argv, what, show) {
  const r = spawnSync(cmd, argv, { cwd: root, env, stdio: show ? ["ignore", 2, 2] : ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    if (!show) process.stderr.write(`${r.stdout ?? ""}${r.stderr ?? ""}`);
    process.stderr.write(`flushlab setup: ${what} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

function hashOf(file) {
  return existsSync(file) ? createHash("sha256").update(readFileSync(file)).digest("hex") : "none";
}

function mtime(file) {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function packageDirs() {
  return ["packages", "apps"]
    .flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : []))
    .filter((d) => existsSync(join(d, "package.json")));
}

/** The packages whose sources are newer than their last build (relative paths), or whose dist is missing. */
export function stalePackages() {
  const stamp = mtime(BUILD_STAMP);
  const rootInputs = Math.max(mtime(join(root, "tsconfig.base.json")), mtime(join(root, "turbo.json")), mtime(join(root, "pnpm-lock.yaml")));
  const stale = [];
  for (const d of packageDirs()) {
    const dist = join(d, "dist");
    const built = Math.max(stamp, mtime(join(dist, ".tsbuildinfo")));
    const changed = Math.max(rootInputs, newest(join(d, "src")), mtime(join(d, "package.json")), mtime(join(d, "tsconfig.json")));
    if (!existsSync(dist) || changed > built) stale.push(d.slice(root.length + 1));
  }
  return stale;
}

function touch(file) {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    closeSync(openSync(file, "w"));
  }
}

/**
 * Installs and builds as needed. `quiet`: nothing on stderr unless a step fails;
 * otherwise one line for each step taken. `build`: false to install only. `force`:
 * always build, showing the build's own output.
 */
export function setup({ quiet = false, build = true, force = false } = {}) {
  // 1. install: when node_modules is missing or the lockfile changed since the last install
  const lock = join(root, "pnpm-lock.yaml");
  const want = hashOf(lock);
  if (!existsSync(INSTALL_STAMP) || readFileSync(INSTALL_STAMP, "utf8") !== want) {
    if (!quiet) process.stderr.write("flushlab setup: installing the workspace with pnpm\n");
    const frozen = existsSync(lock) ? ["--frozen-lockfile"] : [];
    run("npx", ["--yes", PNPM, "install", ...frozen, "--reporter=append-only"], "pnpm install", !quiet);
    writeFileSync(INSTALL_STAMP, hashOf(lock));
  }
  if (!build) return;

  // 2. build: when any package's sources are newer than its last build
  const stale = force ? ["(forced)"] : stalePackages();
  if (stale.length === 0) return;
  if (!quiet && !force) process.stderr.write(`flushlab setup: building (changed: ${stale.length > 3 ? `${stale.slice(0, 3).join(", ")} and ${stale.length - 3} more` : stale.join(", ")})\n`);
  run(join(bin, "turbo"), ["run", "build", "--output-logs=errors-only"], "build", force && !quiet);
  touch(BUILD_STAMP);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = new Set(process.argv.slice(2));
  setup({ quiet: args.has("--quiet"), build: !args.has("--no-build"), force: args.has("--force-build") });
}
