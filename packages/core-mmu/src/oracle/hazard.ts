/**
 * What the hazard oracle reports: one stale translation a CPU or a device could use,
 * with the flush that was missing.
 */

/** The hazard classes. */
export type HazardClass = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** One hazard the oracle found. */
export interface HazardReport {
  readonly class: HazardClass;
  /** The CPU that used or kept the stale entry; -1 for a device or a page table (classes 5 and 6). */
  readonly cpu: number;
  /** Canonical virtual address, hex. */
  readonly address: string;
  readonly pfn: number;
  /** Simulated time in cycles. */
  readonly time: number;
  /** The flush that was missing, named after the kernel path that should have done it. */
  readonly missing: string;
  /** One human sentence. */
  readonly detail: string;
}

export const HAZARD_CLASS_NAMES: Readonly<Record<HazardClass, string>> = {
  1: "stale translation to a freed or reused frame",
  2: "lost write through a stale writable entry",
  3: "write completed through a clean entry whose PTE is gone",
  4: "flush skipped a CPU that could hold entries",
  5: "stale present kernel PMD in a process pgd",
  6: "secondary TLB stale or out of order",
  7: "translation used after the call that removed or restricted it returned",
};

/** At most this many hazards are listed per run; all are counted. */
export const HAZARD_LIST_CAP = 200;

declare module "../events/event-map.js" {
  interface FlushlabEventMap {
    /** A hazard the oracle found (the first of each kind per CPU, page and frame). */
    hazard: HazardReport;
  }
}
