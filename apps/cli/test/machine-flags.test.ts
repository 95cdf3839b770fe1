/** --la57 and --pte-leak-erratum through the CLI on the real registry: they reach the model and the report. */
import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

const SMALL = ["run", "tlb-flush2", "--cpus", "4", "--seed", "3", "--param", "regions=1", "--param", "memory_kib=128"];

describe("--la57 on|off", () => {
  it("runs on 5-level page tables (one more level of tables in use), shown as x86-64 (LA57)", async () => {
    const on = await runCli([...SMALL, "--la57", "on", "--json"], { registry });
    const off = await runCli([...SMALL, "--la57", "off", "--json"], { registry });
    expect(on.code).toBe(0);
    expect(off.code).toBe(0);
    const five = JSON.parse(on.stdout) as { counters: Record<string, number>; hazards: unknown[] };
    const four = JSON.parse(off.stdout) as { counters: Record<string, number> };
    expect(five.hazards).toEqual([]);
    expect(five.counters["nr_tlb_remote_flush"]).toBe(four.counters["nr_tlb_remote_flush"]);
    expect(five.counters["pages_in_use_peak"]!).toBeGreaterThan(four.counters["pages_in_use_peak"]!);
    const human = await runCli([...SMALL, "--la57", "on"], { registry });
    expect(human.stdout).toMatch(/^\s+machine\s+x86-64 \(LA57\), 4 CPUs/m);
  });
  it("needs x86-64, and takes on or off only: one line, exit 2", async () => {
    for (const [argv, msg] of [
      [[...SMALL, "--la57", "on", "--arch", "x86-32-pae"], /^flushlab: la57 \(5-level paging\) needs arch x86-64\n$/],
      [[...SMALL, "--la57", "yes"], /^flushlab: --la57 must be on or off \(got "yes"\)\n$/],
    ] as const) {
      const r = await runCli([...argv], { registry });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });
});

describe("--pte-leak-erratum on|off", () => {
  it("puts Knights Landing's A/D erratum into the machine: the machine line and the notes say so", async () => {
    const r = await runCli([...SMALL, "--pte-leak-erratum", "on"], { registry });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s+machine\s+x86-64, 4 CPUs,[^\n]*, KNL A\/D erratum \(X86_BUG_PTE_LEAK\)$/m);
    expect(r.stdout).toContain("CPU erratum: Knights Landing's A/D erratum (X86_BUG_PTE_LEAK)");
    const off = await runCli([...SMALL, "--pte-leak-erratum", "off"], { registry });
    expect(off.stdout).not.toContain("erratum");
  });
  it("takes on or off only: one line, exit 2", async () => {
    const r = await runCli([...SMALL, "--pte-leak-erratum", "1"], { registry });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^flushlab: --pte-leak-erratum/);
  });
});
