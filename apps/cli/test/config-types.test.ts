/**
 * A `.ts` config is type-checked against the public API: the example's config compiles
 * cleanly, and the same config with a policy of the wrong type does not.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../../..");
const example = readFileSync(join(repo, "examples/free-before-flush/flushlab.config.ts"), "utf8");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Type-checks `text` as a flushlab.config.ts with @flushlab/core-mmu installed; returns the error messages. */
function typeErrors(text: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "flushlab-types-"));
  dirs.push(dir);
  mkdirSync(join(dir, "node_modules/@flushlab"), { recursive: true });
  symlinkSync(join(repo, "packages/core-mmu"), join(dir, "node_modules/@flushlab/core-mmu"), "dir");
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const file = join(dir, "flushlab.config.ts");
  writeFileSync(file, text);
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("flushlab.config.ts is type-checked", () => {
  it("the example config compiles", () => {
    expect(typeErrors(example)).toEqual([]);
  });
  it("a policy that does not implement its extension point's interface is an error", () => {
    const wrong = example.replace("*tlbFlushMmu(cpu: Cpu, tlb: MmuGather) {", "*tlbFlushMmuu(cpu: Cpu, tlb: MmuGather) {");
    expect(wrong).not.toBe(example);
    const errors = typeErrors(wrong);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).toMatch(/tlbFlushMmu/);
  });
  it("a policy for the wrong extension point is an error", () => {
    const wrong = example.replace("policy(MMU_GATHER_FLUSH,", "policy(UNMAP_FLUSH,").replace("import { MMU_GATHER_FLUSH,", "import { UNMAP_FLUSH, MMU_GATHER_FLUSH,");
    expect(typeErrors(wrong).join("\n")).toMatch(/not assignable|does not exist|missing/);
  });
});
