/** Test helper: reads a --trace file and checks what the trace-event format requires of it. */
import { readFileSync } from "node:fs";
import { expect } from "vitest";

export interface TraceEvent {
  readonly ph: string;
  readonly pid: number;
  readonly tid?: number;
  readonly ts?: number;
  readonly dur?: number;
  readonly name: string;
  readonly cat?: string;
  readonly id?: number;
  readonly bp?: string;
  readonly s?: string;
  readonly args?: Record<string, unknown>;
}

export interface TraceFile {
  readonly displayTimeUnit: string;
  readonly traceEvents: readonly TraceEvent[];
  readonly otherData: { readonly maxEvents: number; readonly events: number; readonly droppedModelEvents: number; readonly cutAtUs: number | null; readonly endUs: number };
}

export function readTrace(file: string): TraceFile {
  return JSON.parse(readFileSync(file, "utf8")) as TraceFile;
}

/** CPU track names by tid, from the thread_name metadata. */
export function cpuTracks(t: TraceFile): Map<number, string> {
  const out = new Map<number, string>();
  for (const e of t.traceEvents) if (e.ph === "M" && e.name === "thread_name") out.set(e.tid!, String(e.args!["name"]));
  return out;
}

/**
 * Every thread's complete slices nest: sorted by start (longer first), a slice that
 * starts inside another ends inside it too (in whole nanoseconds, as the file states them).
 */
export function expectNested(t: TraceFile): void {
  const ns = (us: number): number => Math.round(us * 1000);
  const byTid = new Map<number, { s: number; e: number; name: string }[]>();
  for (const e of t.traceEvents) {
    if (e.ph !== "X") continue;
    expect(e.dur!).toBeGreaterThanOrEqual(0);
    const list = byTid.get(e.tid!) ?? [];
    list.push({ s: ns(e.ts!), e: ns(e.ts!) + ns(e.dur!), name: e.name });
    byTid.set(e.tid!, list);
  }
  for (const [tid, list] of byTid) {
    list.sort((a, b) => a.s - b.s || b.e - a.e);
    const stack: { s: number; e: number; name: string }[] = [];
    for (const x of list) {
      while (stack.length > 0 && stack[stack.length - 1]!.e <= x.s) stack.pop();
      const top = stack[stack.length - 1];
      if (top !== undefined && x.e > top.e) throw new Error(`tid ${tid}: ${x.name} [${x.s}, ${x.e}] overlaps ${top.name} [${top.s}, ${top.e}] without nesting`);
      stack.push(x);
    }
  }
}
