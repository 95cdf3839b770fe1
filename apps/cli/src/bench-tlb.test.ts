import { describe, expect, it } from "vitest";
import { TlbRefStream, runTlbLookup } from "./bench-tlb.js";

/**
 * The expected values come from bench/tlb_ref.c's algorithm compiled with cc -O2 (its
 * loop with a printf of r and vpn for the first iterations, and of `hits` after N
 * iterations): r is xorshift64 (13, 7, 17) from 88172645463325252.
 */
describe("the TLB bench's stream is tlb_ref.c's", () => {
  it("first outputs of rnd() and the page numbers", () => {
    const s = new TlbRefStream();
    const firsts: [string, number][] = [
      ["79690975fbde15b0", 5],
      ["2a337357ae2cc59b", 49],
      ["2fef107a27529ad0", 38],
      ["e4093df8432a8be5", 34],
      ["71dd0913271687b2", 33],
      ["f70abb341875063d", 1],
    ];
    for (const [r, vpn] of firsts) {
      expect(s.next()).toBe(vpn);
      const [hi, lo] = s.state();
      expect(hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0")).toBe(r);
    }
  });

  it("the first jump of the window: iteration 114, to page 923143", () => {
    const s = new TlbRefStream();
    let prev = 0;
    for (let i = 0; i < 114; i++) {
      const v = s.next();
      expect(v).toBeLessThan(64); // the window at base 0
      prev = v;
    }
    expect(prev).toBeLessThan(64);
    expect(s.next()).toBe(923143);
  });

  it("agrees with a 64-bit BigInt xorshift over 100,000 steps", () => {
    const s = new TlbRefStream();
    const M = (1n << 64n) - 1n;
    let x = 88172645463325252n;
    for (let i = 0; i < 100_000; i++) {
      x ^= (x << 13n) & M;
      x ^= x >> 7n;
      x ^= (x << 17n) & M;
      s.rnd();
      const [hi, lo] = s.state();
      if ((BigInt(hi) << 32n) + BigInt(lo) !== x) throw new Error(`step ${i}: ${hi.toString(16)}${lo.toString(16)} != ${x.toString(16)}`);
    }
  });

  it("the model TLB (1536 entries, 12 ways, LRU) hits as often as tlb_ref.c's", () => {
    // tlb_ref.c's loop counts 761 hits in the first 1,000 accesses, 76,417 in 100,000, 765,140 in 1,000,000.
    expect(runTlbLookup(1000).hits).toBe(761);
    expect(runTlbLookup(100_000).hits).toBe(76_417);
    expect(runTlbLookup(1_000_000).hits).toBe(765_140);
  });
});
