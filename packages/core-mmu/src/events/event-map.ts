/**
 * The one event map of a run (listr2 style): event name → readonly payload. Coarse
 * events only: per-access work never emits; the model counts instead and emits
 * tlb_flush / ipi_* only while somebody is subscribed (`Subject.observed`).
 * Plugins may add events through declaration merging, with prefixed names.
 */
import { Subject, type Observable } from "rxjs";
import type { HazardReport } from "../run/types.js";

/** tlb_flush reasons, as in include/linux/mm_types.h `enum tlb_flush_reason`. */
export type TlbFlushReason =
  | "TLB_FLUSH_ON_TASK_SWITCH"
  | "TLB_REMOTE_SHOOTDOWN"
  | "TLB_LOCAL_SHOOTDOWN"
  | "TLB_LOCAL_MM_SHOOTDOWN"
  | "TLB_REMOTE_SEND_IPI";

export const TLB_FLUSH_REASONS: readonly TlbFlushReason[] = [
  "TLB_FLUSH_ON_TASK_SWITCH",
  "TLB_REMOTE_SHOOTDOWN",
  "TLB_LOCAL_SHOOTDOWN",
  "TLB_LOCAL_MM_SHOOTDOWN",
  "TLB_REMOTE_SEND_IPI",
];

export interface FlushlabEventMap {
  /** trace_tlb_flush(reason, pages): pages = -1 for TLB_FLUSH_ALL. */
  tlb_flush: { readonly time: number; readonly cpu: number; readonly reason: TlbFlushReason; readonly pages: number };
  /** An IPI leaving the sender's APIC. */
  ipi_send: { readonly time: number; readonly from: number; readonly to: number; readonly vector: "CALL_FUNCTION" };
  /** An IPI taken by its target; `queued` csds are run by this one interrupt. */
  ipi_recv: { readonly time: number; readonly cpu: number; readonly queued: number };
  hazard: HazardReport;
  phase: { readonly time: number; readonly name: string; readonly state: "start" | "end" };
  /** Emitted per simulated interval; fraction of the run done. */
  progress: { readonly time: number; readonly fraction: number };
}

export type FlushlabEventName = keyof FlushlabEventMap;
export type FlushlabEvent = { [K in FlushlabEventName]: { readonly type: K } & FlushlabEventMap[K] }[FlushlabEventName];

/** The per-run event stream. The model calls `emit` only behind `observed`. */
export class EventStream {
  private readonly subject = new Subject<FlushlabEvent>();
  readonly events$: Observable<FlushlabEvent> = this.subject.asObservable();
  /** True while somebody listens: guard every fine-grained emit with it. */
  get observed(): boolean {
    return this.subject.observed;
  }
  emit<K extends FlushlabEventName>(type: K, payload: FlushlabEventMap[K]): void {
    if (this.subject.observed) this.subject.next({ type, ...payload } as FlushlabEvent);
  }
  complete(): void {
    this.subject.complete();
  }
}
