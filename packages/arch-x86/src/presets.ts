/**
 * Machine presets: named machines a run can start from (`--preset NAME`), each field
 * with its source and what is scaled down from the real machine. Tags as in
 * profiles.ts: [K] kernel source or LKML (including the kernel test robot's reports),
 * [P] paper or vendor page, [D] derived, [U] assumption.
 */
import type { MachinePreset } from "@flushlab/core-mmu";

/**
 * The kernel test robot's reaim machine of the vmalloc_sync_all regression's period
 * (LKP host lkp-csl-2ap4): two Xeon Platinum 9242 packages, each two dies of 24 cores
 * with two threads, every die a NUMA node.
 */
export const lkpCsl2ap4: MachinePreset = {
  name: "lkp-csl-2ap4",
  description: "LKP-class 4-node server: 192 threads, 2 × Xeon Platinum 9242 (Cascade Lake-AP), 192 GB (the kernel test robot's reaim machine of 2019-2020)",
  machine: { cpus: 192, sockets: 4, memoryMiB: 512, tlbEntries: 1536, tlbWays: 12 },
  profile: "bare-metal",
  sources: {
    cpus: "[K] the kernel test robot's reports of 2019-2020 name the host as \"192 threads Intel(R) Xeon(R) Platinum 9242 CPU @ 2.30GHz with 192G memory\" (2 packages × 48 cores × 2 threads)",
    sockets: "[P] a Platinum 9242 package holds two dies, each with its own memory controllers and its own NUMA node: 2 packages = 4 nodes, 48 threads each (the model's socket is a NUMA node)",
    memoryMiB: "[D] 192 GB scaled down to 512 MiB (384×): enough for the processes a reaim run keeps alive; memory size itself does not enter the costs the reproduction measures",
    tlbEntries: "[P] Intel 64 and IA-32 Architectures Optimization Reference Manual, Skylake server microarchitecture (Cascade Lake keeps it): STLB 1,536 entries shared by 4 KiB and 2 MiB pages",
    tlbWays: "[P] the same manual: the STLB is 12-way set associative",
    profile: "[U] bare-metal: the only bare-metal profile (Haswell/Ivy Bridge-class costs at 2.6 GHz); the 9242's 2.3 GHz clock and its own latencies are not modelled separately",
  },
  scaled: ["RAM 192 GB → 512 MiB (384×)"],
};

/**
 * The kernel test robot's two-socket will-it-scale machine (LKP host lkp-skl-fpga01):
 * 104 hardware threads on two Skylake-SP sockets, the class its will-it-scale reports
 * on x86/mm and mm changes name.
 */
export const lkpSklFpga01: MachinePreset = {
  name: "lkp-skl-fpga01",
  description: "LKP-class 2-socket server: 104 threads, 2 × 26-core Skylake-SP with Hyper-Threading, 192 GB (the kernel test robot's will-it-scale machine)",
  machine: { cpus: 104, sockets: 2, memoryMiB: 512, tlbEntries: 1536, tlbWays: 12 },
  profile: "bare-metal",
  sources: {
    cpus: "[K] the kernel test robot's will-it-scale reports name the host as \"104 threads 2 sockets (Skylake) with 192G memory\", tbox_group lkp-skl-fpga01 (e.g. linux-mm, 2023-11-28, 6e553c6bcb: will-it-scale.per_process_ops, nr_task 100%)",
    sockets: "[K] the same report: 2 sockets (52 threads, 26 cores with two threads each, per socket; each socket one NUMA node)",
    memoryMiB: "[D] 192 GB scaled down to 512 MiB (384×): tlb-flush2 maps 1 MiB per task (104 MiB at nr_task=100%) plus page tables; memory size does not enter its costs",
    tlbEntries: "[P] Intel 64 and IA-32 Architectures Optimization Reference Manual, Skylake server microarchitecture: STLB 1,536 entries shared by 4 KiB and 2 MiB pages",
    tlbWays: "[P] the same manual: the STLB is 12-way set associative",
    profile: "[U] bare-metal: the only bare-metal profile (Haswell/Ivy Bridge-class costs at 2.6 GHz; its idle exit is intel_idle's C1 of skx_cstates and hsw_cstates alike, 2 µs); the Skylake-SP clock and its own latencies are not modelled separately",
  },
  scaled: ["RAM 192 GB → 512 MiB (384×)"],
};

export const PRESETS: Readonly<Record<string, MachinePreset>> = { [lkpCsl2ap4.name]: lkpCsl2ap4, [lkpSklFpga01.name]: lkpSklFpga01 };
