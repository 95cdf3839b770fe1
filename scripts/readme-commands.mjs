#!/usr/bin/env node
// `npm run check:readme`: runs every shell command the READMEs show, and fails (exit 1,
// naming the README, the line and the command) if one does not do what the README says.
//
// Which files: README.md at the root, in packages/*, apps/*, examples/*, and docs/*.md.
// Which lines are commands: in a ```sh / ```bash / ```shell block, every line that is not
// blank or a comment (a line ending in "\" goes on on the next); in any other block
// (```console, plain ```), the lines after a "$ " prompt. ```ts, ```json, ```yaml blocks
// are code, not commands.
//
// Where they run: the commands of the root README, of packages/*, apps/* and docs/ are
// `npm run -s flushlab -- …` and the root scripts, written to be run from the
// repository root (apps/cli/README.md says so; a package has no `flushlab` script of its
// own): they run there. An example's commands run in its own folder, as its README says
// ("From this folder"), where its flushlab.config.ts is. The commands of one README run
// in order, one shell each, so a later one sees the files an earlier one wrote
// (--save cx.json, then --replay cx.json).
//
// Files they write: under `npm run` the CLI writes a relative --html, --trace, --save
// or --out path into the repository root (npm runs scripts there), and a shell
// redirection writes into the command's directory. So before a README's commands run,
// each file they name that way and that exists already is moved aside, and after them
// every file or directory they created there is removed and the moved ones put back.
// A path outside the checkout (new-plugin's --dir /tmp/demo) is relocated into a fresh
// temporary directory (SHORTENED).
//
// What passing means: exit status 0, unless the README says otherwise: a command whose
// comment is the one-line error it gives (`# flushlab: unknown preset …`), or whose
// shown output is that one line, must print exactly that on stderr and exit 2; a `check` that finds the hazard the README shows
// exits 1 (EXPECT below, each with its reason).
//
// A command that appears again (the same command from the same directory, reading no
// file an earlier command wrote) is run once; the later places say "same as <first>"
// and share its verdict.
//
// Long commands run as shortened variants and a few are relocated (SHORTENED, each
// printed as "shortened: …" with its reason); commands that cannot run here are listed
// as skipped with their reason (SKIPPED), never silently. A mapping whose command no
// longer appears in any README is an error, so the lists stay true.
//
//   node scripts/readme-commands.mjs [--list] [--only PATH-SUBSTRING]
//     --list   print every command and what would be done with it; run nothing
//     --only   only the READMEs whose path contains the string
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { setup } from "./setup.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const argv = process.argv.slice(2);
const LIST = argv.includes("--list");
const ONLY = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
/** One command may take this long (a shortened variant takes far less). */
const TIMEOUT_MS = 300_000;

/** Where a temporary directory outside the checkout goes ($OUT in the variants below). */
const OUT = "$OUT";

/**
 * Commands that run shortened, or relocated, each with its reason. `run` is what runs
 * instead (in the same directory); "$OUT" in it is a fresh directory outside the
 * checkout, made for the run and removed after it.
 */
