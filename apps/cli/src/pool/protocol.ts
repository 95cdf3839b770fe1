/**
 * What the main thread and the worker threads pass each other (structured-clone data
 * only): a run's options, or one scenario of check's search, and the reply.
 */
import type { ScenarioPlan, ScenarioWork } from "@flushlab/check";
import type { ArchName, KernelVersion, RunOptions, RunResult } from "@flushlab/core-mmu";

export interface RunTask {
  /** Where the command found (or would have found) its flushlab.config. */
  readonly cwd: string;
  /** What --plugins named: paths and packages are loaded in the worker too. */
  readonly refs: readonly string[];
  readonly options: RunOptions;
}

/** A worker's error comes back as data, so the main thread can rethrow it as the same one-line error. */
export interface WorkerFailure {
  readonly ok: false;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

export type RunReply = { readonly ok: true; readonly result: RunResult } | WorkerFailure;

export interface ScenarioTask {
  readonly cwd: string;
  readonly refs: readonly string[];
  readonly archName: ArchName;
  readonly plugins: readonly string[];
  readonly features?: { pcid?: boolean; invpcid?: boolean; pti?: boolean };
  readonly kernel?: KernelVersion;
  readonly plan: ScenarioPlan;
  readonly index: number;
  readonly cap: number;
}

export type ScenarioReply = { readonly ok: true; readonly work: ScenarioWork } | WorkerFailure;
