/**
 * The one event map of a run (listr2 style): event name → readonly payload. Coarse
 * events only: per-access work never emits; the model counts instead and emits
 * tlb_flush, ipi_*, syscall_* only while somebody wants that type (`wants`).
 * The oracle adds `hazard` (oracle/hazard.ts); plugins and tools may add events the
 * same way, through declaration merging, with prefixed names.
 */
// The two classes from their own modules: `import … from "rxjs"` loads all of rxjs
// (some 200 CommonJS files, most of a quick command's start-up, e.g. `flushlab list`);
// these are the same classes the "rxjs" entry re-exports, so operators apply as usual.
import { Observable } from "rxjs/internal/Observable";
import { Subject } from "rxjs/internal/Subject";

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
  /**
   * trace_tlb_flush(reason, pages): pages = -1 for TLB_FLUSH_ALL. The arch layer adds
   * what the tracepoint lacks: the cycles the flush took, and the range it was asked to
   * flush ([start, end), end = Infinity for TLB_FLUSH_ALL; absent for a task switch).
   */
  tlb_flush: {
    readonly time: number;
    readonly cpu: number;
    readonly reason: TlbFlushReason;
    readonly pages: number;
    readonly cycles?: number;
    readonly start?: number;
    readonly end?: number;
  };
  /** An IPI leaving the sender's APIC; `id` numbers the run's IPIs from 1 (its ICR write). */
  ipi_send: { readonly time: number; readonly from: number; readonly to: number; readonly vector: "CALL_FUNCTION"; readonly id: number };
  /**
   * An IPI taken by its target; `queued` csds are run by this one interrupt. The
   * handler ran from `start` (later than `time` when an earlier handler was still
   * running) to `end`; `id` is the ipi_send's that raised it (-1 when unknown).
   */
  ipi_recv: { readonly time: number; readonly cpu: number; readonly queued: number; readonly id: number; readonly start: number; readonly end: number };
  /**
   * A csd queued on `to`'s call_single_queue by `from` (llist_add in
   * __smp_call_single_queue): `coalesced` when the queue already held `pending - 1`
   * csds, so no IPI was sent for it and the pending IPI's interrupt will run it.
   */
  csd_queue: { readonly time: number; readonly from: number; readonly to: number; readonly pending: number; readonly coalesced: boolean };
  /** A system call entered and left, on `cpu`. */
  syscall_enter: { readonly time: number; readonly cpu: number; readonly name: string };
  syscall_exit: { readonly time: number; readonly cpu: number; readonly name: string };
  /** A user page fault taken (exception entry, as trace_page_fault_user) and its handler returned (iret). */
  page_fault_enter: { readonly time: number; readonly cpu: number; readonly address: number; readonly write: boolean };
  page_fault_exit: { readonly time: number; readonly cpu: number };
  /** What `cpu` executes outside system calls, faults and interrupts: a user task, or nothing (the idle loop). */
  cpu_task: { readonly time: number; readonly cpu: number; readonly state: "user" | "idle" };
  /** A kernel thread (kswapd, a device's worker) switched in on `cpu`, and switched out again at `time`. */
  kthread_enter: { readonly time: number; readonly cpu: number };
  kthread_exit: { readonly time: number; readonly cpu: number };
  /** A sample of the live entries of `cpu`'s 4 KiB and 2 MiB TLBs (after a flush, at kernel entries and exits). */
  tlb_occupancy: { readonly time: number; readonly cpu: number; readonly entries: number; readonly entries2m: number };
  /** The machine a run simulates, emitted once before its workload starts. */
  machine: { readonly time: number; readonly cpus: number; readonly sockets: number; readonly freqHz: number; readonly tlbEntries: number; readonly tlb2mEntries: number };
  /** The run's workload starts (time 0) or ends (the last task exited). */
  phase: { readonly time: number; readonly name: string; readonly state: "start" | "end" };
  /** Emitted each time a task of the workload exits: the fraction of its tasks that are done. */
  progress: { readonly time: number; readonly fraction: number };
}

export type FlushlabEventName = keyof FlushlabEventMap;
/** One event of an event map `M`: its name as `type`, and its payload. */
export type EventOf<M> = { [K in keyof M]: { readonly type: K } & M[K] }[keyof M];
export type FlushlabEvent = EventOf<FlushlabEventMap>;

/** The events of the types in `K`. */
export type EventOfType<M, K extends keyof M> = Extract<EventOf<M>, { readonly type: K }>;
export type FlushlabEventOf<K extends FlushlabEventName> = EventOfType<FlushlabEventMap, K>;

/**
 * An event stream typed by an event map (by default the model's: a run's stream). An
 * event is emitted only when somebody wants its type: `events$` wants every type;
 * `select(...)` wants the types it names. Guard a fine-grained emit with `wants(type)`
 * so that building its payload costs nothing when nobody listens.
 */
export class EventStream<M = FlushlabEventMap> {
  private readonly subject = new Subject<EventOf<M>>();
  private all = 0;
  private readonly counts = new Map<keyof M, number>();
  /** Every event. */
  readonly events$: Observable<EventOf<M>> = new Observable<EventOf<M>>((subscriber) => {
    this.all++;
    const sub = this.subject.subscribe(subscriber);
    return () => {
      this.all--;
      sub.unsubscribe();
    };
  });

  /** The events of the named types only; no other type is emitted on their account. */
  select<K extends keyof M>(...types: K[]): Observable<EventOfType<M, K>> {
    const wanted = new Set<keyof M>(types);
    return new Observable<EventOfType<M, K>>((subscriber) => {
      for (const t of wanted) this.counts.set(t, (this.counts.get(t) ?? 0) + 1);
      const sub = this.subject.subscribe({
        next: (e) => {
          if (wanted.has((e as { type: keyof M }).type)) subscriber.next(e as EventOfType<M, K>);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        for (const t of wanted) this.counts.set(t, this.counts.get(t)! - 1);
        sub.unsubscribe();
      };
    });
  }

  /** Whether anybody wants events of `type`. */
  wants(type: keyof M): boolean {
    return this.all > 0 || (this.counts.get(type) ?? 0) > 0;
  }

  emit<K extends keyof M>(type: K, payload: M[K]): void {
    if (this.wants(type)) this.subject.next({ type, ...payload } as EventOf<M>);
  }

  /** Passes on an event made elsewhere (another stream's), if anybody wants its type. */
  forward(event: EventOf<M>): void {
    if (this.wants((event as { type: keyof M }).type)) this.subject.next(event);
  }

  complete(): void {
    this.subject.complete();
  }
}
