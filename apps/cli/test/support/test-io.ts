/** Test helper: runs `main` in-process with captured stdout/stderr. */
import { main } from "../../src/cli.js";
import type { CliIo, CliRegistry, TextSink } from "../../src/registry-types.js";
import { testRegistry } from "./test-registry.js";

export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class Buffer implements TextSink {
  text = "";
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export async function runCli(
  argv: readonly string[],
  options: { registry?: CliRegistry; cwd?: string; env?: Record<string, string | undefined>; onEvents?: CliIo["onEvents"]; stderrIsTTY?: boolean } = {},
): Promise<CliOutcome> {
  const stdout = new Buffer();
  const stderr = new Buffer(options.stderrIsTTY ?? false);
  const code = await main(argv, options.registry ?? testRegistry, {
    stdout,
    stderr,
    // An empty directory by default, so a stray flushlab.config in the repo cannot leak in.
    cwd: options.cwd ?? "/nonexistent-flushlab-test-dir",
    env: options.env ?? {},
    ...(options.onEvents ? { onEvents: options.onEvents } : {}),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
