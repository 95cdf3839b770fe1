/**
 * `--trace FILE`: a run's model events as a trace in the Chrome trace-event JSON format
 * (the "JSON Object Format" of the Trace Event Format document), which ui.perfetto.dev
 * and chrome://tracing open. Built from the event stream alone, streamed to the file.
 *
 * Layout: one process per simulation (pid 1), one thread per simulated CPU (tid = CPU
 * id + 1, named "CPU n"). On each CPU's track, top-level slices say what the CPU
 * executes: `user`, `idle`, `syscall <name>`, `page fault`, `kthread`; interrupts
 * (`CALL_FUNCTION interrupt`) and TLB flushes (`flush <reason>`) nest inside them. IPIs
 * are flow arrows from the sending CPU to the interrupt they raised; a csd coalesced
 * into a pending queue, and each hazard, is an instant event. Counter tracks: IPIs sent
 * per 10 µs, and each CPU's TLB occupancy.
 *
 * Timestamps are microseconds of simulated time (cycles / the profile's clock), with
 * three decimals. Top-level slices are exact (they start where the model's CPU
 * switched); nested ones are placed where the model ran them (an interrupt from its
 * handler's start to its end; a flush at the step that ran it, lasting its cycles) and,
 * where that would overlap their parent or a sibling without nesting, clamped into it,
 * so that every track nests as the format requires.
 *
 * A size bound (--trace-max-events) keeps a long run's trace usable: the trace holds
 * the run from its start until the bound is reached; what was cut is stated in the
 * trace (`otherData`) and in the line the CLI prints.
 */
