// An example flush-policy plugin, deliberately unsafe: tlb_flush_mmu that frees the
// gathered pages before it flushes the TLBs. Extension-point tokens are
// Symbol.for("@flushlab/core-mmu:<Name>"), so a config needs no imports.
//
//   cd examples/free-before-flush
//   npm run -s flushlab -- compare tlb-flush2 --plugins free-before-flush --runs 3
const MMU_GATHER_FLUSH = Symbol.for("@flushlab/core-mmu:MmuGatherFlush");

export default {
  plugins: [
    {
      name: "free-before-flush",
      description: "example: mmu_gather frees pages before flushing (unsafe: hazard class 1)",
      patch: { title: "example only", commit: "none", kernel: "none" },
      appliesTo: ["x86-64", "x86-32-pae"],
      overrides: [MMU_GATHER_FLUSH],
      register(container) {
        container.register(MMU_GATHER_FLUSH, {
          useValue: {
            *tlbFlushMmu(cpu, tlb, kernel) {
              yield* kernel.tlbFlushMmuFree(cpu, tlb);
              yield* kernel.tlbFlush(cpu, tlb);
            },
          },
        });
      },
    },
  ],
};