const SHORTENED = new Map([
  ["npm start    # installs and builds if needed, then runs the main job", {
    run: "npm start -- --plugins mmu-notifier",
    why: "npm start runs every reproduction (minutes); the same script and command on one plugin's reproduction (the whole run is reproduce-strict.test.ts's)",
  }],
  ["npm run bench        # simulated accesses and IPIs per wall-clock second; the TLB against C; events/s from 8 to 1024 CPUs; batched-unmap's reproduction run", {
    run: "npm run bench -- engine",
    why: "the whole bench takes minutes; its first part (the engine's accesses and IPIs per second) runs the same script",
  }],
  ["npm run -s flushlab -- reproduce --plugins batched-unmap --html repro.html", {
    run: "npm run -s flushlab -- reproduce --plugins mmu-notifier --html repro.html",
    why: "batched-unmap's reproduction is five 48-CPU runs a side (minutes on 2 cores); the same command and HTML report on the quickest reproduction (reproduce-strict.test.ts runs every one)",
  }],
  ["npm run -s flushlab -- reproduce --plugins vmalloc-sync", {
    run: "npm run -s flushlab -- reproduce --plugins mmu-notifier",
    why: "vmalloc-sync's reproduction runs reaim on the 192-thread preset (minutes on 2 cores); the same command on the quickest reproduction (reproduce-strict.test.ts runs every one)",
  }],
  ["npm run -s flushlab -- sweep tlb-flush2 --out grid.jsonl --plugins batched-unmap --cpus 4,8 --param threads=2,4 --kernel v4.2", {
    run: "npm run -s flushlab -- sweep tlb-flush2 --out grid.jsonl --plugins batched-unmap --cpus 4,8 --param threads=2,4 --kernel v4.2 --seeds 1",
    why: "one seed per grid point instead of 3: the same grid, file and table from 8 runs instead of 24",
  }],
  ["npm run -s flushlab -- sweep tlb-flush2 --out grid.jsonl --plugins batched-unmap --cpus 4,8 --param threads=2,4 --seeds 3 --kernel v4.2", {
    run: "npm run -s flushlab -- sweep tlb-flush2 --out grid.jsonl --plugins batched-unmap --cpus 4,8 --param threads=2,4 --seeds 1 --kernel v4.2",
    why: "one seed per grid point instead of 3: the same grid, file and table from 8 runs instead of 24",
  }],
  ["npm run -s flushlab -- new-plugin demo --dir /tmp/demo", {
    run: `npm run -s flushlab -- new-plugin demo --dir ${OUT}/demo`,
    why: "relocated: a fresh directory outside the checkout instead of /tmp/demo, which may exist already",
  }],
  ["npm run -s flushlab -- new-plugin my-policy --dir /tmp/my-policy    # write a plugin package", {
    run: `npm run -s flushlab -- new-plugin my-policy --dir ${OUT}/my-policy`,
    why: "relocated: a fresh directory outside the checkout instead of /tmp/my-policy, which may exist already",
  }],
]);

