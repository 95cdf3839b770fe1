#!/usr/bin/env node
// Runs every package's tests through turbo, then prints one plain closing line summed
// over the packages: "N passed, N failed, N skipped". Exits non-zero if a test failed
// or if no test ran at all.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, TURBO_TELEMETRY_DISABLED: "1" };
const r = spawnSync(join(bin, "turbo"), ["run", "test", "--output-logs=new-only", "--concurrency=1"], { cwd: root, env, stdio: "inherit" });

let passed = 0, failed = 0, skipped = 0, files = 0;
for (const group of ["packages", "apps"]) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const f = join(dir, name, ".vitest-result.json");
    if (!existsSync(f)) continue;
    const j = JSON.parse(readFileSync(f, "utf8"));
    files++;
    passed += j.numPassedTests ?? 0;
    failed += j.numFailedTests ?? 0;
    skipped += (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
    if (j.success === false && (j.numFailedTests ?? 0) === 0) failed += (j.numFailedTestSuites ?? 0) || 1;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(r.status !== 0 || failed > 0 || passed === 0 ? 1 : 0);
