#!/usr/bin/env node
// `npm run flushlab -- ...` and `npm start`: the setup check (install and build only if
// needed: on a built tree it costs a few file stats and prints nothing) and then the CLI,
// in one Node process, so a quick command such as `list` pays for one Node start-up.
//   node scripts/flushlab.mjs [--quiet] <flushlab arguments>
// --quiet (first) keeps even the one "building" line off stderr.
import { fileURLToPath } from "node:url";
import { setup } from "./setup.mjs";

const argv = process.argv.slice(2);
const quiet = argv[0] === "--quiet";
if (quiet) argv.shift();
setup({ quiet });
// npm runs this from the repository root; INIT_CWD is where the user ran `npm run`, and
// every relative path they typed (the config, --plugins, --html, --trace, --save, --out)
// is meant from there.
const initCwd = process.env.INIT_CWD;
if (initCwd !== undefined && initCwd !== process.cwd()) {
  try {
    process.chdir(initCwd);
  } catch {
    process.stderr.write(`flushlab: cannot change to the directory npm was run from (INIT_CWD=${initCwd})\n`);
    process.exit(2);
  }
}
// apps/cli/dist/bin.js reads its arguments from process.argv.slice(2).
process.argv = [process.argv[0], fileURLToPath(new URL("../apps/cli/dist/bin.js", import.meta.url)), ...argv];
await import("../apps/cli/dist/bin.js");
