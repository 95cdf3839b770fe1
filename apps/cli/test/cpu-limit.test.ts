import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

/** --cpus and --sockets share the core's one limit (MAX_CPUS 1024, MAX_SOCKETS 16); the real registry. */
describe("flushlab run: --cpus up to 1024, --sockets up to 16", () => {
  it("runs a 1024-CPU, 16-socket machine", async () => {
    const r = await runCli(["run", "tlb-flush2", "--cpus", "1024", "--sockets", "16", "--param", "threads=2", "--param", "regions=1", "--param", "memory_kib=8", "--json"], { registry });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ cpus: 1024, sockets: 16 });
  }, 60_000);
  it.each([
    [["--cpus", "1025"], "cpus must be an integer from 1 to 1024 (got 1025)"],
    [["--cpus", "1024", "--sockets", "17"], "sockets must be an integer from 1 to 16 (got 17)"],
  ])("%j → a one-line error and a non-zero exit", async (flags, msg) => {
    const r = await runCli(["run", "tlb-flush2", ...flags], { registry });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toEqual([`flushlab: ${msg}`]);
  });
  it("a workload's CPU-count parameter has the same limit", async () => {
    const r = await runCli(["run", "tlb-flush2", "--param", "threads=1025"], { registry });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trimEnd().split("\n")).toEqual(['flushlab: parameter "threads" must be <= 1024 (got 1025)']);
  });
});
