/** The real registry (core-mmu + arch-x86 + workloads) through the CLI, in-process. */
import { describe, expect, it } from "vitest";
import { x86 } from "@flushlab/arch-x86";
import { registry } from "../src/registry.js";
import { runCli } from "./support/test-io.js";

describe.each(["x86-64", "x86-32-pae"])("flushlab run tlb-flush2 --cpus 8 --seed 1 --json (--arch %s)", (arch) => {
  it("shows remote flushes and IPIs and no hazards, identically twice", async () => {
    const argv = ["run", "tlb-flush2", "--cpus", "8", "--seed", "1", "--arch", arch, "--json"];
    const a = await runCli(argv, { registry });
    const b = await runCli(argv, { registry });
    expect(a.code).toBe(0);
    expect(a.stderr).toBe("");
    expect(a.stdout).toBe(b.stdout);
    const j = JSON.parse(a.stdout);
    expect(Object.keys(j).slice(0, 14)).toEqual(["workload", "arch", "cpus", "sockets", "profile", "kernel", "seed", "plugins", "params", "counters", "interrupts", "metrics", "robot", "hazards"]);
    // The kernel test robot's names, beside ours.
    expect(j.robot["will-it-scale.per_thread_ops"]).toBe(j.metrics.per_thread_ops);
    expect(j.robot["mpstat.cpu.all.idle%"]).toBe(j.metrics.cpu_idle_pct);
    expect(j.robot["vmstat.system.cs"]).toBe(j.metrics.context_switches_per_s);
    expect(j.arch).toBe(arch);
    expect(j.counters.nr_tlb_remote_flush).toBeGreaterThan(0);
    expect(j.counters.nr_tlb_remote_flush_received).toBeGreaterThan(0);
    expect(j.interrupts.TLB).toHaveLength(8);
    expect(j.interrupts.CAL.reduce((s: number, n: number) => s + n, 0)).toBeGreaterThan(0);
    expect(j.hazards).toEqual([]);
    expect(j.metrics.ops_per_s).toBeGreaterThan(0);
  });
});