/** check commands without --budget explore 50,000 schedules (40 to 55 s when they find nothing): a smaller budget. */
const CHECK_SHORT = "--budget 500";
for (const cmd of [
  "npm run -s flushlab -- check --plugins mprotect-gather --arch x86-32-pae --json",
  "npm run -s flushlab -- check --plugins batched-unmap,flush-batched-pending --arch x86-32-pae --json",
  "npm run -s flushlab -- check                                   # the pre-patch kernel, x86-64",
  "npm run -s flushlab -- check --plugins mprotect-gather --arch x86-32-pae",
  "npm run -s flushlab -- check --pcid on --pti on --budget 20000",
]) {
  const bare = cmd.replace(/\s+#.*$/, "").replace(/ --budget \d+/, "");
  SHORTENED.set(cmd, { run: `${bare} ${CHECK_SHORT}`, why: "a search that finds nothing runs its whole budget (40 to 55 s at 50,000 schedules); 500 schedules take the same path (the scenarios, the schedule search, the report), fewer of them" });
}

/**
 * Every `compare` runs 2 seeds a side instead of its default 5 (or the --runs it gives):
 * the same runs, tables and files from fewer seeds; what the READMEs show of compare is
 * its output's form and its exit status, its figures come from reproduce. Applied by
 * rule, and printed as "shortened:" like the others.
 */
function shortenCompare(cmd) {
  if (!/^npm run -s flushlab -- compare /.test(cmd)) return null;
  const runs = /--runs (\d+)/.exec(cmd);
  if (runs && Number(runs[1]) <= 2) return null;
  const parts = cmd.split(/(?=\s+>\s)/); // keep a redirection last
  const run = runs ? cmd.replace(/--runs \d+/, "--runs 2") : `${parts[0]} --runs 2${parts.slice(1).join("")}`;
  return { run, why: `2 runs a side instead of ${runs ? runs[1] : "the default 5"}: the same command on fewer seeds` };
}

/** Commands that are not run, each with its reason. */
const SKIPPED = new Map([
  ["npm run check:readme     # runs every shell command shown in a README or docs/*.md; exit 1 naming README, line and command",
    "this script itself"],
  ["npm test     # installs what is missing (pnpm from the npm registry), builds, runs every test",
    "the whole test suite: .ci/run runs it as its last step (and runs this script before it)"],
  ["npm run check:packages   # pnpm pack of every package; publint --strict and attw on each tarball;",
    ".ci/run runs it as a step of its own (packs and installs every package: minutes)"],
  ["npm run docs:api         # API docs of the plugin API (typedoc, config typedoc.json) into docs/api (git-ignored)",
    ".ci/run runs it as a step of its own"],
  ["cd /tmp/demo && npm install && npm test      # 3 tests: compare, check, --plugins <dir>",
    "installs TypeScript and vitest from the npm registry; apps/cli/test/new-plugin.test.ts installs, builds and tests a written package"],
  ["cd - && npm run -s flushlab -- compare nohz-isolation --plugins /tmp/demo",
    "needs the package installed by the line before (skipped); plugin-refs.test.ts runs --plugins <package dir>"],
  ["/tmp/work$ flushlab compare nohz-isolation --plugins ./nope",
    "shows the installed `flushlab` binary in a user's directory (not on PATH here); apps/cli/test/plugin-refs.test.ts checks this line"],
  ["/tmp/work$ flushlab compare nohz-isolation --plugins ./util.mjs     # export const answer = 42;",
    "shows the installed `flushlab` binary in a user's directory (not on PATH here); apps/cli/test/plugin-refs.test.ts checks this line"],
]);

/** Exit statuses other than 0 that a README documents, with where it says so. */
const EXPECT = new Map([
  ["npm run -s flushlab -- check --plugins bug-99baac21e458", { status: 1, why: "check exits 1 when it finds a hazard; the README shows the class-7 hazard it finds" }],
  ["npm run -s flushlab -- check --plugins bug-99baac21e458 --json", { status: 1, why: "check exits 1 when it finds a hazard (bug-99baac21e458: class 7)" }],
  ["npm run -s flushlab -- check --plugins bug-99baac21e458 --budget 8000 --html cx.html", { status: 1, why: "check exits 1 when it finds a hazard (bug-99baac21e458: class 7)" }],
  ["npm run -s flushlab -- check --plugins bug-eb66ae030829 --save cx.json", { status: 1, why: "check exits 1 when it finds a hazard (bug-eb66ae030829: class 1)" }],
  ["npm run -s flushlab -- check --replay cx.json", { status: 1, why: "the replayed counterexample has its hazard again: exit 1" }],
  ["npm run -s flushlab -- check --plugins bug-eb66ae030829 --save cx.json; npm run -s flushlab -- check --replay cx.json", { status: 1, why: "the replayed counterexample has its hazard again: exit 1" }],
  ["npm run -s flushlab -- check --replay cx.json --trace replay.json", { status: 1, why: "the replayed counterexample has its hazard again: exit 1" }],
]);

// --- finding the commands -------------------------------------------------------------

function readmes() {
  const files = [join(root, "README.md")];
  for (const group of ["packages", "apps", "examples"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) if (existsSync(join(dir, name, "README.md"))) files.push(join(dir, name, "README.md"));
  }
  const docs = join(root, "docs");
  if (existsSync(docs)) for (const name of readdirSync(docs).sort()) if (name.endsWith(".md")) files.push(join(docs, name));
  return files.filter((f) => ONLY === undefined || relative(root, f).includes(ONLY));
}

const SHELL_LANGS = new Set(["sh", "bash", "shell", "zsh"]);
const CODE_LANGS = new Set(["ts", "typescript", "js", "javascript", "json", "jsonc", "yaml", "yml", "toml", "c", "diff"]);

/** The commands of one markdown file: { line, text } in order (text as written, comment included). */
function commandsOf(file) {
  const lines = readFileSync(file, "utf8").split("\n");
  const out = [];
  let lang = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```\s*([\w-]*)/.exec(line);
    if (fence) {
      lang = lang === null ? fence[1].toLowerCase() : null;
      if (lang === null && out.length > 0) out[out.length - 1].block = "closed";
      continue;
    }
    if (lang === null || CODE_LANGS.has(lang)) continue;
    if (SHELL_LANGS.has(lang)) {
      if (line.trim() === "" || line.trim().startsWith("#")) continue;
      let text = line;
      const start = i + 1;
      while (text.endsWith("\\") && i + 1 < lines.length) text = `${text.slice(0, -1).trimEnd()} ${lines[++i].trim()}`;
      out.push({ line: start, text: text.trim() });
      continue;
    }
    const prompt = /^(\S*)\$ (.+)$/.exec(line);
    if (prompt) out.push({ line: i + 1, text: prompt[1] === "" ? prompt[2].trim() : `${prompt[1]}$ ${prompt[2].trim()}`, output: [] });
    else if (out.length > 0 && out[out.length - 1].output !== undefined && out[out.length - 1].block === undefined) out[out.length - 1].output.push(line);
  }
  return out;
}

/** The command without its trailing comment, and the comment (quotes respected). */
function splitComment(text) {
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) return { cmd: text.slice(0, i).trim(), comment: text.slice(i + 1).trim() };
  }
  return { cmd: text.trim(), comment: "" };
}

/** The directory a README's commands are meant to be run from. */
function homeOf(file) {
  const rel = relative(root, file);
  const example = /^examples\/([^/]+)\//.exec(rel);
  return example ? join(root, "examples", example[1]) : root;
}

// --- running them ------------------------------------------------------------------

/** Relative paths a command writes through the CLI (--html, --trace, --save, --out) or a redirection. */
function outputsOf(run) {
  const out = [];
  for (const m of run.matchAll(/(?:--html|--trace|--save|--out)\s+(\S+)|>\s*(\S+)/g)) {
    const p = m[1] ?? m[2];
    if (!p.startsWith("/") && !p.startsWith("$")) out.push(p.split("/")[0]);
  }
  return out;
}

function plan() {
  const used = new Set();
  const all = [];
  for (const file of readmes()) {
    for (const { line, text, output } of commandsOf(file)) {
      const { cmd, comment } = splitComment(text);
      // A console block whose whole output is one "flushlab: …" line shows an input error.
      const shown = (output ?? []).filter((l) => l.trim() !== "");
      const shownError = shown.length === 1 && shown[0].startsWith("flushlab: ") ? shown[0] : null;
      const item = { file: relative(root, file), line, text, cmd, home: homeOf(file) };
      if (SKIPPED.has(text)) {
        used.add(text);
        all.push({ ...item, skip: SKIPPED.get(text) });
        continue;
      }
      const mapped = SHORTENED.get(text);
      if (mapped) used.add(text);
      const short = mapped ?? shortenCompare(cmd) ?? undefined;
      const expect = EXPECT.get(cmd);
      if (expect) used.add(cmd);
      // `cmd   # flushlab: <error>`: the README shows the one-line error it gives.
      const errorLine = comment.startsWith("flushlab: ") ? comment : shownError;
      all.push({
        ...item,
        run: short ? short.run : cmd,
        short: short?.why,
        status: errorLine !== null ? 2 : (expect?.status ?? 0),
        statusWhy: errorLine !== null ? "the README shows this one-line error (exit 2)" : expect?.why,
        stderr: errorLine,
      });
    }
  }
  if (ONLY === undefined) {
    const stale = [...SHORTENED.keys(), ...SKIPPED.keys(), ...EXPECT.keys()].filter((k) => !used.has(k));
    if (stale.length > 0) {
      for (const k of stale) process.stderr.write(`readme-commands: no README shows this command any more; remove it from the script's lists: ${k}\n`);
      process.exit(1);
    }
  }
  return all;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

