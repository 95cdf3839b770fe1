import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FlushlabInputError } from "@flushlab/core-mmu";
import { runCli } from "../test/support/test-io.js";
import { createTestRegistry } from "../test/support/test-registry.js";
import type { CliRegistry } from "./registry-types.js";

function expectOneLineError(outcome: { code: number; stdout: string; stderr: string }, code = 2): string {
  expect(outcome.code).toBe(code);
  expect(outcome.stdout).toBe("");
  expect(outcome.stderr.endsWith("\n")).toBe(true);
  const lines = outcome.stderr.slice(0, -1).split("\n");
  expect(lines).toHaveLength(1);
  const line = lines[0] as string;
  expect(line.startsWith("flushlab: ")).toBe(true);
  expect(line).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
  expect(line).not.toMatch(/^\s+at /);
  return line;
}

describe("help and version", () => {
  it("prints the global help", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const r = await runCli(argv);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("Usage: flushlab <command>");
      for (const c of ["list", "run", "compare", "reproduce"]) expect(r.stdout).toContain(`  ${c}`);
    }
  });
  it("prints each command's help", async () => {
    for (const c of ["list", "run", "compare", "reproduce"]) {
      const r = await runCli([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: flushlab ${c}`);
      expect(r.stdout).toContain("--json");
      expect(await runCli(["help", c])).toEqual(r);
    }
    expect((await runCli(["run", "--help"])).stdout).toContain("--param <k=v>");
    expect((await runCli(["compare", "-h"])).stdout).toContain("--runs <N>");
  });
  it("help wins over a missing workload", async () => {
    expect((await runCli(["run", "-h"])).code).toBe(0);
  });
  it("prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const r = await runCli(["--version"]);
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
  });
});

describe("bad input: one line on stderr, exit 2", () => {
  const cases: [string[], string | RegExp][] = [
    [[], /missing command/],
    [["frobnicate"], 'unknown command "frobnicate" (known: list, run, compare, reproduce, check, sweep, new-plugin)'],
    [["--bogus"], /unknown option "--bogus"/],
    [["help", "nope"], /unknown command "nope"/],
    [["list", "extra"], /unexpected argument "extra"/],
    [["list", "--all"], /unknown option "--all" for list/],
    [["run"], "missing workload (known: tlb-flush2, mprotect-loop)"],
    [["run", "foo"], 'unknown workload "foo" (known: tlb-flush2, mprotect-loop)'],
    [["run", "tlb-flush2", "extra"], /unexpected argument "extra"/],
    [["run", "tlb-flush2", "--bogus"], /unknown option "--bogus" for run/],
    [["run", "tlb-flush2", "-x"], /unknown option "-x"/],
    [["run", "tlb-flush2", "--plugins", "nope"], /unknown plugin "nope" \(known: lazy-flush, skip-flush/],
    [["run", "tlb-flush2", "--plugins", "lazy-flush,,noop"], /--plugins has an empty name/],
    [["run", "tlb-flush2", "--plugins", "noop,noop"], /lists "noop" twice/],
    [["run", "tlb-flush2", "--profile", "cloud"], 'unknown profile "cloud" (known: bare-metal, kvm-guest)'],
    [["run", "tlb-flush2", "--arch", "arm64"], /unknown arch "arm64" \(known: x86-64, x86-32-pae\)/],
    [["run", "tlb-flush2", "--cpus", "0"], /--cpus must be a positive integer \(got "0"\)/],
    [["run", "tlb-flush2", "--cpus", "-3"], /--cpus must be a positive integer/],
    [["run", "tlb-flush2", "--cpus", "2.5"], /--cpus must be a positive integer/],
    [["run", "tlb-flush2", "--cpus", "many"], /--cpus must be a positive integer/],
    [["run", "tlb-flush2", "--cpus"], "option --cpus needs a value"],
    [["run", "tlb-flush2", "--cpus", "--json"], "option --cpus needs a value"],
    [["run", "tlb-flush2", "--cpus", "4", "--cpus", "8"], "option --cpus given more than once"],
    [["run", "tlb-flush2", "--cpus", "6", "--sockets", "4"], "sockets (4) must divide cpus (6)"],
    [["run", "tlb-flush2", "--sockets", "3"], "sockets (3) must divide cpus (8)"],
    [["run", "tlb-flush2", "--seed", "-1"], /--seed must be a non-negative integer/],
    [["run", "tlb-flush2", "--seed", "1x"], /--seed must be a non-negative integer/],
    [["run", "tlb-flush2", "--json=yes"], /option --json takes no value/],
    [["run", "tlb-flush2", "--param", "nope=1"], 'unknown parameter "nope" for workload "tlb-flush2" (known: threads, iterations, unmap, huge, scale)'],
    [["run", "tlb-flush2", "--param", "threads"], /--param must be written key=value/],
    [["run", "tlb-flush2", "--param", "=3"], /--param must be written key=value/],
    [["run", "tlb-flush2", "--param", "threads=abc"], /parameter "threads" must be an integer \(got "abc"\)/],
    [["run", "tlb-flush2", "--param", "threads=1.5"], /parameter "threads" must be an integer/],
    [["run", "tlb-flush2", "--param", "threads=0"], /parameter "threads" must be >= 1 \(got 0\)/],
    [["run", "tlb-flush2", "--param", "threads=2000"], /parameter "threads" must be <= 1024/],
    [["run", "tlb-flush2", "--param", "unmap=free"], /parameter "unmap" must be one of munmap, madvise \(got "free"\)/],
    [["run", "tlb-flush2", "--param", "huge=maybe"], /parameter "huge" must be true or false/],
    [["run", "tlb-flush2", "--param", "scale=1e"], /parameter "scale" must be a number/],
    [["run", "tlb-flush2", "--param", "scale=0"], /parameter "scale" must be >= 0.01/],
    [["run", "tlb-flush2", "--param", "threads=2", "--param", "threads=3"], /parameter "threads" given more than once/],
    [["run", "mprotect-loop", "--param", "threads=2"], /unknown parameter "threads" for workload "mprotect-loop" \(known: pages\)/],
    [
      ["run", "tlb-flush2", "--plugins", "skip-flush", "--arch", "x86-32-pae"],
      'plugin "skip-flush" does not apply to arch x86-32-pae (it applies to x86-64)',
    ],
    [["run", "tlb-flush2", "--plugins", "pae-only"], /plugin "pae-only" does not apply to arch x86-64/],
    // thrown by the engine (FlushlabInputError from simulate)
    [["run", "tlb-flush2", "--plugins", "lazy-flush,skip-flush"], /plugins "lazy-flush" and "skip-flush" both override MmuGatherFlush/],
    [["compare", "tlb-flush2"], /compare needs --plugins/],
    [["compare", "tlb-flush2", "--plugins", ""], /compare needs --plugins/],
    [["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "0"], /--runs must be a positive integer/],
    [["compare", "tlb-flush2", "--plugins", "lazy-flush", "--runs", "100000"], /--runs must be at most 1000/],
    [["compare", "--plugins", "lazy-flush"], /missing workload/],
    [["compare", "nope", "--plugins", "lazy-flush"], /unknown workload "nope"/],
    [["reproduce", "--plugins", "nope"], /unknown plugin "nope"/],
    [["reproduce", "extra"], /unexpected argument "extra"/],
    [["reproduce", "--runs", "3"], /unknown option "--runs" for reproduce/],
  ];
  for (const [argv, expected] of cases) {
    it(`flushlab ${argv.join(" ") || "(nothing)"}`, async () => {
      const line = expectOneLineError(await runCli(argv));
      if (typeof expected === "string") expect(line).toBe(`flushlab: ${expected}`);
      else expect(line).toMatch(expected);
    });
  }

  it("a multi-line FlushlabInputError from the engine is printed on one line", async () => {
    const base = createTestRegistry();
    const registry: CliRegistry = {
      ...base,
      simulate: () => {
        throw new FlushlabInputError("bad machine\nsecond line");
      },
    };
    const line = expectOneLineError(await runCli(["run", "tlb-flush2"], { registry }));
    expect(line).toBe("flushlab: bad machine second line");
  });
});

describe("internal errors: exit 1", () => {
  const base = createTestRegistry();
  const failing: CliRegistry = {
    ...base,
    simulate: () => {
      throw new Error("engine exploded\nat somewhere");
    },
  };
  it("prints one line without a stack", async () => {
    const line = expectOneLineError(await runCli(["run", "tlb-flush2"], { registry: failing }), 1);
    expect(line).toBe("flushlab: internal error: engine exploded at somewhere");
  });
  it("prints the stack with FLUSHLAB_DEBUG=1", async () => {
    const r = await runCli(["run", "tlb-flush2"], { registry: failing, env: { FLUSHLAB_DEBUG: "1" } });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("flushlab: internal error: engine exploded at somewhere");
    expect(r.stderr).toMatch(/\n\s+at /);
  });
  it("handles non-Error throws", async () => {
    const registry: CliRegistry = {
      ...base,
      simulate: () => {
        throw "just a string";
      },
    };
    const line = expectOneLineError(await runCli(["compare", "tlb-flush2", "--plugins", "noop"], { registry }), 1);
    expect(line).toBe("flushlab: internal error: just a string");
  });
});
