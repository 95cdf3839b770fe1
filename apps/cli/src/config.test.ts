import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../test/support/test-io.js";

// Under vitest a plain import() of a .ts file would be transpiled by vite anyway; record
// tsx's tsImport calls so the tests show that .ts configs go through tsx, as on plain Node.
const tsImported = vi.hoisted(() => [] as string[]);
vi.mock("tsx/esm/api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("tsx/esm/api")>();
  const tsImport: typeof actual.tsImport = (specifier, options) => {
    tsImported.push(specifier);
    return actual.tsImport(specifier, options);
  };
  return { ...actual, tsImport };
});

describe("flushlab.config", () => {
  const dirs: string[] = [];
  /** A project directory with `files` and @flushlab/core-mmu installed (a link to this repository's package, as a user's install would be). */
  function project(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), "flushlab-cli-"));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const core = join(dirname(fileURLToPath(import.meta.url)), "../../../packages/core-mmu");
    mkdirSync(join(dir, "node_modules/@flushlab"), { recursive: true });
    symlinkSync(core, join(dir, "node_modules/@flushlab/core-mmu"), "dir");
    return dir;
  }
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const configImports = `import { KERNEL_RANGE_FLUSH, definePlugin, policy } from "@flushlab/core-mmu";\n`;
  const configPlugin = `definePlugin({
    name: "cfg-policy",
    description: "a plugin defined in the config",
    patch: { title: "mm: local experiment", commit: "deadbeef", kernel: "not merged" },
    appliesTo: ["x86-64"],
    policies: [policy(KERNEL_RANGE_FLUSH, (_kernel, before) => before)],
  })`;

  it("names a machine preset; its machine fields and the flags override it", async () => {
    const cwd = project({ "flushlab.config.mjs": `export default { preset: "big-box", machine: { cpus: 4 } };\n` });
    const run = await runCli(["run", "tlb-flush2", "--json"], { cwd });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ cpus: 4, sockets: 2, profile: "kvm-guest", preset: "big-box" });
    const flags = await runCli(["run", "tlb-flush2", "--json", "--sockets", "1"], { cwd });
    expect(JSON.parse(flags.stdout)).toMatchObject({ cpus: 4, sockets: 1, preset: "big-box" });
    const bad = project({ "flushlab.config.mjs": `export default { preset: "nope" };\n` });
    const r = await runCli(["run", "tlb-flush2"], { cwd: bad });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: flushlab.config.mjs: unknown preset "nope" (known: big-box)\n');
    const wrong = project({ "flushlab.config.mjs": `export default { preset: 3 };\n` });
    expect((await runCli(["run", "tlb-flush2"], { cwd: wrong })).stderr).toBe("flushlab: flushlab.config.mjs: preset must be a preset name (got 3)\n");
  });

  it("adds its plugins (enabled by default) and sets machine, profile, seed; flags override", async () => {
    const cwd = project({
      "flushlab.config.mjs": `${configImports}export default { plugins: [${configPlugin}], machine: { cpus: 4, sockets: 2 }, profile: "kvm-guest", seed: 9 };\n`,
    });
    const list = await runCli(["list"], { cwd });
    expect(list.stdout).toContain("Plugins (installed, and from flushlab.config.mjs)");
    expect(list.stdout).toContain("cfg-policy  [flushlab.config.mjs]");
    expect(list.stdout).toContain("overrides:  KernelRangeFlush");

    const run = await runCli(["run", "tlb-flush2", "--json"], { cwd });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toMatchObject({ cpus: 4, sockets: 2, profile: "kvm-guest", seed: 9, plugins: ["cfg-policy"] });

    const flags = await runCli(["run", "tlb-flush2", "--json", "--cpus", "6", "--sockets", "3", "--profile", "bare-metal", "--seed", "2", "--plugins", "lazy-flush"], { cwd });
    expect(JSON.parse(flags.stdout)).toMatchObject({ cpus: 6, sockets: 3, profile: "bare-metal", seed: 2, plugins: ["lazy-flush"] });

    const compare = await runCli(["compare", "tlb-flush2", "--runs", "2", "--json"], { cwd });
    expect(compare.code).toBe(0);
    expect(JSON.parse(compare.stdout)).toMatchObject({ plugins: ["cfg-policy"], runs: 2 });

    const sockets = await runCli(["run", "tlb-flush2", "--cpus", "3"], { cwd });
    expect(sockets.stderr).toBe("flushlab: sockets (2) must divide cpus (3)\n");
  });

  // TypeScript-only syntax (interface, annotations, `as const`, a generic, `satisfies`), with
  // the public API imported and type-checked as a user's config is.
  const tsConfig = `import { MMU_GATHER_FLUSH, defineConfig, definePlugin, policy, type Cpu, type MmuGather } from "@flushlab/core-mmu";
interface Order {
  readonly flushFirst: boolean;
}
function identity<T>(value: T): T {
  return value;
}
const order: Order = { flushFirst: true };
const machine = { cpus: 4 as number, sockets: 2 } as const;
export default defineConfig({
  plugins: [
    definePlugin({
      name: "ts-policy",
      description: "a plugin defined in a TypeScript config",
      patch: { title: "mm: flush before free", commit: "cafef00d", kernel: "not merged" },
      appliesTo: ["x86-64"],
      policies: [
        policy(MMU_GATHER_FLUSH, (kernel) => ({
          *tlbFlushMmu(cpu: Cpu, tlb: MmuGather) {
            if (order.flushFirst) yield* kernel.mmuGather.tlbFlush(cpu, tlb);
            yield* kernel.mmuGather.tlbFlushMmuFree(cpu, tlb);
          },
        })),
      ],
    }),
  ],
  machine: identity(machine),
  seed: 5 satisfies number,
});
`;

  for (const [label, extra] of [
    ["compiled as CommonJS (no package.json)", {}],
    ['in a "type": "module" package', { "package.json": '{ "type": "module" }\n' }],
  ] as [string, Record<string, string>][]) {
    it(`loads a flushlab.config.ts written in TypeScript, ${label}`, async () => {
      const cwd = project({ "flushlab.config.ts": tsConfig, ...extra });
      const url = pathToFileURL(join(cwd, "flushlab.config.ts")).href;
      const list = await runCli(["list"], { cwd });
      expect(list.stderr).toBe("");
      expect(list.stdout).toContain("ts-policy  [flushlab.config.ts]");
      expect(list.stdout).toContain("overrides:  MmuGatherFlush");
      expect(tsImported).toContain(url);

      const run = await runCli(["run", "tlb-flush2", "--json"], { cwd });
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ cpus: 4, sockets: 2, seed: 5, plugins: ["ts-policy"] });
    });
  }

  it("a flushlab.config.ts with a syntax error is one line naming the file, no stack", async () => {
    const cwd = project({ "flushlab.config.ts": "interface A { x: number }\nconst a: A = { x: };\nexport default a;\n" });
    const r = await runCli(["run", "tlb-flush2"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^flushlab: cannot load flushlab\.config\.ts: flushlab\.config\.ts:2:\d+: \S.*\n$/);
    expect(r.stderr).not.toContain(cwd);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a plugin named like an installed one is an error", async () => {
    const cwd = project({ "flushlab.config.js": `${configImports}export default { plugins: [${configPlugin.replace("cfg-policy", "noop")}] };\n` });
    const r = await runCli(["list"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('flushlab: two different plugins are named "noop" (installed and in flushlab.config.js)\n');
  });

  const bad: [string, string, RegExp][] = [
    ["flushlab.config.mjs", "export default { seeed: 1 };", /^flushlab: flushlab\.config\.mjs: unknown field "seeed"/],
    ["flushlab.config.mjs", "export default { seed: -1 };", /seed must be a non-negative integer/],
    ["flushlab.config.mjs", "export default { profile: 'cloud' };", /^flushlab: flushlab\.config\.mjs: unknown profile "cloud"/],
    ["flushlab.config.mjs", "export default { machine: { cpus: 0 } };", /machine\.cpus must be a positive integer/],
    ["flushlab.config.mjs", "export default { machine: { arch: 'arm64' } };", /machine\.arch must be one of x86-64, x86-32-pae/],
    ["flushlab.config.mjs", "export default { machine: { pscEntries: 0 } };", /machine\.pscEntries must be a positive integer/],
    ["flushlab.config.mjs", "export default { machine: { pscEntries: 24 } };", /^flushlab: pscEntries must be a power of two \(got 24\)$/],
    ["flushlab.config.mjs", "export default { machine: { iotlbEntries: 5000 } };", /^flushlab: iotlbEntries must be an integer from 1 to 4096 \(got 5000\)$/],
    ["flushlab.config.mjs", "export default { plugins: [{ name: 'x' }] };", /plugin "x" has no patch provenance/],
    ["flushlab.config.mjs", "export default { plugins: [{ name: 'x', patch: { title: 't' }, appliesTo: ['x86-64'], overrides: [], register() {} }] };", /plugin "x" uses register\/overrides, which are gone: declare policies/],
    ["flushlab.config.mjs", "export default { plugins: [{ name: 'x', patch: { title: 't' }, appliesTo: ['x86-64'], policies: [{ point: { slot: 'nope' }, build() {} }] }] };", /plugin "x" policies\[0\] is not policy\(TOKEN, factory\) for a known extension point/],
    ["flushlab.config.mjs", "export default { workloads: [{ name: 'w' }] };", /workload "w" has no setup function/],
    ["flushlab.config.mjs", "export default 42;", /must export default an object/],
    ["flushlab.config.mjs", "export default {;", /^flushlab: cannot load flushlab\.config\.mjs: /],
    ["flushlab.config.mjs", "throw new Error('config blew up\\nline two');", /^flushlab: cannot load flushlab\.config\.mjs: config blew up$/],
    ["flushlab.config.ts", "const n: number = ;", /^flushlab: cannot load flushlab\.config\.ts: flushlab\.config\.ts:1:\d+: /],
    ["flushlab.config.ts", "const e: Error = new Error('ts config blew up\\nline two');\nthrow e;", /^flushlab: cannot load flushlab\.config\.ts: ts config blew up$/],
    ["flushlab.config.ts", "import './missing-helper.js';\nexport default {};", /^flushlab: cannot load flushlab\.config\.ts: .*missing-helper/],
    ["flushlab.config.ts", "export default { seeed: 1 } as const;", /^flushlab: flushlab\.config\.ts: unknown field "seeed"/],
  ];
  for (const [file, text, expected] of bad) {
    it(`rejects ${text}`, async () => {
      const r = await runCli(["run", "tlb-flush2"], { cwd: project({ [file]: text }) });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(r.stderr.trimEnd()).toMatch(expected);
    });
  }

  it("two config files are an error", async () => {
    const cwd = project({ "flushlab.config.mjs": "export default {};", "flushlab.config.js": "export default {};" });
    const r = await runCli(["list"], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/more than one config file .*flushlab\.config\.mjs, flushlab\.config\.js/);
  });

  it("--help does not load the config", async () => {
    const cwd = project({ "flushlab.config.mjs": "export default {;" });
    expect((await runCli(["run", "--help"], { cwd })).code).toBe(0);
  });
});
