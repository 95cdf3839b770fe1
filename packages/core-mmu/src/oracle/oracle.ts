/**
 * The hazard oracle. It watches the machine and judges what it sees; no kernel, arch
 * or policy code calls it. It is told the facts of hw/watch.ts: TLB fills and uses,
 * frames freed, write-protects the kernel relies on, flush instructions, IPIs, CPUs
 * returning to user mode, devices' IOTLB fills and DMA, and a few page-table facts.
 * From those alone it reports, whoever sent the IPIs:
 *
 * 1. a translation used after its frame was freed or reused (a TLB hit, a walk through
 *    a cached or stale upper-level entry), or still cached, user-accessible, by a CPU
 *    running in user mode when the frame was freed and no CPU that cached it was flushed;
 * 2. a write through a stale writable entry after the kernel started relying on the
 *    page being write-protected (lost write), or on every write to it setting D in a PTE
 *    it cleaned (a cached dirty entry writes without setting it: MADV_FREE);
 * 3. a write completing through a clean entry whose PTE is gone (X86_BUG_PTE_LEAK);
 * 4. a flush that skipped a CPU that could use entries: a page freed while a CPU in
 *    user mode still caches it although the flush reached other CPUs that cached it,
 *    a CPU returning to user mode still caching a freed page, or a page-table page
 *    freed while a CPU's paging-structure cache still points at it;
 * 5. a process pgd keeping a present kernel entry that the reference page table no
 *    longer has, when the kernel range is handed out again;
 * 6. a device using its IOTLB after the page was freed, writing through it after the
 *    kernel started relying on the page being write-protected, or using it while the CPU
 *    page table maps another page there (COW ordering).
 *
 * Spurious faults, inaccurate A bits, extra flushes and redundant IPIs are cost, never
 * hazards. The safe path costs one compare per TLB hit and a few typed-array writes
 * per TLB fill.
 */
