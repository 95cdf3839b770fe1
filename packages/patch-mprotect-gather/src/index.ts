/**
 * "mm/mprotect: use mmu_gather" with the rest of Nadav Amit's "avoid unnecessary TLB
 * flushes" v6 (2022; upstream 4a18419f71cd, c9fe66560bf2, 4f83145721f3 [U], v5.19):
 * 1. mprotect records changed PTEs in an mmu_gather and flushes once, at
 *    tlb_finish_mmu, with freed_tables false (lazy CPUs are not interrupted);
 * 2. only PTE changes that need a flush on x86 are recorded (pte_needs_flush,
 *    KERNEL-FACTS §1.3; promotions still flush in v6);
 * 3. a huge PMD costs one INVLPG and pmdp_invalidate_ad does not flush at once
 *    (THP is not modelled yet: see the package README).
 */
import "reflect-metadata";
import { inject, injectable } from "tsyringe";
import {
  MACHINE,
  PROTECTION_CHANGE_FLUSH,
  definePlugin,
  pteNeedsFlush,
  type Cpu,
  type KGen,
  type Kernel,
  type Machine,
  type MmStruct,
  type ProtectionChange,
  type ProtectionChangeFlush,
} from "@flushlab/core-mmu";

@injectable()
export class MprotectGather implements ProtectionChangeFlush {
  private readonly m: Machine;

  constructor(@inject(MACHINE) m: Machine) {
    this.m = m;
  }

  begin(_cpu: Cpu, mm: MmStruct): ProtectionChange {
    const k = this.m.kernel as Kernel;
    // tlb_gather_mmu in do_mprotect_pkey (it also does inc_tlb_flush_pending).
    const tlb = k.tlbGatherMmu(mm, "tlb_finish_mmu (mprotect)");
    return {
      beginVma() {},
      pteChanged(addr, oldLo, oldHi, newLo, newHi) {
        // change_pte_range: if (pte_needs_flush(oldpte, ptent)) tlb_flush_pte_range(tlb, addr, PAGE_SIZE)
        if (pteNeedsFlush(oldLo, oldHi, newLo, newHi, false)) tlb.flushPteRange(addr, 4096);
      },
      // tlb_end_vma: no flush on x86 (the ranges of all VMAs merge).
      *endVma(): KGen {},
      *finish(cpu: Cpu): KGen {
        yield* k.tlbFinishMmu(cpu, tlb);
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
  overrides: [PROTECTION_CHANGE_FLUSH],
  register(container) {
    container.register(PROTECTION_CHANGE_FLUSH, { useClass: MprotectGather });
  },
});

export default mprotectGather;