import { closeSync, openSync, statSync, writeSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { FlushlabInputError, type FlushlabEvent, type FlushlabEventName } from "@flushlab/core-mmu";
import type { Subscription } from "rxjs";
import { parsePositiveInt, type OptionSpecs } from "../args.js";
import type { ReportBus } from "../bus.js";
import type { TraceSummary } from "./types.js";

/** The model events a trace is built from. */
export const TRACE_MODEL_EVENTS = [
  "machine",
  "phase",
  "cpu_task",
  "syscall_enter",
  "syscall_exit",
  "page_fault_enter",
  "page_fault_exit",
  "kthread_enter",
  "kthread_exit",
  "ipi_send",
  "ipi_recv",
  "csd_queue",
  "tlb_flush",
  "tlb_occupancy",
  "hazard",
] as const satisfies readonly FlushlabEventName[];

export const DEFAULT_TRACE_MAX_EVENTS = 1_000_000;
/** The smallest bound: room for the metadata of a 1024-CPU machine and some of its run. */
export const MIN_TRACE_MAX_EVENTS = 10_000;
/** The bucket of the "IPIs sent" counter track, in µs of simulated time. */
export const IPI_COUNTER_INTERVAL_US = 10;

/** The trace options `run`, `compare` and `check` take (`check` only with --replay). */
export const TRACE_OPTIONS = {
  trace: { type: "string", valueName: "FILE", description: "write a Chrome trace-event JSON trace of the simulation to FILE (open it in ui.perfetto.dev); compare writes one file per side and seed" },
  "trace-max-events": { type: "string", valueName: "N", description: `trace events kept at most (default ${DEFAULT_TRACE_MAX_EVENTS.toLocaleString("en-US")}); the rest of the run is cut, and the cut is stated` },
} as const satisfies OptionSpecs;

export interface TraceRequest {
  readonly file: string;
  readonly maxEvents: number;
}

/**
 * The trace flags, checked before any simulation starts: the file's directory must
 * exist. Undefined when no --trace was given.
 */
export function parseTraceOptions(flags: { readonly trace?: string; readonly "trace-max-events"?: string }): TraceRequest | undefined {
  const max = flags["trace-max-events"];
  if (flags.trace === undefined) {
    if (max !== undefined) throw new FlushlabInputError("--trace-max-events needs --trace FILE");
    return undefined;
  }
  const file = flags.trace;
  if (file === "") throw new FlushlabInputError("--trace needs a file name");
  const dir = dirname(file);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new FlushlabInputError(`--trace ${file}: directory ${dir} does not exist`);
  const maxEvents = max === undefined ? DEFAULT_TRACE_MAX_EVENTS : parsePositiveInt(max, "--trace-max-events");
  if (maxEvents < MIN_TRACE_MAX_EVENTS) throw new FlushlabInputError(`--trace-max-events must be at least ${MIN_TRACE_MAX_EVENTS.toLocaleString("en-US")} (got ${max})`);
  return { file, maxEvents };
}

/** compare's file for one side and seed: t.json → t.baseline.seed1.json. */
export function sideTraceFile(file: string, side: "baseline" | "patched", seed: number): string {
  const ext = extname(file);
  const stem = ext === "" ? basename(file) : basename(file, ext);
  return join(dirname(file), `${stem}.${side}.seed${seed}${ext === "" ? ".json" : ext}`);
}

/** The line the CLI prints (on stderr) for a written trace. */
export function describeTrace(t: TraceSummary): string {
  const n = (x: number): string => x.toLocaleString("en-US");
  const us = (x: number): string => `${x.toFixed(3)} µs`;
  const cut = t.cutAtUs === null ? `the whole run (${us(t.endUs)})` : `cut at ${us(t.cutAtUs)} of ${us(t.endUs)} by the ${n(t.maxEvents)}-event bound (${n(t.dropped)} model events left out)`;
  return `trace ${t.file}: ${t.label}, ${n(t.events)} events, ${cut}`;
}

/** Where the JSON goes. */
export interface TraceSink {
  write(chunk: string): void;
}

interface Slice {
  name: string;
  cat: string;
  start: number;
  end: number;
  /** JSON text of the args object, or "" for none. */
  args: string;
  /** An interrupt's IPI: the flow arrow from its sender, written with the slice (it binds to where the slice ends up). */
  flow?: { readonly id: number; readonly time: number; readonly from: number };
}

/** One CPU's track while the run goes: the open top-level slice and what nests in it. */
class CpuTrack {
  /** What the CPU runs outside kernel paths. */
  base: "user" | "idle" = "idle";
  seg: Slice = { name: "idle", cat: "idle", start: 0, end: 0, args: "" };
  inKernel = false;
  children: Slice[] = [];
}

const FLOW_NAME = "IPI";
const PID = 1;

/** Whole nanoseconds as microseconds with three decimals. */
function usText(ns: number): string {
  const sign = ns < 0 ? "-" : "";
  const a = Math.abs(ns);
  return `${sign}${Math.floor(a / 1000)}.${String(a % 1000).padStart(3, "0")}`;
}

function hex(n: number): string {
  return Number.isFinite(n) ? `0x${n.toString(16)}` : "TLB_FLUSH_ALL";
}

/**
 * Turns one simulation's event stream into trace-event JSON. Feed it events
 * (`onEvent`), then `finish()`; it writes as it goes.
 */
export class TraceWriter {
  private readonly out: TraceSink;
  private readonly maxEvents: number;
  private readonly label: string;
  private events = 0;
  private dropped = 0;
  private cutAt: number | null = null;
  private endTime = 0;
  private freq = 1e9;
  private cpus: CpuTrack[] = [];
  private first = true;
  /** Sent IPIs whose interrupt has not been taken yet: id → [time, from]. */
  private readonly inFlight = new Map<number, readonly [number, number]>();
  private ipiBucket = -1;
  private ipiCount = 0;
  private started = false;
  /** Nested slices held until their top-level slice closes. */
  private buffered = 0;

  constructor(out: TraceSink, options: { readonly maxEvents: number; readonly label: string }) {
    this.out = out;
    this.maxEvents = options.maxEvents;
    this.label = options.label;
    out.write('{"displayTimeUnit":"ns","traceEvents":[\n');
  }

  /** Simulated nanoseconds (whole) of a time in cycles: one rounding, monotone, so nesting survives it. */
  private ns(cycles: number): number {
    return Math.round((cycles * 1e9) / this.freq);
  }

  /** µs text of a time in cycles, three decimals. */
  private ts(cycles: number): string {
    return usText(this.ns(cycles));
  }

  private emit(json: string): void {
    this.out.write(this.first ? json : `,\n${json}`);
    this.first = false;
    this.events++;
  }

  /** Events still to be written before the bound: the nested slices held back, one closing slice per CPU, the counter's last samples. */
  private reserve(): number {
    return this.buffered + this.cpus.length + 2;
  }

  private slice(tid: number, s: Slice): void {
    this.emit(`{"ph":"X","pid":${PID},"tid":${tid},"ts":${this.ts(s.start)},"dur":${usText(this.ns(s.end) - this.ns(s.start))},"name":${JSON.stringify(s.name)},"cat":"${s.cat}"${s.args === "" ? "" : `,"args":${s.args}`}}`);
  }

  private instant(tid: number, time: number, name: string, cat: string, args: string): void {
    this.emit(`{"ph":"i","s":"t","pid":${PID},"tid":${tid},"ts":${this.ts(time)},"name":${JSON.stringify(name)},"cat":"${cat}","args":${args}}`);
  }

  private counter(time: number, name: string, args: string): void {
    this.emit(`{"ph":"C","pid":${PID},"ts":${this.ts(time)},"name":${JSON.stringify(name)},"args":${args}}`);
  }

  /** The machine is known: metadata, one track per CPU. */
  private start(cpus: number, sockets: number, freqHz: number): void {
    this.freq = freqHz;
    this.started = true;
    this.emit(`{"ph":"M","pid":${PID},"name":"process_name","args":{"name":${JSON.stringify(`flushlab ${this.label}`)}}}`);
    const perSocket = cpus / sockets;
    for (let c = 0; c < cpus; c++) {
      this.cpus.push(new CpuTrack());
      this.emit(`{"ph":"M","pid":${PID},"tid":${c + 1},"name":"thread_name","args":{"name":"CPU ${c}${sockets > 1 ? ` (socket ${Math.floor(c / perSocket)})` : ""}"}}`);
      this.emit(`{"ph":"M","pid":${PID},"tid":${c + 1},"name":"thread_sort_index","args":{"sort_index":${c}}}`);
    }
  }

  /** Closes `cpu`'s top-level slice at `time` (later if something nested in it ends later), writes it and its children. */
  private close(cpu: number, time: number): number {
    const track = this.cpus[cpu]!;
    const seg = track.seg;
    const end = Math.max(time, seg.start);
    seg.end = end;
    const kids = track.children;
    if (kids.length > 0) {
      // Nest: children sorted by start (longer first); each is clamped into the slice
      // and into the child it starts in.
      for (const k of kids) {
        if (k.start < seg.start) k.start = seg.start;
        if (k.start > end) k.start = end;
        if (k.end > end) k.end = end;
        if (k.end < k.start) k.end = k.start;
      }
      kids.sort((a, b) => a.start - b.start || b.end - a.end);
      const stack: Slice[] = [];
      for (const k of kids) {
        while (stack.length > 0 && stack[stack.length - 1]!.end <= k.start) stack.pop();
        const top = stack[stack.length - 1];
        if (top !== undefined && k.end > top.end) k.end = top.end;
        stack.push(k);
      }
    }
    if (seg.end > seg.start || seg.cat === "kernel" || kids.length > 0) this.slice(cpu + 1, seg);
    for (const k of kids) {
      this.slice(cpu + 1, k);
      const f = k.flow;
      if (f === undefined) continue;
      this.emit(`{"ph":"s","pid":${PID},"tid":${f.from + 1},"ts":${this.ts(f.time)},"id":${f.id},"name":"${FLOW_NAME}","cat":"ipi","args":{"to":${cpu}}}`);
      this.emit(`{"ph":"f","bp":"e","pid":${PID},"tid":${cpu + 1},"ts":${this.ts(k.start)},"id":${f.id},"name":"${FLOW_NAME}","cat":"ipi","args":{"from":${f.from}}}`);
      this.buffered -= 2;
    }
    this.buffered -= kids.length;
    track.children = [];
    return end;
  }

  /** `cpu` starts a new top-level slice at `time`. */
  private open(cpu: number, time: number, name: string, cat: string, args: string, kernel: boolean): void {
    const track = this.cpus[cpu]!;
    const from = this.close(cpu, time);
    track.seg = { name, cat, start: Math.max(time, from), end: 0, args };
    track.inKernel = kernel;
  }

  private child(cpu: number, s: Slice): void {
    const track = this.cpus[cpu];
    if (track === undefined) return;
    track.children.push(s);
    this.buffered += s.flow === undefined ? 1 : 3;
  }

  private ipiSent(time: number): void {
    const bucket = Math.floor((time * 1e6) / this.freq / IPI_COUNTER_INTERVAL_US);
    if (bucket === this.ipiBucket) {
      this.ipiCount++;
      return;
    }
    this.flushIpiCounter(bucket);
    this.ipiBucket = bucket;
    this.ipiCount = 1;
  }

  /** Writes the count of the current bucket, and a zero for the gap before `next` if there is one. */
  private flushIpiCounter(next: number): void {
    if (this.ipiBucket < 0) return;
    const cycles = (b: number): number => (b * IPI_COUNTER_INTERVAL_US * this.freq) / 1e6;
    this.counter(cycles(this.ipiBucket), `IPIs sent per ${IPI_COUNTER_INTERVAL_US} µs`, `{"ipis":${this.ipiCount}}`);
    if (next > this.ipiBucket + 1) this.counter(cycles(this.ipiBucket + 1), `IPIs sent per ${IPI_COUNTER_INTERVAL_US} µs`, `{"ipis":0}`);
  }

  onEvent(e: FlushlabEvent): void {
    if (e.time > this.endTime) this.endTime = e.time;
    if (e.type === "machine") {
      if (!this.started) this.start(e.cpus, e.sockets, e.freqHz);
      return;
    }
    if (!this.started) return;
    if (this.cutAt !== null) {
      this.dropped++;
      return;
    }
    if (this.events + this.reserve() + 4 > this.maxEvents) {
      this.cutAt = e.time;
      this.dropped++;
      return;
    }
    switch (e.type) {
      case "cpu_task": {
        const track = this.cpus[e.cpu]!;
        track.base = e.state;
        if (!track.inKernel) this.open(e.cpu, e.time, e.state, e.state, "", false);
        return;
      }
      case "syscall_enter":
        return this.open(e.cpu, e.time, `syscall ${e.name}`, "kernel", "", true);
      case "page_fault_enter":
        return this.open(e.cpu, e.time, "page fault", "kernel", `{"address":"${hex(e.address)}","write":${e.write}}`, true);
      case "kthread_enter":
        return this.open(e.cpu, e.time, "kthread", "kernel", "", true);
      case "syscall_exit":
      case "page_fault_exit":
      case "kthread_exit": {
        const track = this.cpus[e.cpu]!;
        return this.open(e.cpu, e.time, track.base, track.base, "", false);
      }
      case "ipi_send":
        this.inFlight.set(e.id, [e.time, e.from]);
        this.ipiSent(e.time);
        return;
      case "ipi_recv": {
        const sent = this.inFlight.get(e.id);
        const irq: Slice = { name: "CALL_FUNCTION interrupt", cat: "irq", start: e.start, end: e.end, args: `{"ipi":${e.id},"csds":${e.queued}}` };
        if (sent !== undefined) {
          this.inFlight.delete(e.id);
          irq.flow = { id: e.id, time: sent[0], from: sent[1] };
        }
        this.child(e.cpu, irq);
        return;
      }
      case "csd_queue":
        if (e.coalesced) this.instant(e.from + 1, e.time, "csd coalesced", "ipi", `{"target":${e.to},"pending":${e.pending}}`);
        return;
      case "tlb_flush": {
        const full = e.pages < 0;
        const range = e.start === undefined ? "" : `,"start":"${hex(e.start)}","end":"${hex(e.end ?? e.start)}"`;
        this.child(e.cpu, {
          name: `flush ${e.reason}`,
          cat: "flush",
          start: e.time,
          end: e.time + (e.cycles ?? 0),
          args: `{"reason":"${e.reason}","full":${full},"pages":${e.pages}${range}}`,
        });
        return;
      }
      case "tlb_occupancy":
        this.counter(e.time, `TLB entries CPU ${e.cpu}`, `{"4K":${e.entries},"2M":${e.entries2m}}`);
        return;
      case "hazard": {
        const args = JSON.stringify(e, ["class", "cpu", "address", "pfn", "time", "missing", "detail"]);
        if (e.cpu >= 0 && e.cpu < this.cpus.length) this.instant(e.cpu + 1, e.time, `hazard class ${e.class}`, "hazard", args);
        else this.emit(`{"ph":"i","s":"g","pid":${PID},"ts":${this.ts(e.time)},"name":"hazard class ${e.class}","cat":"hazard","args":${args}}`);
        return;
      }
      default:
        return;
    }
  }

  /** Closes every track and the JSON. */
  finish(file: string): TraceSummary {
    const end = this.cutAt ?? this.endTime;
    for (let c = 0; c < this.cpus.length; c++) this.close(c, end);
    this.flushIpiCounter(-1);
    const cutAtUs = this.cutAt === null ? null : Number(this.ts(this.cutAt));
    const endUs = Number(this.ts(this.endTime));
    const other = { flushlab: this.label, clockHz: this.freq, maxEvents: this.maxEvents, events: this.events, droppedModelEvents: this.dropped, cutAtUs, endUs };
    this.out.write(`\n],"otherData":${JSON.stringify(other)}}\n`);
    return { file, label: this.label, events: this.events, maxEvents: this.maxEvents, dropped: this.dropped, cutAtUs, endUs };
  }
}

/** A file sink that writes in 64 KiB chunks. */
class FileSink implements TraceSink {
  private buf = "";
  constructor(private readonly fd: number) {}
  write(chunk: string): void {
    this.buf += chunk;
    if (this.buf.length >= 65536) this.flush();
  }
  flush(): void {
    if (this.buf.length > 0) writeSync(this.fd, this.buf);
    this.buf = "";
  }
}

/**
 * Records the simulations `run` makes into `file`: subscribes a TraceWriter to the
 * bus's model events (so the model emits them), then announces the file on the bus.
 */
export function recordTrace<T>(bus: ReportBus, request: TraceRequest, file: string, label: string, run: () => T): T {
  let fd: number;
  try {
    fd = openSync(file, "w");
  } catch (e) {
    throw new FlushlabInputError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const sink = new FileSink(fd);
  const writer = new TraceWriter(sink, { maxEvents: request.maxEvents, label });
  let sub: Subscription | undefined;
  try {
    sub = bus.select(...TRACE_MODEL_EVENTS).subscribe((e) => writer.onEvent(e as FlushlabEvent));
    const result = run();
    sub.unsubscribe();
    sub = undefined;
    const summary = writer.finish(file);
    sink.flush();
    bus.emit("cli:trace", { trace: summary });
    return result;
  } finally {
    sub?.unsubscribe();
    sink.flush();
    closeSync(fd);
  }
}
