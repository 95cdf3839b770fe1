/**
 * Class 4 (missed participant): when a flush completes, every CPU it did not reach but
 * that could use entries of the flushed range must hold no stale entry for it. Run by
 * the arch flush paths at completion; free in the safe path (it only looks at CPUs the
 * flush skipped that were eligible).
 */
import type { Cpu } from "../hw/cpu.js";
import type { Machine } from "../hw/machine.js";
import { OWNER_KERNEL, TlbFlag, type Tlb } from "../hw/tlb.js";
import { _PAGE_PRESENT, _PAGE_RW, ptePfn } from "../hw/pte.js";
import type { MmStruct } from "../mm/mm-types.js";

/**
 * Is the entry `i` of `t` stale against the page tables rooted at `pgd`: PTE gone,
 * another frame, or write permission withdrawn?
 */
export function entryIsStale(m: Machine, pgd: number, t: Tlb, i: number): boolean {
  const va = t.vpn[i]! * t.pageSize;
  const off = m.leafOffset(pgd, va);
  if (off < 0) return true;
  const w = m.mem.words;
  const lo = w[off]!;
  if ((lo & _PAGE_PRESENT) === 0) return true;
  const pfn = t.pageShift === 12 ? ptePfn(lo, w[off + 1]!) : ptePfn((lo & ~0x1fff) >>> 0, w[off + 1]!);
  if (pfn !== t.pfn[i]) return true;
  return (t.flags[i]! & TlbFlag.RW) !== 0 && (lo & _PAGE_RW) === 0;
}

export function checkFlushCoverage(
  m: Machine,
  mm: MmStruct | null,
  pgd: number,
  start: number,
  end: number,
  covered: Uint8Array,
  eligible: (cpu: Cpu) => boolean,
  describe: (cpu: Cpu) => string,
): void {
  const owner = mm === null ? OWNER_KERNEL : mm.id;
  for (const cpu of m.cpus) {
    if (covered[cpu.id] === 1 || !eligible(cpu)) continue;
    for (const t of [cpu.tlb, cpu.tlb2m]) {
      if (t.live === 0) continue;
      for (let i = 0; i < t.entries; i++) {
        if (!t.isLive(i) || t.owner[i] !== owner) continue;
        const va = t.vpn[i]! * t.pageSize;
        if (va + t.pageSize <= start || va >= end) continue;
        if (!entryIsStale(m, pgd, t, i)) continue;
        m.oracle.report(4, cpu.id, va, t.pfn[i]!, m.now, describe(cpu),
          `CPU ${cpu.id} still caches a stale translation for ${m.oracle.formatVa(va)} after the flush completed without it`);
      }
    }
  }
}

/**
 * Before a page-table page is freed, no CPU may cache an upper-level entry pointing
 * at it in its paging-structure caches: a speculative walk may use it at any time
 * (KERNEL-FACTS §1.2), so the flush that precedes the free can never be deferred.
 * Reported as class 4 (a flush that skipped a CPU that could use the entry).
 */
export function checkTableNotCached(m: Machine, table: number, site: string): void {
  for (const cpu of m.cpus) {
    const psc = cpu.psc;
    if (psc.live === 0) continue;
    for (let i = 0; i < psc.valid.length; i++) {
      if (psc.valid[i] !== 1 || psc.table[i] !== table) continue;
      const level = Math.floor(i / psc.size);
      if (psc.lookup(level, psc.key[i]!, psc.pcid[i]!) !== i) continue;
      const va = psc.key[i]! * [2097152, 2 ** 30, 2 ** 39][level]!;
      m.oracle.report(4, cpu.id, va, table, m.now, `a flush reaching CPU ${cpu.id} before ${site} freed the page-table page (such a flush cannot be deferred)`,
        `CPU ${cpu.id} still caches an upper-level entry for ${m.oracle.formatVa(va)} pointing at pfn ${table}, a page-table page being freed`);
    }
  }
}
