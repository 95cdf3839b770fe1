/**
 * Runs that do not depend on each other (the sides and seeds of a compare, the runs of
 * every reproduction) go to worker threads through tinypool. A run is a function of its
 * options, so the results, put back in their order, are the ones a serial run gives, and
 * the output is byte-identical whatever the pool size.
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Tinypool } from "tinypool";
import { FlushlabInputError } from "@flushlab/core-mmu";
import type { RunOptions, RunResult } from "@flushlab/core-mmu";
import type { RunReply, RunTask, ScenarioReply, ScenarioTask } from "./protocol.js";
import type { ScenarioSource } from "@flushlab/check";

export interface RunPool {
  /** Worker threads. */
  readonly size: number;
  run(options: RunOptions): Promise<RunResult>;
  destroy(): Promise<void>;
}

/** The default pool size: one worker per core. */
export function defaultJobs(): number {
  return availableParallelism();
}

/**
 * The worker module: dist/pool/worker.js next to this file when the CLI runs built. Under
 * vitest the CLI runs from its sources, and a worker thread cannot load TypeScript, so it
 * takes the built worker (turbo builds before it tests).
 */
function workerModule(name: "worker" | "check-worker"): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.endsWith(".ts") ? `../../dist/pool/${name}.js` : `./${name}.js`, here));
}

function tinypool(size: number, name: "worker" | "check-worker"): Tinypool {
  // execArgv: [] so that a test runner's flags (vitest's source conditions) do not reach the built worker.
  return new Tinypool({ filename: workerModule(name), minThreads: size, maxThreads: size, isolateWorkers: false, execArgv: [] });
}

/** Rebuilds a worker's error as the main thread would have thrown it. */
function rethrow(reply: { readonly name: string; readonly message: string; readonly stack?: string }): never {
  if (reply.name === "FlushlabInputError") throw new FlushlabInputError(reply.message);
  const e = new Error(reply.message);
  e.name = reply.name;
  if (reply.stack) e.stack = reply.stack;
  throw e;
}

export function createRunPool(size: number, cwd: string, refs: readonly string[]): RunPool {
  const pool = tinypool(size, "worker");
  return {
    size,
    async run(options) {
      const reply = (await pool.run({ cwd, refs, options } satisfies RunTask)) as RunReply;
      if (!reply.ok) rethrow(reply);
      return reply.result;
    },
    async destroy() {
      await pool.destroy();
    },
  };
}

/** A pool computing the scenarios of `check`'s search ahead of it (see @flushlab/check's ScenarioSource). */
export interface ScenarioPool extends ScenarioSource {
  destroy(): Promise<void>;
}

export function createScenarioPool(size: number, task: Omit<ScenarioTask, "index" | "cap">): ScenarioPool {
  const pool = tinypool(size, "check-worker");
  return {
    // Twice the workers, so that a worker never waits for the search to take a result.
    ahead: 2 * size,
    async compute(index, cap) {
      const reply = (await pool.run({ ...task, index, cap } satisfies ScenarioTask)) as ScenarioReply;
      if (!reply.ok) rethrow(reply);
      return reply.work;
    },
    async destroy() {
      await pool.destroy();
    },
  };
}
