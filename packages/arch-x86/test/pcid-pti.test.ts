/**
 * PCID and PTI as arch/x86/mm/tlb.c v5.17 has them, on a kernel built directly:
 * ASIDs reused with and without a flush, the user PCID flushed at the next return to
 * user mode (without INVPCID) or per address (with it), and kernel mappings that are
 * not global under PTI.
 */
import { describe, expect, it } from "vitest";
import { CORE_DEFAULTS, CpuMode, Kernel, Machine, TlbFlag, assemblePolicies, pagingFormatByName, type CpuFeatures, type MmStruct } from "@flushlab/core-mmu";
import { bareMetal, kernPcid, userPcid, x86 } from "../src/index.js";

function boot(features: CpuFeatures) {
  const machine = new Machine(
    { format: pagingFormatByName("x86-64"), cpus: 2, sockets: 1, tlbEntries: 64, tlbWays: 4, tlb2mEntries: 8, pscEntries: 8, memoryFrames: 4096, seed: 1, pteLeakErratum: false, features },
    bareMetal.params,
  );
  const kernel = new Kernel(machine);
  assemblePolicies(kernel, [...CORE_DEFAULTS, ...x86.defaults], []);
  kernel.boot();
  return { machine, kernel, cpu: machine.cpus[0]!, arch: kernel.policies.archTlb };
}

/** A user page of `mm` mapped (PTE present, user, writable) and its TLB entry filled on `cpu` in user mode. */
function userPage(k: ReturnType<typeof boot>, mm: MmStruct, va: number): void {
  const { machine, kernel, cpu } = k;
  const off = kernel.pgtables.pteOffsetAlloc(mm, va, false);
  const pfn = machine.mem.alloc(1);
  machine.mem.words[off] = (pfn * 4096 + 0x67) >>> 0; // P RW US A D
  machine.mem.words[off + 1] = Math.floor(pfn / 2 ** 20);
  cpu.mode = CpuMode.USER;
  expect(machine.mmu.access(cpu, va, false, true)).toBeGreaterThan(0);
  cpu.mode = CpuMode.KERNEL;
}

const VA = 0x400000;

describe("PCID (v5.17): six dynamic ASIDs per CPU", () => {
  it("an mm switched back to while its ASID's tlb_gen is current keeps its TLB entries (CR3 written with NOFLUSH)", () => {
    const k = boot({ pcid: true, invpcid: false, pti: false });
    const [a, b] = [k.kernel.createProcess(), k.kernel.createProcess()];
    k.arch.switchMmIrqsOff(k.cpu, a);
    userPage(k, a, VA);
    const asidA = k.kernel.tlbstate[0]!.loadedMmAsid;
    k.arch.switchMmIrqsOff(k.cpu, b);
    expect(k.kernel.tlbstate[0]!.loadedMmAsid).not.toBe(asidA);
    k.arch.switchMmIrqsOff(k.cpu, a);
    expect(k.kernel.tlbstate[0]!.loadedMmAsid).toBe(asidA);
    expect(k.cpu.pcid).toBe(kernPcid(asidA));
    expect(k.cpu.tlb.lookup(VA / 4096, k.cpu.pcid)).toBeGreaterThanOrEqual(0);
  });

  it("an mm whose tlb_gen moved on while it was switched out gets its ASID flushed", () => {
    const k = boot({ pcid: true, invpcid: false, pti: false });
    const [a, b] = [k.kernel.createProcess(), k.kernel.createProcess()];
    k.arch.switchMmIrqsOff(k.cpu, a);
    userPage(k, a, VA);
    k.arch.switchMmIrqsOff(k.cpu, b);
    a.tlbGen++; // a flush of a elsewhere: this CPU left a's cpumask, so no IPI came
    k.arch.switchMmIrqsOff(k.cpu, a);
    expect(k.cpu.tlb.lookup(VA / 4096, k.cpu.pcid)).toBe(-1);
  });

  it("a seventh mm takes an ASID round robin, and the mm that owned it flushes when it comes back", () => {
    const k = boot({ pcid: true, invpcid: false, pti: false });
    const mms = Array.from({ length: 7 }, () => k.kernel.createProcess());
    k.arch.switchMmIrqsOff(k.cpu, mms[0]!);
    userPage(k, mms[0]!, VA);
    for (const mm of mms.slice(1)) k.arch.switchMmIrqsOff(k.cpu, mm);
    k.arch.switchMmIrqsOff(k.cpu, mms[0]!);
    expect(k.cpu.tlb.lookup(VA / 4096, k.cpu.pcid)).toBe(-1);
  });

  it("without PCID every switch to another mm flushes", () => {
    const k = boot({ pcid: false, invpcid: false, pti: false });
    const [a, b] = [k.kernel.createProcess(), k.kernel.createProcess()];
    k.arch.switchMmIrqsOff(k.cpu, a);
    userPage(k, a, VA);
    k.arch.switchMmIrqsOff(k.cpu, b);
    k.arch.switchMmIrqsOff(k.cpu, a);
    expect(k.cpu.pcid).toBe(0);
    expect(k.cpu.tlb.lookup(VA / 4096, 0)).toBe(-1);
  });
});

