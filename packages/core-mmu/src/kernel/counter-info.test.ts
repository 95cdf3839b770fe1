import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MMU_EVENTS } from "../hw/mmu.js";
import { COUNTER_INFO, counterInfo } from "./counter-info.js";
import { COUNTER_NAMES } from "./counters.js";

describe("COUNTER_INFO", () => {
  it("classifies every kernel counter and every hardware event count", () => {
    const missing = [...COUNTER_NAMES, ...MMU_EVENTS, "ipi_sent", "hazards_total"].filter((n) => !Object.hasOwn(COUNTER_INFO, n));
    expect(missing).toEqual([]);
  });
  it("the model's own pgfault_* kinds, ipi_sent and csd_queued have no kernel counterpart; reclaim counts by who scanned, as vmstat does", () => {
    for (const n of ["pgfault_anon", "pgfault_zero_page", "pgfault_cow", "pgfault_wp_reuse", "pgfault_spurious", "ipi_sent", "csd_queued"]) expect(counterInfo(n).kernel).toBeNull();
    for (const n of ["pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "nr_tlb_remote_flush", "pgfault", "allocstall", "nr_vmscan_write"]) {
      expect(counterInfo(n).kernel).toMatch(new RegExp(`^/proc/vmstat ${n}\\b`));
    }
    expect(COUNTER_NAMES).not.toContain("pgscan");
    expect(COUNTER_NAMES).not.toContain("pgsteal");
  });
  it("a counter a plugin or workload adds is the model's", () => {
    expect(counterInfo("reaim_jobs")).toEqual({ kernel: null, what: "added by a plugin or a workload" });
  });
});

describe("docs/architecture.md's Counters table", () => {
  it("is COUNTER_INFO, row for row", () => {
    const doc = readFileSync(new URL("../../../../docs/architecture.md", import.meta.url), "utf8");
    const section = doc.slice(doc.indexOf("\n## Counters\n"), doc.indexOf("\n## Writing a policy plugin\n"));
    const rows = section.split("\n").filter((l) => l.startsWith("| `"));
    const cell = (s: string) => s.replace(/\|/g, "\\|");
    expect(rows).toEqual(Object.entries(COUNTER_INFO).map(([n, c]) => `| \`${n}\` | ${c.kernel === null ? "model-only" : cell(c.kernel)} | ${cell(c.what)} |`));
  });
});
