#!/usr/bin/env node
import { main } from "./cli.js";
import { registry } from "./registry.js";

// Relative paths (the config, --plugins ./dir, --html, --trace, --save, --out) are taken
// from the working directory. The repository's `npm run flushlab` and `npm start`
// (scripts/flushlab.mjs) first move to INIT_CWD, where the user ran npm; the installed
// bin does not read INIT_CWD, which an outer npm script may have set to somewhere else.
process.exitCode = await main(process.argv.slice(2), registry, {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
});