import { CpuMode, type Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { FrameState, type PhysMem } from "../hw/memory.js";
import { vaToCanonicalString } from "../hw/paging-format.js";
import { formatPte, pmdLeafPfn, pteDirty, pteHuge, ptePfn, ptePresent, pteWrite } from "../hw/pte.js";
import { TlbFlag, type Tlb } from "../hw/tlb.js";
import type { HwWatch } from "../hw/watch.js";
import { HAZARD_LIST_CAP, type HazardClass, type HazardReport } from "./hazard.js";

const PSC_SPAN = [2097152, 2 ** 30, 2 ** 39] as const;
const FRAME_NAMES = ["free frame", "user page", "page-cache page", "page-table page", "vmalloc page", "kernel page"] as const;
/**
 * Flipped in an entry's recorded frame generation (or write-protect generation) to mark
 * it: its next use (or write) then reaches the oracle through the hardware's slow path.
 */
const MARK = 0x40000000;

/**
 * A TLB entry a returned call forbade: any use (removed), or writes only (made read-only,
 * or cleaned: a dirty entry whose PTE is now clean writes without setting D again).
 */
interface Forbidden {
  readonly vpn: number;
  readonly writeOnly: boolean;
  /** Forbidden because the PTE was cleaned, not write-protected. */
  readonly cleaned: boolean;
  /** The entry's recorded generation before the mark. */
  readonly gen: number;
  readonly wpGen: number;
  readonly site: string;
  readonly caller: number;
  readonly at: number;
}

export class Oracle implements HwWatch {
  readonly hazards: HazardReport[] = [];
  /** Every hazard found, listed or not. */
  total = 0;
  private readonly seen = new Set<string>();
  private readonly m: Machine;
  private readonly mem: PhysMem;
  // Who cached each frame since it was last allocated: one bit per CPU, the address, and
  // whether it was cached at more than one address (or as part of a 2 MiB page).
  private readonly maskWords: number;
  /**
   * The CPU bits, one row of maskWords per frame ever cached, given out at its first fill
   * (fillRow: a frame's row, -1 before): the frames a run caches are few of the machine's
   * (the allocator's free lists are LIFO), and a row per frame and CPU would cost
   * frames × CPUs bits (32 MiB at 1 GiB and 1024 CPUs).
   */
  private fillMask: Uint32Array;
  private readonly fillRow: Int32Array;
  private fillRows = 0;
  private readonly fillGen: Uint32Array;
  /** The virtual page number it was cached at. */
  private readonly fillPage: Float64Array;
  private readonly fillMulti: Uint8Array;
  /** When each CPU last ran a TLB-flush instruction, and last took an interrupt. */
  private readonly lastFlushAt: Float64Array;
  private readonly lastIrqAt: Float64Array;
  /** pgds in use, in creation order, and the kernel's reference one (swapper_pg_dir). */
  private readonly roots = new Set<number>();
  private referenceRoot = -1;
  /** Per pgd and page: when and where the page was last replaced (COW). */
  private readonly replaced = new Map<number, Map<number, { readonly time: number; readonly site: string }>>();
  /** Per device: the most recently replaced page it has translated afresh. */
  private readonly newestSeen = new Map<string, { readonly vpn: number; readonly time: number }>();
  /** Scratch for findEntry: which TLB the entry is in; for pageFreed: the CPUs holding the page. */
  private foundTlb: Tlb | null = null;
  private readonly holders: Int32Array;
  private readonly reachedIds: Int32Array;
  /** Per CPU, the entries a returned call forbade, by slot (4 KiB TLB index, then 2 MiB TLB index after it). */
  private readonly forbidden: Map<number, Forbidden>[];

  constructor(m: Machine) {
    this.m = m;
    this.mem = m.mem;
    const n = m.mem.nframes;
    this.maskWords = Math.ceil(m.cpus.length / 32);
    this.fillRow = new Int32Array(n).fill(-1);
    this.fillMask = new Uint32Array(Math.min(n, 1024) * this.maskWords);
    this.fillGen = new Uint32Array(n);
    this.fillPage = new Float64Array(n);
    this.fillMulti = new Uint8Array(n);
    this.lastFlushAt = new Float64Array(m.cpus.length).fill(-1);
    this.lastIrqAt = new Float64Array(m.cpus.length).fill(-1);
    this.holders = new Int32Array(m.cpus.length);
    this.reachedIds = new Int32Array(m.cpus.length);
    this.forbidden = m.cpus.map(() => new Map());
    m.attach(this);
  }

  formatVa(va: number): string {
    return vaToCanonicalString(this.m.format, va);
  }

  /**
   * Records a hazard. The same (class, cpu, page, frame) is listed once; every
   * occurrence is counted.
   */
  private report(cls: HazardClass, cpu: number, va: number, pfn: number, missing: string, detail: string): void {
    this.total++;
    const key = `${cls}:${cpu}:${Math.floor(va / 4096)}:${pfn}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const h: HazardReport = { class: cls, cpu, address: this.formatVa(va), pfn, time: this.m.now, missing, detail };
    if (this.hazards.length < HAZARD_LIST_CAP) this.hazards.push(h);
    this.m.events.emit("hazard", h);
  }

  private freedBy(frame: number): string {
    return this.mem.sites[this.mem.freedBy[frame]!]!;
  }

  // ---- the MMU ----

  tlbFill(cpu: Cpu, va: number, frame: number, huge: boolean): void {
    const gen = this.mem.gen[frame]!;
    const page = Math.floor(va / 4096);
    const words = this.maskWords;
    let row = this.fillRow[frame]!;
    if (row < 0) row = this.newFillRow(frame);
    const base = row * words;
    if (this.fillGen[frame] !== gen) {
      this.fillGen[frame] = gen;
      for (let w = 0; w < words; w++) this.fillMask[base + w] = 0;
      this.fillPage[frame] = page;
      this.fillMulti[frame] = huge ? 1 : 0;
    } else if (huge || this.fillPage[frame] !== page) {
      this.fillMulti[frame] = 1;
    }
    this.fillMask[base + (cpu.id >>> 5)]! |= 1 << (cpu.id & 31);
  }

  /** Gives `frame` a row of fillMask (zeroed), growing it by doubling. */
  private newFillRow(frame: number): number {
    const row = this.fillRows++;
    if ((row + 1) * this.maskWords > this.fillMask.length) {
      const bigger = new Uint32Array(Math.min(this.fillRow.length, 2 * row) * this.maskWords);
      bigger.set(this.fillMask);
      this.fillMask = bigger;
    }
    this.fillRow[frame] = row;
    return row;
  }

  staleTlbUse(cpu: Cpu, va: number, pfn: number, frame: number, write: boolean, user: boolean, t: Tlb, i: number): void {
    const key = this.slot(cpu, t, i);
    const f = this.forbidden[cpu.id]!.get(key);
    if (f !== undefined) {
      if (t.vpn[i] !== f.vpn || f.writeOnly) {
        if (t.vpn[i] !== f.vpn) this.forbidden[cpu.id]!.delete(key);
      } else {
        if (!this.completes(cpu, va, write, user, t, i)) return; // the access faults instead: no use
        t.gen[i] = f.gen;
        this.forbidden[cpu.id]!.delete(key);
        this.report(7, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} before ${f.site} returned`,
          `CPU ${cpu.id} ${write ? "wrote" : "read"} through a translation to pfn ${pfn} that ${f.site} removed and returned on CPU ${f.caller} at cycle ${f.at}`);
        if (t.gen[i] === this.mem.gen[frame]) return;
      }
    }
    const state = this.mem.state[frame]!;
    const by = this.freedBy(frame);
    const what = state === FrameState.FREE ? "freed" : `freed and reused as a ${FRAME_NAMES[state]}`;
    this.report(1, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} before ${by} freed the page`,
      `CPU ${cpu.id} ${write ? "wrote" : "read"} through a stale TLB entry to pfn ${pfn}, ${what} (freed at cycle ${this.mem.freedAt[frame]} by ${by})`);
  }

  /** Whether an access through entry `i` of `t` completes (rather than faulting on its rights, or on the D-bit re-walk). */
  private completes(cpu: Cpu, va: number, write: boolean, user: boolean, t: Tlb, i: number): boolean {
    const f = t.flags[i]!;
    if ((user && (f & TlbFlag.US) === 0) || (write && (f & TlbFlag.RW) === 0)) return false;
    if (!write || (f & TlbFlag.D) !== 0) return true;
    const off = this.m.mmu.leafOffset(cpu.cr3, va);
    const w = this.mem.words;
    return off >= 0 && ptePresent(w[off]!, w[off + 1]!) && pteWrite(w[off]!, w[off + 1]!);
  }

  private slot(cpu: Cpu, t: Tlb, i: number): number {
    return t === cpu.tlb ? i : cpu.tlb.entries + i;
  }

  /** The frame generation entry `i` of `t` was filled with (a mark set by a returned call hides it). */
  private fillGenOf(cpu: Cpu, t: Tlb, i: number): number {
    const f = this.forbidden[cpu.id]!.get(this.slot(cpu, t, i));
    return f !== undefined && !f.writeOnly && f.vpn === t.vpn[i] ? f.gen : t.gen[i]!;
  }

  stalePscUse(cpu: Cpu, va: number, table: number): void {
    this.report(1, cpu.id, va, table, "TLB flush (with paging-structure caches) before the page-table page was freed",
      `CPU ${cpu.id} walked through a cached upper-level entry into pfn ${table}, a page-table page that was freed (${this.freedBy(table)}) and is now a ${FRAME_NAMES[this.mem.state[table]!]}`);
  }

  walkIntoNonTable(cpu: Cpu, va: number, table: number): void {
    this.report(1, cpu.id, va, table, "flush and sync of every copy of the upper-level entry before the page-table page was freed",
      `CPU ${cpu.id} walked through a stale upper-level entry into pfn ${table}, a page-table page that was freed (${this.freedBy(table)})`);
  }

  /**
   * A write through a cached writable entry whose frame the kernel has since
   * write-protected, or cleaned, and relies on that (by its account): if the page table
   * still grants the write to this frame, and the write leaves the mark a fresh
   * translation would leave (D in the PTE: an entry that cached D=1 sets nothing), the
   * entry is still good and is brought up to date; otherwise the write is lost.
   */
  writeAfterWriteProtect(cpu: Cpu, va: number, pfn: number, t: Tlb, i: number): void {
    const frame = t.pfn[i]!;
    const key = this.slot(cpu, t, i);
    const f = this.forbidden[cpu.id]!.get(key);
    if (f !== undefined && f.writeOnly && f.vpn === t.vpn[i]) {
      t.wpGen[i] = f.wpGen;
      this.forbidden[cpu.id]!.delete(key);
      this.report(7, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} before ${f.site} returned`,
        f.cleaned
          ? `CPU ${cpu.id} wrote through a dirty translation to pfn ${pfn} whose PTE ${f.site} cleaned and returned on CPU ${f.caller} at cycle ${f.at}: the write sets no D bit`
          : `CPU ${cpu.id} wrote through a writable translation to pfn ${pfn} that ${f.site} made read-only and returned on CPU ${f.caller} at cycle ${f.at}`);
      if (t.wpGen[i] === this.mem.wpGen[frame]) return;
    }
    const off = this.m.mmu.leafOffset(cpu.cr3, va);
    const words = this.mem.words;
    const lo = off >= 0 ? words[off]! : 0;
    const hi = off >= 0 ? words[off + 1]! : 0;
    const mapped = t.pageShift === 12 ? ptePfn(lo, hi) : pmdLeafPfn(lo, hi);
    const grants = ptePresent(lo, hi) && pteWrite(lo, hi) && mapped === frame;
    if (grants && (pteDirty(lo, hi) || (t.flags[i]! & TlbFlag.D) === 0)) {
      t.wpGen[i] = this.mem.wpGen[frame]!;
      return;
    }
    const site = this.mem.sites[this.mem.wpSite[frame]!]!;
    if (grants) {
      this.report(2, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} after ${site} cleaned the PTE`,
        `CPU ${cpu.id} wrote through a stale dirty TLB entry to pfn ${pfn} after ${site} cleaned its PTE and relied on writes setting D: the write sets no D bit, so the kernel may discard it`);
      return;
    }
    this.report(2, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} after ${site} write-protected the PTE`,
      `CPU ${cpu.id} wrote through a stale writable TLB entry to pfn ${pfn} after ${site} made it read-only or unmapped it and relied on that`);
  }

  dirtyBitLeak(cpu: Cpu, va: number, pfn: number): void {
    this.report(3, cpu.id, va, pfn, "flush before the PTE was cleared (X86_BUG_PTE_LEAK: the CPU sets D after the clear)",
      `CPU ${cpu.id} completed a write through a cached clean entry for pfn ${pfn} whose PTE is no longer present`);
  }

  tlbFlush(cpu: Cpu): void {
    this.lastFlushAt[cpu.id] = this.m.now;
  }

  // ---- the APIC ----

  ipiSent(): void {}

  ipiHandled(cpu: Cpu): void {
    this.lastIrqAt[cpu.id] = this.m.now;
  }

  // ---- frames ----

  frameFreed(pfn: number, state: FrameState): void {
    if (state === FrameState.PAGETABLE) this.tableFreed(pfn);
    else if (state === FrameState.USER || state === FrameState.PAGECACHE) this.pageFreed(pfn);
  }

  /**
   * A user or page-cache page went back to the allocator: no CPU that can use a user
   * translation may still cache one to it. A CPU in user mode that does is reported
   * now; one in the kernel or idle is looked at again when it returns to user mode.
   */
  private pageFreed(pfn: number): void {
    const oldGen = (this.mem.gen[pfn]! - 1) >>> 0;
    if (this.fillGen[pfn] !== oldGen) return;
    // The CPUs that cached the page and still hold a user translation to it; the others
    // (the flush before the free reached them, or the entry was evicted) are "reached".
    const holders = this.holders;
    const reachedIds = this.reachedIds;
    let nholders = 0;
    let nreached = 0;
    const row = this.fillRow[pfn]!;
    if (row < 0) return; // never cached
    const base = row * this.maskWords;
    for (let w = 0; w < this.maskWords; w++) {
      let bits = this.fillMask[base + w]!;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits);
        bits &= ~(1 << bit);
        const id = w * 32 + bit;
        const i = this.findEntry(this.m.cpus[id]!, pfn, oldGen);
        if (i >= 0 && (this.foundTlb!.flags[i]! & TlbFlag.US) !== 0) holders[nholders++] = id;
        else reachedIds[nreached++] = id;
      }
    }
    if (nholders === 0) return;
    const site = this.freedBy(pfn);
    // The CPUs the flush reached, as the report names them (built only for a report).
    const reached = Array.from(reachedIds.subarray(0, nreached), String).join(", ");
    for (let h = 0; h < nholders; h++) {
      const cpu = this.m.cpus[holders[h]!]!;
      const i = this.findEntry(cpu, pfn, oldGen);
      if (cpu.mode !== CpuMode.USER || !this.foundTlb!.usableIn(i, cpu.pcid)) {
        // Not judged until it can use user translations again: it is in the kernel or
        // idle, or the entry is tagged with a PCID other than the one in its CR3 (an ASID
        // another mm runs in now, or PTI's kernel PCID), which it can use only after a
        // CR3 write that selects that PCID without a flush.
        cpu.watchUserEntry = true;
        continue;
      }
      const va = this.foundTlb!.vpn[i]! * this.foundTlb!.pageSize;
      const last = this.lastFlushAt[cpu.id]! < 0 ? "never" : `last at cycle ${this.lastFlushAt[cpu.id]}`;
      if (reached !== "") {
        const irq = this.lastIrqAt[cpu.id]! < 0 ? "no interrupt yet" : `its last interrupt at cycle ${this.lastIrqAt[cpu.id]}`;
        this.report(4, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} before ${site} freed the page`,
          `CPU ${cpu.id} still caches a translation for ${this.formatVa(va)} to pfn ${pfn} while running in user mode: the flush before ${site} freed the page reached CPU ${reached} but not CPU ${cpu.id} (its TLB was flushed ${last}; ${irq})`);
      } else {
        this.report(1, cpu.id, va, pfn, `TLB flush on CPU ${cpu.id} before ${site} freed the page`,
          `CPU ${cpu.id} still caches a translation for ${this.formatVa(va)} to pfn ${pfn}, which ${site} freed while the CPU ran in user mode; no CPU that cached the page was flushed before the free (CPU ${cpu.id}'s TLB was flushed ${last})`);
      }
    }
  }

  /** The index of `cpu`'s live TLB entry for `frame` filled at generation `gen` (its TLB in foundTlb), or -1. */
  private findEntry(cpu: Cpu, frame: number, gen: number): number {
    if (this.fillMulti[frame] === 0) {
      const t = cpu.tlb;
      const i = t.probeFrame(this.fillPage[frame]!, frame);
      this.foundTlb = t;
      return i >= 0 && this.fillGenOf(cpu, t, i) === gen ? i : -1;
    }
    for (const t of [cpu.tlb, cpu.tlb2m]) {
      if (t.live === 0) continue;
      for (let i = 0; i < t.entries; i++) {
        if (t.pfn[i] === frame && t.isLive(i) && this.fillGenOf(cpu, t, i) === gen) {
          this.foundTlb = t;
          return i;
        }
      }
    }
    return -1;
  }

  /** A CPU that held translations to freed pages when they were freed is back in user mode. */
  userEntry(cpu: Cpu): void {
    cpu.watchUserEntry = false;
    this.stalePscInUse(cpu);
    const mem = this.mem;
    for (const t of [cpu.tlb, cpu.tlb2m]) {
      if (t.live === 0) continue;
      for (let i = 0; i < t.entries; i++) {
        if ((t.flags[i]! & TlbFlag.US) === 0 || !t.isLive(i)) continue;
        const frame = t.pfn[i]!;
        if (this.fillGenOf(cpu, t, i) === mem.gen[frame]) continue;
        if (!t.usableIn(i, cpu.pcid)) {
          // Stale, but in a PCID this CR3 does not select: looked at again at the next return.
          cpu.watchUserEntry = true;
          continue;
        }
        const va = t.vpn[i]! * t.pageSize;
        const page = Math.floor(va / 4096);
        if (this.seen.has(`1:${cpu.id}:${page}:${frame}`) || this.seen.has(`4:${cpu.id}:${page}:${frame}`)) continue;
        const site = this.freedBy(frame);
        this.report(4, cpu.id, va, frame, `TLB flush on CPU ${cpu.id} before it returned to user mode (${site} freed the page at cycle ${mem.freedAt[frame]})`,
          `CPU ${cpu.id} returned to user mode still caching a translation for ${this.formatVa(va)} to pfn ${frame}, freed by ${site} while the CPU was not in user mode; no flush reached it since`);
      }
    }
  }

  /**
   * A page-table page went back to the allocator: a speculative walk may use a cached
   * upper-level entry at any time, so no CPU may still cache one pointing at it. The
   * flush that precedes such a free can never be deferred.
   */
  private tableFreed(table: number): void {
    if (this.roots.delete(table) && table === this.referenceRoot) this.referenceRoot = -1;
    const site = this.freedBy(table);
    // Only the slots pointing at the table, in CPU order, then slot order.
    const holders = this.m.pscHolders;
    const per = holders.slotsPerCpu;
    for (const node of holders.slotsOf(table)) {
      const cpu = this.m.cpus[Math.floor(node / per)]!;
      const psc = cpu.psc;
      const i = node % per;
      const level = Math.floor(i / psc.size);
      if (psc.lookup(level, psc.key[i]!, psc.pcid[i]!) !== i) continue;
      if (psc.pcid[i] !== cpu.pcid) {
        // Tagged with a PCID its CR3 does not select (PTI's user PCID while it runs in
        // the kernel, an ASID of another mm): usable only once a CR3 write selects that
        // PCID without a flush; looked at again then.
        cpu.watchUserEntry = true;
        continue;
      }
      this.reportStalePsc(cpu, i, table, site);
    }
  }

  private reportStalePsc(cpu: Cpu, i: number, table: number, site: string): void {
    const psc = cpu.psc;
    const level = Math.floor(i / psc.size);
    const va = psc.key[i]! * PSC_SPAN[level]!;
    this.report(4, cpu.id, va, table, `a flush reaching CPU ${cpu.id} before ${site} freed the page-table page (such a flush cannot be deferred)`,
      `CPU ${cpu.id} still caches an upper-level entry for ${this.formatVa(va)} pointing at pfn ${table}, a page-table page being freed`);
  }

  pcidSelected(cpu: Cpu): void {
    this.stalePscInUse(cpu);
  }

  /** The paging-structure-cache entries `cpu` can use now (its CR3's PCID) that point at a freed page-table page. */
  private stalePscInUse(cpu: Cpu): void {
    const psc = cpu.psc;
    if (psc.live === 0) return;
    const mem = this.mem;
    for (let i = 0; i < psc.valid.length; i++) {
      if (psc.valid[i] !== 1) continue;
      const table = psc.table[i]!;
      if (psc.tableGen[i] === mem.gen[table]) continue;
      const level = Math.floor(i / psc.size);
      if (psc.lookup(level, psc.key[i]!, psc.pcid[i]!) !== i) continue;
      if (psc.pcid[i] !== cpu.pcid) {
        cpu.watchUserEntry = true;
        continue;
      }
      this.reportStalePsc(cpu, i, table, this.freedBy(table));
    }
  }

  // ---- returned calls (class 7) ----

  /**
   * A call that removed or restricted [start, end) under `root` returned on `caller`.
   * Every CPU whose CR3 is `root` may still cache translations of the range; those the
   * page tables no longer allow are marked, so that their next use (any use for a
   * removed one, a write for one made read-only or, cached dirty, whose PTE was cleaned)
   * is reported. Nothing is reported for a translation the CPU never uses again.
   */
  callReturned(caller: Cpu, root: number, start: number, end: number, site: string, writesOnly: boolean): void {
    const pages = (end - start) / 4096;
    // The CPUs whose CR3 is `root` (Machine.cr3Users), not a scan of every CPU: at 1024
    // CPUs a madvise that reached a few non-lazy CPUs would otherwise cost 1024 probes.
    // The order does not matter: each CPU's marks are its own.
    const cpus = this.m.cpus;
    const users = this.m.cr3Users.of(root);
    for (let u = 0; u < users.length; u++) {
      const cpu = cpus[users[u]!]!;
      const t = cpu.tlb;
      if (t.live > 0) {
        if (pages <= t.entries / t.ways) {
          for (let a = start; a < end; a += 4096) this.forbidIfStale(cpu, t, t.probe(a / 4096), root, site, caller, writesOnly);
        } else {
          for (let i = 0; i < t.entries; i++) {
            const va = t.vpn[i]! * 4096;
            if (va >= start && va < end && t.isLive(i)) this.forbidIfStale(cpu, t, i, root, site, caller, writesOnly);
          }
        }
      }
      const h = cpu.tlb2m;
      if (h.live > 0) {
        for (let i = 0; i < h.entries; i++) {
          const va = h.vpn[i]! * h.pageSize;
          if (va + h.pageSize > start && va < end && h.isLive(i)) this.forbidIfStale(cpu, h, i, root, site, caller, writesOnly);
        }
      }
    }
  }

  private forbidIfStale(cpu: Cpu, t: Tlb, i: number, root: number, site: string, caller: Cpu, writesOnly: boolean): void {
    if (i < 0 || (t.flags[i]! & TlbFlag.US) === 0) return;
    const map = this.forbidden[cpu.id]!;
    const key = this.slot(cpu, t, i);
    const prev = map.get(key);
    if (prev !== undefined && prev.vpn === t.vpn[i]) return;
    const va = t.vpn[i]! * t.pageSize;
    const off = this.m.mmu.leafOffset(root, va);
    const w = this.mem.words;
    const lo = off >= 0 ? w[off]! : 0;
    const hi = off >= 0 ? w[off + 1]! : 0;
    const present = ptePresent(lo, hi);
    const mapped = !present ? -1 : t.pageShift === 12 ? ptePfn(lo, hi) : pmdLeafPfn(lo, hi);
    const f = t.flags[i]!;
    let writeOnly: boolean;
    let cleaned = false;
    if (mapped !== t.pfn[i]) {
      // Whatever else took the translation away, a call that restricted writes only
      // promised no more than that.
      if (writesOnly && (f & TlbFlag.RW) === 0) return;
      writeOnly = writesOnly;
    } else if ((f & TlbFlag.RW) !== 0 && !pteWrite(lo, hi)) writeOnly = true;
    else if ((f & (TlbFlag.RW | TlbFlag.D)) === (TlbFlag.RW | TlbFlag.D) && !pteDirty(lo, hi)) writeOnly = cleaned = true;
    else return;
    map.set(key, { vpn: t.vpn[i]!, writeOnly, cleaned, gen: t.gen[i]!, wpGen: t.wpGen[i]!, site, caller: caller.id, at: this.m.now });
    if (writeOnly) t.wpGen[i] = (t.wpGen[i]! ^ MARK) >>> 0;
    else t.gen[i] = (t.gen[i]! ^ MARK) >>> 0;
  }

  // ---- page-table facts ----

  pgdCreated(pgd: number, reference: boolean): void {
    if (reference) this.referenceRoot = pgd;
    else this.roots.add(pgd);
  }

  pageReplaced(root: number, va: number, site: string): void {
    let pages = this.replaced.get(root);
    if (pages === undefined) this.replaced.set(root, (pages = new Map()));
    pages.set(Math.floor(va / 4096), { time: this.m.now, site });
  }

  /**
   * Before a kernel range is handed out again, every pgd must agree with the reference
   * page table at the level it keeps private copies of (PAE with !SHARED_KERNEL_PMD:
   * the kernel PMDs; x86-64: the top level). A present entry the reference no longer
   * has is a stale kernel PMD.
   */
  kernelRangeRecycled(start: number, end: number, site: string): void {
    if (this.referenceRoot < 0) return;
    const m = this.m;
    const lv = m.format.levels;
    const level = m.format.topLoadedAtCr3 ? lv.length - 2 : 0;
    const span = 2 ** lv[level]!.shift;
    const w = this.mem.words;
    // One purge recycles many areas in one instant, most of them under the same entry
    // (x86-64: one PGD entry spans 512 GiB): an entry found clean in this instant is
    // not walked over every pgd again (nothing changes page tables within the instant's
    // loop). An entry that was not clean is checked, and reported, again.
    if (this.recycledAt !== m.now) {
      this.recycledAt = m.now;
      this.recycledClean.clear();
    }
    for (let a = start - (start % span); a < end; a += span) {
      if (this.recycledClean.has(a)) continue;
      const ref = m.mmu.entryOffsetAt(this.referenceRoot, a, level);
      let clean = true;
      for (const pgd of this.roots) {
        const own = m.mmu.entryOffsetAt(pgd, a, level);
        if (own < 0 || !ptePresent(w[own]!, w[own + 1]!)) continue;
        if (ref >= 0 && w[ref] === w[own] && w[ref + 1] === w[own + 1]) continue;
        clean = false;
        const pfn = pteHuge(w[own]!, w[own + 1]!) ? pmdLeafPfn(w[own]!, w[own + 1]!) : ptePfn(w[own]!, w[own + 1]!);
        this.report(5, -1, a, pfn, `vmalloc_sync_unmappings() before ${site} freed the range for reuse`,
          `the pgd at pfn ${pgd} keeps a present kernel ${level === 0 ? "PGD" : "PMD"} entry for ${this.formatVa(a)}, ${formatPte(w[own]!, w[own + 1]!, level > 0)}, that init_mm no longer has`);
      }
      if (clean) this.recycledClean.add(a);
    }
  }

  /** The instant of the last kernelRangeRecycled, and the entries found clean in it. */
  private recycledAt = -1;
  private readonly recycledClean = new Set<number>();

  // ---- devices ----

  iotlbFill(device: string, root: number, va: number): void {
    const vpn = Math.floor(va / 4096);
    const rep = this.replaced.get(root)?.get(vpn);
    if (rep === undefined) return;
    const seen = this.newestSeen.get(device);
    if (seen === undefined || rep.time > seen.time) this.newestSeen.set(device, { vpn, time: rep.time });
  }

  /**
   * A DMA through a cached translation: the frame must not have been freed since the
   * fill (case A); a write must not go through a translation cached before the kernel
   * started relying on the page being write-protected (fork's COW, mprotect, writeback)
   * unless the page table grants it again now (the device's lost write, the analogue of
   * class 2); and the CPU page table must not map another page at that address (case B:
   * the CPUs see the new page, the device the old one). Between a PTE clear and its
   * invalidate_range the PTE is not present, and the kernel relies on a write-protect
   * only once the call that made it has ended its notifier range, so the windows the
   * kernel allows are not reported.
   */
  iotlbUse(device: string, root: number, va: number, frame: number, fillGen: number, write: boolean, fillWpGen: number): void {
    const mem = this.mem;
    const what = write ? "wrote" : "read";
    if (mem.gen[frame] !== fillGen) {
      const by = this.freedBy(frame);
      this.report(6, -1, va, frame, `invalidate_range before ${by} freed the page`,
        `${device} ${what} by DMA through its IOTLB to pfn ${frame}, freed at cycle ${mem.freedAt[frame]} by ${by} (use after free by DMA)`);
      return;
    }
    if (write && mem.wpGen[frame] !== fillWpGen) {
      const leaf = this.m.mmu.leafOffset(root, va);
      const lo = leaf >= 0 ? mem.words[leaf]! : 0;
      const hi = leaf >= 0 ? mem.words[leaf + 1]! : 0;
      const huge = leaf >= 0 && this.m.mmu.entryOffsetAt(root, va, this.m.format.levels.length - 1) !== leaf;
      const mapped = huge ? pmdLeafPfn(lo, hi) + (Math.floor(va / 4096) % 512) : ptePfn(lo, hi);
      if (!(ptePresent(lo, hi) && pteWrite(lo, hi) && mapped === frame)) {
        const site = mem.sites[mem.wpSite[frame]!]!;
        this.report(6, -1, va, frame, `invalidate_range before ${site} returned`,
          `${device} wrote by DMA through a writable IOTLB entry to pfn ${frame} after ${site} made it read-only or unmapped it and relied on that (a lost write)`);
        return;
      }
    }
    const off = this.m.mmu.entryOffsetAt(root, va, this.m.format.levels.length - 1);
    if (off < 0) return;
    const lo = mem.words[off]!;
    const hi = mem.words[off + 1]!;
    if (!ptePresent(lo, hi)) return;
    const now = ptePfn(lo, hi);
    if (now === frame) return;
    const vpn = Math.floor(va / 4096);
    const rep = this.replaced.get(root)?.get(vpn);
    const site = rep?.site ?? "the path that replaced the page";
    const seen = this.newestSeen.get(device);
    const ordering =
      rep !== undefined && seen !== undefined && seen.vpn !== vpn && seen.time > rep.time
        ? `; ordering: it already saw the new page at ${this.formatVa(seen.vpn * 4096)}, replaced later (cycle ${seen.time}) than this one (cycle ${rep.time})`
        : "";
    this.report(6, -1, va, frame, `invalidate_range under the PTL at ${site} (*_clear_flush_notify) before the new PTE`,
      `${device} ${what} the old page (pfn ${frame}) by DMA while the CPU page table maps pfn ${now}${ordering}`);
  }
}
