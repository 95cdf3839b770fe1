import { describe, expect, it } from "vitest";
import { runCli } from "../../test/support/test-io.js";
import { createTestRegistry } from "../../test/support/test-registry.js";

describe("flushlab list", () => {
  it("human: plugins with package, patch, commit, kernel, tokens; workloads with params and metrics; profiles", async () => {
    const r = await runCli(["list"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const out = r.stdout;
    expect(out).toMatch(/^Plugins\n  lazy-flush  @flushlab\/test-lazy-flush\n/);
    expect(out).toContain("patch:      test: lazy-flush");
    expect(out).toContain("commit:     0000000000000000000000000000000000000000 (not merged)");
    expect(out).toContain("overrides:  MmuGatherFlush, KernelRangeFlush");
    expect(out).toContain("applies to: x86-32-pae");
    expect(out).toMatch(/threads\s+int\s+default 8\s+1\.\.1,024\s+worker threads/);
    expect(out).toMatch(/unmap\s+string\s+default munmap\s+munmap\|madvise/);
    expect(out).toMatch(/ops_per_sec\s+ops\/s\s+higher is better/);
    expect(out).toMatch(/Profiles\n  bare-metal\s+fake bare-metal costs\n  kvm-guest/);
  });
  it("ends with the counters: the kernel's counter each is, or model-only", async () => {
    const r = await runCli(["list"]);
    const out = r.stdout.slice(r.stdout.indexOf("\nCounters ("));
    expect(out).toMatch(/\n  nr_tlb_remote_flush  kernel: \/proc\/vmstat nr_tlb_remote_flush \(CONFIG_DEBUG_TLBFLUSH\)\n    flushes that sent IPIs/);
    expect(out).toMatch(/\n  pgsteal_direct  kernel: \/proc\/vmstat pgsteal_direct/);
    for (const name of ["pgfault_anon", "pgfault_zero_page", "pgfault_cow", "pgfault_wp_reuse", "pgfault_spurious", "ipi_sent", "csd_queued"]) {
      expect(out).toMatch(new RegExp(`\\n  ${name}  model-only\\n`));
    }
    expect(out).not.toMatch(/\n  pgscan  /);
  });
  it("says when no plugin is installed", async () => {
    const r = await runCli(["list"], { registry: createTestRegistry({ plugins: [] }) });
    expect(r.stdout).toMatch(/^Plugins\n  \(none installed\)\n/);
  });
  it("--json", async () => {
    const r = await runCli(["list", "--json"]);
    const json = JSON.parse(r.stdout) as {
      plugins: { name: string; package: string | null; source: string; patch: { commit: string }; overrides: string[]; appliesTo: string[] }[];
      workloads: { name: string; params: { name: string; default: unknown }[]; metrics: { name: string }[] }[];
      profiles: { name: string }[];
    };
    expect(Object.keys(json)).toEqual(["plugins", "workloads", "profiles", "extensionPoints", "defaultMachine", "presets", "counters"]);
    const counters = (json as unknown as { counters: Record<string, { kernel: string | null; what: string }> }).counters;
    expect(counters["pgscan_kswapd"]!.kernel).toMatch(/^\/proc\/vmstat pgscan_kswapd/);
    expect(counters["pgfault_cow"]).toEqual({ kernel: null, what: expect.stringMatching(/copy-on-write/) });
    expect(json.plugins.map((p) => p.name)).toEqual(["lazy-flush", "skip-flush", "batch-ipi", "noop", "pae-only"]);
    expect(json.plugins[0]).toMatchObject({ package: "@flushlab/test-lazy-flush", source: "installed", overrides: ["MmuGatherFlush"] });
    expect(json.workloads[0]?.params.map((p) => [p.name, p.default])).toEqual([
      ["threads", 8],
      ["iterations", 10000],
      ["unmap", "munmap"],
      ["huge", false],
      ["scale", 1],
    ]);
    expect(json.profiles.map((p) => p.name)).toEqual(["bare-metal", "kvm-guest"]);
    expect((json as unknown as { presets: unknown[] }).presets).toEqual([
      {
        name: "big-box",
        description: "fake 2-socket server",
        machine: { cpus: 16, sockets: 2, memoryMiB: 128, tlbEntries: 1536, tlbWays: 12 },
        profile: "kvm-guest",
        sources: { cpus: "test", sockets: "test", memoryMiB: "test", tlbEntries: "test", tlbWays: "test", profile: "test" },
        scaled: ["RAM 1 TB → 128 MiB"],
      },
    ]);
  });
  it("shows the machine presets with the source of each field", async () => {
    const r = await runCli(["list"]);
    expect(r.stdout).toContain("Machine presets (--preset NAME; the other machine flags and --profile override its fields)");
    expect(r.stdout).toContain("  big-box  fake 2-socket server");
    expect(r.stdout).toMatch(/machine: x86-64, 16 CPUs, 2 sockets, 1,536-entry 12-way TLB, 128 MiB; profile kvm-guest/);
    expect(r.stdout).toContain("scaled down: RAM 1 TB → 128 MiB");
    expect(r.stdout).toContain("    cpus: test");
  });
});
