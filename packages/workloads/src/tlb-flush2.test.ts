import { describe, expect, it } from "vitest";
import { ROBOT_METRIC_NAMES, simulate, type Cpu, type KernelVersion, type RunResult, type SimulateInput } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { tlbFlush2 } from "./tlb-flush2.js";

const run = (arch: "x86-64" | "x86-32-pae", cpus: number, params = {}, seed = 1, kernel?: KernelVersion, instrument?: SimulateInput["instrument"]): RunResult =>
  simulate({
    options: { workload: "tlb-flush2", machine: { ...x86.defaultMachine, arch, cpus, memoryMiB: 64 }, profile: "bare-metal", seed, plugins: [], params, ...(kernel ? { kernel } : {}) },
    arch: x86,
    workload: tlbFlush2,
    plugins: [],
    ...(instrument ? { instrument } : {}),
  });

describe.each(["x86-64", "x86-32-pae"] as const)("tlb-flush2 on %s", (arch) => {
  it("every madvise is a one-page shootdown to the other threads' CPUs; no hazards", () => {
    const r = run(arch, 4, { regions: 1, memory_kib: 128 });
    const iterations = 4 * 32;
    expect(r.counters["tlb_flush2_iterations"]).toBe(iterations);
    expect(r.counters["madvise_calls"]).toBe(iterations);
    expect(r.counters["nr_tlb_remote_flush"]).toBeGreaterThanOrEqual(iterations);
    expect(r.counters["ipi_sent"]).toBeGreaterThan(0);
    expect(r.interrupts.TLB.every((n) => n > 0)).toBe(true);
    expect(r.counters["pgfault_zero_page"]).toBe(iterations); // the read-back maps the zero page
    expect(r.hazards).toEqual([]);
    expect(r.metrics["ops_per_s"]).toBeGreaterThan(0);
  });

  it("one thread: no IPIs at all", () => {
    const r = run(arch, 4, { threads: 1, regions: 1, memory_kib: 64 });
    expect(r.counters["ipi_sent"]).toBe(0);
    expect(r.counters["nr_tlb_remote_flush"]).toBe(0);
  });
});

describe("5-level paging (LA57)", () => {
  it("runs on 5-level page tables with the same flush behaviour", () => {
    const five = simulate({ options: { workload: "tlb-flush2", machine: { ...x86.defaultMachine, cpus: 4, memoryMiB: 64, la57: true }, profile: "bare-metal", seed: 3, plugins: [], params: { regions: 1, memory_kib: 128 } }, arch: x86, workload: tlbFlush2, plugins: [] });
    const four = run("x86-64", 4, { regions: 1, memory_kib: 128 }, 3);
    expect(five.hazards).toEqual([]);
    expect(five.counters["madvise_calls"]).toBe(four.counters["madvise_calls"]);
    expect(five.counters["nr_tlb_remote_flush"]).toBe(four.counters["nr_tlb_remote_flush"]);
    expect(five.counters["pages_in_use_peak"]!).toBeGreaterThan(four.counters["pages_in_use_peak"]!); // one more level of tables
  });
});

describe("determinism", () => {
  it("same config and seed → byte-identical result", () => {
    const a = JSON.stringify(run("x86-64", 4, { regions: 1, memory_kib: 128 }, 7));
    const b = JSON.stringify(run("x86-64", 4, { regions: 1, memory_kib: 128 }, 7));
    expect(a).toBe(b);
  });

  it("more threads cost more per iteration (each shootdown reaches more CPUs)", () => {
    const two = run("x86-64", 8, { threads: 2, regions: 1, memory_kib: 128 });
    const eight = run("x86-64", 8, { threads: 8, regions: 1, memory_kib: 128 });
    expect(eight.metrics["cycles_per_op"]!).toBeGreaterThan(two.metrics["cycles_per_op"]!);
    expect(eight.metrics["shootdown_ipis_per_op"]!).toBeGreaterThan(two.metrics["shootdown_ipis_per_op"]!);
  });
});

