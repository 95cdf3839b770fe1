/**
 * Context tracking's parked work (seed 002's series, on v6.5-rc1) runs at every kernel
 * entry of a nohz_full CPU: from user mode, and also from idle (an interrupt) or when
 * a kernel thread starts there.
 */
import { describe, expect, it } from "vitest";
import { CONTEXT_WORK_TLBI, CORE_DEFAULTS, CpuMode, Kernel, Machine, assemblePolicies, pagingFormatByName } from "@flushlab/core-mmu";
import { bareMetal, x86 } from "../src/index.js";

function boot() {
  const machine = new Machine(
    { format: pagingFormatByName("x86-64"), cpus: 2, sockets: 1, tlbEntries: 64, tlbWays: 4, tlb2mEntries: 8, pscEntries: 8, memoryFrames: 4096, seed: 1, pteLeakErratum: false },
    bareMetal.params,
  );
  const kernel = new Kernel(machine);
  assemblePolicies(kernel, [...CORE_DEFAULTS, ...x86.defaults], []);
  kernel.boot();
  kernel.ct.nohzFull[1] = 1;
  return { machine, kernel, cpu: machine.cpus[1]! };
}

describe("parked work runs at every kernel entry of a nohz_full CPU", () => {
  it("an idle CPU accepts parked work (ct_set_cpu_work: outside the kernel) and runs it when an interrupt wakes it", () => {
    const { machine, kernel, cpu } = boot();
    expect(cpu.mode).toBe(CpuMode.IDLE);
    expect(kernel.ct.ctSetCpuWork(cpu, CONTEXT_WORK_TLBI)).toBe(true);
    kernel.smp.queueCsd(machine.cpus[0]!, cpu, { func: () => 0, completion: null, sender: 0 }, 0);
    machine.engine.run();
    expect(kernel.counters.toRecord()["deferred_flushes"]).toBe(1);
    expect(kernel.ct.work[1]).toBe(0);
    expect(cpu.mode).toBe(CpuMode.IDLE);
  });

  it("a CPU in the kernel refuses it (the flush is sent as an IPI instead)", () => {
    const { kernel, cpu } = boot();
    cpu.mode = CpuMode.KERNEL;
    expect(kernel.ct.ctSetCpuWork(cpu, CONTEXT_WORK_TLBI)).toBe(false);
  });

  it("a kernel thread started on the CPU runs it first", () => {
    const { kernel, cpu } = boot();
    kernel.ct.ctSetCpuWork(cpu, CONTEXT_WORK_TLBI);
    kernel.kthreadEnter(cpu);
    expect(kernel.counters.toRecord()["deferred_flushes"]).toBe(1);
  });
});
