import { validatePluginShape } from "@flushlab/core-mmu";
import { describe, expect, it } from "vitest";
import { bugPlugins } from "./index.js";

describe("@flushlab/bugs", () => {
  it.each(bugPlugins.map((p) => [p.name, p] as const))("%s is a pre-fix plugin naming its fix (commit, title, kernel)", (_name, p) => {
    validatePluginShape(p, "bug plugin");
    expect(p.kind).toBe("pre-fix");
    expect(p.name).toBe(`bug-${p.patch.commit}`);
    expect(p.patch.commit).toMatch(/^[0-9a-f]{12}$/);
    expect(p.patch.kernel).toMatch(/^v\d+\.\d+/);
  });
});
