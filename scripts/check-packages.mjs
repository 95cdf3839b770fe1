#!/usr/bin/env node
// Are the packages fit to publish? For every workspace package: `pnpm pack` it (as it
// would be published: workspace: ranges replaced by versions), then lint the tarball with
// publint (--strict: warnings fail too) and @arethetypeswrong/cli (profile esm-only: the
// packages are ES modules only, on purpose). Then install a plugin package's tarball,
// with the tarballs of the workspace packages it needs, into an empty project outside the
// workspace and run a small simulation there, baseline and with the plugin.
// Needs a build first (npm run build, or any root script: they all run setup).
//   --lint-only      skip the install
//   --install-only   skip the linters
//   --keep           leave the temporary folder (its path is printed)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };

function run(cmd, argv, cwd, { quiet = false } = {}) {
  const r = spawnSync(cmd, argv, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (!quiet || r.status !== 0) process.stdout.write(`${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r;
}

const packages = ["packages", "apps"]
  .flatMap((group) => (existsSync(join(root, group)) ? readdirSync(join(root, group)).map((n) => join(root, group, n)) : []))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true)
  .sort((a, b) => a.pkg.name.localeCompare(b.pkg.name));

for (const { dir, pkg } of packages) {
  if (!existsSync(join(dir, pkg.main ?? "dist/index.js"))) {
    console.error(`check-packages: ${pkg.name} is not built (${pkg.main} missing): run npm run build first`);
    process.exit(2);
  }
}

const work = mkdtempSync(join(tmpdir(), "flushlab-packages-"));
const packs = join(work, "packs");
const failed = [];

/** pnpm pack of one package; returns the tarball's path. */
function pack({ dir, pkg }) {
  const r = run("pnpm", ["pack", "--pack-destination", packs], dir, { quiet: true });
  if (r.status !== 0) throw new Error(`pnpm pack failed for ${pkg.name}`);
  const file = readdirSync(packs).find((f) => f === `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`);
  if (file === undefined) throw new Error(`pnpm pack wrote no tarball for ${pkg.name}`);
  return join(packs, file);
}

const tarballs = new Map();
for (const p of packages) tarballs.set(p.pkg.name, pack(p));

if (!args.has("--install-only")) {
  for (const { pkg } of packages) {
    const tgz = tarballs.get(pkg.name);
    // Each tool's report is printed when it fails; a pass is one line.
    const lint = run("publint", ["run", tgz, "--strict"], root, { quiet: true });
    if (lint.status !== 0) failed.push(`${pkg.name}: publint`);
    const types = run("attw", [tgz, "--profile", "esm-only", "--format", "table-flipped", "--no-color"], root, { quiet: true });
    if (types.status !== 0) failed.push(`${pkg.name}: attw`);
    console.log(`${pkg.name}: publint ${lint.status === 0 ? "ok" : "FAILED"}, attw ${types.status === 0 ? "ok" : "FAILED"}`);
  }
}

if (!args.has("--lint-only")) {
  // A plugin package, installed from its tarball the way a user would, beside the
  // packages it is used with, and the CLI; the workspace's other packages come from their tarballs too
  // (they are not on the registry), third-party ones from the registry.
  const project = join(work, "project");
  const need = ["@flushlab/core-mmu", "@flushlab/arch-x86", "@flushlab/workloads", "@flushlab/patch-batched-unmap", "@flushlab/cli"];
  const file = (name) => `file:${tarballs.get(name)}`;
  const overrides = Object.fromEntries([...tarballs.keys()].map((name) => [name, file(name)]));
  spawnSync("mkdir", ["-p", project]);
  writeFileSync(
    join(project, "package.json"),
    `${JSON.stringify({ name: "flushlab-pack-smoke", private: true, type: "module", dependencies: { ...Object.fromEntries(need.map((n) => [n, file(n)])), rxjs: "7.8.2" }, pnpm: { overrides } }, null, 2)}\n`,
  );
  writeFileSync(
    join(project, "smoke.mjs"),
    `// Runs lru-file-mmap-read without and with batched-unmap (packages/patch-batched-unmap's own test, smaller).
import { simulate } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { lruFileMmapRead } from "@flushlab/workloads";
import { batchedUnmap } from "@flushlab/patch-batched-unmap";
const run = (plugins) => simulate({
  options: { workload: "lru-file-mmap-read", machine: { ...x86.defaultMachine, cpus: 8, sockets: 2, memoryMiB: 16 }, profile: "bare-metal", seed: 1, plugins: plugins.map((p) => p.name), params: { files_x_ram: 3 } },
  arch: x86, workload: lruFileMmapRead, plugins,
});
const b = run([]);
const p = run([batchedUnmap]);
console.log(\`baseline: ipi_sent \${b.counters.ipi_sent}, system_s \${b.metrics.system_s}; batched-unmap: ipi_sent \${p.counters.ipi_sent}, system_s \${p.metrics.system_s}\`);
if (!(p.counters.ipi_sent < b.counters.ipi_sent / 2) || b.hazards.length + p.hazards.length !== 0) {
  console.error("the installed plugin did not do what its package's tests say it does");
  process.exit(1);
}
`,
  );
  console.log(`pnpm pack of @flushlab/patch-batched-unmap (and the packages it runs with), installed into an empty project:`);
  const install = run("pnpm", ["install", "--prefer-offline", "--ignore-workspace", "--reporter=append-only"], project, { quiet: true });
  if (install.status !== 0) failed.push("install of the packed plugin");
  else {
    const smoke = run(process.execPath, ["smoke.mjs"], project);
    if (smoke.status !== 0) failed.push("the packed plugin's simulation");
    // The packed CLI too, with its --html report (its assets and uPlot must come along).
    const cli = run(join(project, "node_modules", ".bin", "flushlab"), ["compare", "tlb-flush2", "--plugins", "batched-unmap", "--runs", "1", "--cpus", "2", "--html", "report.html"], project, { quiet: true });
    const html = existsSync(join(project, "report.html")) ? readFileSync(join(project, "report.html"), "utf8") : "";
    if (cli.status !== 0 || !html.includes("uPlot") || !html.includes('id="flushlab-data"')) failed.push("the packed CLI's compare --html");
    else console.log(`the packed CLI: compare tlb-flush2 --plugins batched-unmap --html wrote ${html.length.toLocaleString("en-US")} bytes`);
  }
}

if (args.has("--keep")) console.log(`\nkept: ${work}`);
else rmSync(work, { recursive: true, force: true });
if (failed.length > 0) {
  console.error(`\ncheck-packages: FAILED: ${failed.join("; ")}`);
  process.exit(1);
}
console.log(`check-packages: ${packages.length} packages pass publint and attw; the packed plugin installs and runs`);