describe("bad input against the real model", () => {
  it.each([
    [["run", "nope"], /unknown workload "nope"/],
    [["run", "tlb-flush2", "--param", "threads=9", "--cpus", "4"], /threads=9 needs at least 9 CPUs|threads/],
    [["run", "tlb-flush2", "--sockets", "3"], /sockets/],
    [["run", "tlb-flush2", "--plugins", "nope"], /unknown plugin "nope"/],
    [["run", "tlb-flush2", "--profile", "kvm"], /unknown profile "kvm"/],
    [["run", "mprotect-bench", "--memory", "1", "--param", "pages=512"], /out of memory: reclaim frees nothing/],
  ])("%j → one line, exit 2", async (argv, msg) => {
    const r = await runCli(argv, { registry });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("flushlab list", () => {
  it("shows the vmalloc-sync plugin with its provenance and the reaim workload", async () => {
    const r = await runCli(["list", "--json"], { registry });
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const p = j.plugins.find((x: { name: string }) => x.name === "vmalloc-sync");
    expect(p).toMatchObject({ package: "@flushlab/patch-vmalloc-sync" });
    expect(JSON.stringify(p)).toMatch(/x86\/mm: split vmalloc_sync_all\(\)/);
    expect(JSON.stringify(p)).toMatch(/763802b53a42/);
    expect(JSON.stringify(p)).toMatch(/VmallocSync/);
    expect(j.workloads.map((w: { name: string }) => w.name)).toEqual(["tlb-flush2", "reaim", "lru-file-mmap-read", "mprotect-bench", "nohz-isolation", "notifier-device"]);
    expect(j.plugins.map((x: { name: string }) => x.name)).toContain("mmu-notifier");
  });

  it("shows the costs workload parameters default to, per profile, and the machine's sizes, each with its source", async () => {
    const human = await runCli(["list"], { registry });
    expect(human.stdout).toMatch(/read_cycles_per_page\s+int\s+default: profile's readPageSequential/);
    expect(human.stdout).toMatch(/iotlb\s+int\s+default: machine's iotlbEntries/);
    expect(human.stdout).toMatch(/\n  bare-metal: costs workload parameters default to \(cycles\):\n(    .*\n)*    readPageSequential 800  \[U\] usemem's pass/);
    expect(human.stdout).toMatch(/\n  kvm-guest: costs workload parameters default to \(cycles\):\n(    .*\n)*    reaimComputeJob 2,600,000  \[D\] as bare metal/);
    expect(human.stdout).toMatch(/syscall_interval's default: unsourced: /);
    expect(human.stdout).toMatch(/\n    pscEntries 32  \[U\] Intel documents no paging-structure-cache sizes/);
    const j = JSON.parse((await runCli(["list", "--json"], { registry })).stdout);
    const bare = j.profiles.find((p: { name: string }) => p.name === "bare-metal");
    expect(bare.costs.dmaInterval).toEqual({ value: 2000, source: expect.stringMatching(/^\[U\] device side/) });
    expect(Object.keys(bare.costs)).toHaveLength(Object.keys(x86.profiles["bare-metal"]!.params).length);
    expect(j.defaultMachine).toMatchObject({ tlbEntries: 1536, tlb2mEntries: 32, pscEntries: 32, iotlbEntries: 64 });
    expect(j.machineSources.tlbEntries).toMatch(/Optimization Reference Manual/);
    const lru = j.workloads.find((w: { name: string }) => w.name === "lru-file-mmap-read");
    expect(lru.params.find((p: { name: string }) => p.name === "read_cycles_per_page")).toMatchObject({ defaultFrom: { cost: "readPageSequential" } });
  });

  it("run: a cost-defaulted parameter shows the profile's value, and an override is said to be one", async () => {
    const base = ["run", "reaim", "--cpus", "2", "--param", "system_processes=2", "--param", "purges=0", "--param", "jobs=5", "--json"];
    const a = JSON.parse((await runCli(base, { registry })).stdout);
    expect(a.params.test_cycles).toBe(2600000);
    expect(a.notes).toContain(`parameter test_cycles = 2600000: the cost profile's reaimComputeJob (bare-metal: ${x86.profiles["bare-metal"]!.sources.reaimComputeJob})`);
    const b = JSON.parse((await runCli([...base, "--param", "test_cycles=5000"], { registry })).stdout);
    expect(b.params.test_cycles).toBe(5000);
    expect(b.notes).toContain("parameter test_cycles = 5000: set for this run (the cost profile's reaimComputeJob is 2600000)");
    expect(b.counters.cycles_user).toBeLessThan(a.counters.cycles_user);
  });

  it("notifier-device mix=thp with more huge pages than the memory holds says so, in one line, exit 2", async () => {
    const r = await runCli(["run", "notifier-device", "--param", "mix=thp", "--param", "huge_pages=40"], { registry });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/mix=thp with huge_pages=40 needs about \d+ MiB of simulated memory/);
  });

  it("--thp takes always or never, in one line, exit 2 otherwise", async () => {
    const r = await runCli(["run", "tlb-flush2", "--thp", "madvise"], { registry });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--thp must be "always" or "never"/);
  });
});

describe("the kernel a run models (--kernel)", () => {
  it("defaults to v5.17, to the release an enabled plugin was written for, and --kernel wins", async () => {
    const base = ["run", "tlb-flush2", "--cpus", "2", "--param", "regions=1", "--param", "memory_kib=64", "--json"];
    expect(JSON.parse((await runCli(base, { registry })).stdout).kernel).toBe("v5.17");
    const patched = JSON.parse((await runCli([...base, "--plugins", "batched-unmap"], { registry })).stdout);
    expect(patched.kernel).toBe("v4.2");
    expect(patched.notes.some((n: string) => n.startsWith("kernel: v4.2 (an IPI to every target"))).toBe(true);
    expect(JSON.parse((await runCli([...base, "--plugins", "batched-unmap", "--kernel", "v5.17"], { registry })).stdout).kernel).toBe("v5.17");
  });
  it("bad or inconsistent kernels get one line and exit 2", async () => {
    const bad = await runCli(["run", "tlb-flush2", "--kernel", "v3.10"], { registry });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('flushlab: --kernel: unknown kernel "v3.10" (known: v4.2, v4.15, v5.2, v5.4, v5.17, v6.5)\n');
    const mixed = await runCli(["run", "tlb-flush2", "--plugins", "batched-unmap,mmu-notifier"], { registry });
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toBe("flushlab: plugins batched-unmap (v4.2), mmu-notifier (v4.15) were written for different kernels: choose one with --kernel\n");
    const pcid = await runCli(["run", "tlb-flush2", "--kernel", "v4.2", "--pcid", "on"], { registry });
    expect(pcid.code).toBe(2);
    expect(pcid.stderr).toMatch(/^flushlab: kernel v4\.2 does not use PCID \(x86 PCID support came in v4\.14\)/);
  });
});

describe("flushlab reproduce", () => {
  it("with no plugin declaring a reproduction, prints the demo run", async () => {
    const r = await runCli(["reproduce"], { registry: { ...registry, plugins: [] } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no enabled plugin declares a reproduction/i);
    expect(r.stdout).toMatch(/tlb-flush2/);
  });
});

describe("the example config (examples/free-before-flush)", () => {
  const cwd = new URL("../../../examples/free-before-flush", import.meta.url).pathname;
  it("its plugin and workload run from its folder: the oracle finds the use after free; the pre-patch kernel is clean", async () => {
    const unsafe = await runCli(["run", "free-and-reread", "--plugins", "free-before-flush", "--json"], { registry, cwd });
    expect(unsafe.stderr).toBe("");
    const j = JSON.parse(unsafe.stdout);
    expect(j.plugins).toEqual(["free-before-flush"]);
    expect(j.hazards[0]).toMatchObject({ class: 1, cpu: 1 });
    expect(j.hazards[0].missing).toMatch(/^TLB flush on CPU 1 before tlb_finish_mmu \(madvise MADV_DONTNEED\) freed the page/);
    const safe = await runCli(["run", "free-and-reread", "--plugins", "", "--json"], { registry, cwd });
    expect(JSON.parse(safe.stdout).hazards).toEqual([]);
  });
});
