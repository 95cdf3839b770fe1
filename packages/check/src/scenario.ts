/**
 * The scenario grammar `flushlab check` explores: one process whose threads run on 2 to
 * 4 CPUs over one small user region, each thread a short program of operations
 * between a warm-up (it touches every page, filling its TLB) and a final sweep (it
 * touches every page again: the uses a stale translation would serve). A scenario
 * is plain data (JSON), so a counterexample can be saved and replayed exactly.
 */
import { z } from "zod";

/** What the user region is: anonymous memory, or a file mapped private or shared. */
export const REGION_KINDS = ["anon", "file-private", "file-shared"] as const;
export type RegionKind = (typeof REGION_KINDS)[number];

export const PROTS = ["none", "read", "rw"] as const;
export type Prot = (typeof PROTS)[number];

const page = z.number().int().min(0).max(7);
const pages = z.number().int().min(1).max(8);
const cycles = z.number().int().min(0).max(10_000_000);

/** One operation of a thread. Pages count from the region's start. */
export const OpSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("read"), page }).strict(),
  z.object({ op: z.literal("write"), page }).strict(),
  z.object({ op: z.literal("munmap"), page, pages }).strict(),
  z.object({ op: z.literal("mprotect"), page, pages, prot: z.enum(PROTS) }).strict(),
  z.object({ op: z.literal("madvise"), page, pages, advice: z.enum(["dontneed", "free"]) }).strict(),
  /** mremap of the whole region to a new address (MREMAP_MAYMOVE | MREMAP_FIXED); later operations of every thread use the new address. */
  z.object({ op: z.literal("mremap") }).strict(),
  /** fork without exec (dup_mmap: COW write-protect, flush_tlb_mm); the child exits at once. */
  z.object({ op: z.literal("fork") }).strict(),
  /** A context switch to another process (a fork+exec child that runs `cycles` in user mode and exits) and back. */
  z.object({ op: z.literal("ctxsw"), cycles }).strict(),
  /** A reclaim pass: the LRU pagevecs drained, then shrink_lruvec on every node until it scanned the lists twice. */
  z.object({ op: z.literal("reclaim") }).strict(),
  /**
   * A kernel buffer's life: vmalloc (8 KiB) or a huge ioremap (2 MiB), written by the
   * kernel, then vfree/iounmap, then with `purge` vm_unmap_aliases (the lazy purge).
   */
  z.object({ op: z.literal("kmem"), kind: z.enum(["vmalloc", "ioremap"]), purge: z.boolean() }).strict(),
  /** A DMA by an ATS device bound to the process (amd_iommu_v2), through its IOTLB. */
  z.object({ op: z.literal("dma"), page, write: z.boolean() }).strict(),
  /** The thread computes `cycles` in user mode, touching nothing. */
  z.object({ op: z.literal("idle"), cycles }).strict(),
  /**
   * The CPU is nohz_full: `cycles` in user mode with the tick off, then a system call
   * that vmallocs an 8 KiB buffer, writes it and frees it (as nohz-isolation's do).
   */
  z.object({ op: z.literal("nohz"), cycles }).strict(),
]);
export type Op = z.infer<typeof OpSchema>;
export type OpName = Op["op"];

