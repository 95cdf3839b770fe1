/**
 * `flushlab new-plugin <name> [--dir D]`: writes a plugin package that builds and passes
 * its own tests as written: package.json, tsconfig.json, src/index.ts (definePlugin with
 * one policy), src/index.test.ts (runs `compare` and `check` on it through the CLI's
 * programmatic API, and `compare --plugins <the package>` through the CLI's bin),
 * README.md and a changeset.
 *
 * Where it goes and what it depends on:
 * - inside this workspace (the directory is packages/<x>, apps/<x> or examples/<x> of the
 *   checkout the CLI runs from): a workspace package "@flushlab/plugin-<name>" with
 *   `workspace:^` dependencies, the repository's tsconfig.base.json and vitest settings,
 *   its changeset in the repository's .changeset/; then `pnpm install`;
 * - anywhere else (an empty or new directory): "flushlab-plugin-<name>" whose @flushlab
 *   packages are `file:` links to this checkout's packages (they are not on the registry
 *   yet), with typescript and vitest from the registry; then `npm install`.
 * Default directory: packages/plugin-<name> when the current directory is inside the
 * workspace, else ./flushlab-plugin-<name>.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { FlushlabInputError } from "@flushlab/core-mmu";
import { HELP_OPTION, expectAtMostPositionals } from "../args.js";
import { defineCommand } from "./command.js";

const NAME_RE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const WORKSPACE_DIRS = ["packages", "apps", "examples"];

/** The flushlab packages a plugin package uses: its policy API, and the CLI its tests run. */
const LINKED = ["@flushlab/core-mmu", "@flushlab/cli"] as const;

/** Versions of the tools the scaffold's package builds and tests with (the repository's own). */
const TOOL_VERSIONS = { typescript: "6.0.3", vitest: "4.1.12", "@types/node": "^20.19.0" } as const;

export interface Checkout {
  /** The repository root (pnpm-workspace.yaml), or undefined when the CLI is not run from a checkout. */
  readonly root: string | undefined;
  /** Real directories of the linked packages, by name. */
  readonly packages: Readonly<Record<(typeof LINKED)[number], string>>;
  /** Their versions, for a scaffold outside any checkout. */
  readonly versions: Readonly<Record<(typeof LINKED)[number], string>>;
}

/** Where this CLI's packages live. */
export function findCheckout(): Checkout {
  const require = createRequire(import.meta.url);
  const cliDir = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."));
  const dirOf = (name: string): string => (name === "@flushlab/cli" ? cliDir : dirname(realpathSync(require.resolve(`${name}/package.json`))));
  const packages = Object.fromEntries(LINKED.map((n) => [n, dirOf(n)])) as Record<(typeof LINKED)[number], string>;
  const versions = Object.fromEntries(
    LINKED.map((n) => [n, (JSON.parse(readFileSync(join(packages[n], "package.json"), "utf8")) as { version: string }).version]),
  ) as Record<(typeof LINKED)[number], string>;
  let root: string | undefined;
  for (let d = cliDir; ; d = dirname(d)) {
    if (existsSync(join(d, "pnpm-workspace.yaml"))) {
      root = d;
      break;
    }
    if (dirname(d) === d) break;
  }
  // Installed from a registry, the packages sit in node_modules: no checkout to link to.
  if (root !== undefined && Object.values(packages).some((p) => p.split(sep).includes("node_modules"))) root = undefined;
  return { root, packages, versions };
}

function isInside(dir: string, root: string): boolean {
  const rel = relative(root, dir);
  return rel === "" || (!rel.startsWith("..") && !rel.startsWith(sep) && rel !== dir);
}

