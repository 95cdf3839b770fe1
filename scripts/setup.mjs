#!/usr/bin/env node
// Installs what is missing (pnpm from the npm registry, then the workspace from the
// lockfile) and builds what is stale. Idempotent and quick when nothing changed, so
// every root script can start with it. Progress goes to stderr: stdout stays clean for
// `npm run -s flushlab -- ... --json`.
//   --no-build   install only
//   --quiet      print nothing unless something fails
//   --force-build  always run the (turbo-cached) build
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const quiet = args.has("--quiet");
const PNPM = "pnpm@10.34.9";
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, TURBO_TELEMETRY_DISABLED: "1" };

function run(cmd, argv, what) {
  const r = spawnSync(cmd, argv, { cwd: root, env, stdio: quiet ? ["ignore", "pipe", "pipe"] : ["ignore", 2, 2], encoding: "utf8" });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ""}${r.stderr ?? ""}`);
    process.stderr.write(`flushlab setup: ${what} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
}

function hashOf(file) {
  return existsSync(file) ? createHash("sha256").update(readFileSync(file)).digest("hex") : "none";
}

// 1. install: when node_modules is missing or the lockfile changed since the last install
const lock = join(root, "pnpm-lock.yaml");
const stamp = join(root, "node_modules", ".flushlab-stamp");
const want = hashOf(lock);
if (!existsSync(stamp) || readFileSync(stamp, "utf8") !== want) {
  if (!quiet) process.stderr.write("flushlab setup: installing the workspace with pnpm\n");
  const frozen = existsSync(lock) ? ["--frozen-lockfile"] : [];
  run("npx", ["--yes", PNPM, "install", ...frozen, "--reporter=append-only"], "pnpm install");
  writeFileSync(stamp, hashOf(lock));
}

if (args.has("--no-build")) process.exit(0);

// 2. build: when any package's sources are newer than its last build
function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const pkgDirs = ["packages", "apps"].flatMap((d) =>
  existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : [],
).filter((d) => existsSync(join(d, "package.json")));
const stale = args.has("--force-build") || pkgDirs.some((d) => {
  const info = join(d, "dist", ".tsbuildinfo");
  if (!existsSync(info)) return true;
  const built = statSync(info).mtimeMs;
  return newest(join(d, "src")) > built || statSync(join(d, "package.json")).mtimeMs > built;
});
if (stale) {
  if (!quiet) process.stderr.write("flushlab setup: building\n");
  run(join(bin, "turbo"), ["run", "build", "--output-logs=errors-only"], "build");
}