export const ACCESS_MODES = ["none", "read", "write"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export const ThreadSchema = z
  .object({
    /** How the thread touches every page first. */
    warm: z.enum(ACCESS_MODES),
    ops: z.array(OpSchema).max(8),
    /** How it touches every page last. */
    sweep: z.enum(ACCESS_MODES),
  })
  .strict();
export type Thread = z.infer<typeof ThreadSchema>;

export const ScenarioSchema = z
  .object({
    region: z.object({ kind: z.enum(REGION_KINDS), pages: z.number().int().min(1).max(8) }).strict(),
    /** Thread i runs on CPU i. */
    threads: z.array(ThreadSchema).min(1).max(4),
  })
  .strict();
export type Scenario = z.infer<typeof ScenarioSchema>;

/**
 * A delay at one scheduling point: CPU `cpu` stalls `cycles` after its `point`-th step;
 * with `flush`, before its `point`-th flush after the barrier (counting flushes only, so
 * that the delay stays on that flush when other delays change how many steps come first).
 */
export const DelaySchema = z
  .object({ cpu: z.number().int().min(0).max(3), point: z.number().int().min(0), cycles: z.number().int().min(1).max(10_000_000), flush: z.literal(true).optional() })
  .strict();
export type Delay = z.infer<typeof DelaySchema>;

/** One case: a scenario and the schedule it ran under (its delays). */
export const CaseSchema = z
  .object({
    scenario: ScenarioSchema,
    delays: z.array(DelaySchema).max(8),
  })
  .strict();
export type Case = z.infer<typeof CaseSchema>;

/** The operations that use the region's pages (and must stay inside it). */
export function opPages(op: Op): { page: number; pages: number } | null {
  switch (op.op) {
    case "read":
    case "write":
    case "dma":
      return { page: op.page, pages: 1 };
    case "munmap":
    case "mprotect":
    case "madvise":
      return { page: op.page, pages: op.pages };
    default:
      return null;
  }
}

/** Semantic checks the schema cannot state: pages inside the region, delays on existing CPUs. */
export function checkCase(c: Case): string | null {
  const n = c.scenario.region.pages;
  for (const [i, t] of c.scenario.threads.entries()) {
    for (const [j, op] of t.ops.entries()) {
      const p = opPages(op);
      if (p !== null && p.page + p.pages > n) return `thread ${i} op ${j} (${op.op}) reaches page ${p.page + p.pages - 1} of a ${n}-page region`;
    }
  }
  for (const d of c.delays) if (d.cpu >= c.scenario.threads.length) return `a delay on CPU ${d.cpu}, but the scenario has ${c.scenario.threads.length} CPUs`;
  return null;
}

const PROT_TEXT: Record<Prot, string> = { none: "PROT_NONE", read: "PROT_READ", rw: "PROT_READ|PROT_WRITE" };

function range(page: number, pages: number): string {
  return pages === 1 ? `page ${page}` : `pages ${page}-${page + pages - 1}`;
}

/** An operation as a person reads it. */
export function describeOp(op: Op): string {
  switch (op.op) {
    case "read":
    case "write":
      return `${op.op} page ${op.page}`;
    case "munmap":
      return `munmap(${range(op.page, op.pages)})`;
    case "mprotect":
      return `mprotect(${range(op.page, op.pages)}, ${PROT_TEXT[op.prot]})`;
    case "madvise":
      return `madvise(${range(op.page, op.pages)}, MADV_${op.advice.toUpperCase()})`;
    case "mremap":
      return "mremap(region, MREMAP_MAYMOVE|MREMAP_FIXED, elsewhere)";
    case "fork":
      return "fork (child exits)";
    case "ctxsw":
      return `switch to another process (${op.cycles} cycles) and back`;
    case "reclaim":
      return "reclaim pass";
    case "kmem":
      return `${op.kind === "vmalloc" ? "vmalloc 8 KiB, write, vfree" : "ioremap 2 MiB (huge), write, iounmap"}${op.purge ? ", purge" : ""}`;
    case "dma":
      return `device DMA ${op.write ? "write" : "read"} page ${op.page}`;
    case "idle":
      return `compute ${op.cycles} cycles`;
    case "nohz":
      return `nohz_full user mode ${op.cycles} cycles, then a syscall using an 8 KiB vmalloc buffer`;
  }
}

/** A thread's program as one line. */
export function describeThread(t: Thread): string {
  const parts: string[] = [];
  if (t.warm !== "none") parts.push(`${t.warm} every page`);
  for (const op of t.ops) parts.push(describeOp(op));
  if (t.sweep !== "none") parts.push(`${t.sweep} every page`);
  return parts.length === 0 ? "(nothing)" : parts.join("; ");
}

/** The region as a person reads it. */
export function describeRegion(s: Scenario): string {
  const kind = { anon: "anonymous", "file-private": "private file", "file-shared": "shared file" }[s.region.kind];
  return `one ${kind} region of ${s.region.pages} page${s.region.pages === 1 ? "" : "s"}, mapped read-write`;
}

/** Operations in a scenario, all threads. */
export function opCount(s: Scenario): number {
  return s.threads.reduce((n, t) => n + t.ops.length, 0);
}