export interface ScaffoldPlan {
  readonly dir: string;
  readonly name: string;
  readonly packageName: string;
  /** "workspace": a package of this repository; "linked": outside it, file: links to the checkout. */
  readonly mode: "workspace" | "linked" | "registry";
  readonly files: ReadonlyMap<string, string>;
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The files of the package, by path (absolute). */
export function planScaffold(name: string, dirFlag: string | undefined, cwd: string, checkout: Checkout = findCheckout()): ScaffoldPlan {
  if (!NAME_RE.test(name)) throw new FlushlabInputError(`plugin name must be lower-case words joined by "-" (got "${name}")`);
  const root = checkout.root;
  const cwdInside = root !== undefined && isInside(resolve(cwd), root);
  const dir = dirFlag !== undefined ? resolve(cwd, dirFlag) : cwdInside ? join(root, "packages", `plugin-${name}`) : resolve(cwd, `flushlab-plugin-${name}`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new FlushlabInputError(`--dir ${dir} is a file`);
    if (readdirSync(dir).length > 0) throw new FlushlabInputError(`--dir ${dir} is not empty (new-plugin writes into an empty or new directory)`);
  }
  let mode: ScaffoldPlan["mode"] = root === undefined ? "registry" : "linked";
  if (root !== undefined && isInside(dir, root)) {
    const parent = relative(root, dirname(dir));
    if (!WORKSPACE_DIRS.includes(parent)) {
      throw new FlushlabInputError(`--dir ${dir} is inside the flushlab repository but not a workspace package directory (use ${WORKSPACE_DIRS.map((d) => `${d}/<x>`).join(", ")}, or a directory outside it)`);
    }
    mode = "workspace";
  }
  const packageName = mode === "workspace" ? `@flushlab/plugin-${name}` : `flushlab-plugin-${name}`;
  const spec = (pkg: (typeof LINKED)[number]): string =>
    mode === "workspace" ? "workspace:^" : mode === "linked" ? `file:${checkout.packages[pkg]}` : `^${checkout.versions[pkg]}`;

  const files = new Map<string, string>();
  const put = (path: string, text: string): void => void files.set(join(dir, path), text);
  const exportsField = {
    ".": { ...(mode === "workspace" ? { "@flushlab/source": "./src/index.ts" } : {}), types: "./dist/index.d.ts", default: "./dist/index.js" },
    "./package.json": "./package.json",
  };
  put(
    "package.json",
    json({
      name: packageName,
      version: "0.1.0",
      description: `flushlab plugin: ${name} (vmalloc's kernel-range flushes flush the whole TLB)`,
      license: "MIT",
      ...(mode === "workspace" ? {} : { private: true }),
      type: "module",
      sideEffects: false,
      exports: exportsField,
      main: "./dist/index.js",
      types: "./dist/index.d.ts",
      files: ["dist", "!dist/**/*.test.*", "!dist/.tsbuildinfo"],
      engines: { node: ">=20.11" },
      scripts:
        mode === "workspace"
          ? { build: "tsc -p tsconfig.json", typecheck: "tsc -p tsconfig.json --noEmit", test: "vitest run --reporter=default --reporter=json --outputFile=.vitest-result.json" }
          : { build: "tsc -p tsconfig.json", typecheck: "tsc -p tsconfig.json --noEmit", test: "vitest run" },
      ...(mode === "workspace"
        ? {
            peerDependencies: { "@flushlab/core-mmu": spec("@flushlab/core-mmu") },
            devDependencies: { "@flushlab/core-mmu": spec("@flushlab/core-mmu"), "@flushlab/cli": spec("@flushlab/cli") },
          }
        : {
            // A published plugin would make core-mmu a peer dependency; a file: link cannot be one.
            dependencies: { "@flushlab/core-mmu": spec("@flushlab/core-mmu") },
            devDependencies: { "@flushlab/cli": spec("@flushlab/cli"), ...TOOL_VERSIONS },
          }),
    }),
  );
  put(
    "tsconfig.json",
    mode === "workspace"
      ? json({
          extends: `${relative(dir, root!).split(sep).join("/")}/tsconfig.base.json`,
          compilerOptions: { rootDir: "src", outDir: "dist", tsBuildInfoFile: "dist/.tsbuildinfo" },
          references: [{ path: `${relative(dir, checkout.packages["@flushlab/core-mmu"]).split(sep).join("/")}` }],
          include: ["src"],
          exclude: ["src/**/*.test.ts"],
        })
      : json({
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            lib: ["ES2022"],
            types: ["node"],
            strict: true,
            noUncheckedIndexedAccess: true,
            isolatedModules: true,
            verbatimModuleSyntax: true,
            declaration: true,
            sourceMap: true,
            skipLibCheck: true,
            rootDir: "src",
            outDir: "dist",
          },
          include: ["src"],
          exclude: ["src/**/*.test.ts"],
        }),
  );
  if (mode === "workspace") {
    put("vitest.config.ts", `import shared from "${relative(dir, root!).split(sep).join("/")}/vitest.shared.ts";\nexport default shared;\n`);
  } else {
    put(
      "vitest.config.ts",
      `import { defineConfig } from "vitest/config";\n\n// The tests run whole simulations; give them time on a slow machine.\nexport default defineConfig({ test: { include: ["src/**/*.test.ts"], testTimeout: 120_000 } });\n`,
    );
    put(".gitignore", "node_modules/\ndist/\n*.tsbuildinfo\n");
  }
  put("src/index.ts", indexTemplate(name, packageName));
  put("src/index.test.ts", testTemplate(name));
  put("README.md", readmeTemplate(name, packageName, mode));
  const changeset = `---\n"${packageName}": minor\n---\n\n\`${name}\`: a new flushlab plugin; vmalloc's kernel-range flushes flush the whole TLB.\n`;
  if (mode === "workspace") files.set(join(root!, ".changeset", `plugin-${name}.md`), changeset);
  else {
    put(".changeset/config.json", json({ $schema: "https://unpkg.com/@changesets/config@3.1.1/schema.json", changelog: "@changesets/cli/changelog", commit: false, access: "public", baseBranch: "main" }));
    put(`.changeset/${name}-initial.md`, changeset);
  }
  return { dir, name, packageName, mode, files };
}

