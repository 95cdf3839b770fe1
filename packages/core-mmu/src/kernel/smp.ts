/**
 * Cross-CPU function calls, as kernel/smp.c (v5.17) does them:
 * smp_call_function_many_cond queues one csd per target on its call_single_queue
 * (an IPI only if that queue was empty), runs the function locally when the local
 * CPU is in the mask, then waits (csd_lock_wait) until every target has run it.
 * The condition function is evaluated on the sender, per target.
 */
import { Completion, type Cpu, type KGen } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";

/** The function a csd runs on a CPU: performs its work at `time`, returns its cycles. */
export type SmpCallFunc = (cpu: Cpu, time: number) => number;
/** smp_cond_func_t: evaluated on the sender for each target CPU id. */
export type SmpCondFunc = (cpu: number) => boolean;

/**
 * smp_call_function_many_cond(mask, func, info, wait, cond_func) with the local CPU
 * included when it is in `mask` (on_each_cpu_cond_mask semantics). `mask` null means
 * every online CPU (on_each_cpu). Yields the sender's cycles, then the wait.
 * Returns the CPU ids that got a csd (for the oracle's coverage check).
 */
export function* onEachCpuCondMask(
  m: Machine,
  self: Cpu,
  mask: Uint8Array | null,
  func: SmpCallFunc,
  wait: boolean,
  cond: SmpCondFunc | null,
  /** Sender cycles already spent before the first csd is queued (bookkeeping folded into one step). */
  pre = 0,
): KGen<Uint8Array> {
  const n = m.cpus.length;
  const covered = new Uint8Array(n);
  const completion = wait ? new Completion() : null;
  const start = m.now;
  let cost = pre;
  for (let c = 0; c < n; c++) {
    if (c === self.id || (mask !== null && mask[c] === 0)) continue;
    if (cond !== null && !cond(c)) continue;
    covered[c] = 1;
    cost += m.costs.csdQueue;
    completion?.add();
    if (m.queueCsd(self, m.cpus[c]!, { func, completion, sender: self.id }, start + cost)) cost += m.costs.ipiSend;
  }
  // The local call runs after the IPIs are sent, overlapping the remote work (v5.13+).
  if ((mask === null || mask[self.id] === 1) && (cond === null || cond(self.id))) {
    covered[self.id] = 1;
    cost += func(self, start + cost);
  }
  if (cost > 0) yield cost;
  // csd_lock_wait: until every target has run func and its unlock reached us (a csd
  // taken while we were busy still completes at its doneAt).
  if (completion !== null && (completion.pending > 0 || completion.doneAt > m.now)) yield completion;
  return covered;
}
