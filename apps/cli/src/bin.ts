#!/usr/bin/env node
import { main } from "./cli.js";
import { registry } from "./registry.js";

// Under `npm run`, the working directory is the repository root; INIT_CWD is where the
// user ran the command. Everything relative the user types is meant from there: their
// flushlab.config, `--plugins ./dir`, and the files written (`--html`, `--trace`,
// `check --save`/`--replay`, `sweep --out`), so the process moves there first.
const initCwd = process.env["INIT_CWD"];
if (initCwd !== undefined && initCwd !== process.cwd()) {
  try {
    process.chdir(initCwd);
  } catch {
    process.stderr.write(`flushlab: cannot change to the directory npm was run from (INIT_CWD=${initCwd})\n`);
    process.exit(2);
  }
}
process.exitCode = await main(process.argv.slice(2), registry, {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
