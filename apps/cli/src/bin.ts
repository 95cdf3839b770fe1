#!/usr/bin/env node
import { main } from "./cli.js";
import { registry } from "./registry.js";

// Under `npm run`, the working directory is the repository root; INIT_CWD is where the
// user ran the command, which is where their flushlab.config lives.
process.exitCode = await main(process.argv.slice(2), registry, {
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.env["INIT_CWD"] ?? process.cwd(),
});
