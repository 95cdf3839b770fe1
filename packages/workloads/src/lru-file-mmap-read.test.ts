import { describe, expect, it } from "vitest";
import { DEF_PRIORITY, SWAP_CLUSTER_MAX, scanTarget, simulate } from "@flushlab/core-mmu";
import { x86 } from "@flushlab/arch-x86";
import { lruFileMmapRead } from "./lru-file-mmap-read.js";

describe("lru-file-mmap-read on few CPUs: direct reclaim's priority passes (do_try_to_free_pages, v4.2)", () => {
  // With two readers every page on the inactive list is young when direct reclaim first
  // sees it: one pass only ages the pages it scans. A single 32-page pass per call freed
  // nothing for hundreds of calls and the run stopped as a livelock; the priority passes
  // age and then reclaim within one call, as the kernel does.
  it.each([2, 4])("%i CPUs: the readers finish, reclaim frees pages, no hazards", (cpus) => {
    const r = simulate({
      options: { workload: "lru-file-mmap-read", machine: { ...x86.defaultMachine, cpus }, profile: "bare-metal", seed: 1, plugins: [], params: {}, kernel: "v4.2" },
      arch: x86,
      workload: lruFileMmapRead,
      plugins: [],
    });
    // Both reclaimers run: kswapd woken below the low watermark, and direct reclaim below min.
    expect(r.counters["pgsteal_kswapd"]).toBeGreaterThan(0);
    expect(r.counters["pgsteal_direct"]).toBeGreaterThan(0);
    expect(r.counters["pgscan_kswapd"]).toBeGreaterThanOrEqual(r.counters["pgsteal_kswapd"]!);
    expect(r.counters["pgscan_direct"]).toBeGreaterThanOrEqual(r.counters["pgsteal_direct"]!);
    expect(r.counters["allocstall"]).toBeGreaterThan(0);
    expect(r.hazards).toEqual([]);
    expect(r.metrics["elapsed_s"]).toBeGreaterThan(0);
  }, 60_000);

  it("scan targets: size >> priority, at least SWAP_CLUSTER_MAX or the whole list", () => {
    expect(scanTarget(4_000_000, DEF_PRIORITY)).toBe(976);
    expect(scanTarget(4096, DEF_PRIORITY)).toBe(SWAP_CLUSTER_MAX);
    expect(scanTarget(4096, 0)).toBe(4096);
    expect(scanTarget(10, DEF_PRIORITY)).toBe(10);
  });
});
