/**
 * flushlab check: generates small scenarios on 2 to 4 CPUs, explores their schedules
 * for hazards the oracle reports, and shrinks what it finds to a counterexample that
 * prints as a per-CPU timeline.
 */
export { check, exploreScenario, shrink, headline, generateScenario, DELAYS, OP_NAMES, type CheckOptions, type CheckResult, type Counterexample, type Explored, type ScenarioPlan, type ScenarioSource, type ScenarioWork } from "./explore.js";
export { describeCase, describeDelays, describeHazard, describeShrink, formatTimeline } from "./timeline.js";
export { runCase, CHECK_MEMORY_MIB, type CaseOutcome, type CheckTarget, type TimelineEvent } from "./runner.js";
export * from "./scenario.js";
