import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

/**
 * Without --memory (nor a config or preset size) a machine gets 1 MiB of RAM per CPU once
 * that is more than the default's 64 MiB (core-mmu's defaultMemoryMiB); the run's notes
 * say where the size came from. The real registry.
 */
describe("flushlab run: default memory grows with the CPU count", () => {
  const tiny = ["--param", "threads=2", "--param", "regions=1", "--param", "memory_kib=8", "--json"];
  const memoryNote = (stdout: string): string => (JSON.parse(stdout) as { notes: string[] }).notes.find((n) => n.startsWith("memory:"))!;

  it("1024 CPUs without --memory: 1024 MiB, and the notes say why", async () => {
    const r = await runCli(["run", "tlb-flush2", "--cpus", "1024", "--sockets", "8", ...tiny], { registry });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const note = memoryNote(r.stdout);
    expect(note).toMatch(/^memory: 1024 MiB simulated \(262144 frames of 4 KiB; the size for 1024 CPUs when none is given: 1 MiB per CPU/);
    expect(note).toContain("lkp-csl-2ap4");
  }, 60_000);

  it("up to 64 CPUs the default stays 64 MiB; --memory wins at any CPU count", async () => {
    const at64 = await runCli(["run", "tlb-flush2", "--cpus", "64", ...tiny], { registry });
    expect(at64.code).toBe(0);
    expect(memoryNote(at64.stdout)).toBe("memory: 64 MiB simulated (16384 frames of 4 KiB); 64 CPUs on 1 socket(s)");
    const given = await runCli(["run", "tlb-flush2", "--cpus", "1024", "--sockets", "8", "--memory", "96", ...tiny], { registry });
    expect(given.code).toBe(0);
    expect(memoryNote(given.stdout)).toBe("memory: 96 MiB simulated (24576 frames of 4 KiB); 1024 CPUs on 8 socket(s)");
  }, 60_000);

  // reaim's 1024 tasks need ~26,000 frames (100 MiB): with the 64 MiB default the run
  // stopped with "workload reaim cannot run on this machine ...: out of memory".
  it("reaim on 1024 CPUs finishes without --memory", async () => {
    const r = await runCli(["run", "reaim", "--cpus", "1024", "--sockets", "8", "--param", "jobs=1", "--param", "purges=0", "--json"], { registry });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { counters: Record<string, number> };
    expect(result.counters["pages_in_use_peak"]).toBeGreaterThan(16384); // more than 64 MiB holds
  }, 180_000);
});
