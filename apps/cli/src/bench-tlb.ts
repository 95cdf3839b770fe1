/**
 * The TLB-lookup bench case: the simulated TLB's lookup-and-fill path on its own
 * (hw/tlb.ts `Tlb.lookup`, and `Tlb.insert` on a miss, as `Mmu.access` and the page
 * walk call them), driven by the address stream of bench/tlb_ref.c, and the same C
 * file compiled and run for the cost floor of the same work on this machine.
 *
 * The stream is tlb_ref.c's, bit for bit: Marsaglia's xorshift64 (13, 7, 17) from the
 * seed 88172645463325252; `r & 1023 < 5` (5 in 1024, ~0.5 %) jumps the window base to
 * a uniform page in 1M (`(r >> 10) & (2^20 - 1)`), otherwise the page is
 * `base + ((r >> 10) & 63)`. JavaScript has no 64-bit integer short of BigInt (which
 * allocates), so the state is two 32-bit halves; both programs see the same pages, and
 * since the model's TLB replaces the least recently used way as the C one does, both
 * count the same hits (the bench prints both hit rates).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Tlb, TlbFlag } from "@flushlab/core-mmu";

/** tlb_ref.c's geometry: 128 sets × 12 ways (the Skylake-server STLB's 1,536 entries, 12-way). */
export const TLB_REF_ENTRIES = 1536;
export const TLB_REF_WAYS = 12;
/** tlb_ref.c's N. */
export const TLB_REF_ACCESSES = 200_000_000;

/** tlb_ref.c's seed, 88172645463325252 = 0x0139408D_CBBF7A44, as its two 32-bit halves. */
const SEED_HI = 0x0139408d;
const SEED_LO = 0xcbbf7a44 | 0;

/** tlb_ref.c's page stream: `next()` is one iteration's `vpn`. No allocation per call. */
export class TlbRefStream {
  /** xorshift64 state `s`, high and low 32 bits (as int32). */
  private hi = SEED_HI;
  private lo = SEED_LO;
  private base = 0;

  /** rnd(): s ^= s << 13; s ^= s >> 7; s ^= s << 17; returns the low 32 bits of s (all the stream uses). */
  rnd(): number {
    let hi = this.hi;
    let lo = this.lo;
    // s ^= s << 13
    hi ^= (hi << 13) | (lo >>> 19);
    lo ^= lo << 13;
    // s ^= s >> 7 (logical)
    lo ^= (lo >>> 7) | (hi << 25);
    hi ^= hi >>> 7;
    // s ^= s << 17
    hi ^= (hi << 17) | (lo >>> 15);
    lo ^= lo << 17;
    this.hi = hi;
    this.lo = lo;
    return lo;
  }

  /** The full 64-bit state as two unsigned halves (for tests). */
  state(): [hi: number, lo: number] {
    return [this.hi >>> 0, this.lo >>> 0];
  }

  next(): number {
    const r = this.rnd();
    if ((r & 1023) < 5) {
      // (r >> 10) & ((1 << 20) - 1): bits 10..29, all in the low half.
      this.base = (r >>> 10) & 0xfffff;
      return this.base;
    }
    return this.base + ((r >>> 10) & 63);
  }
}

export interface TlbLookupResult {
  readonly accesses: number;
  readonly hits: number;
  readonly ms: number;
}

/**
 * `n` accesses of the stream through a fresh model TLB with tlb_ref.c's geometry: a
 * lookup, and on a miss a fill (PCID 0, non-global, the page as its own frame).
 */
export function runTlbLookup(n: number): TlbLookupResult {
  const tlb = new Tlb({ entries: TLB_REF_ENTRIES, ways: TLB_REF_WAYS, pageShift: 12 });
  const stream = new TlbRefStream();
  const flags = TlbFlag.RW | TlbFlag.US | TlbFlag.D;
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const vpn = stream.next();
    if (tlb.lookup(vpn, 0) >= 0) hits++;
    else tlb.insert(vpn, 0, vpn, flags, 0, 0);
  }
  return { accesses: n, hits, ms: performance.now() - t0 };
}

export type CRefResult = { readonly rate: number; readonly hitRate: number } | { readonly na: string };

/**
 * Compiles `source` (bench/tlb_ref.c) with `cc -O2` in a temporary directory and runs
 * it; its output is "lookups/s R hit-rate H". `{ na }` says why not.
 */
export function runCRef(source: string, cc = process.env["CC"] ?? "cc"): CRefResult {
  if (!existsSync(source)) return { na: `${source} not found` };
  const dir = mkdtempSync(join(tmpdir(), "flushlab-tlb-ref-"));
  try {
    const exe = join(dir, "tlb_ref");
    try {
      execFileSync(cc, ["-O2", "-o", exe, source], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      if (err.code === "ENOENT") return { na: `no C compiler ("${cc}" not found; set CC)` };
      return { na: `"${cc} -O2" failed: ${String(err.stderr ?? err.message).trim().split("\n")[0]}` };
    }
    const out = execFileSync(exe, { encoding: "utf8" });
    const m = /lookups\/s (\d+) hit-rate ([\d.]+)/.exec(out);
    if (m === null) return { na: `unexpected output from tlb_ref: ${out.trim()}` };
    return { rate: Number(m[1]), hitRate: Number(m[2]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
