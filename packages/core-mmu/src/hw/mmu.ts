/**
 * The CPUs' memory-management unit: one memory access (a TLB lookup, and on a miss a
 * page walk that sets A, and D on a write, atomically as x86 does), the D-bit assist
 * of a write through a clean cached entry, and the TLB-maintenance instructions the
 * kernel executes (MOV to CR3, INVLPG, the global flush). Intel SDM Vol. 3A §4.
 *
 * Hot path: `access()`. It allocates nothing and emits no event; it counts, and on
 * the rare hit whose frame changed since its fill it tells the watcher.
 */
import type { CostParams } from "../cost/cost-model.js";
import { Cpu } from "./cpu.js";
import type { PhysMem } from "./memory.js";
import type { PagingFormat } from "./paging-format.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, pmdLeafPfn, pteDirty, pteGlobal, pteHuge, pteNx, ptePfn, ptePresent, pteUser, pteWrite } from "./pte.js";
import { PscLevel, Tlb, TlbFlag } from "./tlb.js";
import { NO_WATCH, type HwWatch } from "./watch.js";

/** Bytes an entry of each paging-structure cache level covers (PDE 2 MiB, PDPTE 1 GiB, PML4E 512 GiB): its key is va / span. */
const PSC_SPAN = [2 ** 21, 2 ** 30, 2 ** 39] as const;

/** `access()` result meaning "page fault": the executor runs the fault handler and retries. */
export const FAULT = -1;

/** Hardware event counts (what a PMU would count). */
export const MMU_EVENTS = ["accesses", "tlb_hits", "page_walks", "psc_walks", "dirty_assists"] as const;
export const MmuEvent = { accesses: 0, tlb_hits: 1, page_walks: 2, psc_walks: 3, dirty_assists: 4 } as const;

export class Mmu {
  /** Counts by MmuEvent. */
  readonly events = new Float64Array(MMU_EVENTS.length);
  watch: HwWatch = NO_WATCH;
  private readonly nlv: number;
  /** 2 ** shift of each level: index = Math.floor(va / levelDiv[l]) & levelMask[l]. */
  private readonly levelDiv: Float64Array;
  /** entries - 1 (every table size is a power of two; `&` keeps the low bits of indices below 2**53 exactly). */
  private readonly levelMask: Int32Array;
  private readonly pscLevelOf: Int8Array;
  private readonly pae: boolean;

  constructor(
    readonly format: PagingFormat,
    private readonly mem: PhysMem,
    private readonly costs: CostParams,
    /** Intel Knights Landing X86_BUG_PTE_LEAK: A/D set even after the PTE was cleared. */
    private readonly pteLeakErratum: boolean,
  ) {
    const lv = format.levels;
    this.nlv = lv.length;
    this.levelDiv = Float64Array.from(lv, (l) => 2 ** l.shift);
    this.levelMask = Int32Array.from(lv, (l) => l.entries - 1);
    // Which paging-structure cache an entry at each level fills (the entry points one level down).
    this.pscLevelOf = Int8Array.from(lv, (l) => (l.shift === 21 ? PscLevel.PDE : l.shift === 30 && !format.topLoadedAtCr3 ? PscLevel.PDPTE : l.shift === 39 && lv.length === 4 ? PscLevel.PML4E : -1));
    this.pae = format.topLoadedAtCr3;
  }

