/**
 * A counterexample as a person reads it: the hazard and the flush that was missing, the
 * scenario and schedule, then a timeline with one column per CPU (and one for the
 * machine: frees, devices) from the start to the first hazard.
 */
import { HAZARD_CLASS_NAMES, type HazardReport } from "@flushlab/core-mmu";
import type { TimelineEvent } from "./runner.js";
import { describeRegion, describeThread, opCount, type Case } from "./scenario.js";

const COLUMN = 38;

function fit(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** The schedule as a sentence. */
export function describeDelays(c: Case): string {
  if (c.delays.length === 0) return "natural (no delays: every CPU at its own speed)";
  return c.delays
    .map((d) => `CPU ${d.cpu} stalls ${d.cycles.toLocaleString("en-US")} cycles ${d.flush === true ? `before its flush #${d.point + 1} (after the barrier)` : `after its scheduling point ${d.point}`}`)
    .join("; ");
}

/** The scenario, one line per CPU. */
export function describeCase(c: Case): string[] {
  return [
    `region: ${describeRegion(c.scenario)}`,
    ...c.scenario.threads.map((t, i) => `CPU ${i}: ${describeThread(t)}`),
    `schedule: ${describeDelays(c)}`,
  ];
}

/** The hazard's headline lines. */
export function describeHazard(h: HazardReport): string[] {
  return [
    `hazard: class ${h.class} (${HAZARD_CLASS_NAMES[h.class]})`,
    `  missing: ${h.missing}`,
    `  ${h.detail}`,
  ];
}

/** The timeline, one column per CPU plus the machine's, up to and including the hazard at `until` (default: the first). */
export function formatTimeline(events: readonly TimelineEvent[], cpus: number, until?: HazardReport): string[] {
  const end = events.findIndex((e) => e.kind === "hazard" && (until === undefined || (e.time === until.time && e.cpu === until.cpu && e.text.includes(until.detail))));
  const shown = end < 0 ? events : events.slice(0, end + 1);
  const machineCol = shown.some((e) => e.cpu < 0);
  const cols = cpus + (machineCol ? 1 : 0);
  const head = ["    cycle"];
  for (let i = 0; i < cpus; i++) head.push(fit(`CPU ${i}`, COLUMN));
  if (machineCol) head.push(fit("machine", COLUMN));
  const lines = [head.join(" | ").trimEnd(), `${"-".repeat(9)}-+-${Array.from({ length: cols }, () => "-".repeat(COLUMN)).join("-+-")}`];
  // PTE values read "pfn N rw|ro [D]" (D: the dirty bit set).
  for (const e of shown) {
    const col = e.cpu < 0 ? cpus : e.cpu;
    const row: string[] = [e.time.toString().padStart(9)];
    for (let i = 0; i < cols; i++) row.push(i === col ? fit(e.kind === "hazard" ? `** ${e.text}` : e.text, COLUMN) : " ".repeat(COLUMN));
    lines.push(row.join(" | ").trimEnd());
    if (e.kind === "hazard" && e.text.length > COLUMN - 3) lines.push(`${" ".repeat(9)}   ${e.text}`);
  }
  return lines;
}

/** How much shrinking took away. */
export function describeShrink(found: Case, shrunk: Case, runs: number): string {
  const f = found.scenario;
  const s = shrunk.scenario;
  return `shrunk in ${runs} runs from ${f.threads.length} CPUs, ${opCount(f)} operations, ${found.delays.length} delays to ${s.threads.length} CPUs, ${opCount(s)} operations, ${shrunk.delays.length} delays`;
}
