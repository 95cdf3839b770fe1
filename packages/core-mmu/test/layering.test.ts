/**
 * The layout, as tests: no import cycle among the files of any package; the hardware
 * imports no kernel, mm, policy or oracle code; the judged code (kernel, mm, device,
 * arch-x86, the patch packages) never imports the oracle; the oracle imports neither
 * kernel nor mm nor policy code; the engine knows no machine. Imports are read from the
 * source text (type-only imports count: they tie files together as much as any).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith(".ts") && !p.endsWith(".test.ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

interface Imports {
  /** Relative imports, resolved to files. */
  readonly local: string[];
  /** Package specifiers and the names taken from them. */
  readonly packages: { spec: string; names: string[] }[];
}

function importsOf(file: string): Imports {
  const text = readFileSync(file, "utf8");
  const local: string[] = [];
  const packages: { spec: string; names: string[] }[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1]!;
    if (spec.startsWith(".")) local.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
    else {
      const names = (/\{([^}]*)\}/.exec(m[0]!)?.[1] ?? "").split(",").map((n) => n.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!).filter((n) => n !== "");
      packages.push({ spec, names });
    }
  }
  return { local, packages };
}

function findCycle(files: readonly string[]): string[] | null {
  const graph = new Map(files.map((f) => [f, importsOf(f).local.filter((t) => files.includes(t))]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string): string[] | null => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f)!) {
      if (state.get(t) === 1) return [...stack.slice(stack.indexOf(t)), t];
      if (state.get(t) === undefined) {
        const c = visit(t);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(f, 2);
    return null;
  };
  for (const f of files) {
    if (state.get(f) === undefined) {
      const c = visit(f);
      if (c) return c.map((x) => relative(repo, x));
    }
  }
  return null;
}

const packageDirs = [...readdirSync(join(repo, "packages")).map((d) => join(repo, "packages", d)), ...readdirSync(join(repo, "apps")).map((d) => join(repo, "apps", d))].filter((d) => {
  try {
    return statSync(join(d, "src")).isDirectory();
  } catch {
    return false;
  }
});

describe("no import cycle among the files of a package", () => {
  it.each(packageDirs.map((d) => [relative(repo, d), d]))("%s", (_name, dir) => {
    expect(findCycle(sources(join(dir, "src")))).toBeNull();
  });
});

describe("core-mmu's layers", () => {
  const src = join(repo, "packages/core-mmu/src");
  const part = (file: string): string => relative(src, file).split("/")[0]!;
  const edges = sources(src).flatMap((f) => importsOf(f).local.map((t) => [part(f), part(t), `${relative(src, f)} -> ${relative(src, t)}`] as const));
  const forbidden = (from: readonly string[], to: readonly string[]): string[] => edges.filter(([a, b]) => from.includes(a) && to.includes(b)).map(([, , what]) => what);

  it("the hardware imports no kernel, mm, device, policy, oracle or run code", () => {
    expect(forbidden(["hw"], ["kernel", "mm", "device", "plugin", "oracle", "run", "workload"])).toEqual([]);
  });
  it("the judged code (kernel, mm, device) never imports the oracle", () => {
    expect(forbidden(["kernel", "mm", "device", "plugin"], ["oracle"])).toEqual([]);
  });
  it("the oracle judges hardware facts: it imports no kernel, mm, policy or run code", () => {
    expect(forbidden(["oracle"], ["kernel", "mm", "device", "plugin", "run", "workload"])).toEqual([]);
  });
  it("the engine, the cost model and the event map know no machine and no run", () => {
    expect(forbidden(["sim", "cost", "events"], ["hw", "kernel", "mm", "device", "plugin", "oracle", "run", "workload"])).toEqual([]);
  });
});

describe("arch-x86, the workloads and the patch packages", () => {
  const judged = packageDirs.filter((d) => /packages\/(arch-x86|workloads|patch-)/.test(d));
  it.each(judged.map((d) => [relative(repo, d), d]))("%s imports neither the oracle nor the hardware's watch hooks", (_name, dir) => {
    const taken = sources(join(dir, "src")).flatMap((f) => importsOf(f).packages.filter((p) => p.spec === "@flushlab/core-mmu").flatMap((p) => p.names.map((n) => `${relative(repo, f)}: ${n}`)));
    expect(taken.filter((t) => /: (Oracle|HwWatch|NO_WATCH|HazardReport)$/.test(t))).toEqual([]);
  });
  it("a patch package imports no other patch package and no workload", () => {
    const patches = packageDirs.filter((d) => /packages\/patch-/.test(d));
    const bad = patches.flatMap((d) => sources(join(d, "src")).flatMap((f) => importsOf(f).packages.filter((p) => /^@flushlab\/(patch-|workloads)/.test(p.spec)).map((p) => `${relative(repo, f)} -> ${p.spec}`)));
    expect(bad).toEqual([]);
  });
});
