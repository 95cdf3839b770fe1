import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  ARCH_TLB,
  MADV_DONTNEED,
  MMU_GATHER_FLUSH,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  definePlugin,
  policy,
  type TaskApi,
  type TaskGen,
  type WorkloadContext,
} from "@flushlab/core-mmu";
import { X86Tlb } from "../src/index.js";
import { runScenario } from "./scenario.js";

describe("flush_tlb_mm_range and flush_tlb_func (v5.17)", () => {
  const unmapPages = (n: number) => {
    let addr = -1;
    let touched = 0;
    return [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(64 * 4096, PROT_READ | PROT_WRITE);
        yield t.touch(a, 64, 4096, true);
        addr = a; // written: CPU 1 may read now (earlier, it would map the zero page)
        while (touched < 1) yield 1000;
        yield* t.madvise(addr, n * 4096, MADV_DONTNEED);
      },
      function* (t: TaskApi): TaskGen {
        while (addr < 0) yield 1000;
        yield t.touch(addr, 64, 4096, false);
        touched = 1;
        yield 200_000; // stay in the mm (not lazy) while CPU 0 flushes
      },
    ];
  };

  it("up to tlb_single_page_flush_ceiling (33) pages: INVLPG per page on every CPU", () => {
    const r = runScenario("ceiling-33", unmapPages(33));
    expect(r.counters["nr_tlb_local_flush_one"]).toBe(33);
    expect(r.counters["nr_tlb_remote_flush"]).toBe(1);
    expect(r.counters["tlb_flush.TLB_REMOTE_SHOOTDOWN"]).toBe(1);
    expect(r.interrupts.TLB).toEqual([0, 1]);
    expect(r.hazards).toEqual([]);
  });

  it("34 pages: a full flush (CR3 reload) instead", () => {
    const r = runScenario("ceiling-34", unmapPages(34));
    expect(r.counters["nr_tlb_local_flush_one"]).toBe(0);
    expect(r.counters["nr_tlb_local_flush_all"]).toBe(1);
    expect(r.hazards).toEqual([]);
  });

  it("a flush with no other CPU in mm_cpumask stays local: no IPI", () => {
    const r = runScenario("single", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
        yield t.touch(a, 1, 4096, true);
        yield* t.madvise(a, 4096, MADV_DONTNEED);
      },
    ]);
    expect(r.counters["nr_tlb_remote_flush"]).toBe(0);
    expect(r.counters["ipi_sent"]).toBe(0);
    expect(r.counters["nr_tlb_local_flush_one"]).toBe(1);
  });

  it("requests queued behind a pending IPI share its interrupt (call_single_queue)", () => {
    // Three CPUs flush at the same cycle; CPU 3 is the one target of all three.
    let addr = -1;
    const flusher = (i: number) =>
      function* (t: TaskApi): TaskGen {
        while (addr < 0) yield 100;
        yield 10_000; // line the flushes up
        yield* t.madvise(addr + i * 4096, 4096, MADV_DONTNEED);
      };
    const r = runScenario("coalesce", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(16 * 4096, PROT_READ | PROT_WRITE);
        yield t.touch(a, 16, 4096, true);
        addr = a;
        yield 50_000;
      },
      flusher(1),
      flusher(2),
      function* (): TaskGen {
        yield 60_000;
      },
    ]);
    // CPUs 1 and 2 flush at the same cycle; CPU 3 gets both csds (TLB row) in one interrupt (CAL row).
    expect(r.interrupts.TLB[3]).toBe(2);
    expect(r.interrupts.CAL[3]).toBe(1);
    expect(r.counters["csd_queued"]).toBeGreaterThan(r.counters["ipi_sent"]!);
  });

  it("a cross-socket IPI takes longer than a same-socket one", () => {
    const run = (sockets: number) => {
      let addr = -1;
      const r = runScenario("xsock", [
        function* (t: TaskApi): TaskGen {
          addr = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
          yield t.touch(addr, 1, 4096, true);
          yield 10_000;
          yield* t.madvise(addr, 4096, MADV_DONTNEED);
        },
        function* (t: TaskApi): TaskGen {
          while (addr < 0) yield 100;
          yield t.touch(addr, 1, 4096, false);
          yield 100_000;
        },
      ], [], "x86-64", undefined, sockets);
      return r.counters["cycles_system"]!;
    };
    expect(run(2)).toBeGreaterThan(run(1));
  });
});

describe("flush_tlb_kernel_range: every online CPU, no mm_cpumask and no lazy filter", () => {
  it("reaches idle and lazy CPUs", () => {
    let ctx: WorkloadContext | undefined;
    runScenario("kernel", [function* (): TaskGen { yield 100; }], [], "x86-64", (c) => (ctx = c));
    const k = ctx!.kernel;
    const cpu0 = ctx!.machine.cpus[0]!;
    const g = k.policies.archTlb.flushTlbKernelRange(cpu0, ctx!.machine.format.vmallocStart, ctx!.machine.format.vmallocStart + 4 * 4096);
    // Drive the kernel path by hand: run the engine between yields.
    let r = g.next();
    while (!r.done) {
      ctx!.machine.engine.run();
      r = g.next();
    }
    expect(Array.from(k.counters.irqCall)).toEqual([0, 1]);
  });
});

