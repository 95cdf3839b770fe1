import { describe, expect, it } from "vitest";
import type { FlushlabEvent } from "@flushlab/core-mmu";
import { TraceWriter, sideTraceFile, type TraceSink } from "./trace.js";

class Text implements TraceSink {
  text = "";
  write(chunk: string): void {
    this.text += chunk;
  }
}

interface Ev {
  ph: string;
  tid?: number;
  ts?: number;
  dur?: number;
  name: string;
  id?: number;
  args?: Record<string, unknown>;
}

/** A 1 GHz, 2-CPU machine: 1000 cycles are 1 µs. */
const MACHINE: FlushlabEvent = { type: "machine", time: 0, cpus: 2, sockets: 1, freqHz: 1e9, tlbEntries: 64, tlb2mEntries: 32 };

function write(events: readonly FlushlabEvent[], maxEvents = 10_000): { json: { traceEvents: Ev[]; otherData: Record<string, unknown> }; summary: ReturnType<TraceWriter["finish"]> } {
  const out = new Text();
  const w = new TraceWriter(out, { maxEvents, label: "test" });
  for (const e of events) w.onEvent(e);
  const summary = w.finish("x.json");
  return { json: JSON.parse(out.text) as { traceEvents: Ev[]; otherData: Record<string, unknown> }, summary };
}

describe("TraceWriter", () => {
  it("top-level slices follow the CPU's states; an interrupt that overhangs its parent is clamped into it; the flow binds to where it ends up", () => {
    const { json } = write([
      MACHINE,
      { type: "cpu_task", time: 1000, cpu: 0, state: "user" },
      { type: "cpu_task", time: 0, cpu: 1, state: "user" },
      { type: "syscall_enter", time: 2000, cpu: 1, name: "munmap" },
      { type: "ipi_send", time: 2500, from: 1, to: 0, vector: "CALL_FUNCTION", id: 1 },
      // The model placed this handler from 2900 to 4200; CPU 0 faults at 4000.
      { type: "ipi_recv", time: 2900, cpu: 0, queued: 1, id: 1, start: 2900, end: 4200 },
      { type: "tlb_flush", time: 2900, cpu: 0, reason: "TLB_REMOTE_SHOOTDOWN", pages: 1, cycles: 200, start: 0x1000, end: 0x2000 },
      { type: "page_fault_enter", time: 4000, cpu: 0, address: 0x1000, write: true },
      { type: "page_fault_exit", time: 4500, cpu: 0 },
      { type: "syscall_exit", time: 5000, cpu: 1, name: "munmap" },
      { type: "cpu_task", time: 6000, cpu: 0, state: "idle" },
      { type: "phase", time: 7000, name: "w", state: "end" },
    ]);
    const x = (tid: number) => json.traceEvents.filter((e) => e.ph === "X" && e.tid === tid).map((e) => [e.name, e.ts, e.dur]);
    expect(x(1)).toEqual([
      ["idle", 0, 1],
      ["user", 1, 3],
      ["CALL_FUNCTION interrupt", 2.9, 1.1],
      ["flush TLB_REMOTE_SHOOTDOWN", 2.9, 0.2],
      ["page fault", 4, 0.5],
      ["user", 4.5, 1.5],
      ["idle", 6, 1],
    ]);
    expect(x(2)).toEqual([
      ["user", 0, 2],
      ["syscall munmap", 2, 3],
      ["user", 5, 2],
    ]);
    const flow = json.traceEvents.filter((e) => e.ph === "s" || e.ph === "f").map((e) => [e.ph, e.tid, e.ts, e.id]);
    expect(flow).toEqual([
      ["s", 2, 2.5, 1],
      ["f", 1, 2.9, 1],
    ]);
    const flush = json.traceEvents.find((e) => e.name === "flush TLB_REMOTE_SHOOTDOWN")!;
    expect(flush.args).toEqual({ reason: "TLB_REMOTE_SHOOTDOWN", full: false, pages: 1, start: "0x1000", end: "0x2000" });
  });

  it("an IPI whose interrupt found nothing queued gets no dangling flow; coalesced csds and hazards are instants", () => {
    const { json } = write([
      MACHINE,
      { type: "cpu_task", time: 0, cpu: 0, state: "user" },
      { type: "ipi_send", time: 100, from: 0, to: 1, vector: "CALL_FUNCTION", id: 1 },
      { type: "csd_queue", time: 110, from: 0, to: 1, pending: 2, coalesced: true },
      { type: "hazard", class: 4, cpu: 1, address: "0x1000", pfn: 7, time: 300, missing: "flush", detail: "d" },
      { type: "phase", time: 1000, name: "w", state: "end" },
    ]);
    expect(json.traceEvents.filter((e) => e.ph === "s" || e.ph === "f")).toEqual([]);
    const instants = json.traceEvents.filter((e) => e.ph === "i").map((e) => [e.name, e.tid, e.args]);
    expect(instants).toEqual([
      ["csd coalesced", 1, { target: 1, pending: 2 }],
      ["hazard class 4", 2, { class: 4, cpu: 1, address: "0x1000", pfn: 7, time: 300, missing: "flush", detail: "d" }],
    ]);
    expect(json.traceEvents.filter((e) => e.ph === "C").map((e) => [e.name, e.ts, e.args])).toEqual([["IPIs sent per 10 µs", 0, { ipis: 1 }]]);
  });

  it("stops at the bound: the trace holds the run up to the cut and says so", () => {
    const events: FlushlabEvent[] = [MACHINE, { type: "cpu_task", time: 0, cpu: 0, state: "user" }];
    for (let i = 0; i < 20_000; i++) events.push({ type: "tlb_occupancy", time: i * 10, cpu: 0, entries: i % 64, entries2m: 0 });
    events.push({ type: "phase", time: 200_000, name: "w", state: "end" });
    const { json, summary } = write(events, 10_000);
    expect(json.traceEvents.length).toBeLessThanOrEqual(10_000);
    expect(json.traceEvents.length).toBe(summary.events);
    expect(summary.cutAtUs).not.toBeNull();
    expect(summary.endUs).toBe(200);
    expect(summary.dropped).toBe(events.length - 2 - json.traceEvents.filter((e) => e.ph === "C").length);
    expect(json.otherData).toMatchObject({ events: summary.events, cutAtUs: summary.cutAtUs, droppedModelEvents: summary.dropped });
    // The open slice is closed at the cut.
    const user = json.traceEvents.find((e) => e.name === "user")!;
    expect(user.ts! + user.dur!).toBeCloseTo(summary.cutAtUs!, 6);
  });

  it("names compare's files by side and seed", () => {
    expect(sideTraceFile("out/t.json", "baseline", 1)).toBe("out/t.baseline.seed1.json");
    expect(sideTraceFile("t", "patched", 12)).toBe("t.patched.seed12.json");
  });
});
