/**
 * "mm/mprotect: use mmu_gather" with the rest of Nadav Amit's "avoid unnecessary TLB
 * flushes" v6 (2022; upstream 4a18419f71cd, c9fe66560bf2, 4f83145721f3 [U], v5.19):
 * 1. mprotect records changed PTEs in an mmu_gather and flushes once, at
 *    tlb_finish_mmu, with freed_tables false, as the pre-patch flush_tlb_range also passed;
 * 2. only PTE changes that need a flush on x86 are recorded (pte_needs_flush,
 *    pte_flags_need_flush in arch/x86/include/asm/tlbflush.h; promotions still flush in v6);
 * 3. change_huge_pmd (mm/huge_memory.c, v5.19 with the series): pmdp_invalidate_ad,
 *    which flushes nothing (a PMD made invalid can no longer get A or D set) except on
 *    Knights Landing (X86_BUG_PTE_LEAK: flush_pmd_tlb_range at once), and
 *    tlb_flush_pmd_range into the gather only when huge_pmd_needs_flush says so; the
 *    gather then flushes with stride PMD_SHIFT, so one INVLPG covers the huge page.
 */
import { PROTECTION_CHANGE_FLUSH, definePlugin, policy, type Cpu, type KGen, type Kernel, type MmStruct, type ProtectionChange, type ProtectionChangeFlush } from "@flushlab/core-mmu";
import { pteNeedsFlush } from "@flushlab/arch-x86";

export class MprotectGather implements ProtectionChangeFlush {
  constructor(private readonly kernel: Kernel) {}

  /** pte_needs_flush (patch 2, arch/x86/include/asm/tlbflush.h). Test plugins override it. */
  needsFlush(oldLo: number, oldHi: number, newLo: number, newHi: number): boolean {
    return pteNeedsFlush(oldLo, oldHi, newLo, newHi, false);
  }

  /** huge_pmd_needs_flush (patch 3): pte_needs_flush's rules on huge PMDs, A included. Test plugins override it. */
  hugePmdNeedsFlush(oldLo: number, oldHi: number, newLo: number, newHi: number): boolean {
    return pteNeedsFlush(oldLo, oldHi, newLo, newHi, true);
  }

  begin(_cpu: Cpu, mm: MmStruct): ProtectionChange {
    const kernel = this.kernel;
    const gather = kernel.mmuGather;
    const needsFlush = (a: number, b: number, c: number, d: number): boolean => this.needsFlush(a, b, c, d);
    const hugeNeedsFlush = (a: number, b: number, c: number, d: number): boolean => this.hugePmdNeedsFlush(a, b, c, d);
    // tlb_gather_mmu in do_mprotect_pkey (it also does inc_tlb_flush_pending).
    const tlb = gather.tlbGatherMmu(mm, "tlb_finish_mmu (mprotect)");
    return {
      beginVma() {},
      pteChanged(addr, oldLo, oldHi, newLo, newHi) {
        // change_pte_range: if (pte_needs_flush(oldpte, ptent)) tlb_flush_pte_range(tlb, addr, PAGE_SIZE)
        if (needsFlush(oldLo, oldHi, newLo, newHi)) tlb.flushPteRange(addr, 4096);
      },
      *hugePmdChanged(cpu: Cpu, addr: number, oldLo: number, oldHi: number, newLo: number, newHi: number): KGen {
        // pmdp_invalidate_ad: no flush now, but on X86_BUG_PTE_LEAK (KNL sets A/D in an
        // invalid entry), where flush_pmd_tlb_range runs at once as pmdp_invalidate's did.
        if (kernel.machine.params.pteLeakErratum) yield* kernel.policies.archTlb.flushTlbMmRange(cpu, mm, addr, addr + 2097152, 12, false);
        // if (huge_pmd_needs_flush(oldpmd, entry)) tlb_flush_pmd_range(tlb, addr, HPAGE_PMD_SIZE)
        if (hugeNeedsFlush(oldLo, oldHi, newLo, newHi)) tlb.flushPmdRange(addr, 2097152);
      },
      // tlb_end_vma: no flush on x86 (the ranges of all VMAs merge).
      *endVma(): KGen {},
      *finish(cpu: Cpu): KGen {
        yield* gather.tlbFinishMmu(cpu, tlb);
      },
    };
  }
}

export const mprotectGather = definePlugin({
  name: "mprotect-gather",
  description: "mprotect flushes once through mmu_gather, only for PTE changes x86 needs flushed",
  package: "@flushlab/patch-mprotect-gather",
  patch: { title: "mm/mprotect: use mmu_gather (+ avoid unnecessary TLB flushes v6, patches 2-3)", commit: "4a18419f71cd c9fe66560bf2 4f83145721f3", kernel: "v5.19 [U]", author: "Nadav Amit" },
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(PROTECTION_CHANGE_FLUSH, (kernel) => new MprotectGather(kernel))],
  reproduction: {
    workload: "mprotect-bench",
    kernel: "v5.17",
    profile: "kvm-guest",
    runs: 3,
    requireNoHazards: true,
    figures: [
      { metric: "cycles_prot_read", kind: "baseline", published: 3494, accept: { min: 2620.5, max: 4367.5 }, source: "seed 001 cover letter: KVM guest, 1 thread, cycles per mprotect(PROT_READ), v5.17-rc6-mmots (±25%)" },
      { metric: "cycles_prot_read", kind: "patched", published: 2725, accept: { min: 2043.75, max: 3406.25 }, source: "seed 001: the same with the series (±25%)" },
      { metric: "cycles_prot_read", kind: "change_pct", published: -22, accept: { min: -32, max: -12 }, source: "seed 001: PROT_READ 3494 → 2725 (±10 points)" },
      { metric: "cycles_prot_read_write", role: "calibration", kind: "baseline", published: 3952, accept: { min: 2964, max: 4940 }, source: "seed 001: KVM guest, 1 thread, cycles per mprotect(PROT_READ|PROT_WRITE) (±25%)" },
      { metric: "cycles_prot_read_write", role: "calibration", kind: "patched", published: 2724, accept: { min: 2043, max: 3405 }, source: "seed 001: the same with the series (±25%)" },
      { metric: "cycles_prot_read_write", role: "calibration", kind: "change_pct", published: -31, accept: { min: -41, max: -21 }, source: "seed 001: PROT_READ|PROT_WRITE 3952 → 2724 (±10 points)" },
    ],
  },
});

export default mprotectGather;
