/**
 * A secondary MMU that walks the CPU page tables: a PCIe device with ATS/PRI behind an
 * IOMMU bound to a process's mm through a PASID, as drivers/iommu/amd_iommu_v2.c (v4.15)
 * binds one (amd_iommu_bind_pasid → mmu_notifier_register).
 *
 * - The device's IOTLB (ATC) caches VA → PFN with the frame generation at fill. A miss
 *   is an ATS translation request: the IOMMU walks the mm's page tables and, if the PTE
 *   permits the access, returns the translation (setting A, and D for a write).
 * - If it does not, the device sends a PRI page request; amd_iommu_v2's do_fault runs
 *   handle_mm_fault(FAULT_FLAG_REMOTE) on a kernel thread, and the device retries.
 * - The notifier has only invalidate_range (mn_invalidate_range): a one-page range is
 *   amd_iommu_flush_page(pasid, addr), anything else amd_iommu_flush_tlb(pasid), which
 *   drops the whole PASID. The CPU that calls it waits for the completion.
 *
 * The device publishes its IOTLB fills and every DMA through a cached translation as
 * facts (hw/watch.ts); whoever watches judges them (hazard class 6).
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, pmdLeafPfn, ptePfn } from "../hw/pte.js";
import { C } from "../kernel/counters.js";
import type { Kernel } from "../kernel/kernel.js";
import type { MmStruct, MmuNotifier } from "../mm/mm-types.js";
import { mmuNotifierRegister } from "../mm/mmu-notifier.js";
import { Priority } from "../sim/engine.js";
import type { KGen } from "../sim/process.js";
import type { Prng } from "../sim/prng.js";

export interface AtsDeviceParams {
  /** IOTLB (ATC) entries, fully associative, replaced round-robin. */
  readonly iotlbEntries: number;
  /** Device time between two DMA requests, in CPU cycles. */
  readonly dmaInterval: number;
  /** Percentage of DMA requests that are writes. */
  readonly writePct: number;
  /** The CPU whose kernel thread serves page requests (the iommu_wq worker). */
  readonly pprCpu: number;
}

export class AtsDevice {
  readonly name: string;
  readonly notifier: MmuNotifier;
  private readonly m: Machine;
  private readonly vpn: Float64Array;
  private readonly pfn: Int32Array;
  private readonly gen: Uint32Array;
  /** The frame's write-protect generation at fill (PhysMem.wpGen). */
  private readonly wpGen: Uint32Array;
  private readonly writable: Uint8Array;
  private used = 0;
  private nextSlot = 0;
  private stopped = true;
  private region: { start: number; pages: number } | null = null;
  private readonly pprQueue: { va: number; write: boolean }[] = [];
  private pprWorkerRunning = false;
  private retry: { va: number; write: boolean } | null = null;
  /** Per-device counters besides the machine's. */
  invalidationsPage = 0;
  invalidationsPasid = 0;

  constructor(
    private readonly k: Kernel,
    readonly mm: MmStruct,
    private readonly params: AtsDeviceParams,
    private readonly rng: Prng,
    name = "ats-device",
  ) {
    this.name = name;
    this.m = k.machine;
    const n = params.iotlbEntries;
    this.vpn = new Float64Array(n).fill(-1);
    this.pfn = new Int32Array(n);
    this.gen = new Uint32Array(n);
    this.wpGen = new Uint32Array(n);
    this.writable = new Uint8Array(n);
    this.notifier = {
      name: `${name} (amd_iommu_v2 mn_invalidate_range)`,
      invalidateRange: (cpu, _mm, start, end) => this.invalidateRange(cpu, start, end),
    };
    mmuNotifierRegister(mm, this.notifier);
  }

  /** Starts DMA to [start, start + pages × 4 KiB) at cycle `at`. */
  start(start: number, pages: number, at: number): void {
    this.region = { start, pages };
    this.stopped = false;
    this.m.engine.at(at, () => this.step(), Priority.KERNEL);
  }

  stop(): void {
    this.stopped = true;
  }

  /** mn_invalidate_range: one page → flush that page; otherwise flush the whole PASID. Returns the CPU cycles. */
  private invalidateRange(_cpu: Cpu, start: number, end: number): number {
    const v = this.k.counters.values;
    const costs = this.m.costs;
    v[C.device_invalidations]!++;
    let c: number;
    if (end > start && end - start <= 4096) {
      this.invalidationsPage++;
      const vpn = Math.floor(start / 4096);
      for (let i = 0; i < this.used; i++) if (this.vpn[i] === vpn) this.vpn[i] = -1;
      c = costs.iommuInvalidatePage;
    } else {
      this.invalidationsPasid++;
      this.vpn.fill(-1);
      c = costs.iommuInvalidatePasid;
    }
    v[C.device_invalidation_cycles]! += c;
    return c;
  }

  private lookup(vpn: number): number {
    for (let i = 0; i < this.used; i++) if (this.vpn[i] === vpn) return i;
    return -1;
  }