function indexTemplate(name: string, packageName: string): string {
  const id = camel(name);
  return `/**
 * ${name}: a flushlab plugin. Its one policy replaces KernelRangeFlush, the flush at
 * vmalloc's call sites (__purge_vmap_area_lazy, _vm_unmap_aliases, pmd_free_pte_page):
 * every kernel-range flush flushes the whole TLB, as flush_tlb_kernel_range does
 * (arch/x86/mm/tlb.c, v5.17) when the range exceeds tlb_single_page_flush_ceiling, i.e.
 * with that debugfs knob set to 0. Flushing more is safe; what it costs is what
 * \`flushlab compare\` shows.
 *
 * Edit the policy, then: npm test (compare + check), and
 *   flushlab compare nohz-isolation --plugins <this directory>
 */
import { KERNEL_RANGE_FLUSH, definePlugin, policy, type Cpu, type KGen, type KernelRangeFlush } from "@flushlab/core-mmu";

/** arch/x86's TLB_FLUSH_ALL: flush_tlb_kernel_range(0, TLB_FLUSH_ALL) is do_flush_tlb_all. */
const TLB_FLUSH_ALL = Infinity;

/** Every kernel-range flush as a full flush, through the flush it replaces. */
export class FlushWholeTlb implements KernelRangeFlush {
  constructor(private readonly replaced: KernelRangeFlush) {}

  flushKernelRange(cpu: Cpu, _start: number, _end: number, freedTables?: boolean): KGen {
    return this.replaced.flushKernelRange(cpu, 0, TLB_FLUSH_ALL, freedTables);
  }
}

export const ${id} = definePlugin({
  name: "${name}",
  description: "vmalloc's kernel-range flushes flush the whole TLB (tlb_single_page_flush_ceiling = 0)",
  package: "${packageName}",
  patch: { title: "${name}: flush the whole TLB for every kernel-range flush", commit: "none (not posted)", kernel: "v5.17" },
  appliesTo: ["x86-64", "x86-32-pae"],
  // The factory gets the kernel and the policy it replaces.
  policies: [policy(KERNEL_RANGE_FLUSH, (_kernel, replaced) => new FlushWholeTlb(replaced))],
});

export default ${id};
`;
}

function testTemplate(name: string): string {
  return `/**
 * The plugin through flushlab's CLI: compare (baseline against the plugin, several seeds)
 * and check (small scenarios and interleavings, looking for a hazard).
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { main, registry, type CliRegistry } from "@flushlab/cli";
import plugin from "./index.js";

// The plugin joins the registry in this process only: worker threads rebuild the installed
// registry, which does not have it, so the runs stay here (workers: false).
const withPlugin: CliRegistry = { ...registry, plugins: [...registry.plugins, plugin], workers: false };

async function flushlab(argv: string[], reg: CliRegistry = withPlugin): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, reg, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    cwd: dirname(fileURLToPath(import.meta.url)),
  });
  return { code, stdout, stderr };
}

describe("${name}", () => {
  it("compare: the kernel-range flushes become full flushes on every CPU, and no hazard", async () => {
    const r = await flushlab(["compare", "nohz-isolation", "--plugins", "${name}", "--runs", "2", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.plugins).toEqual(["${name}"]);
    expect(json.hazards).toEqual({ baseline: 0, patched: 0 });
    // do_flush_tlb_all reaches every online CPU; a short range flush only some of them.
    const received = json.counters.nr_tlb_remote_flush_received;
    expect(received.patched).toBeGreaterThan(received.baseline);
  });

  it("check: no hazard in the scenarios the budget reaches", async () => {
    const r = await flushlab(["check", "--plugins", "${name}", "--budget", "30", "--json"]);
    expect(r.stderr).toBe("");
    const json = JSON.parse(r.stdout);
    expect(json.found).toBe(false);
    expect(r.code).toBe(0);
  });

  it("loads from this package's directory with flushlab's own bin (--plugins <dir>)", () => {
    const require = createRequire(import.meta.url);
    const bin = join(dirname(require.resolve("@flushlab/cli/package.json")), "dist", "bin.js");
    const root = join(dirname(fileURLToPath(import.meta.url)), "..");
    const out = execFileSync(process.execPath, [bin, "compare", "nohz-isolation", "--plugins", root, "--runs", "2", "--format", "0day"], { encoding: "utf8", cwd: root });
    expect(out).toContain("%stddev     %change         %stddev");
    expect(out).toContain("  ${name}");
    expect(out).toMatch(/\\+\\d+\\.\\d%.*  nr_tlb_remote_flush_received$/m);
  });
});
`;
}

