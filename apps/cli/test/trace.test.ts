/** --trace FILE against the real model: the trace-event JSON, its bound, and that tracing changes no figure. */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";
import { cpuTracks, expectNested, readTrace, type TraceEvent } from "./support/trace-json.js";

const dir = mkdtempSync(join(tmpdir(), "flushlab-trace-"));
const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

describe("flushlab run tlb-flush2 --cpus 4 --trace", () => {
  const file = join(dir, "t.json");
  const argv = ["run", "tlb-flush2", "--cpus", "4", "--json"];

  it("writes trace-event JSON: a track per CPU, IPI flows, flush slices, counters; names the file on stderr", async () => {
    const r = await runCli([...argv, "--trace", file], { registry });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^trace ${file}: run tlb-flush2, seed 1, [\\d,]+ events, the whole run \\([\\d.]+ µs\\)\\n$`));
    const t = readTrace(file);
    expect(t.displayTimeUnit).toBe("ns");
    const tracks = cpuTracks(t);
    expect([...tracks.entries()]).toEqual([
      [1, "CPU 0"],
      [2, "CPU 1"],
      [3, "CPU 2"],
      [4, "CPU 3"],
    ]);
    const x = t.traceEvents.filter((e) => e.ph === "X");
    // Every CPU's track has user time, kernel time (its syscalls), interrupts and flushes.
    for (const tid of tracks.keys()) {
      const names = new Set(x.filter((e) => e.tid === tid).map((e) => e.cat));
      expect([...names].sort()).toEqual(["flush", "idle", "irq", "kernel", "user"]);
    }
    expect(x.some((e) => e.name === "syscall munmap")).toBe(true);
    expect(x.some((e) => e.name === "page fault" && typeof e.args!["address"] === "string")).toBe(true);
    expectNested(t);
    // Interrupts keep their length: none had to be clamped away (the model emits a fault's
    // and a kernel thread's end when the CPU really goes on, after interrupts that took it).
    const irqs = x.filter((e) => e.cat === "irq");
    expect(irqs.length).toBeGreaterThan(0);
    expect(irqs.filter((e) => e.dur! <= 0)).toEqual([]);

    // IPI flows: each start has one finish with its id, on another CPU, not earlier.
    const starts = new Map<number, TraceEvent>();
    for (const e of t.traceEvents) if (e.ph === "s") starts.set(e.id!, e);
    const finishes = t.traceEvents.filter((e) => e.ph === "f");
    expect(finishes.length).toBeGreaterThan(0);
    expect(finishes.length).toBe(starts.size);
    for (const f of finishes) {
      const s = starts.get(f.id!)!;
      expect(s).toBeDefined();
      expect(f.bp).toBe("e");
      expect(f.tid).not.toBe(s.tid);
      expect(f.ts!).toBeGreaterThanOrEqual(s.ts!);
      expect(f.args!["from"]).toBe(s.tid! - 1);
      // The finish binds to the interrupt it raised, which starts at the same instant.
      expect(x.some((e) => e.tid === f.tid && e.cat === "irq" && e.ts === f.ts && e.args!["ipi"] === f.id)).toBe(true);
    }

    // Flush slices carry their reason, whether full, and (for shootdowns) their range.
    const flushes = x.filter((e) => e.cat === "flush");
    const remote = flushes.filter((e) => e.args!["reason"] === "TLB_REMOTE_SHOOTDOWN");
    expect(remote.length).toBeGreaterThan(0);
    for (const f of flushes) {
      expect(f.name).toBe(`flush ${String(f.args!["reason"])}`);
      expect(f.args!["full"]).toBe((f.args!["pages"] as number) < 0);
    }
    for (const f of remote) {
      expect(f.args!["start"]).toMatch(/^0x[0-9a-f]+$/);
      expect(f.args!["end"]).toMatch(/^(0x[0-9a-f]+|TLB_FLUSH_ALL)$/);
    }
    expect(remote.some((f) => f.args!["full"] === false)).toBe(true);

    // Counter tracks: IPIs per interval (summing to the flows plus IPIs that found an empty queue), TLB occupancy per CPU.
    const counters = t.traceEvents.filter((e) => e.ph === "C");
    const ipiSamples = counters.filter((e) => e.name === "IPIs sent per 10 µs");
    const sent = ipiSamples.reduce((s, e) => s + (e.args!["ipis"] as number), 0);
    const report = JSON.parse(r.stdout) as { counters: Record<string, number> };
    expect(sent).toBe(report.counters["ipi_sent"]);
    for (let c = 0; c < 4; c++) expect(counters.some((e) => e.name === `TLB entries CPU ${c}` && (e.args!["4K"] as number) > 0)).toBe(true);
    expect(t.otherData).toMatchObject({ maxEvents: 1_000_000, droppedModelEvents: 0, cutAtUs: null });
    expect(t.otherData.events).toBe(t.traceEvents.length);
  });

  it("changes no figure of the report, and the same run gives a byte-identical trace", async () => {
    const plain = await runCli(argv, { registry });
    const a = await runCli([...argv, "--trace", join(dir, "a.json")], { registry });
    const b = await runCli([...argv, "--trace", join(dir, "b.json")], { registry });
    expect(a.stdout).toBe(plain.stdout);
    expect(b.stdout).toBe(plain.stdout);
    expect(readFileSync(join(dir, "a.json"), "utf8")).toBe(readFileSync(join(dir, "b.json"), "utf8"));
  });
});

describe("--trace bounds and other commands", () => {
  it("lru-file-mmap-read on 48 CPUs in 4 sockets stays within the bound and says where it was cut", async () => {
    const file = join(dir, "lru.json");
    const r = await runCli(["run", "lru-file-mmap-read", "--sockets", "4", "--cpus", "48", "--param", "files_x_ram=2", "--trace", file, "--trace-max-events", "50000"], { registry });
    expect(r.code).toBe(0);
    const t = readTrace(file);
    expect(t.traceEvents.length).toBeLessThanOrEqual(50_000);
    expect(t.otherData.events).toBe(t.traceEvents.length);
    expect(t.otherData.cutAtUs).not.toBeNull();
    expect(t.otherData.cutAtUs!).toBeLessThan(t.otherData.endUs);
    expect(t.otherData.droppedModelEvents).toBeGreaterThan(0);
    expect(cpuTracks(t).size).toBe(48);
    expect(cpuTracks(t).get(48)).toBe("CPU 47 (socket 3)");
    expectNested(t);
    expect(r.stderr).toMatch(/cut at [\d.]+ µs of [\d.]+ µs by the 50,000-event bound \([\d,]+ model events left out\)/);
  }, 120_000);

  it("compare writes one file per side and seed, and names them", async () => {
    const file = join(dir, "cmp.json");
    const r = await runCli(["compare", "tlb-flush2", "--cpus", "2", "--plugins", "bug-99baac21e458", "--runs", "2", "--trace", file], { registry });
    expect(r.code).toBe(0);
    const names = ["cmp.baseline.seed1.json", "cmp.baseline.seed2.json", "cmp.patched.seed1.json", "cmp.patched.seed2.json"];
    for (const n of names) {
      expect(existsSync(join(dir, n))).toBe(true);
      expect(r.stderr).toContain(`trace ${join(dir, n)}: compare tlb-flush2: ${n.split(".")[1]}, seed ${n.split(".")[2]!.slice(4)}`);
      expect(cpuTracks(readTrace(join(dir, n))).size).toBe(2);
    }
    expect(existsSync(file)).toBe(false);
  }, 60_000);

  it("check --replay of an unsafe plugin's counterexample marks its hazards as instants with the oracle's report", async () => {
    const file = join(dir, "replay.json");
    const r = await runCli(["check", "--replay", fixture("bug-99baac21e458.cx.json"), "--json", "--trace", file], { registry });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { counterexample: { hazards: { class: number; cpu: number; missing: string }[] } };
    const t = readTrace(file);
    const hazards = t.traceEvents.filter((e) => e.ph === "i" && e.cat === "hazard");
    expect(hazards.map((h) => [h.name, h.tid, h.args!["missing"]])).toEqual(report.counterexample.hazards.map((h) => [`hazard class ${h.class}`, h.cpu + 1, h.missing]));
    expectNested(t);
    expect(r.stderr).toMatch(/^trace .*replay\.json: check --replay .*bug-99baac21e458\.cx\.json, \d+ events, the whole run/);
  }, 60_000);

  it.each([
    [["run", "tlb-flush2", "--trace", "/nonexistent-flushlab-dir/t.json"], "--trace /nonexistent-flushlab-dir/t.json: directory /nonexistent-flushlab-dir does not exist"],
    [["compare", "tlb-flush2", "--plugins", "bug-99baac21e458", "--trace", "/nonexistent-flushlab-dir/t.json"], "--trace /nonexistent-flushlab-dir/t.json: directory /nonexistent-flushlab-dir does not exist"],
    [["run", "tlb-flush2", "--trace-max-events", "20000"], "--trace-max-events needs --trace FILE"],
    [["run", "tlb-flush2", "--trace", "t.json", "--trace-max-events", "99"], "--trace-max-events must be at least 10,000 (got 99)"],
    [["run", "tlb-flush2", "--trace", "t.json", "--trace-max-events", "x"], "--trace-max-events"],
    [["check", "--trace", "t.json"], "--trace traces one simulation: give it with --replay FILE"],
  ])("%j → one line, exit 2, before any simulation", async (argv, msg) => {
    const seen: string[] = [];
    const r = await runCli(argv, { registry, onEvents: (e$) => e$.subscribe((e) => seen.push(e.type)) });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`flushlab: ${r.stderr.slice("flushlab: ".length)}`);
    expect(r.stderr).toContain(msg);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(seen.filter((t) => t === "cli:simulation" || t === "cli:check_start")).toEqual([]);
  });
});
