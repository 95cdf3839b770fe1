import { describe, expect, it } from "vitest";
import { MADV_DONTNEED, PROT_READ, PROT_WRITE, type FileMapping, type FlushlabEvent, type TaskApi, type TaskGen } from "@flushlab/core-mmu";
import { runScenario } from "./scenario.js";

describe("file-backed VMAs (filemap_fault, do_read_fault / do_cow_fault / do_shared_fault)", () => {
  it("read faults map page-cache pages, which outlive the mapping", () => {
    let file: FileMapping | undefined;
    const r = runScenario("file-read", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmapFile(file!, 0, 8 * 4096, PROT_READ, false);
        yield t.touch(a, 8, 4096, false);
        yield t.touch(a, 8, 4096, false); // cached now: TLB hits
        yield* t.munmap(a, 8 * 4096);
        const b = yield* t.mmapFile(file!, 4 * 4096, 4 * 4096, PROT_READ, false); // offset 4 pages
        yield t.touch(b, 4, 4096, false); // the same page-cache pages, no new fill
      },
    ], [], "x86-64", (ctx) => (file = ctx.createFile(8 * 4096)));
    expect(r.counters["pgcache_fill"]).toBe(8);
    expect(r.counters["pgfault_file"]).toBe(12);
    expect(r.counters["pages_freed"]).toBe(0);
    expect(r.counters["tlb_hits"]).toBeGreaterThanOrEqual(8);
    expect(file!.nrpages).toBe(8);
    expect(r.hazards).toEqual([]);
  });

  it("a private writable file mapping copies on write; a shared one dirties the page-cache page", () => {
    let file: FileMapping | undefined;
    const r = runScenario("file-write", [
      function* (t: TaskApi): TaskGen {
        const priv = yield* t.mmapFile(file!, 0, 2 * 4096, PROT_READ | PROT_WRITE, false);
        yield t.touch(priv, 1, 4096, true); // do_cow_fault
        yield t.touch(priv + 4096, 1, 4096, false); // read first: the page-cache page, read-only
        yield t.touch(priv + 4096, 1, 4096, true); // then write: wp_page_copy
        const sh = yield* t.mmapFile(file!, 2 * 4096, 2 * 4096, PROT_READ | PROT_WRITE, true);
        yield t.touch(sh, 1, 4096, false); // mapped read-only (write notification)
        yield t.touch(sh, 1, 4096, true); // wp_page_shared: writable, page dirty
        yield* t.madvise(sh, 4096, MADV_DONTNEED);
      },
    ], [], "x86-32-pae", (ctx) => (file = ctx.createFile(4 * 4096)));
    expect(r.counters["pgfault_cow"]).toBe(2);
    expect(r.counters["pgfault_wp_reuse"]).toBe(1);
    expect(r.counters["pages_allocated"]).toBe(2); // the two private copies
    expect(r.counters["pgcache_fill"]).toBe(3);
    expect(r.hazards).toEqual([]);
  });
});

