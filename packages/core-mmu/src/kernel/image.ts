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

/**
 * cpu_entry_area (arch/x86/include/asm/cpu_entry_area.h and pgtable_areas.h, v5.17): at
 * CPU_ENTRY_AREA_BASE, 0xfffffe0000000000 (PGD slot 0x1fc), the read-only IDT page
 * (CPU_ENTRY_AREA_RO_IDT), then one area per CPU (CPU_ENTRY_AREA_PER_CPU): on x86-64 its
 * GDT page, the entry stack page, then the TSS (the read-only alias the hardware reads
 * RSP0 from). [U] the per-CPU stride: sizeof(struct cpu_entry_area), with the exception
 * stacks and debug-store buffers, taken as 40 pages; it decides only which CPUs' areas
 * share a 2 MiB page table.
 */
const CEA_SPAN_FROM_TOP = 2 ** 41;
const CEA_PER_CPU_PAGES = 40;
/**
 * The per-CPU cpu_tss_rw page, which entry_SYSCALL_64 writes (TSS_sp2) before it switches
 * CR3: in the first per-CPU chunk, embedded in the direct map (page_offset_base
 * 0xffff888000000000 without KASLR, PGD slot 273). [U] where in the direct map: 1 GiB in,
 * and one 2 MiB per-CPU unit a CPU (pcpu_embed_first_chunk's atom size on x86-64).
 */
const DIRECT_MAP_FROM_TOP = 2 ** 47 - 0x088000000000;
const PERCPU_OFFSET = 2 ** 30;
const PERCPU_UNIT = 2 ** 21;

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

  /**
   * Maps the text (read-only, executable) and one boot stack page per CPU (PAGE_KERNEL) in
   * init_mm; under PTI also the pages the entry code touches under the user CR3, which
   * the kernel maps into the user page tables too (pti_clone_user_shared,
   * pti_clone_entry_text): the cpu_entry_area's IDT and, per CPU, its GDT, entry stack
   * and TSS alias (read-only but for the entry stack, as setup_cpu_entry_area maps them
   * on x86-64), and each CPU's cpu_tss_rw page. (The model walks the user PCID's lookups
   * through the one pgd it keeps per mm; the kernel's user pgd maps the same pages.)
   */
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
    /** A data page: PAGE_KERNEL, or PAGE_KERNEL_RO. */
    const data = (va: number, rw = true): void => {
      const off = this.pgtables.pteOffsetAlloc(initMm, va, true);
      const pfn = m.mem.alloc(FrameState.KERNEL);
      const w = m.mem.words;
      w[off] = pteLo(pfn, _PAGE_PRESENT | (rw ? _PAGE_RW | _PAGE_DIRTY : 0) | _PAGE_ACCESSED | global);
      w[off + 1] = pteHi(pfn, _PAGE_NX_HI);
    };
    for (let c = 0; c < m.cpus.length; c++) data(this.stackBase + c * 4096);
    if (f.pti) {
      data(this.idt(), false);
      for (let c = 0; c < m.cpus.length; c++) {
        data(this.gdtOf(c), false);
        data(this.entryStackOf(c));
        data(this.ceaTssOf(c), false);
        data(this.tssOf(c));
      }
    }
  }

  /** The cpu_entry_area's read-only IDT page (mapped under PTI only). */
  idt(): number {
    return 2 ** this.m.format.vaBits - CEA_SPAN_FROM_TOP;
  }

  /** The first page of CPU `cpu`'s cpu_entry_area, its GDT (mapped under PTI only). */
  gdtOf(cpu: number): number {
    return this.idt() + 4096 + cpu * CEA_PER_CPU_PAGES * 4096;
  }

  /** CPU `cpu`'s entry stack page in the cpu_entry_area (mapped under PTI only). */
  entryStackOf(cpu: number): number {
    return this.gdtOf(cpu) + 4096;
  }

  /** The cpu_entry_area's alias of CPU `cpu`'s TSS, which exception delivery reads RSP0 from (mapped under PTI only). */
  ceaTssOf(cpu: number): number {
    return this.gdtOf(cpu) + 2 * 4096;
  }

  /** CPU `cpu`'s cpu_tss_rw page in the direct map's per-CPU chunk (mapped under PTI only). */
  tssOf(cpu: number): number {
    return 2 ** this.m.format.vaBits - DIRECT_MAP_FROM_TOP + PERCPU_OFFSET + cpu * PERCPU_UNIT;
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