describe("threads mode as will-it-scale runs it: mmap_lock, sleeping threads, idle CPUs", () => {
  const timed = { duration_us: 1500, warmup_us: 500 };
  it("threads sleep on mmap_lock, their CPUs idle, and every sleeper is woken; no hazards", () => {
    const r = run("x86-64", 8, timed);
    const c = r.counters;
    expect(c["sched_sleeps"]).toBeGreaterThan(0);
    expect(c["rwsem_sleep_writer"]! + c["rwsem_sleep_reader"]!).toBeGreaterThan(0);
    // Every wakeup is of a sleeper (sleeps still pending when the window closes are the difference).
    expect(c["ttwu_count"]).toBeLessThanOrEqual(c["sched_sleeps"]!);
    expect(c["sched_sleeps"]! - c["ttwu_count"]!).toBeLessThan(8);
    // intel_idle polls: wakeups of idle CPUs need no IPI.
    expect(c["sched_wake_idle_without_ipi"]).toBe(c["ttwu_count"]);
    expect(r.metrics["cpu_idle_pct"]!).toBeGreaterThan(5);
    expect(r.metrics["per_thread_ops"]!).toBeGreaterThan(0);
    expect(r.metrics["per_process_ops"]).toBeUndefined();
    expect(r.metrics["context_switches_per_s"]!).toBeGreaterThan(0);
    expect(r.hazards).toEqual([]);
  });

  it("a thread that sleeps on mmap_lock is woken and runs on: every thread finishes its regions", () => {
    const r = run("x86-64", 8, { regions: 2, memory_kib: 128 });
    expect(r.counters["tlb_flush2_iterations"]).toBe(8 * 2 * 32);
    expect(r.counters["sched_sleeps"]).toBeGreaterThan(0);
    expect(r.counters["ttwu_count"]).toBe(r.counters["sched_sleeps"]);
    // Each sleep is two context switches (to idle and back), besides the eight tasks' starts.
    expect(r.counters["context_switches"]).toBe(8 + 2 * r.counters["sched_sleeps"]!);
    expect(r.hazards).toEqual([]);
  });

  it("the idle time is the sleeping threads': with every task running alone, no CPU idles in the window", () => {
    const r = run("x86-64", 8, { ...timed, mode: "process" });
    expect(r.counters["sched_sleeps"]).toBe(0);
    expect(r.counters["rwsem_sleep_reader"]).toBe(0);
    expect(r.counters["rwsem_sleep_writer"]).toBe(0);
    expect(r.counters["ipi_sent"]).toBe(0); // one mm per process: no other CPU to flush
    expect(r.metrics["cpu_idle_pct"]!).toBeLessThan(1);
    expect(r.metrics["per_process_ops"]!).toBeGreaterThan(0);
    expect(r.metrics["per_thread_ops"]).toBeUndefined();
    expect(r.hazards).toEqual([]);
  });

  /** Flush IPIs sent to a CPU whose task sleeps (lazy TLB on the mm), by whether the flush freed page tables. */
  const lazyIpis = (kernel?: KernelVersion) => {
    const seen = { freed: 0, notFreed: 0 };
    // Three 256 KiB regions a thread: their last munmaps free page tables.
    const r = run("x86-64", 8, { regions: 3, memory_kib: 256 }, 1, kernel, ({ machine, kernel: k }) => {
      const freed = new Int8Array(machine.cpus.length);
      const arch = k.policies.archTlb;
      const flush = arch.flushTlbMmRange.bind(arch);
      arch.flushTlbMmRange = function* (cpu, mm, start, end, shift, freedTables) {
        freed[cpu.id] = freedTables ? 1 : 0;
        return yield* flush(cpu, mm, start, end, shift, freedTables);
      };
      const send = machine.apic.send.bind(machine.apic);
      machine.apic.send = (from: Cpu, to: Cpu, vector, time) => {
        if (k.sched.isSleeping(to.id) && k.tlbstate[to.id]!.isLazy) {
          if (freed[from.id] === 1) seen.freed++;
          else seen.notFreed++;
        }
        send(from, to, vector, time);
      };
    });
    return { r, seen };
  };

  it("v5.17: a CPU idle in lazy TLB mode gets a flush IPI only when page tables are freed", () => {
    const { r, seen } = lazyIpis();
    expect(r.counters["pgtables_freed"]).toBeGreaterThan(0);
    expect(seen.notFreed).toBe(0);
    expect(seen.freed).toBeGreaterThan(0);
    expect(r.hazards).toEqual([]);
  });

  it("v4.15 (before the lazy-TLB rework of v4.19): sleeping CPUs in mm_cpumask get every flush", () => {
    const { r, seen } = lazyIpis("v4.15");
    expect(seen.notFreed).toBeGreaterThan(0);
    expect(r.hazards).toEqual([]);
  });

  it("nr_task is a percentage of the CPUs, as LKP sets it", () => {
    const r = run("x86-64", 8, { ...timed, mode: "process", nr_task: 50 });
    expect(r.notes.some((n) => n.includes("4 processes (one mm each) on CPUs 0-3 (nr_task 50%)"))).toBe(true);
  });

  it("metric specs carry the robot's names", () => {
    const robot = Object.fromEntries(tlbFlush2.metrics.filter((m) => m.robot).map((m) => [m.name, m.robot]));
    expect(robot).toMatchObject({ per_thread_ops: "will-it-scale.per_thread_ops", per_process_ops: "will-it-scale.per_process_ops", cpu_idle_pct: "mpstat.cpu.all.idle%", cpu_irq_pct: "mpstat.cpu.all.irq%", cpu_sys_pct: "mpstat.cpu.all.sys%", interrupts_per_s: "vmstat.system.in", context_switches_per_s: "vmstat.system.cs", pgfault: "proc-vmstat.pgfault" });
    for (const [ours, theirs] of Object.entries(robot)) expect(ROBOT_METRIC_NAMES[ours]).toBe(theirs);
  });
});