  /** One DMA request, then the next after the device's own latency. */
  private step(): void {
    if (this.stopped || this.region === null) return;
    const m = this.m;
    const costs = m.costs;
    const r = this.region;
    let va: number;
    let write: boolean;
    if (this.retry !== null) {
      // The request a page request stalled is retried.
      va = this.retry.va;
      write = this.retry.write;
      this.retry = null;
    } else {
      va = r.start + this.rng.int(r.pages) * 4096 + this.rng.int(512) * 8;
      write = this.rng.int(100) < this.params.writePct;
    }
    const r2 = this.dma(va, write);
    if (r2 === "fault") {
      // PRI page request: stall until the kernel has served it.
      this.pageRequest(va, write);
      return;
    }
    const latency = costs.dmaAccess + (r2 === "translated" ? costs.atsTranslate : 0);
    m.engine.at(m.now + latency + this.params.dmaInterval, () => this.step(), Priority.KERNEL);
  }

  /**
   * One DMA access at `va` now: through the IOTLB ("hit", a fact for the watcher), after
   * an ATS translation ("translated"), or not possible without a page request ("fault").
   */
  dma(va: number, write: boolean): "hit" | "translated" | "fault" {
    const m = this.m;
    const vpn = Math.floor(va / 4096);
    const i = this.lookup(vpn);
    const values = this.k.counters.values;
    if (i >= 0 && (!write || this.writable[i] === 1)) {
      m.watch.iotlbUse(this.name, this.mm.pgd, va, this.pfn[i]!, this.gen[i]!, write, this.wpGen[i]!);
      values[C.dma_accesses]!++;
      return "hit";
    }
    values[C.ats_translations]!++;
    if (!this.translate(va, vpn, write)) return "fault";
    values[C.dma_accesses]!++;
    return "translated";
  }

  /** ATS translation: the IOMMU walks the CPU page tables; fills the IOTLB if the PTE permits. */
  private translate(va: number, vpn: number, write: boolean): boolean {
    const mem = this.m.mem;
    let off = this.k.pgtables.pteOffset(this.mm.pgd, va);
    // A huge PMD (THP): the walk ends at the PMD; the IOTLB caches the 4 KiB it was asked for.
    const huge = off < 0 ? this.k.memory.huge.hugePmdOffset(this.mm, va) : -1;
    if (huge >= 0) off = huge;
    if (off < 0) return false;
    const lo = mem.words[off]!;
    const hi = mem.words[off + 1]!;
    if ((lo & _PAGE_PRESENT) === 0 || (lo & _PAGE_USER) === 0 || (write && (lo & _PAGE_RW) === 0)) return false;
    mem.words[off] = (lo | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0)) >>> 0;
    const pfn = huge >= 0 ? pmdLeafPfn(lo, hi) + (vpn & 511) : ptePfn(lo, hi);
    let slot = this.lookup(vpn);
    if (slot < 0) {
      if (this.used < this.vpn.length) slot = this.used++;
      else {
        slot = this.nextSlot;
        this.nextSlot = (this.nextSlot + 1) % this.vpn.length;
      }
    }
    this.vpn[slot] = vpn;
    this.pfn[slot] = pfn;
    this.gen[slot] = mem.gen[pfn]!;
    this.wpGen[slot] = mem.wpGen[pfn]!;
    this.writable[slot] = (lo & _PAGE_RW) !== 0 ? 1 : 0;
    this.m.watch.iotlbFill(this.name, this.mm.pgd, va, pfn);
    return true;
  }

  /** PRI: queue the request; the iommu_wq worker (a kernel thread) serves the queue. */
  private pageRequest(va: number, write: boolean): void {
    this.k.counters.values[C.ppr_faults]!++;
    this.retry = { va, write };
    this.pprQueue.push({ va, write });
    if (this.pprWorkerRunning) return;
    const cpu = this.m.cpus[this.params.pprCpu]!;
    this.pprWorkerRunning = true;
    if (!this.k.sched.wakeKthread(cpu, this.pprWorker(cpu))) {
      // Another kernel thread holds that CPU: try again shortly (queue_work retry).
      this.pprWorkerRunning = false;
      this.pprQueue.pop();
      this.k.counters.values[C.ppr_faults]!--;
      this.m.engine.at(this.m.now + this.params.dmaInterval, () => this.pageRequest(va, write), Priority.KERNEL);
    }
  }

  /** amd_iommu_v2 do_fault: handle_mm_fault for each queued request, then the PPR response. */
  private *pprWorker(cpu: Cpu): KGen {
    while (this.pprQueue.length > 0) {
      const req = this.pprQueue.shift()!;
      const r = this.k.memory.handleMmFaultRemote(cpu, this.mm, req.va, req.write);
      const v = typeof r === "number" ? r : yield* r;
      if (typeof r === "number" && v !== undefined && v > 0) yield v;
      if (v !== undefined && v < 0) this.retry = null; // an invalid request: the device gets an error response
      yield this.m.costs.faultHandler; // finish_pri_tag → PPR response
    }
    this.pprWorkerRunning = false;
    // The device retries its request.
    if (!this.stopped) this.m.engine.at(this.m.now, () => this.step(), Priority.KERNEL);
  }
}