describe("event stream", () => {
  it("tlb_flush and ipi_send events match the counters; progress reaches 1", () => {
    const events: FlushlabEvent[] = [];
    let addr = -1;
    const bodies = [0, 1, 2].map((i) =>
      function* (t: TaskApi): TaskGen {
        if (i === 0) addr = yield* t.mmap(16 * 4096, PROT_READ | PROT_WRITE);
        while (addr < 0) yield 100;
        yield t.touch(addr + i * 4096, 1, 4096, true);
        yield* t.madvise(addr + i * 4096, 4096, MADV_DONTNEED);
        yield 5000;
      },
    );
    const r = runScenario("events", bodies, [], "x86-64", undefined, 1, (e$) => e$.subscribe((e) => events.push(e)));
    const flushCounters = Object.entries(r.counters).filter(([k]) => k.startsWith("tlb_flush.")).reduce((s, [, v]) => s + v, 0);
    expect(events.filter((e) => e.type === "tlb_flush")).toHaveLength(flushCounters);
    expect(events.filter((e) => e.type === "ipi_send")).toHaveLength(r.counters["ipi_sent"]!);
    expect(events.filter((e) => e.type === "ipi_recv").length).toBe(r.interrupts.CAL.reduce((s, n) => s + n, 0));
    const progress = events.filter((e) => e.type === "progress");
    expect(progress.at(-1)).toMatchObject({ fraction: 1 });
    expect(events[0]).toMatchObject({ type: "phase", state: "start" });
    expect(events.at(-1)).toMatchObject({ type: "phase", state: "end" });
  });

  it("the trace's events: faults, csds, IPIs with ids, CPU states and TLB samples agree with the counters", () => {
    const events: FlushlabEvent[] = [];
    let addr = -1;
    const bodies = [0, 1, 2, 3].map((i) =>
      function* (t: TaskApi): TaskGen {
        if (i === 0) addr = yield* t.mmap(16 * 4096, PROT_READ | PROT_WRITE);
        while (addr < 0) yield 100;
        yield t.touch(addr + i * 4096, 1, 4096, true);
        yield 2000;
        yield* t.madvise(addr + i * 4096, 4096, MADV_DONTNEED);
        yield 5000;
      },
    );
    const r = runScenario("trace-events", bodies, [], "x86-64", undefined, 1, (e$) => e$.subscribe((e) => events.push(e)));
    const of = <K extends FlushlabEvent["type"]>(type: K) => events.filter((e): e is Extract<FlushlabEvent, { type: K }> => e.type === type);
    expect(of("machine")).toEqual([expect.objectContaining({ time: 0, cpus: 4, sockets: 1 })]);
    expect(of("machine")[0]!.freqHz).toBeGreaterThan(0);
    // A fault's enter and exit pair up per CPU, one per pgfault.
    expect(of("page_fault_enter")).toHaveLength(r.counters["pgfault"]!);
    expect(of("page_fault_exit")).toHaveLength(r.counters["pgfault"]!);
    for (const e of of("page_fault_enter")) expect(of("page_fault_exit").some((x) => x.cpu === e.cpu && x.time >= e.time)).toBe(true);
    // Every csd queued is an event; one that found its queue non-empty sent no IPI (v5.17).
    const csds = of("csd_queue");
    expect(csds).toHaveLength(r.counters["csd_queued"]!);
    expect(csds.filter((c) => !c.coalesced)).toHaveLength(r.counters["ipi_sent"]!);
    for (const c of csds) expect(c.coalesced).toBe(c.pending > 1);
    // IPI ids: 1, 2, … in send order; each interrupt names the IPI that raised it and lasts from start to end.
    const sends = of("ipi_send");
    expect(sends.map((s) => s.id)).toEqual(sends.map((_, i) => i + 1));
    const recvs = of("ipi_recv");
    expect(recvs.length).toBeGreaterThan(0);
    for (const rv of recvs) {
      const s = sends.find((x) => x.id === rv.id)!;
      expect(s.to).toBe(rv.cpu);
      expect(rv.start).toBeGreaterThanOrEqual(s.time);
      expect(rv.end).toBeGreaterThan(rv.start);
    }
    // Each CPU starts its task and goes idle when it exits.
    for (let c = 0; c < 4; c++) expect(of("cpu_task").filter((e) => e.cpu === c).map((e) => e.state)).toEqual(["user", "idle"]);
    // Remote shootdowns carry their cycles and range; TLB samples stay within the TLB.
    const remote = of("tlb_flush").filter((f) => f.reason === "TLB_REMOTE_SHOOTDOWN");
    expect(remote.length).toBeGreaterThan(0);
    for (const f of remote) {
      expect(f.cycles).toBeGreaterThan(0);
      expect(f.end! - f.start!).toBe(f.pages < 0 ? Infinity : f.pages * 4096);
    }
    const samples = of("tlb_occupancy");
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.some((s) => s.entries > 0)).toBe(true);
    for (const s of samples) expect(s.entries).toBeLessThanOrEqual(of("machine")[0]!.tlbEntries);
  });

  it("nobody subscribed: the same run, byte for byte", () => {
    const run = (observe: boolean) => {
      let addr = -1;
      return JSON.stringify(runScenario("quiet", [0, 1].map((i) => function* (t: TaskApi): TaskGen {
        if (i === 0) addr = yield* t.mmap(4 * 4096, PROT_READ | PROT_WRITE);
        while (addr < 0) yield 100;
        yield t.touch(addr, 4, 4096, true);
        yield* t.madvise(addr, 4 * 4096, MADV_DONTNEED);
      }), [], "x86-64", undefined, 1, observe ? (e$) => e$.subscribe(() => {}) : undefined));
    };
    expect(run(true)).toBe(run(false));
  });
});
