/**
 * The progress line on stderr, shown only when stderr is a terminal: which simulation of
 * the command is running and how far it has got (the model's `progress` events: the
 * share of the workload's tasks that are done). It is erased when the command's
 * report is printed, so stdout and a captured stderr never carry it. The ETA comes from
 * the wall clock of the CLI process (never the model's): the time so far, scaled by the
 * share of the command's work still to do.
 */
import type { FlushlabEvent, FlushlabEventName } from "@flushlab/core-mmu";
import type { TextSink } from "../registry-types.js";
import type { Explored } from "@flushlab/check";
import type { CheckStart, Reporter, SimulationStart } from "./types.js";

const CLEAR = "\r\x1b[K";

export class ProgressReporter implements Reporter {
  readonly modelEvents: readonly FlushlabEventName[] = ["progress"];
  private simulation: SimulationStart | null = null;
  private fraction = 0;
  private shown = false;

  private started: number | null = null;

  constructor(
    private readonly err: TextSink,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** " ETA 12s" once some work is done, else "". */
  private eta(done: number): string {
    if (this.started === null) this.started = this.now();
    if (done <= 0 || done >= 1) return "";
    const left = ((this.now() - this.started) / done) * (1 - done);
    const s = Math.ceil(left / 1000);
    return ` ETA ${s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`}`;
  }

  onSimulationStart(simulation: SimulationStart): void {
    this.simulation = simulation;
    this.fraction = 0;
    this.draw();
  }

  onRunEvent(event: FlushlabEvent): void {
    if (event.type !== "progress") return;
    this.fraction = event.fraction;
    this.draw();
  }

  onListEnd(): void {
    this.clear();
  }
  onRunEnd(): void {
    this.clear();
  }
  onCompareEnd(): void {
    this.clear();
  }
  onReproduceEnd(): void {
    this.clear();
  }

  onCheckStart(start: CheckStart): void {
    if (start.replay !== null) return;
    this.started = this.now();
    this.err.write(`${CLEAR}flushlab: check 0/${start.budget} schedules`);
    this.shown = true;
  }
  onCheckProgress(e: Explored): void {
    const done = e.schedules / Math.max(1, e.budget);
    this.err.write(`${CLEAR}flushlab: check ${e.schedules}/${e.budget} schedules, ${e.scenarios} scenarios (${Math.floor(done * 100)}%)${this.eta(done)}`);
    this.shown = true;
  }
  onCheckEnd(): void {
    this.clear();
  }

  private draw(): void {
    const s = this.simulation;
    if (s === null) return;
    const done = (s.index + this.fraction) / s.total;
    this.err.write(`${CLEAR}flushlab: ${s.label} (${s.index + 1}/${s.total}) ${Math.floor(done * 100)}%${this.eta(done)}`);
    this.shown = true;
  }

  private clear(): void {
    if (this.shown) this.err.write(CLEAR);
    this.shown = false;
    this.started = null;
  }
}
