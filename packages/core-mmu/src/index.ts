/**
 * @flushlab/core-mmu: the simulation engine, the simulated x86 hardware, the modelled
 * kernel (kernel/ and mm/), the extension points with their pre-patch defaults, the
 * hazard oracle, and simulate().
 */
// The engine, the cost model, the event stream.
export * from "./sim/index.js";
export * from "./cost/cost-model.js";
export * from "./events/event-map.js";
// The hardware.
export * from "./hw/pte.js";
export * from "./hw/paging-format.js";
export { PhysMem, FrameState, FRAME_STATE_NAMES, OutOfMemoryError, ENTRIES_PER_TABLE } from "./hw/memory.js";
export { Tlb, TlbFlag, PagingStructureCache, PscHolders, PscLevel, type TlbParams } from "./hw/tlb.js";
export { Cpu, CpuMode, CPU_MODE_NAMES, type CpuTopology } from "./hw/cpu.js";
export { Mmu, FAULT, MMU_EVENTS, MmuEvent } from "./hw/mmu.js";
export { Apic, type IpiVector } from "./hw/apic.js";
export { Machine, MAX_CPUS, MAX_SOCKETS, MEMORY_MIB_PER_CPU, MEMORY_PER_CPU_SOURCE, NO_FEATURES, defaultMemoryMiB, type CpuFeatures, type MachineParams } from "./hw/machine.js";
export { NO_WATCH, type HwWatch } from "./hw/watch.js";
// The kernel.
export { Counters, COUNTER_NAMES, C, counterIndex, type CounterName } from "./kernel/counters.js";
export { COUNTER_INFO, counterInfo, type CounterInfo } from "./kernel/counter-info.js";
export { CpuTlbState, CpuCurrent, TLB_NR_DYN_ASIDS, type TaskStruct } from "./kernel/percpu.js";
export { Sched, type AccessRun, type TaskGen, type TaskYield, type SchedHooks, type SchedPerturbation } from "./kernel/sched.js";
export { Smp, type Csd, type SmpCallFunc, type SmpCondFunc } from "./kernel/smp.js";
export { SpinLock } from "./kernel/spinlock.js";
export { Watchdog, WATCHDOG_THRESH_DEFAULT, WATCHDOG_THRESH_MAX, WATCHDOG_CYCLES_DEFAULT, NUM_SAMPLE_PERIODS, CSD_LOCK_TIMEOUT_NS, NO_PROGRESS_STEPS } from "./kernel/watchdog.js";
export { ContextTracking, CONTEXT_WORK_TLBI } from "./kernel/context-tracking.js";
export { Entry, type VaRange } from "./kernel/entry.js";
export { Fork, NR_CACHED_STACKS } from "./kernel/fork.js";
export { KernelCore, PolicyTable } from "./kernel/core.js";
export { KERNEL_VERSIONS, DEFAULT_KERNEL_VERSION, KERNEL_CHANGES, isKernelVersion, kernelAtLeast, describeKernelVersion, type KernelVersion } from "./kernel/version.js";
export { Kernel } from "./kernel/kernel.js";
// The mm.
export * from "./mm/mm-types.js";
export { PageTables, _PAGE_TABLE, _KERNPG_TABLE } from "./mm/pgtable.js";
export { Memory, _PAGE_SPECIAL } from "./mm/memory.js";
export { HugeMemory, HPAGE_PMD_SIZE, type ThpSetting } from "./mm/huge-memory.js";
export { Mmap, PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, protToVmFlags } from "./mm/mmap.js";
export { Mprotect } from "./mm/mprotect.js";
export { Mremap, MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_CALLS, EINVAL, EFAULT, ENOMEM } from "./mm/mremap.js";
export { Madvise, MADV_DONTNEED, MADV_FREE } from "./mm/madvise.js";
export { MmuGatherOps } from "./mm/mmu-gather.js";
export { PteLocks, PTRS_PER_PTE } from "./mm/ptlock.js";
export { mmuNotifierRegister, mmuNotifierUnregister, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRange, mmuNotifierInvalidateRangeEnd } from "./mm/mmu-notifier.js";
export { PageAlloc, type KswapdWaker } from "./mm/page-alloc.js";
export { PageCache, SegmentationFault } from "./mm/filemap.js";
export { Lru, PAGEVEC_SIZE, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, NOT_ISOLATED, ISOLATED, ISOLATED_GATHERED, ISOLATED_RELEASED } from "./mm/swap.js";
export { Rmap } from "./mm/rmap.js";
export { Reclaim, SWAP_CLUSTER_MAX, DEF_PRIORITY, scanTarget } from "./mm/vmscan.js";
export { Vmalloc, fls } from "./mm/vmalloc.js";
// The device.
export { AtsDevice, type AtsDeviceParams } from "./device/ats-device.js";
// Extension points and plugins.
export * from "./plugin/tokens.js";
export * from "./plugin/define.js";
export * from "./plugin/errors.js";
export { assemblePolicies, KERNEL } from "./plugin/assemble.js";
export { CORE_DEFAULTS, TlbFlushMmu, MmTlbFlushNested, FlushTlbRangeAfterChange, NoBatchedUnmapFlush, NoBatchedPendingFlush, FlushTlbKernelRange, RunWorkFirst, RangeEndInvalidatesAgain, FlushTlbRangeBeforePtlRelease } from "./plugin/defaults.js";
// The oracle.
export { Oracle } from "./oracle/oracle.js";
export { HAZARD_CLASS_NAMES, HAZARD_LIST_CAP, type HazardClass, type HazardReport } from "./oracle/hazard.js";
// Runs.
export * from "./run/types.js";
export * from "./run/validate.js";
export { simulate, describeFeatures, type SimulateInput } from "./run/simulate.js";
export * from "./run/config.js";
export * from "./workload/types.js";
export { ROBOT_METRIC_NAMES, ROBOT_HZ, SYSTEM_METRICS, systemSnapshot, systemMetrics, type SystemSnapshot } from "./workload/robot.js";
export { RwSemaphore, RWSEM_WAIT_TIMEOUT_NS, type RwsemEnv } from "./kernel/rwsem.js";
