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
// apps/cli/dist/bin.js reads its arguments from process.argv.slice(2).
process.argv = [process.argv[0], fileURLToPath(new URL("../apps/cli/dist/bin.js", import.meta.url)), ...argv];
await import("../apps/cli/dist/bin.js");
