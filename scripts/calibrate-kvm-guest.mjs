#!/usr/bin/env node
// The calibration of kvm-guest's mprotectBase and eptTranslate, re-runnable: seed 001's
// one-thread PROT_READ|PROT_WRITE pair (3,952 cycles on v5.17, 2,724 with the series) is
// what they are fitted to. mprotect-bench with one thread is deterministic and each
// figure is linear in the two parameters (a fixed count of mprotect calls and of EPT
// translations per window), so three probe runs a side give the two lines and the fit
// is their intersection, rounded; a last run checks it. The PROT_READ figures are
// predictions: this script never reads them. Needs a build (`npm run setup`).
//   node scripts/calibrate-kvm-guest.mjs
const pkg = (name) => import(new URL(`../packages/${name}/dist/index.js`, import.meta.url).href);
const { simulate, resolveFeatures } = await pkg("core-mmu");
const { x86 } = await pkg("arch-x86");
const { mprotectBench } = await pkg("workloads");
const { mprotectGather } = await pkg("patch-mprotect-gather");

const PUBLISHED = { baseline: 3952, patched: 2724 };
const kvm = x86.profiles["kvm-guest"];
const machine = resolveFeatures({ ...x86.defaultMachine }, { features: kvm.features });

/** cycles_prot_read_write of one side with the two parameters set. */
function rw(mprotectBase, eptTranslate, plugins) {
  const profile = { ...kvm, params: { ...kvm.params, mprotectBase, eptTranslate } };
  const arch = { ...x86, profiles: { ...x86.profiles, "kvm-guest": profile } };
  const options = { workload: "mprotect-bench", machine, profile: "kvm-guest", seed: 1, plugins: plugins.map((p) => p.name), params: {}, kernel: "v5.17" };
  return simulate({ options, arch, workload: mprotectBench, plugins }).metrics.cycles_prot_read_write;
}

const sides = { baseline: [], patched: [mprotectGather] };
const fit = {};
for (const [side, plugins] of Object.entries(sides)) {
  const f00 = rw(1000, 100, plugins);
  const dB = (rw(2000, 100, plugins) - f00) / 1000; // cycles per cycle of mprotectBase
  const dE = (rw(1000, 200, plugins) - f00) / 100; // cycles per cycle of eptTranslate (EPT translations per window)
  fit[side] = { c: f00 - 1000 * dB - 100 * dE, dB, dE };
  console.log(`${side}: cycles_prot_read_write = ${fit[side].c.toFixed(1)} + ${dB} x mprotectBase + ${dE} x eptTranslate`);
}
// Solve c_b + dB_b m + dE_b e = 3952 and c_p + dB_p m + dE_p e = 2724.
const b = fit.baseline;
const p = fit.patched;
const det = b.dB * p.dE - p.dB * b.dE;
const m = ((PUBLISHED.baseline - b.c) * p.dE - (PUBLISHED.patched - p.c) * b.dE) / det;
const e = (b.dB * (PUBLISHED.patched - p.c) - p.dB * (PUBLISHED.baseline - b.c)) / det;
const mr = Math.round(m);
const er = Math.round(e);
console.log(`fit: mprotectBase ${m.toFixed(2)} -> ${mr}, eptTranslate ${e.toFixed(2)} -> ${er}`);
const cb = rw(mr, er, sides.baseline);
const cp = rw(mr, er, sides.patched);
console.log(`check: cycles_prot_read_write ${cb} -> ${cp} (${(((cp - cb) / cb) * 100).toFixed(2)}%), published ${PUBLISHED.baseline} -> ${PUBLISHED.patched} (-31.07%)`);
