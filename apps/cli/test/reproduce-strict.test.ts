/**
 * The real reproductions, as `reproduce --strict --json` runs them (full length: no
 * shortening was shown to keep every outcome), with which figures are in their bands
 * and which are out pinned here, so that a README figure cannot drift unnoticed.
 * `--strict` exits 1 exactly when a prediction is out of its band; calibration figures
 * never make a reproduction.
 */
import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

/** plugin → [metric, kind, role, in band] for each figure, then reproduced, then --strict's exit status. */
const PINNED: Record<string, { figures: [string, string, string, boolean][]; reproduced: boolean }> = {
  "mmu-notifier": { figures: [["invalidate_range_calls", "patched_ratio", "prediction", true]], reproduced: true },
  "mprotect-gather": {
    figures: [
      ["cycles_prot_read", "baseline", "prediction", true],
      ["cycles_prot_read", "patched", "prediction", false],
      ["cycles_prot_read", "change_pct", "prediction", false],
      ["cycles_prot_read_write", "baseline", "calibration", true],
      ["cycles_prot_read_write", "patched", "calibration", true],
      ["cycles_prot_read_write", "change_pct", "calibration", true],
    ],
    reproduced: false,
  },
  "nohz-defer": {
    figures: [
      ["isolated_ipis", "baseline", "prediction", true],
      ["isolated_ipis", "patched", "prediction", false],
    ],
    reproduced: false,
  },
  "batched-unmap": {
    figures: [
      ["elapsed_s", "change_pct", "prediction", true],
      ["system_s", "change_pct", "calibration", true],
      ["interrupts_per_s", "ratio", "prediction", true],
    ],
    reproduced: true,
  },
  "vmalloc-sync": { figures: [["jobs_per_min", "ratio", "prediction", false]], reproduced: false },
};

describe("reproduce --strict: the real reproductions, pinned", () => {
  it.each(Object.keys(PINNED))("%s", { timeout: 300_000 }, async (plugin) => {
    const pin = PINNED[plugin]!;
    const r = await runCli(["reproduce", "--plugins", plugin, "--strict", "--json"], { registry });
    const rep = JSON.parse(r.stdout).reproductions[0];
    expect(rep.figures.map((f: { metric: string; kind: string; role: string; ok: boolean }) => [f.metric, f.kind, f.role, f.ok])).toEqual(pin.figures);
    expect(rep.ok).toBe(pin.reproduced);
    const predictionMissed = pin.figures.some(([, , role, ok]) => role === "prediction" && !ok);
    expect(r.code).toBe(predictionMissed ? 1 : 0);
  });
});
