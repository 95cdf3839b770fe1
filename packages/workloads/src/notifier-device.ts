/**
 * notifier-device: a process shares its memory with a device that walks its page
 * tables (an ATS/PRI device behind an IOMMU bound to the mm's PASID, as with AMD
 * IOMMUv2 and KFD), while the CPUs change those page tables under it (seed 004).
 *
 * mix=cow: the process forks a child without exec (copy_page_range write-protects the
 * buffer, one notifier range over the VMA), writes every page of the buffer while the
 * child is alive (a COW fault each: wp_page_copy), then the child runs, writes the
 * pages it still shares (reuse faults) and exits. The device keeps reading and writing
 * the buffer by DMA throughout; a write to a page that is not writable for it is a PRI
 * page request served by a kernel thread (amd_iommu_v2 do_fault).
 *
 * mix=thp and mix=all (THP split, huge-PMD COW, THP migration) need transparent huge
 * pages, which the model does not have yet: they stop with an error saying so.
 */
import { AtsDevice, PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

interface DeviceState {
  device: AtsDevice | null;
  parentWriteCycles: number;
  cowRounds: number;
}

export const notifierDevice = defineWorkload({
  name: "notifier-device",
  description: "a device with an IOTLB walks a process's page tables (ATS/PRI) while a parent/child pair takes COW faults",
  mirrors: "a shared-virtual-memory device bound through amd_iommu_v2 (v4.15) to a process that forks; no benchmark was published for seed 004",
  params: [
    { name: "mix", description: "what changes the page tables under the device: cow (fork + COW faults); thp and all need THP (not modelled yet)", type: "string", default: "cow", choices: ["cow", "thp", "all"] },
    { name: "pages", description: "4 KiB pages of the buffer the process shares with the device", type: "int", default: 64, min: 1, max: 4096 },
    { name: "forks", description: "fork / write / child-exit rounds", type: "int", default: 50, min: 1, max: 100000 },
    { name: "dma_interval", description: "device cycles between DMA requests", type: "int", default: 2000, min: 100, max: 100000000 },
    { name: "device_write_pct", description: "percentage of DMA requests that are writes", type: "int", default: 30, min: 0, max: 100 },
    { name: "iotlb", description: "entries in the device's IOTLB (ATC)", type: "int", default: 64, min: 1, max: 4096 },
  ],
  metrics: [
    { name: "invalidate_range_calls", description: "mmu_notifier invalidate_range callbacks (each one an IOMMU invalidation with completion wait)", unit: "calls", better: "lower" },
    { name: "device_invalidations", description: "IOMMU/ATS invalidations the device received (page or whole PASID)", unit: "invalidations", better: "lower" },
    { name: "device_invalidation_cycles", description: "CPU cycles spent waiting for IOMMU/ATS invalidations", unit: "cycles", better: "lower" },
    { name: "cycles_per_cow_fault", description: "mean CPU cycles of the parent's write to a shared page (COW fault, copy and notifications included)", unit: "cycles", better: "lower" },
    { name: "ats_translations", description: "ATS translation requests (IOTLB misses)", unit: "requests", better: "lower" },
    { name: "ppr_faults", description: "PRI page requests (device faults served by handle_mm_fault)", unit: "requests", better: "lower" },
    { name: "dma_accesses", description: "DMA reads and writes completed", unit: "accesses", better: "higher" },
  ],
  setup(ctx) {
    const mix = ctx.params["mix"] as string;
    if (mix !== "cow") throw new Error(`mix=${mix} needs transparent huge pages (huge-PMD COW, __split_huge_pmd, THP migration), which the model does not have yet; use mix=cow`);
    const pages = ctx.params["pages"] as number;
    const forks = ctx.params["forks"] as number;
    const m = ctx.machine;
    if (m.cpus.length < 2) throw new Error("needs at least 2 CPUs (one runs the process, one serves device page requests)");
    const mm = ctx.createProcess();
    const st: DeviceState = { device: null, parentWriteCycles: 0, cowRounds: 0 };
    (ctx as { notifierDevice?: DeviceState }).notifierDevice = st;
    const params = {
      iotlbEntries: ctx.params["iotlb"] as number,
      dmaInterval: ctx.params["dma_interval"] as number,
      writePct: ctx.params["device_write_pct"] as number,
      pprCpu: 1,
    };
    const rng = ctx.prng.fork(4);
    ctx.spawn(0, mm, function* (t: TaskApi): TaskGen {
      const len = pages * 4096;
      const buf = yield* t.mmap(len, PROT_READ | PROT_WRITE);
      yield t.touch(buf, pages, 4096, true);
      yield 0;
      // amd_iommu_bind_pasid: the device's notifier joins the mm; DMA starts.
      const dev = new AtsDevice(ctx.kernel, mm, params, rng, "device");
      st.device = dev;
      dev.start(buf, pages, m.now);
      for (let i = 0; i < forks; i++) {
        const child = yield* t.forkCow();
        const t0 = m.now;
        yield t.touch(buf, pages, 4096, true); // every page: a COW fault while the child shares it
        yield 0;
        st.parentWriteCycles += m.now - t0;
        st.cowRounds++;
        t.switchTo(child);
        yield t.touch(buf, pages, 4096, true); // the child's writes: its pages are no longer shared
        yield 0;
        yield* t.exit(child);
      }
      dev.stop();
    });
  },
  collect(ctx) {
    const st = (ctx as { notifierDevice?: DeviceState }).notifierDevice!;
    const c = ctx.kernel.counters.toRecord();
    const cowWrites = st.cowRounds * (ctx.params["pages"] as number);
    return {
      invalidate_range_calls: c["invalidate_range_calls"]!,
      device_invalidations: c["device_invalidations"]!,
      device_invalidation_cycles: c["device_invalidation_cycles"]!,
      cycles_per_cow_fault: cowWrites > 0 ? st.parentWriteCycles / cowWrites : 0,
      ats_translations: c["ats_translations"]!,
      ppr_faults: c["ppr_faults"]!,
      dma_accesses: c["dma_accesses"]!,
    };
  },
  notes(ctx) {
    const p = ctx.params;
    return [
      `notifier-device: mix=${p["mix"]}, ${p["pages"]} pages shared with the device, ${p["forks"]} fork rounds; device: ${p["iotlb"]}-entry IOTLB, a DMA every ${p["dma_interval"]} cycles, ${p["device_write_pct"]}% writes; page requests served on CPU 1`,
      "mmu_notifier and the notifier call sites mirror v4.15 (the CPU flush paths stay those of arch/x86/mm/tlb.c v5.17); THP is not modelled",
    ];
  },
});