describe("plugins", () => {
  const over = (name: string, composesWith?: string[]) =>
    definePlugin({
      name,
      description: name,
      patch: { title: "t", commit: "t", kernel: "t" },
      appliesTo: ["x86-64"],
      policies: [policy(MMU_GATHER_FLUSH, (_k, before) => before)],
      ...(composesWith ? { composesWith } : {}),
    });
  const body = [function* (): TaskGen { yield 1; }];

  it("two plugins overriding one token without composesWith is an error naming both", () => {
    expect(() => runScenario("c", body, [over("a"), over("b")])).toThrow('plugins "a" and "b" both override MmuGatherFlush and neither declares how they compose (composesWith)');
    expect(() => runScenario("c", body, [over("a"), over("b", ["a"])])).not.toThrow();
  });

  it("a plugin that requires another needs it enabled and listed first, and stacks on it", () => {
    const fix = { ...over("fix"), requires: ["a"] };
    expect(() => runScenario("c", body, [fix])).toThrow('plugin "fix" requires plugin "a", which is not enabled (--plugins a,fix)');
    expect(() => runScenario("c", body, [fix, over("a")])).toThrow('plugin "fix" requires "a" listed before it (--plugins a,fix)');
    expect(() => runScenario("c", body, [over("a"), fix])).not.toThrow();
  });

  it("a plugin that throws is reported by name, on one line", () => {
    const bad = definePlugin({
      name: "bad",
      description: "throws",
      patch: { title: "t", commit: "t", kernel: "t" },
      appliesTo: ["x86-64"],
      policies: [
        policy(ARCH_TLB, (_kernel, real) => ({
          flushTlbMmRange() {
            throw new Error("boom");
          },
          flushTlbKernelRange: real.flushTlbKernelRange.bind(real),
          switchMmIrqsOff: real.switchMmIrqsOff.bind(real),
          enterLazyTlb: real.enterLazyTlb.bind(real),
          initializeTlbstateAndFlush: real.initializeTlbstateAndFlush.bind(real),
          ptiSwitchCr3: real.ptiSwitchCr3.bind(real),
          flushTlbLocal: real.flushTlbLocal.bind(real),
        })),
      ],
    });
    expect(() => runScenario("bad", [function* (t: TaskApi): TaskGen { const a = yield* t.mmap(4096, 3); yield t.touch(a, 1, 4096, true); yield* t.madvise(a, 4096, MADV_DONTNEED); }], [bad])).toThrow(
      'plugin "bad" failed in ArchTlb.flushTlbMmRange: boom',
    );
    const badBuild = { ...bad, name: "bad-build", policies: [policy(ARCH_TLB, () => { throw new Error("nope"); })] };
    const noCr3 = { ...bad, name: "no-cr3", policies: [policy(ARCH_TLB, (kernel) => {
      const real = new X86Tlb(kernel);
      return { flushTlbMmRange: real.flushTlbMmRange.bind(real), flushTlbKernelRange: real.flushTlbKernelRange.bind(real), switchMmIrqsOff: () => 0, enterLazyTlb() {}, initializeTlbstateAndFlush: real.initializeTlbstateAndFlush.bind(real), ptiSwitchCr3: real.ptiSwitchCr3.bind(real), flushTlbLocal: real.flushTlbLocal.bind(real) };
    })] };
    expect(() => runScenario("bad", [function* (t: TaskApi): TaskGen { const a = yield* t.mmap(4096, 3); yield t.touch(a, 1, 4096, true); }], [noCr3])).toThrow(/with plugins no-cr3: CPU 0 faults endlessly/);
    expect(() => runScenario("bad", body, [badBuild])).toThrow('plugin "bad-build" failed to build its ArchTlb policy: nope');
  });

  it("a plugin hook that throws after it has yielded is reported by name too", () => {
    const late = definePlugin({
      name: "late",
      description: "throws in the second step of its flush",
      patch: { title: "t", commit: "t", kernel: "t" },
      appliesTo: ["x86-64"],
      policies: [
        policy(ARCH_TLB, (_kernel, real) => {
          const wrapped = Object.create(real) as typeof real;
          wrapped.flushTlbMmRange = function* () {
            yield 10;
            throw new Error("late boom");
          };
          return wrapped;
        }),
      ],
    });
    expect(() => runScenario("late", [function* (t: TaskApi): TaskGen { const a = yield* t.mmap(4096, 3); yield t.touch(a, 1, 4096, true); yield* t.madvise(a, 4096, MADV_DONTNEED); }], [late])).toThrow(
      'plugin "late" failed in ArchTlb.flushTlbMmRange: late boom',
    );
  });

  it("a policy class keeps its private state, getters and prototype methods behind the error wrapper", () => {
    // Counts its flushes in a private field through a prototype method, and exposes the
    // count through a getter: both must see the object the factory built.
    class Counting extends X86Tlb {
      #flushes = 0;
      get flushes(): number {
        return this.#flushes;
      }
      override *flushTlbMmRange(...args: Parameters<X86Tlb["flushTlbMmRange"]>): ReturnType<X86Tlb["flushTlbMmRange"]> {
        this.#flushes++;
        return yield* super.flushTlbMmRange(...args);
      }
    }
    let built: Counting | undefined;
    let kernel: ConstructorParameters<typeof X86Tlb>[0] | undefined;
    const counting = definePlugin({
      name: "counting",
      description: "counts flush_tlb_mm_range calls",
      patch: { title: "t", commit: "t", kernel: "t" },
      appliesTo: ["x86-64"],
      policies: [policy(ARCH_TLB, (k) => (built = new Counting((kernel = k))))],
    });
    const r = runScenario("counting", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(4096, 3);
        yield t.touch(a, 1, 4096, true);
        yield* t.madvise(a, 4096, MADV_DONTNEED);
      },
    ], [counting]);
    expect(r.hazards).toEqual([]);
    expect(built!.flushes).toBe(1);
    // The installed policy is the wrapper: its getter reads the built object's private field.
    const installed = kernel!.policies.archTlb as Counting;
    expect(installed).not.toBe(built);
    expect(installed.flushes).toBe(1);
    expect(installed).toBeInstanceOf(Counting);
  });

  it("a plugin that does not apply to the arch is refused", () => {
    expect(() => runScenario("arch", body, [over("only64")], "x86-32-pae")).toThrow('plugin "only64" does not apply to arch x86-32-pae');
  });
});

