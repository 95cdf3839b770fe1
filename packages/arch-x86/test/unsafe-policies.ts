/**
 * The deliberately unsafe policies (and one meant as cost only) that this package's
 * scenario tests run, in one module so that `@flushlab/check`'s tests can search with
 * the same plugins (packages/check/test/unsafe-policies.test.ts). A fixture, not a test:
 * neither the build (tsconfig includes src only) nor vitest (`*.test.ts`) picks it up.
 */
import {
  ARCH_TLB,
  MMU_GATHER_FLUSH,
  MOVE_PTES_FLUSH,
  PROTECTION_CHANGE_FLUSH,
  VMALLOC_SYNC,
  VM_WRITE,
  definePlugin,
  policy,
  type Cpu,
  type FlushlabPlugin,
  type KGen,
  type Kernel,
  type MmStruct,
  type MmuGather,
  type MovePtesLocks,
} from "@flushlab/core-mmu";
import { X86Tlb, type FlushTlbInfo } from "../src/index.js";

const testPatch = { title: "test", commit: "none", kernel: "none" } as const;

/** Unsafe (class 1): frees the gathered pages before flushing the TLBs. */
export const freeBeforeFlush = definePlugin({
  name: "test-free-before-flush",
  description: "tlb_flush_mmu that frees first and flushes after",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MMU_GATHER_FLUSH, (kernel) => ({
      *tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
        yield* kernel.mmuGather.tlbFlushMmuFree(cpu, tlb);
        yield* kernel.mmuGather.tlbFlush(cpu, tlb);
      },
    })),
  ],
});

/** Unsafe (class 2, and 7 once the call returned): mprotect that never flushes. */
export const noProtFlush = definePlugin({
  name: "test-no-mprotect-flush",
  description: "change_protection without flush_tlb_range",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(PROTECTION_CHANGE_FLUSH, () => ({ begin: () => ({ beginVma() {}, pteChanged() {}, *hugePmdChanged(): KGen {}, *endVma(): KGen {}, *finish(): KGen {} }) }))],
});

/**
 * Meant as cost only: skips mprotect's flush when the change only granted rights (a
 * promotion), judged by the VMA ending writable. Where a read-only PTE becomes writable
 * (its unit test) that costs a spurious fault and nothing else. It is not cost only in
 * general, as check finds (packages/check/test/unsafe-policies.test.ts): on a private
 * mapping PROT_READ|PROT_WRITE is PAGE_COPY, so mprotect(PROT_READ|PROT_WRITE) of a page
 * already written turns its writable PTE read-only with the VMA writable, and the flush
 * it skips leaves a writable entry (class 2).
 */
export const skipPromotionFlush = definePlugin({
  name: "test-skip-promotion-flush",
  description: "change_protection that does not flush when the VMA became writable",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(PROTECTION_CHANGE_FLUSH, (kernel) => {
      const arch = kernel.policies.archTlb;
      return {
        begin: (_cpu: Cpu, mm: MmStruct) => {
          let pages = 0;
          return {
            beginVma() {},
            pteChanged() {
              pages++;
            },
            *hugePmdChanged(cpu: Cpu, addr: number): KGen {
              yield* arch.flushTlbMmRange(cpu, mm, addr, addr + 2097152, 12, false);
              pages += 512;
            },
            *endVma(cpu: Cpu, start: number, end: number): KGen {
              if (pages > 0 && (mm.findVma(start)!.flags & VM_WRITE) === 0) yield* arch.flushTlbMmRange(cpu, mm, start, end, 12, true);
              pages = 0;
            },
            *finish(): KGen {},
          };
        },
      };
    }),
  ],
});

/** Unsafe (classes 4 and 7): flush_tlb_mm_range that only flushes the local CPU (ignores mm_cpumask). */
export class LocalOnlyTlb extends X86Tlb {
  override *nativeFlushTlbMulti(cpu: Cpu, _mask: Uint8Array, info: FlushTlbInfo, pre = 0): KGen<Uint8Array> {
    const only = new Uint8Array(this.m.cpus.length);
    only[cpu.id] = 1;
    return yield* super.nativeFlushTlbMulti(cpu, only, info, pre);
  }
}

/** Unsafe (class 4): skips lazy CPUs even when page tables were freed. */
export class SkipLazyTlb extends X86Tlb {
  override *nativeFlushTlbMulti(cpu: Cpu, mask: Uint8Array, info: FlushTlbInfo, pre = 0): KGen<Uint8Array> {
    return yield* super.nativeFlushTlbMulti(cpu, mask, { ...info, freedTables: false }, pre);
  }
}

/** A plugin whose ARCH_TLB policy is `cls`. */
export const archPlugin = (name: string, cls: new (k: Kernel) => X86Tlb): FlushlabPlugin =>
  definePlugin({
    name,
    description: name,
    patch: testPatch,
    appliesTo: ["x86-64", "x86-32-pae"],
    policies: [policy(ARCH_TLB, (kernel) => new cls(kernel))],
  });

export const localOnly = archPlugin("test-local-only", LocalOnlyTlb);
export const skipLazy = archPlugin("test-skip-lazy", SkipLazyTlb);

/** Unsafe on x86-32 PAE (class 5): vmalloc_sync_unmappings does nothing, on every arch. */
export const noUnmapSync = definePlugin({
  name: "test-no-unmap-sync",
  description: "vmalloc_sync_unmappings as a no-op",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(VMALLOC_SYNC, (_kernel, real) => ({ vmallocSyncMappings: (cpu: Cpu) => real.vmallocSyncMappings(cpu), *vmallocSyncUnmappings(): KGen {} }))],
});

/** Unsafe (class 1): flush_tlb_kernel_range that does nothing. */
export class NoKernelFlush extends X86Tlb {
  override *flushTlbKernelRange(): KGen {}
}
export const noKernelFlush = definePlugin({
  name: "test-no-kernel-flush",
  description: "flush_tlb_kernel_range as a no-op",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [policy(ARCH_TLB, (kernel) => new NoKernelFlush(kernel))],
});

/** Unsafe (classes 2 and 7 on MADV_FREE): tlb_flush_mmu that frees the gathered pages but never flushes the TLBs. */
export const noGatherFlush = definePlugin({
  name: "test-no-gather-flush",
  description: "tlb_flush_mmu without tlb_flush_mmu_tlbonly",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MMU_GATHER_FLUSH, (kernel) => ({
      *tlbFlushMmu(cpu: Cpu, tlb: MmuGather): KGen {
        tlb.resetRange();
        yield* kernel.mmuGather.tlbFlushMmuFree(cpu, tlb);
      },
    })),
  ],
});

/** Unsafe (class 7): move_ptes drops both locks and nothing ever flushes the old range. */
export const mremapNeverFlush = definePlugin({
  name: "test-mremap-no-flush",
  description: "move_ptes without any flush of the old range",
  patch: testPatch,
  appliesTo: ["x86-64", "x86-32-pae"],
  policies: [
    policy(MOVE_PTES_FLUSH, () => ({
      begin: () => ({
        pteMoved() {},
        *endMovePtes(_cpu, _start, _end, ptl: MovePtesLocks): KGen {
          ptl.unlockNew();
          ptl.unlockOld();
        },
        *finish(): KGen {},
      }),
    })),
  ],
});
