/**
 * The hazard oracle (DESIGN.md "The hazard oracle", KERNEL-FACTS.md §10).
 *
 * Checks sit where the hardware model already is, so the safe path costs one typed
 * array compare per TLB hit:
 * - class 1: a TLB hit or paging-structure-cache hit whose frame generation changed
 *   since the fill (the frame was freed, or freed and reused);
 * - class 2: a write through a cached writable entry whose frame the kernel has since
 *   started relying on (wpGen bumped: write-protect committed, writeback started) while
 *   the page table no longer grants the write;
 * - class 3: a write completing through a cached D=0 entry whose PTE is not present
 *   (only possible on hardware with the X86_BUG_PTE_LEAK erratum);
 * - class 4: a flush whose completion leaves a stale entry on a CPU it skipped although
 *   that CPU could use it (checked by the arch flush code at completion).
 * Classes 5 and 6 are checked by the vmalloc and mmu_notifier models.
 *
 * Spurious faults, inaccurate A bits, extra flushes and redundant IPIs are never
 * reported here: they are cost.
 */
import type { EventStream } from "../events/event-map.js";
import type { HazardReport } from "../run/types.js";
import type { Counters } from "./counters.js";
import { C } from "./counters.js";

export type HazardClass = HazardReport["class"];

export const HAZARD_CLASS_NAMES: Readonly<Record<HazardClass, string>> = {
  1: "stale translation to a freed or reused frame",
  2: "lost write through a stale writable entry",
  3: "write completed through a clean entry whose PTE is gone",
  4: "flush skipped a CPU that could hold entries",
  5: "stale present kernel PMD in a process pgd",
  6: "secondary TLB stale or out of order",
};

/** At most this many hazards are listed; all are counted. */
export const HAZARD_LIST_CAP = 200;

export class Oracle {
  readonly hazards: HazardReport[] = [];
  private readonly seen = new Set<string>();
  /** Site (index into `sites`) that last bumped each frame's wpGen. */
  readonly wpSite: Uint16Array;
  readonly sites: string[] = ["(none)"];
  private readonly siteIndex = new Map<string, number>();

  constructor(
    nframes: number,
    private readonly counters: Counters,
    private readonly events: EventStream,
    readonly formatVa: (va: number) => string,
  ) {
    this.wpSite = new Uint16Array(nframes);
  }

  site(name: string): number {
    let i = this.siteIndex.get(name);
    if (i === undefined) {
      i = this.sites.length;
      this.sites.push(name);
      this.siteIndex.set(name, i);
    }
    return i;
  }

  /**
   * Records a hazard. The same (class, cpu, page, frame) is listed once; every
   * occurrence is counted in hazards_total.
   */
  report(cls: HazardClass, cpu: number, va: number, pfn: number, time: number, missing: string, detail: string): void {
    this.counters.values[C.hazards_total]!++;
    const key = `${cls}:${cpu}:${Math.floor(va / 4096)}:${pfn}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const h: HazardReport = { class: cls, cpu, address: this.formatVa(va), pfn, time, missing, detail };
    if (this.hazards.length < HAZARD_LIST_CAP) this.hazards.push(h);
    this.events.emit("hazard", h);
  }

  get total(): number {
    return this.counters.values[C.hazards_total]!;
  }
}
