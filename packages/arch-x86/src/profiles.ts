/**
 * Cost profiles: every parameter in cycles with its source. Tags as in
 * KERNEL-FACTS.md: [K] kernel source or LKML, [P] paper or page, [D] derived from
 * read numbers, [U] assumption (no citable measurement found; a hypothesis to test).
 * No figure here is calibrated against a published benchmark result yet: issues name
 * calibration figures, and none was named for the foundation.
 */
import type { CostModel } from "@flushlab/core-mmu";

const SHOOTDOWN_SPLIT =
  "[D/U] split of the ≈2,000-cycle same-socket remote-shootdown increment (KERNEL-FACTS §8, from Amit 2022 Haswell bare metal ≈2,150) into send / deliver / handle / ack; the split itself is an assumption";

export const bareMetal: CostModel = {
  name: "bare-metal",
  description: "x86 bare metal, Haswell/IvyBridge-class core, no PTI",
  params: {
    freqHz: 2.6e9,
    userAccess: 5,
    pageWalk: 45,
    pageWalkPsc: 25,
    dirtyAssist: 500,
    invlpg: 100,
    cr3Flush: 96,
    globalFlush: 200,
    pageFaultHw: 1050,
    faultHandler: 500,
    allocZeroPage: 1000,
    copyPage: 1200,
    ptAlloc: 1000,
    syscall: 200,
    mmapRegion: 2000,
    unmapBase: 500,
    zapPte: 60,
    freePage: 100,
    mprotectBase: 1000,
    changePte: 50,
    flushBookkeeping: 100,
    csdQueue: 50,
    ipiSend: 100,
    ipiLatencySameSocket: 600,
    ipiLatencyCrossSocket: 1200,
    irqEntryExit: 700,
    csdRun: 50,
    ackLatencySameSocket: 300,
    ackLatencyCrossSocket: 600,
    switchMm: 200,
  },
  sources: {
    freqHz: "[U] 2.6 GHz, the i5-3320M base clock of Dave Hansen's 2014 flush measurements",
    userAccess: "[U] an L1-hitting store, ~4-5 cycles (Intel optimization manual latencies)",
    pageWalk: "[K] Dave Hansen 2014: dTLB miss 17.1 ns on i5-3320M ≈ 45 cycles (walks hitting the caches)",
    pageWalkPsc: "[U] a walk that starts at the PTE page through a PDE-cache hit: about half of pageWalk",
    dirtyAssist: "[K] Nadav Amit, RFC cover 2022-07-18: setting D on the first write costs >500 cycles",
    invlpg: "[K] Dave Hansen 2014: INVLPG 'true cost' ≈100 cycles per page (Ingo Molnar 2015 measured 260)",
    cr3Flush: "[K] Ingo Molnar, LKML Jun 2015: CR3-write full local flush 96 cycles (instruction only)",
    globalFlush: "[U] Hansen 2014: a full flush is 'more expensive … but not by much'; taken as 2× cr3Flush",
    pageFaultHw: "[P] Linus Torvalds 2014-04-30: ≈715 cycles exception + ≈330 iret on Haswell",
    faultHandler: "[U] handle_mm_fault software path to the PTE, without allocation",
    allocZeroPage: "[U] page allocation (~300) plus clear_page of 4 KiB (~700)",
    copyPage: "[U] page allocation plus copy_user_highpage of 4 KiB",
    ptAlloc: "[U] as allocZeroPage: allocate and zero a page-table page",
    syscall: "[U] syscall entry plus exit without PTI",
    mmapRegion: "[U] get_unmapped_area, vm_area_struct allocation, VMA tree insert",
    unmapBase: "[U] VMA lookup and split, lru_add_drain, gather set-up",
    zapPte: "[U] ptep_get_and_clear_full, page_remove_rmap, rss counters, gather",
    freePage: "[U] free_pages_and_swap_cache per page to the per-CPU lists",
    mprotectBase: "[U] do_mprotect_pkey fixed work (vma lookup, mprotect_fixup)",
    changePte: "[U] ptep_modify_prot_start/commit of one PTE",
    flushBookkeeping: "[U] inc_mm_tlb_gen, get_flush_tlb_info, cpumask scan",
    csdQueue: SHOOTDOWN_SPLIT,
    ipiSend: SHOOTDOWN_SPLIT,
    ipiLatencySameSocket: SHOOTDOWN_SPLIT,
    ipiLatencyCrossSocket: "[U] 2× the same-socket latency (no citable measurement; KERNEL-FACTS §8)",
    irqEntryExit: SHOOTDOWN_SPLIT,
    csdRun: SHOOTDOWN_SPLIT,
    ackLatencySameSocket: SHOOTDOWN_SPLIT,
    ackLatencyCrossSocket: "[U] 2× the same-socket ack: a cross-socket cache-line transfer",
    switchMm: "[U] switch_mm_irqs_off bookkeeping besides the CR3 write",
  },
};

export const PROFILES: Readonly<Record<string, CostModel>> = { "bare-metal": bareMetal };