function tail(text, n) {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-n).map((l) => `      | ${l}`).join("\n");
}

const items = plan();
if (LIST) {
  for (const it of items) {
    const where = `${it.file}:${it.line}`;
    if (it.skip) console.log(`skipped  ${where}  ${it.text}\n         reason: ${it.skip}`);
    else {
      console.log(`run      ${where}  ${it.cmd}${it.status !== 0 ? `   (expects exit ${it.status}${it.stderr ? `, stderr "${it.stderr}"` : ""})` : ""}`);
      if (it.short) console.log(`         shortened: ${it.run}\n         reason: ${it.short}`);
    }
  }
  process.exit(0);
}

setup({ quiet: true });
const started = Date.now();
const failures = [];
let ran = 0;
let skipped = 0;
/** Per README: the directories its commands run in, what was there before, and what was moved aside. */
let guard = null;
function openGuard(file) {
  const dirs = [...new Set(items.filter((it) => it.file === file && !it.skip).map((it) => it.home).concat([root]))];
  const before = new Map(dirs.map((d) => [d, new Set(readdirSync(d))]));
  const moved = [];
  for (const it of items.filter((x) => x.file === file && !x.skip)) {
    for (const name of outputsOf(it.run)) {
      for (const d of dirs) {
        // The file itself, and those named after it (compare --trace t.json writes t.baseline.seed1.json, …).
        const stem = name.includes(".") ? `${name.slice(0, name.lastIndexOf("."))}.` : `${name}.`;
        for (const entry of readdirSync(d).filter((e) => (e === name || e.startsWith(stem)) && !e.includes(".readme-commands-"))) {
          const p = join(d, entry);
          if (moved.some((m) => m.path === p)) continue;
          const aside = `${p}.readme-commands-${process.pid}`;
          renameSync(p, aside);
          moved.push({ path: p, aside });
          before.get(d).delete(entry);
        }
      }
    }
  }
  return { file, before, moved };
}
function closeGuard(g) {
  for (const [d, names] of g.before) for (const name of readdirSync(d)) if (!names.has(name) && !g.moved.some((m) => m.aside === join(d, name))) rmSync(join(d, name), { recursive: true, force: true });
  for (const m of g.moved) renameSync(m.aside, m.path);
}
/** Verdicts of commands already run, by directory and command, for the ones that read no file. */
const verdicts = new Map();
const readsFiles = (run) => /[<>]|--save|--replay|--out |\bcmp\b/.test(run);
const cleanup = () => {
  if (guard !== null) closeGuard(guard);
  guard = null;
};
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});
try {
  for (const it of items) {
    const where = `${it.file}:${it.line}`;
    if (it.skip) {
      skipped++;
      console.log(`skipped    ${where}  ${it.text}\n           reason: ${it.skip}`);
      continue;
    }
    const once = `${it.home}\0${it.run}\0${it.status}\0${it.stderr}`;
    const earlier = readsFiles(it.run) ? undefined : verdicts.get(once);
    if (earlier !== undefined) {
      console.log(`${earlier.ok ? "ok  " : "FAIL"}   same  ${where}  ${it.run}   (same as ${earlier.where})`);
      if (!earlier.ok) failures.push(`${where}: ${it.cmd}: as ${earlier.where}`);
      continue;
    }
    if (guard === null || guard.file !== it.file) {
      cleanup();
      guard = openGuard(it.file);
    }
    const cwd = it.home;
    let run = it.run;
    let out = null;
    if (run.includes(OUT)) {
      out = mkdtempSync(join(tmpdir(), "flushlab-readme-"));
      run = run.replaceAll(OUT, out);
    }
    if (it.short) console.log(`shortened: ${run}\n           (README: ${it.cmd}; ${it.short})`);
    const t0 = Date.now();
    const env = { ...process.env };
    delete env.INIT_CWD; // npm sets it to where the command runs
    // coreutils' timeout signals the command's whole process group (npm, the CLI, its workers).
    const r = spawnSync("timeout", ["-k", "10", String(TIMEOUT_MS / 1000), "sh", "-c", run], { cwd, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    const ms = Date.now() - t0;
    if (out !== null) rmSync(out, { recursive: true, force: true });
    ran++;
    const problems = [];
    if (r.error) problems.push(String(r.error));
    else if (r.status === 124 || r.status === 137) problems.push(`timed out after ${seconds(TIMEOUT_MS)}`);
    else if (r.status !== it.status) problems.push(`exit ${r.status ?? r.signal}, expected ${it.status}${it.statusWhy ? ` (${it.statusWhy})` : ""}`);
    if (it.stderr !== null && r.stderr.trim() !== it.stderr) problems.push(`stderr is not the line the README shows: ${JSON.stringify(r.stderr.trim())}`);
    const status = problems.length === 0 ? "ok" : "FAIL";
    verdicts.set(once, { ok: problems.length === 0, where });
    console.log(`${status.padEnd(4)} ${seconds(ms).padStart(6)} ${where}  ${run}${it.status !== 0 && problems.length === 0 ? `   (exit ${it.status}, as documented)` : ""}`);
    if (problems.length > 0) {
      failures.push(`${where}: ${it.cmd}: ${problems.join("; ")}`);
      console.log(`      ${problems.join("; ")}`);
      if (r.stderr) console.log(`      stderr:\n${tail(r.stderr, 8)}`);
      if (r.stdout) console.log(`      stdout:\n${tail(r.stdout, 8)}`);
    }
  }
} finally {
  cleanup();
}
console.log(`\nreadme commands: ${ran} run, ${skipped} skipped, ${failures.length} failed, in ${seconds(Date.now() - started)}`);
if (failures.length > 0) {
  for (const f of failures) console.log(`FAILED ${f}`);
  process.exit(1);
}