describe("PTI (v4.15+, as in v5.17)", () => {
  function flushOne(features: CpuFeatures) {
    const k = boot(features);
    const a = k.kernel.createProcess();
    k.arch.switchMmIrqsOff(k.cpu, a);
    userPage(k, a, VA);
    userPage(k, a, VA + 4096);
    const asid = k.kernel.tlbstate[0]!.loadedMmAsid;
    // In the kernel (kernel PCID), flush one user address as flush_tlb_func's partial path does.
    a.tlbGen++;
    (k.arch as unknown as { flushTlbFunc(c: unknown, f: unknown): number }).flushTlbFunc(k.cpu, { mm: a, start: VA, end: VA + 4096, strideShift: 12, freedTables: false, newTlbGen: a.tlbGen, initiatingCpu: 0 });
    const u = userPcid(asid);
    const before = { page: k.cpu.tlb.lookup(VA / 4096, u), other: k.cpu.tlb.lookup(VA / 4096 + 1, u) };
    k.cpu.mode = CpuMode.USER; // SWITCH_TO_USER_CR3
    const after = { page: k.cpu.tlb.lookup(VA / 4096, u), other: k.cpu.tlb.lookup(VA / 4096 + 1, u) };
    return { k, before, after, u };
  }

  it("user mode runs in the user PCID (kernel PCID | bit 11), the kernel in the kernel PCID", () => {
    const k = boot({ pcid: true, invpcid: false, pti: true });
    const a = k.kernel.createProcess();
    k.arch.switchMmIrqsOff(k.cpu, a);
    const asid = k.kernel.tlbstate[0]!.loadedMmAsid;
    k.cpu.mode = CpuMode.USER;
    expect(k.cpu.pcid).toBe(userPcid(asid));
    k.cpu.mode = CpuMode.KERNEL;
    expect(k.cpu.pcid).toBe(kernPcid(asid));
  });

  it("without INVPCID, flushing one user address drops the whole user PCID at the next return to user mode", () => {
    const { before, after } = flushOne({ pcid: true, invpcid: false, pti: true });
    expect(before.page).toBeGreaterThanOrEqual(0); // still cached until the exit
    expect(after.page).toBe(-1);
    expect(after.other).toBe(-1); // invalidate_user_asid: the other page went too
  });

  it("with INVPCID, only that address goes from the user PCID, at once", () => {
    const { before, after } = flushOne({ pcid: true, invpcid: true, pti: true });
    expect(before.page).toBe(-1);
    expect(after.other).toBeGreaterThanOrEqual(0);
  });

  it("kernel mappings are not global under PTI, and global without it", () => {
    for (const pti of [true, false]) {
      const k = boot({ pcid: true, invpcid: false, pti });
      const va = k.kernel.image.entryText;
      k.kernel.entry.kernelAccessCost(k.cpu, va, false);
      const i = k.cpu.tlb.probe(va / 4096);
      expect(i).toBeGreaterThanOrEqual(0);
      expect((k.cpu.tlb.flags[i]! & TlbFlag.G) !== 0).toBe(!pti);
    }
  });
});

