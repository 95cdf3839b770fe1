import { describe, expect, it } from "vitest";
import type { CostParams } from "../cost/cost-model.js";
import { CpuMode } from "../hw/cpu.js";
import { Machine } from "../hw/machine.js";
import { FrameState } from "../hw/memory.js";
import { X86_64_4LEVEL } from "../hw/paging-format.js";
import { TlbFlag } from "../hw/tlb.js";
import { Oracle } from "./oracle.js";

/** A bare machine: nothing here reads a cost. */
function machine(cpus: number, memoryFrames: number): Machine {
  return new Machine(
    { format: X86_64_4LEVEL, cpus, sockets: 1, tlbEntries: 1536, tlbWays: 12, tlb2mEntries: 32, pscEntries: 32, memoryFrames, seed: 1, pteLeakErratum: false },
    {} as CostParams,
  );
}

describe("Machine.cr3Users: the CPUs by the CR3 they hold", () => {
  it("follows every CR3 write, whoever writes it", () => {
    const m = machine(6, 256);
    const sorted = (root: number): number[] => [...m.cr3Users.of(root)].sort((a, b) => a - b);
    expect(sorted(0)).toEqual([0, 1, 2, 3, 4, 5]); // at reset every CR3 is 0
    m.mmu.writeCr3(m.cpus[1]!, 70, 0, false);
    m.mmu.writeCr3(m.cpus[4]!, 70, 0, false);
    m.mmu.writeCr3(m.cpus[2]!, 71, 0, false);
    m.mmu.writeCr3(m.cpus[4]!, 70, 0, false); // the same CR3 again
    expect(sorted(70)).toEqual([1, 4]);
    expect(sorted(71)).toEqual([2]);
    expect(sorted(0)).toEqual([0, 3, 5]);
    m.cpus[1]!.cr3 = 71;
    m.mmu.writeCr3(m.cpus[4]!, 0, 0, false);
    expect(sorted(70)).toEqual([]);
    expect(sorted(71)).toEqual([1, 2]);
    expect(sorted(0)).toEqual([0, 3, 4, 5]);
    expect(sorted(99)).toEqual([]);
    for (const root of [0, 70, 71]) expect(sorted(root)).toEqual(m.cpus.filter((c) => c.cr3 === root).map((c) => c.id));
  });
});

describe("Oracle: who cached a frame, at many CPUs and frames", () => {
  /** CPU `cpu` caches `frame` at page `vpn` (a user, writable translation), as a page walk would fill it. */
  function fill(m: Machine, oracle: Oracle, cpu: number, vpn: number, frame: number): void {
    const c = m.cpus[cpu]!;
    c.tlb.insert(vpn, 0, frame, TlbFlag.US | TlbFlag.RW, m.mem.gen[frame]!, m.mem.wpGen[frame]!);
    oracle.tlbFill(c, vpn * 4096, frame, false);
  }

  // 2,000 frames cached (past the first 1,024 rows the oracle gives out, so its bits have
  // moved to a bigger array) on a 100-CPU machine (four words of CPU bits per frame).
  it("reports a freed page still cached by CPUs above 32, after its rows grew", () => {
    const m = machine(100, 4096);
    const oracle = new Oracle(m);
    const frames: number[] = [];
    for (let i = 0; i < 2000; i++) frames.push(m.mem.alloc(FrameState.USER));
    frames.forEach((f, i) => fill(m, oracle, 1 + (i % 64), 0x10000 + i, f));
    // The last frame is cached by CPU 99 as well; both run user code.
    const last = frames[1999]!;
    fill(m, oracle, 99, 0x10000 + 1999, last);
    m.cpus[99]!.mode = CpuMode.USER;
    m.cpus[1 + (1999 % 64)]!.mode = CpuMode.USER;
    expect(oracle.total).toBe(0);
    m.mem.free(last, "test_free", 0);
    expect(oracle.hazards.map((h) => [h.class, h.cpu, h.pfn])).toEqual([
      [1, 1 + (1999 % 64), last],
      [1, 99, last],
    ]);
    // A frame never cached, freed: nothing to report.
    m.mem.free(m.mem.alloc(FrameState.USER), "test_free", 0);
    expect(oracle.total).toBe(2);
  });
});