  /**
   * One access by `cpu` to `va`. Returns its cost in cycles, or FAULT. A page fault
   * also drops the TLB entry for the faulting address (SDM §4.10.4.1).
   */
  access(cpu: Cpu, va: number, write: boolean, user: boolean): number {
    const ev = this.events;
    ev[MmuEvent.accesses]!++;
    let t: Tlb = cpu.tlb;
    let i = t.lookup(Math.floor(va / 4096), cpu.pcid);
    if (i < 0 && cpu.tlb2m.live > 0) {
      t = cpu.tlb2m;
      i = t.lookup(Math.floor(va / 2097152), cpu.pcid);
    }
    if (i < 0) {
      const c = this.walk(cpu, va, write, user);
      return c === FAULT ? this.pageFault(cpu, va) : c;
    }
    ev[MmuEvent.tlb_hits]!++;
    const f = t.flags[i]!;
    const frame = t.pfn[i]!;
    const pfn = t.pageShift === 12 ? frame : frame + (Math.floor(va / 4096) & 511);
    if (t.gen[i] !== this.mem.gen[frame]) this.watch.staleTlbUse(cpu, va, pfn, frame, write, user, t, i);
    if ((user && (f & TlbFlag.US) === 0) || (write && (f & TlbFlag.RW) === 0)) {
      t.drop(i);
      return this.pageFault(cpu, va);
    }
    let cost = this.costs.userAccess;
    if (write) {
      if ((f & TlbFlag.D) === 0) {
        // Clean→dirty: the CPU re-walks to set D atomically; the walk faults if the
        // PTE is gone (the guarantee batched unmap relies on).
        const r = this.dirtyAssist(cpu, va, t, i);
        if (r < 0) return this.pageFault(cpu, va);
        cost += r;
      }
      if (t.wpGen[i] !== this.mem.wpGen[frame]) this.watch.writeAfterWriteProtect(cpu, va, pfn, t, i);
    }
    return cost;
  }

  /**
   * A page fault invalidates what the CPU caches for the faulting address: its TLB
   * entry (dropped by the caller where there was one) and the paging-structure-cache
   * entries for it in the current PCID (Intel SDM Vol. 3A §4.10.4.1). Returns FAULT.
   */
  private pageFault(cpu: Cpu, va: number): number {
    const psc = cpu.psc;
    if (psc.live > 0) {
      for (let l = 0; l < 3; l++) {
        const k = psc.lookup(l, Math.floor(va / PSC_SPAN[l]!), cpu.pcid);
        if (k >= 0) psc.drop(k);
      }
    }
    return FAULT;
  }