describe("oracle invariant (property): the pre-patch kernel never produces a hazard", () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant("touch" as const), page: fc.integer({ min: 0, max: 47 }), n: fc.integer({ min: 1, max: 16 }), write: fc.boolean() }),
    fc.record({ k: fc.constant("dontneed" as const), page: fc.integer({ min: 0, max: 47 }), n: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ k: fc.constant("mprotect" as const), page: fc.integer({ min: 0, max: 47 }), n: fc.integer({ min: 1, max: 8 }), prot: fc.constantFrom(1, 3) }),
    fc.record({ k: fc.constant("remap" as const) }),
    fc.record({ k: fc.constant("compute" as const), cycles: fc.integer({ min: 1, max: 5000 }) }),
  );
  type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
  it("random mixes of faults, zaps, mprotect and munmap on 3 CPUs, both arch modes", () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 25 }), { minLength: 3, maxLength: 3 }), fc.constantFrom("x86-64" as const, "x86-32-pae" as const), (scripts, arch) => {
        let base = -1;
        const body = (ops: Op[], owner: boolean) =>
          function* (t: TaskApi): TaskGen {
            if (owner) base = yield* t.mmap(48 * 4096, PROT_READ | PROT_WRITE);
            while (base < 0) yield 100;
            for (const o of ops) {
              if (o.k === "touch") yield t.touch(base + o.page * 4096, Math.min(o.n, 48 - o.page), 4096, o.write);
              else if (o.k === "dontneed") yield* t.madvise(base + o.page * 4096, Math.min(o.n, 48 - o.page) * 4096, MADV_DONTNEED);
              else if (o.k === "mprotect") yield* t.mprotect(base + o.page * 4096, Math.min(o.n, 48 - o.page) * 4096, o.prot);
              else if (o.k === "remap" && owner) {
                yield* t.munmap(base, 48 * 4096);
                base = yield* t.mmap(48 * 4096, PROT_READ | PROT_WRITE);
              } else if (o.k === "compute") yield o.cycles;
            }
          };
        const r = runScenario("prop", scripts.map((s, i) => body(s, i === 0)), [], arch);
        expect(r.hazards).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});

describe("PROT_NONE entries (v5.17 change_pte_range: pte_present counts _PAGE_PROTNONE)", () => {
  it("mprotect(PROT_NONE) then mprotect(PROT_READ) makes the page readable again, with its data", () => {
    let faults = -1;
    const r = runScenario("protnone", [
      function* (t: TaskApi): TaskGen {
        const a = yield* t.mmap(4096, PROT_READ | PROT_WRITE);
        yield t.touch(a, 1, 4096, true);
        yield* t.mprotect(a, 4096, PROT_NONE);
        yield* t.mprotect(a, 4096, PROT_READ);
        yield t.touch(a, 1, 4096, false);
        faults = 0;
      },
    ]);
    expect(faults).toBe(0);
    expect(r.counters["pgfault_anon"]).toBe(1); // the page was kept: no new anonymous fault
    expect(r.hazards).toEqual([]);
  });
});
