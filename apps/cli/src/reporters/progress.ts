/**
 * The progress line on stderr, shown only when stderr is a terminal: which simulation of
 * the command is running and how far it has got (the model's `progress` events: the
 * share of the workload's tasks that are done). It is erased when the command's
 * report is printed, so stdout and a captured stderr never carry it.
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

  constructor(private readonly err: TextSink) {}

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
    this.err.write(`${CLEAR}flushlab: check 0/${start.budget} schedules`);
    this.shown = true;
  }
  onCheckProgress(e: Explored): void {
    this.err.write(`${CLEAR}flushlab: check ${e.schedules}/${e.budget} schedules, ${e.scenarios} scenarios (${Math.floor((e.schedules / Math.max(1, e.budget)) * 100)}%)`);
    this.shown = true;
  }
  onCheckEnd(): void {
    this.clear();
  }

  private draw(): void {
    const s = this.simulation;
    if (s === null) return;
    const pct = Math.floor(((s.index + this.fraction) / s.total) * 100);
    this.err.write(`${CLEAR}flushlab: ${s.label} (${s.index + 1}/${s.total}) ${pct}%`);
    this.shown = true;
  }

  private clear(): void {
    if (this.shown) this.err.write(CLEAR);
    this.shown = false;
  }
}