  /** TLB miss: walk from CR3 (or a paging-structure-cache hit), set A/D, fill the TLB. */
  private walk(cpu: Cpu, va: number, write: boolean, user: boolean): number {
    const ev = this.events;
    const mem = this.mem;
    const nlv = this.nlv;
    let words = mem.words;
    let table = cpu.cr3;
    let level = 0;
    let rights = TlbFlag.RW | TlbFlag.US;
    let nx = 0;
    let cost = this.costs.pageWalk;
    const psc = cpu.psc;
    // Deepest paging-structure-cache hit first.
    if (psc.live > 0) {
      for (let l = nlv - 2; l >= 0; l--) {
        const pl = this.pscLevelOf[l]!;
        if (pl < 0) continue;
        const k = psc.lookup(pl, Math.floor(va / this.levelDiv[l]!), cpu.pcid);
        if (k >= 0) {
          table = psc.table[k]!;
          const r = psc.rights[k]!;
          rights = r & (TlbFlag.RW | TlbFlag.US);
          nx = r & TlbFlag.NX;
          level = l + 1;
          cost = this.costs.pageWalkPsc;
          ev[MmuEvent.psc_walks]!++;
          if (mem.gen[table] !== psc.tableGen[k]) {
            this.watch.stalePscUse(cpu, va, table);
            psc.drop(k);
          }
          break;
        }
      }
    }
    ev[MmuEvent.page_walks]!++;
    for (; level < nlv; level++) {
      let lo: number, hi: number, off = -1;
      if (level === 0 && this.pae) {
        const idx = Math.floor(va / this.levelDiv[0]!) & 3;
        lo = cpu.pdpte[idx * 2]!;
        hi = cpu.pdpte[idx * 2 + 1]!;
      } else {
        off = mem.entryOffsetOrNeg(table, Math.floor(va / this.levelDiv[level]!) & this.levelMask[level]!);
        if (off < 0) {
          // The entry above points at a frame that is no longer a page table.
          if (level > 0 && !mem.isTable(table)) this.watch.walkIntoNonTable(cpu, va, table);
          return FAULT;
        }
        lo = words[off]!;
        hi = words[off + 1]!;
      }
      if (!ptePresent(lo, hi)) return FAULT;
      if (!(level === 0 && this.pae)) {
        if (!pteWrite(lo, hi)) rights &= ~TlbFlag.RW;
        if (!pteUser(lo, hi)) rights &= ~TlbFlag.US;
        if (pteNx(lo, hi)) nx = TlbFlag.NX;
      }
      const leaf = level === nlv - 1 || pteHuge(lo, hi);
      // Under EPT, this guest reference (and, at the leaf, the final guest-physical
      // address) is translated through the EPT first: the second dimension. (PAE's
      // PDPTEs are registers, loaded with CR3: no reference.)
      if (off >= 0) cost += this.costs.eptTranslate;
      if (leaf) cost += this.costs.eptTranslate;
      if (leaf) {
        if ((user && (rights & TlbFlag.US) === 0) || (write && (rights & TlbFlag.RW) === 0)) return FAULT;
        const set = write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
        if ((lo & set) !== set) words[off] = lo = (lo | set) >>> 0;
        const huge = level !== nlv - 1;
        const flags = rights | nx | (pteDirty(lo, hi) ? TlbFlag.D : 0) | (pteGlobal(lo, hi) ? TlbFlag.G : 0);
        const t = huge ? cpu.tlb2m : cpu.tlb;
        const frame = huge ? pmdLeafPfn(lo, hi) : ptePfn(lo, hi);
        t.insert(huge ? Math.floor(va / 2097152) : Math.floor(va / 4096), cpu.pcid, frame, flags, mem.gen[frame]!, mem.wpGen[frame]!);
        this.watch.tlbFill(cpu, va, frame, huge);
        return cost + this.costs.userAccess;
      }
      if ((lo & _PAGE_ACCESSED) === 0 && off >= 0) words[off] = (lo | _PAGE_ACCESSED) >>> 0;
      const next = ptePfn(lo, hi);
      const pl = this.pscLevelOf[level]!;
      if (pl >= 0) psc.insert(pl, Math.floor(va / this.levelDiv[level]!), cpu.pcid, next, mem.gen[next]!, rights | nx);
      table = next;
      words = mem.words;
    }
    return FAULT;
  }

  /**
   * Reads the leaf entry mapping `va` in the page tables rooted at `root`, with no side
   * effects. Returns the word offset of the leaf (a PTE, or a huge PMD/PUD) or -1.
   */
  leafOffset(root: number, va: number): number {
    const mem = this.mem;
    const words = mem.words;
    const nlv = this.nlv;
    let table = root;
    for (let level = 0; level < nlv; level++) {
      const idx = Math.floor(va / this.levelDiv[level]!) & this.levelMask[level]!;
      const off = mem.entryOffsetOrNeg(table, idx);
      if (off < 0) return -1;
      const lo = words[off]!;
      if (level === nlv - 1 || pteHuge(lo, 0)) return off;
      if (!ptePresent(lo, 0)) return -1;
      table = ptePfn(lo, words[off + 1]!);
    }
    return -1;
  }

  /**
   * The word offset of the entry at `level` (0 = top) for `va` in the tables rooted at
   * `root`, following present non-leaf entries; -1 if a table on the way is missing.
   */
  entryOffsetAt(root: number, va: number, level: number): number {
    const mem = this.mem;
    const words = mem.words;
    let table = root;
    for (let l = 0; ; l++) {
      const off = mem.entryOffsetOrNeg(table, Math.floor(va / this.levelDiv[l]!) & this.levelMask[l]!);
      if (off < 0 || l === level) return off;
      const lo = words[off]!;
      if (!ptePresent(lo, 0) || (l > 0 && pteHuge(lo, 0))) return -1;
      table = ptePfn(lo, words[off + 1]!);
    }
  }

