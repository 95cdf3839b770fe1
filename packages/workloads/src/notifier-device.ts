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
 * mix=thp: the buffer is `huge_pages` transparent huge pages (the workload writes
 * "always" to /sys/kernel/mm/transparent_hugepage/enabled). Each round the process forks
 * (copy_huge_pmd write-protects each huge PMD), writes one byte of each huge page while
 * the child shares it (do_huge_pmd_wp_page: a 2 MiB copy, v4.15), lets the child run and
 * exit, then splits each huge page with mprotect(PROT_READ) of its last 4 KiB
 * (__split_huge_pmd: the same frames behind 512 PTEs, inside mprotect's own notifier
 * range, change_pmd_range's) and restores the protection; the
 * buffer is then unmapped and mapped again, so that the next round faults in huge pages
 * again (khugepaged is not modelled). mix=all runs the cow rounds' 4 KiB buffer and the
 * thp buffer together. THP migration (migrate_misplaced_transhuge_page) is left out: the
 * model has no NUMA balancing to trigger it.
 */
import { AtsDevice, PROT_READ, PROT_WRITE, defineWorkload, type TaskApi, type TaskGen } from "@flushlab/core-mmu";

const HPAGE = 2097152;

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
    { name: "mix", description: "what changes the page tables under the device: cow (fork + COW faults), thp (huge-PMD COW and THP splits), all (both)", type: "string", default: "cow", choices: ["cow", "thp", "all"] },
    { name: "pages", description: "4 KiB pages of the buffer the process shares with the device", type: "int", default: 64, min: 1, max: 4096 },
    { name: "forks", description: "fork / write / child-exit rounds", type: "int", default: 50, min: 1, max: 100000 },
    {
      name: "dma_interval",
      description: "device cycles between one DMA completing and the next request; overrides the profile's dmaInterval",
      type: "int",
      defaultFrom: { cost: "dmaInterval" },
      min: 100,
      max: 100000000,
    },
    { name: "device_write_pct", description: "percentage of DMA requests that are writes", type: "int", default: 30, min: 0, max: 100 },
    { name: "iotlb", description: "entries in the device's IOTLB (ATC); overrides the machine's iotlbEntries", type: "int", defaultFrom: { machine: "iotlbEntries" }, min: 1, max: 4096 },
    { name: "huge_pages", description: "mix=thp and all: 2 MiB transparent huge pages in the THP buffer", type: "int", default: 4, min: 1, max: 64 },
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
    const cow = mix === "cow" || mix === "all";
    const thp = mix === "thp" || mix === "all";
    const pages = ctx.params["pages"] as number;
    const forks = ctx.params["forks"] as number;
    const huge = (ctx.params["huge_pages"] ?? 4) as number;
    const m = ctx.machine;
    if (m.cpus.length < 2) throw new Error("needs at least 2 CPUs (one runs the process, one serves device page requests)");
    if (thp) {
      // The buffer, its copies while the child shares it, and the alignment slack.
      const needMiB = (2 * huge + 1) * 2 + (cow ? Math.ceil((2 * pages * 4096) / 1048576) : 0) + 8;
      const memMiB = (m.mem.nframes * 4096) / 1048576;
      if (needMiB > memMiB) throw new Error(`mix=${mix} with huge_pages=${huge} needs about ${needMiB} MiB of simulated memory, the machine has ${memMiB} MiB (use --memory or fewer huge_pages)`);
      // echo always > /sys/kernel/mm/transparent_hugepage/enabled
      ctx.kernel.memory.huge.setEnabled("always");
    }
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
      const hlen = huge * HPAGE;
      // The THP buffer: 2 MiB more than needed, so that an aligned range lies inside the VMA.
      let hbase = 0;
      let hbuf = 0;
      if (thp) {
        hbase = yield* t.mmap(hlen + HPAGE, PROT_READ | PROT_WRITE);
        hbuf = hbase + ((HPAGE - (hbase % HPAGE)) % HPAGE);
        yield t.touch(hbuf, huge, HPAGE, true); // a huge page each (do_huge_pmd_anonymous_page)
        yield 0;
      }
      const buf = cow ? yield* t.mmap(len, PROT_READ | PROT_WRITE) : 0;
      if (cow) {
        yield t.touch(buf, pages, 4096, true);
        yield 0;
      }
      // amd_iommu_bind_pasid: the device's notifier joins the mm; DMA starts.
      const dev = new AtsDevice(ctx.kernel, mm, params, rng, "device");
      st.device = dev;
      if (cow) dev.start(buf, pages, m.now);
      else dev.start(hbuf, huge * 512, m.now);
      for (let i = 0; i < forks; i++) {
        const child = yield* t.forkCow();
        const t0 = m.now;
        if (cow) yield t.touch(buf, pages, 4096, true); // every page: a COW fault while the child shares it
        if (thp) yield t.touch(hbuf, huge, HPAGE, true); // each huge page: a 2 MiB COW
        yield 0;
        st.parentWriteCycles += m.now - t0;
        st.cowRounds++;
        t.switchTo(child);
        if (cow) yield t.touch(buf, pages, 4096, true); // the child's writes: its pages are no longer shared
        if (thp) yield t.touch(hbuf, huge, HPAGE, true);
        yield 0;
        yield* t.exit(child);
        if (thp) {
          // Each huge page split under the device: mprotect of its last 4 KiB splits the
          // VMA inside it (__split_huge_pmd), then the protection is restored.
          for (let h = 0; h < huge; h++) {
            const a = hbuf + (h + 1) * HPAGE - 4096;
            yield* t.mprotect(a, 4096, PROT_READ);
            yield* t.mprotect(a, 4096, PROT_READ | PROT_WRITE);
          }
          // Fresh huge pages for the next round: unmap, map again (the same range: it
          // is the top of the layout) and fault them in.
          yield* t.munmap(hbase, hlen + HPAGE);
          const again = yield* t.mmap(hlen + HPAGE, PROT_READ | PROT_WRITE);
          if (again !== hbase) throw new Error(`the THP buffer moved (${again} after ${hbase})`);
          yield t.touch(hbuf, huge, HPAGE, true);
          yield 0;
        }
      }
      dev.stop();
    });
  },
  collect(ctx) {
    const st = (ctx as { notifierDevice?: DeviceState }).notifierDevice!;
    const c = ctx.kernel.counters.toRecord();
    const mix = ctx.params["mix"];
    const perRound = (mix !== "thp" ? (ctx.params["pages"] as number) : 0) + (mix !== "cow" ? ((ctx.params["huge_pages"] ?? 4) as number) : 0);
    const cowWrites = st.cowRounds * perRound;
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
    const buffers = p["mix"] === "cow" ? `${p["pages"]} pages` : p["mix"] === "thp" ? `${p["huge_pages"]} huge pages (2 MiB)` : `${p["pages"]} pages and ${p["huge_pages"]} huge pages (2 MiB)`;
    const out = [
      `notifier-device: mix=${p["mix"]}, ${buffers} shared with the device, ${p["forks"]} fork rounds; device: ${p["iotlb"]}-entry IOTLB, a DMA every ${p["dma_interval"]} cycles, ${p["device_write_pct"]}% writes; page requests served on CPU 1`,
      "mmu_notifier and the notifier call sites mirror v4.15 (the CPU flush paths stay those of arch/x86/mm/tlb.c v5.17)",
    ];
    if (p["mix"] !== "cow") {
      out.push(
        "THP rounds: per round fork's copy_page_range (range_end: one invalidate_range either way), each huge-PMD COW (two before seed 004, one after), each split (one before, none after), each of the two mprotect calls per huge page (change_pmd_range's range_end over the 4 KiB, v5.17: one invalidate_range either way), the unmap that makes room for fresh huge pages (zap_page_range's range_end and the gather's flush: two either way); THP migration is left out (no NUMA balancing in the model)",
      );
    }
    return out;
  },
});