describe("a context switch made from a user task (TaskApi.switchTo)", () => {
  it("runs in the kernel, and the task comes back to user mode in its new ASID's user PCID", () => {
    const k = boot({ pcid: true, invpcid: false, pti: true });
    const [a, b] = [k.kernel.createProcess(), k.kernel.createProcess()];
    k.arch.switchMmIrqsOff(k.cpu, a);
    k.cpu.mode = CpuMode.USER;
    k.kernel.fork.switchToTask(k.cpu, { pid: 2, mm: b, stack: { start: 0, end: 0, pages: [], kind: "vmalloc", huge: false } });
    expect(k.cpu.mode).toBe(CpuMode.USER);
    expect(k.cpu.pcid).toBe(userPcid(k.kernel.tlbstate[0]!.loadedMmAsid));
  });
});

describe("PTI: what the entry code touches under the user CR3 (entry_64.S, v5.17)", () => {
  /** Runs `body` as system call "x" on CPU 0 (entry, body, return), to the end. */
  function syscall(k: ReturnType<typeof boot>, body: () => void): void {
    const g = k.kernel.entry.syscall(k.cpu, "x", (function* () {
      body();
    })());
    while (g.next().done !== true);
  }

  function setup() {
    const k = boot({ pcid: true, invpcid: false, pti: true });
    const a = k.kernel.createProcess();
    k.arch.switchMmIrqsOff(k.cpu, a);
    k.cpu.mode = CpuMode.USER;
    const u = userPcid(k.kernel.tlbstate[0]!.loadedMmAsid);
    const img = k.kernel.image;
    const has = (va: number): boolean => k.cpu.tlb.lookup(va / 4096, u) >= 0;
    const walks = (): number => k.kernel.counters.toRecord()["pti_entry_walks"]!;
    // A system call that flushes the user PCID at its return (flush_tlb_local: invalidate_user_asid).
    syscall(k, () => k.arch.flushTlbLocal(k.cpu));
    return { k, img, has, walks };
  }

  it("a system call's return after the user PCID was flushed looks up the entry stack and the entry text there, and the next call's entry the per-CPU TSS", () => {
    const { k, img, has, walks } = setup();
    expect(k.cpu.mode).toBe(CpuMode.USER);
    expect(has(img.entryStackOf(0))).toBe(true);
    expect(has(img.entryText)).toBe(true);
    expect(has(img.tssOf(0))).toBe(false); // written on entry, before the flush
    const w0 = walks();
    syscall(k, () => {});
    expect(walks() - w0).toBe(1); // the TSS's sp2; the text and the entry stack hit
    expect(has(img.tssOf(0))).toBe(true);
    const w1 = walks();
    syscall(k, () => {});
    expect(walks()).toBe(w1); // nothing flushed since: every lookup hits
  });

  it("an exception from user mode reads the IDT, the GDT and the cpu_entry_area's TSS and pushes on the entry stack, and does not touch the per-CPU TSS", () => {
    const { k, img, has } = setup();
    k.cpu.mode = CpuMode.KERNEL; // a page fault's entry
    k.cpu.mode = CpuMode.USER; // its iret
    expect(has(img.idt())).toBe(true);
    expect(has(img.gdtOf(0))).toBe(true);
    expect(has(img.ceaTssOf(0))).toBe(true);
    expect(has(img.entryStackOf(0))).toBe(true);
    expect(has(img.tssOf(0))).toBe(false);
  });

  it("without PTI the entry code runs on the kernel's page tables: nothing is looked up in a user PCID", () => {
    const k = boot({ pcid: true, invpcid: false, pti: false });
    const a = k.kernel.createProcess();
    k.arch.switchMmIrqsOff(k.cpu, a);
    k.cpu.mode = CpuMode.USER;
    const g = k.kernel.entry.syscall(k.cpu, "x", (function* () {})());
    while (g.next().done !== true);
    expect(k.kernel.counters.toRecord()["pti_entry_walks"]).toBe(0);
  });
});