  /** The D-bit assist: re-walk, set D, or fault if the PTE is gone or no longer writable. */
  private dirtyAssist(cpu: Cpu, va: number, t: Tlb, i: number): number {
    this.events[MmuEvent.dirty_assists]!++;
    const off = this.leafOffset(cpu.cr3, va);
    const words = this.mem.words;
    const lo = off >= 0 ? words[off]! : 0;
    if (!ptePresent(lo, 0) || !pteWrite(lo, 0)) {
      if (this.pteLeakErratum && off >= 0) {
        // KNL: the assist sets D in the cleared entry and the write completes.
        words[off] = (lo | _PAGE_DIRTY) >>> 0;
        this.watch.dirtyBitLeak(cpu, va, t.pfn[i]!);
        t.flags[i] = t.flags[i]! | TlbFlag.D;
        return this.costs.dirtyAssist;
      }
      t.drop(i);
      return -1;
    }
    words[off] = (lo | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0;
    t.flags[i] = t.flags[i]! | TlbFlag.D;
    return this.costs.dirtyAssist;
  }

  // ---- TLB-maintenance instructions (what the kernel's flush paths execute) ----

  /** MOV to CR3 with the PCID unchanged and bit 63 clear: `root`, flushing the current PCID. */
  loadCr3(cpu: Cpu, root: number): number {
    return this.writeCr3(cpu, root, cpu.pcid, false);
  }

  /**
   * MOV to CR3: `root` and `pcid` (CR3[11:0]); unless `noflush` (bit 63, only with
   * CR4.PCIDE), the non-global TLB entries and the paging-structure caches of `pcid`
   * are dropped (SDM §4.10.4.1). PAE reloads the PDPTE registers. The cost is the
   * instruction's; what a flush costs is the refills after it.
   */
  writeCr3(cpu: Cpu, root: number, pcid: number, noflush: boolean): number {
    cpu.cr3 = root;
    cpu.pcid = pcid;
    if (!noflush) {
      cpu.tlb.flushNonGlobal(pcid);
      cpu.tlb2m.flushNonGlobal(pcid);
      cpu.psc.flushPcid(pcid);
    }
    if (this.pae) {
      const w = this.mem.words;
      for (let i = 0; i < 4; i++) {
        const off = this.mem.entryOffset(root, i);
        cpu.pdpte[i * 2] = w[off]!;
        cpu.pdpte[i * 2 + 1] = w[off + 1]!;
      }
    }
    if (!noflush) this.watch.tlbFlush(cpu);
    else if (cpu.watchUserEntry) this.watch.pcidSelected(cpu);
    return this.costs.cr3Flush;
  }

  /**
   * INVPCID type 0 (individual address): `va` in `pcid`, global entries excepted, and
   * the paging-structure caches of `pcid` (SDM Vol. 2A, INVPCID). Costed as INVLPG.
   */
  invpcidOne(cpu: Cpu, pcid: number, va: number): number {
    cpu.tlb.invalidatePage(Math.floor(va / 4096), pcid, false);
    if (cpu.tlb2m.live > 0) cpu.tlb2m.invalidatePage(Math.floor(va / 2097152), pcid, false);
    cpu.psc.flushPcid(pcid);
    this.watch.tlbFlush(cpu);
    return this.costs.invlpg;
  }

  /** INVLPG: the address in the current PCID plus any global entry for it, and the PCID's paging-structure caches. */
  invlpg(cpu: Cpu, va: number): number {
    cpu.tlb.invalidatePage(Math.floor(va / 4096), cpu.pcid);
    if (cpu.tlb2m.live > 0) cpu.tlb2m.invalidatePage(Math.floor(va / 2097152), cpu.pcid);
    cpu.psc.flushPcid(cpu.pcid);
    this.watch.tlbFlush(cpu);
    return this.costs.invlpg;
  }

  /** CR4.PGE toggle / INVPCID type 2: everything, globals included, every PCID. */
  flushTlbGlobal(cpu: Cpu): number {
    cpu.tlb.flushAll();
    cpu.tlb2m.flushAll();
    cpu.psc.flushAll();
    this.watch.tlbFlush(cpu);
    return this.costs.globalFlush;
  }
}