function readmeTemplate(name: string, packageName: string, mode: ScaffoldPlan["mode"]): string {
  const install = mode === "workspace" ? "pnpm install" : "npm install";
  return `# ${packageName}

A [flushlab](https://github.com/) flush-policy plugin, written by \`flushlab new-plugin ${name}\`.

Its one policy replaces **KernelRangeFlush** (the flush at vmalloc's call sites): every
kernel-range flush flushes the whole TLB, as x86's \`flush_tlb_kernel_range\` does (v5.17)
when the range is larger than \`tlb_single_page_flush_ceiling\`. Change \`src/index.ts\`
to model your patch: \`definePlugin\` with its provenance (\`patch\`), the arches it applies
to, and one \`policy(EXTENSION_POINT, (kernel, replaced) => …)\` per extension point it
replaces (\`flushlab list\` shows them).

\`\`\`sh
${install}
npm run build
npm test        # compare and check through flushlab's CLI
\`\`\`

From a flushlab checkout (or with the \`flushlab\` bin):

\`\`\`sh
flushlab compare nohz-isolation --plugins <path to this directory>
flushlab check --plugins <path to this directory>
\`\`\`
${mode === "linked" ? `
The @flushlab packages are \`file:\` links to the flushlab checkout that wrote this
package (they are not on the npm registry yet); keep that checkout built
(\`node scripts/setup.mjs\` there).
` : ""}`;
}

/** Writes the plan's files; the directory must still be empty. */
export function writeScaffold(plan: ScaffoldPlan): void {
  for (const [path, text] of plan.files) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { flag: "wx" });
  }
}

export const newPluginCommand = defineCommand({
  name: "new-plugin",
  summary: "write a plugin package (definePlugin, one policy, tests running compare and check)",
  usage: "flushlab new-plugin <name> [--dir D]",
  details: [
    "Writes package.json, tsconfig.json, vitest.config.ts, src/index.ts (definePlugin with one",
    "policy), src/index.test.ts (compare and check on it through the CLI), README.md and a",
    "changeset into D, an empty or new directory. Inside the flushlab repository D must be",
    "packages/<x> (default packages/plugin-<name>): a workspace package, then `pnpm install`.",
    "Elsewhere (default ./flushlab-plugin-<name>) the @flushlab packages are file: links to",
    "this checkout: `npm install`, `npm test` there, and `flushlab compare W --plugins D`.",
  ],
  options: {
    dir: { type: "string", valueName: "D", description: "directory to write (empty or new)" },
    ...HELP_OPTION,
  },
  async run(ctx, args) {
    expectAtMostPositionals(args.positionals, 1, "new-plugin");
    const name = args.positionals[0];
    if (name === undefined) throw new FlushlabInputError("new-plugin needs a name (flushlab new-plugin <name> [--dir D])");
    const plan = planScaffold(name, args.options.dir, ctx.cwd ?? process.cwd());
    writeScaffold(plan);
    const fromCwd = relative(ctx.cwd ?? process.cwd(), plan.dir);
    const rel = fromCwd === "" ? "." : fromCwd.startsWith("..") ? plan.dir : fromCwd;
    const lines = [
      `Wrote ${plan.packageName} in ${plan.dir}:`,
      ...[...plan.files.keys()].map((f) => `  ${relative(plan.dir, f).startsWith("..") ? f : relative(plan.dir, f)}`),
      "",
      "Next:",
      ...(plan.mode === "workspace"
        ? ["  pnpm install", `  cd ${rel} && npm test`]
        : [`  cd ${rel} && npm install && npm test`]),
      `  flushlab compare nohz-isolation --plugins ${plan.dir}`,
    ];
    ctx.bus.emit("cli:text", { lines });
  },
});
