/**
 * Facts the hardware and the memory model publish, for whoever watches (the hazard
 * oracle). Every hook is a direct, typed call that allocates nothing; the per-access
 * ones fire only on the slow path (a TLB fill, or a hit whose frame changed since its
 * fill), so the hot path pays one typed-array compare.
 *
 * The facts are stated in hardware terms (CPUs, frames, page-table roots, virtual
 * addresses), never in terms of kernel objects: a watcher judges what the machine
 * did, whichever kernel code or policy made it do so.
 */
import type { Cpu } from "./cpu.js";
import type { FrameState } from "./frame-state.js";
import type { Tlb } from "./tlb.js";

export interface HwWatch {
  // ---- the CPU's MMU ----
  /** `cpu` filled a TLB entry for `va` (a 2 MiB one when `huge`) mapping `frame`. */
  tlbFill(cpu: Cpu, va: number, frame: number, huge: boolean): void;
  /**
   * A TLB hit (entry `i` of `t`) whose recorded generation differs from its frame's: the
   * frame was freed or reused since the fill, or a watcher marked the entry.
   */
  staleTlbUse(cpu: Cpu, va: number, pfn: number, frame: number, write: boolean, user: boolean, t: Tlb, i: number): void;
  /** A walk started from a paging-structure-cache entry whose table frame was freed since the entry was cached. */
  stalePscUse(cpu: Cpu, va: number, table: number): void;
  /** A walk followed an upper-level entry into `table`, a frame that is no longer a page-table page. */
  walkIntoNonTable(cpu: Cpu, va: number, table: number): void;
  /** A write hit a writable entry whose frame was write-protected (by the kernel's account) after the fill. */
  writeAfterWriteProtect(cpu: Cpu, va: number, pfn: number, t: Tlb, i: number): void;
  /** X86_BUG_PTE_LEAK: the CPU set D in a PTE that is no longer present, and the write completed. */
  dirtyBitLeak(cpu: Cpu, va: number, pfn: number): void;
  /** A TLB-maintenance instruction ran on `cpu` (INVLPG, a CR3 write, a global flush). */
  tlbFlush(cpu: Cpu): void;
  /** `cpu` returned to user mode while its `watchUserEntry` flag was set (the watcher set it). */
  userEntry(cpu: Cpu): void;
  /** A CR3 write selected a PCID without flushing it while `cpu`'s `watchUserEntry` flag was set: its cached entries are usable again. */
  pcidSelected(cpu: Cpu): void;
  // ---- the APIC ----
  /** An IPI left `from` for `to`; it is delivered at cycle `at`. */
  ipiSent(from: Cpu, to: Cpu, at: number): void;
  /** `cpu` took an interrupt and ran its handler. */
  ipiHandled(cpu: Cpu): void;
  // ---- physical memory ----
  /** `pfn` went back to the allocator; `state` is what it was before (user page, page-table page, …). */
  frameFreed(pfn: number, state: FrameState): void;
  // ---- devices that walk the CPU page tables (ATS) ----
  /** `device` cached `va` → `frame` from the page tables rooted at `root`. */
  iotlbFill(device: string, root: number, va: number, frame: number): void;
  /**
   * `device` accessed `va` by DMA through its cached translation to `frame`, filled when
   * the frame's generation was `fillGen` and its write-protect generation `fillWpGen`.
   */
  iotlbUse(device: string, root: number, va: number, frame: number, fillGen: number, write: boolean, fillWpGen: number): void;
  // ---- page-table facts the memory model states ----
  /** A top-level table (a pgd) came into use; `reference` marks the kernel's own (swapper_pg_dir). Its free is a frameFreed. */
  pgdCreated(pgd: number, reference: boolean): void;
  /** The PTE for `va` under `root` now maps a new page, replacing another (a COW break), at `site`. */
  pageReplaced(root: number, va: number, site: string): void;
  /** Kernel virtual range [start, end) was unmapped and is handed out again from now on. */
  kernelRangeRecycled(start: number, end: number, site: string): void;
  /**
   * A system call that removes or restricts translations of [start, end) under `root`
   * (munmap, mprotect, madvise, mremap) is returning to its caller on `cpu`: from now on
   * no CPU may use a translation the page tables no longer allow. With `writesOnly` the call
   * restricted writes only (mprotect to PROT_READ): only a write is then forbidden.
   */
  callReturned(cpu: Cpu, root: number, start: number, end: number, site: string, writesOnly: boolean): void;
}

/** Nobody watching. */
export const NO_WATCH: HwWatch = {
  tlbFill() {},
  staleTlbUse() {},
  stalePscUse() {},
  walkIntoNonTable() {},
  writeAfterWriteProtect() {},
  dirtyBitLeak() {},
  tlbFlush() {},
  userEntry() {},
  pcidSelected() {},
  ipiSent() {},
  ipiHandled() {},
  frameFreed() {},
  iotlbFill() {},
  iotlbUse() {},
  pgdCreated() {},
  pageReplaced() {},
  kernelRangeRecycled() {},
  callReturned() {},
};
