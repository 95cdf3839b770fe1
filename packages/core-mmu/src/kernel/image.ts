/**
 * The kernel image as the TLB sees it: the text a system call runs (the entry code,
 * entry_SYSCALL_64, and the call's own handler) and each CPU's boot stack (what a
 * workload's initial task runs its system calls on; a forked task has its own,
 * vmalloc'd). Mapped in init_mm at boot, before any process copies the kernel half.
 *
 * Global unless page-table isolation says otherwise (v5.17: __default_kernel_pte_mask
 * drops _PAGE_GLOBAL under PTI; the kernel image keeps it only when the CPU has no
 * PCID, pti_kernel_image_global_ok). Where the image sits: __START_KERNEL, 16 MiB
 * into the kernel's virtual range (x86-64 0xffffffff81000000, x86-32 0xc1000000).
 */
import type { Cpu } from "../hw/cpu.js";
import { FrameState } from "../hw/frame-state.js";
import type { Machine } from "../hw/machine.js";
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_GLOBAL, _PAGE_NX_HI, _PAGE_PRESENT, _PAGE_RW, pteHi, pteLo } from "../hw/pte.js";
import type { MmStruct } from "../mm/mm-types.js";
import type { PageTables } from "../mm/pgtable.js";

/** Text pages of the image: the entry page, then one per system call (by first use), shared when there are more calls. */
const TEXT_PAGES = 16;

export class KernelImage {
  /** Virtual address of the entry code's page. */
  readonly entryText: number;
  private readonly stackBase: number;
  private readonly handlers = new Map<string, number>();

  constructor(
    private readonly m: Machine,
    private readonly pgtables: PageTables,
  ) {
    const format = m.format;
    // 0xffffffff81000000 truncated to the format's vaBits, as every kernel address is stored.
    this.entryText = format.name === "x86-32-pae" ? 0xc1000000 : 2 ** format.vaBits - 2 ** 31 + 2 ** 24;
    this.stackBase = this.entryText + TEXT_PAGES * 4096;
  }

  /** Maps the text (read-only, executable) and one boot stack page per CPU (PAGE_KERNEL) in init_mm. */
  map(initMm: MmStruct): void {
    const m = this.m;
    const f = m.features;
    const global = !f.pti ? _PAGE_GLOBAL : 0;
    const imageGlobal = !f.pti || !f.pcid ? _PAGE_GLOBAL : 0;
    const words = m.mem.words;
    for (let i = 0; i < TEXT_PAGES; i++) {
      const off = this.pgtables.pteOffsetAlloc(initMm, this.entryText + i * 4096, true);
      const pfn = m.mem.alloc(FrameState.KERNEL);
      words[off] = pteLo(pfn, _PAGE_PRESENT | _PAGE_ACCESSED | imageGlobal);
      words[off + 1] = pteHi(pfn, 0);
    }
    for (let c = 0; c < m.cpus.length; c++) {
      const off = this.pgtables.pteOffsetAlloc(initMm, this.stackBase + c * 4096, true);
      const pfn = m.mem.alloc(FrameState.KERNEL);
      words[off] = pteLo(pfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | global);
      words[off + 1] = pteHi(pfn, _PAGE_NX_HI);
    }
  }

  /** The text page of system call `name`'s handler. */
  handlerText(name: string): number {
    let va = this.handlers.get(name);
    if (va === undefined) {
      va = this.entryText + (1 + (this.handlers.size % (TEXT_PAGES - 1))) * 4096;
      this.handlers.set(name, va);
    }
    return va;
  }

  /** The top page of `cpu`'s boot stack. */
  bootStack(cpu: Cpu): number {
    return this.stackBase + cpu.id * 4096;
  }
}
