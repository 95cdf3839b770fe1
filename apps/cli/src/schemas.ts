/**
 * The zod schemas behind every value the CLI accepts: option texts, `--param k=v` texts
 * and the config file. One schema gives the parsed type (z.output), the one-line error
 * (its issue message, worded as a predicate: "must be a positive integer") and the help
 * text (the option's value name and description beside it). The option parser and the config loader add where the value came
 * from ("--cpus", "flushlab.config.ts: machine.cpus") and what was given ("(got …)").
 */
import { z } from "zod";
import { ARCH_NAMES, FlushlabInputError } from "@flushlab/core-mmu";
import type { ArchName, ParamSpec } from "@flushlab/core-mmu";

const INTEGER_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** An option's text schema: takes the text as typed, yields the parsed value. */
export type TextSchema<T> = z.ZodType<T, string>;

/** Integer text in [min, max]; the message says which bound was missed. */
export function intText(min: number, max = Number.MAX_SAFE_INTEGER): TextSchema<number> {
  const kind = min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer >= ${min}`;
  return z
    .string()
    .transform((s) => s.trim())
    .pipe(z.string().regex(INTEGER_RE, { error: `must be ${kind}` }))
    .transform(Number)
    .pipe(
      z
        .number()
        .refine(Number.isSafeInteger, { error: `must be ${kind}` })
        .refine((n) => n >= min, { error: `must be ${kind}` })
        .refine((n) => n <= max, { error: `must be at most ${max}` }),
    );
}

/** One of `values`, exactly as written. */
export function oneOfText<const T extends string>(values: readonly T[], what?: string): TextSchema<T> {
  const list = values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(", ")}`;
  return z.string().refine((s): s is T => (values as readonly string[]).includes(s), {
    error: (iss) => (what === undefined ? `must be ${list}` : `unknown ${what} "${String(iss.input)}" (known: ${values.join(", ")})`),
  }) as unknown as TextSchema<T>;
}

/** "on" | "off" → boolean. */
export const onOffText: TextSchema<boolean> = oneOfText(["on", "off"]).transform((s) => s === "on");

/** --thp: the transparent_hugepage= boot setting. */
export const thpText: TextSchema<"always" | "never"> = z
  .string()
  .refine((s): s is "always" | "never" => s === "always" || s === "never", { error: 'must be "always" or "never"' }) as unknown as TextSchema<"always" | "never">;

export const archText: TextSchema<ArchName> = oneOfText(ARCH_NAMES, "arch");

/** `a,b` → ["a", "b"]; "" → [] (explicitly none); no empty names, no name twice. */
export const nameListText: TextSchema<string[]> = z.string().transform((text, ctx) => {
  if (text.trim() === "") return [];
  const names = text.split(",").map((s) => s.trim());
  if (names.some((n) => n === "")) {
    ctx.addIssue({ code: "custom", message: "has an empty name" });
    return z.NEVER;
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) {
      ctx.addIssue({ code: "custom", message: `lists "${n}" twice` });
      return z.NEVER;
    }
    seen.add(n);
  }
  return names;
});

/** A count (CPUs, sockets, MiB, runs): its upper limit is the engine's to check, in one place. */
export const positiveIntText = intText(1);
export const nonNegativeIntText = intText(0);

/** The text schema of one workload parameter (its range is checked by core-mmu's resolveParams). */
export function paramText(spec: ParamSpec): TextSchema<number | boolean | string> {
  switch (spec.type) {
    case "int":
      return z
        .string()
        .transform((s) => s.trim())
        .pipe(z.string().regex(INTEGER_RE, { error: "must be an integer" }))
        .transform(Number)
        .pipe(z.number().refine(Number.isSafeInteger, { error: "must be an integer" }));
    case "number":
      return z
        .string()
        .transform((s) => s.trim())
        .pipe(z.string().regex(NUMBER_RE, { error: "must be a number" }))
        .transform(Number)
        .pipe(z.number().refine(Number.isFinite, { error: "must be a number" }));
    case "boolean":
      return z.string().transform((s, ctx) => {
        const lower = s.trim().toLowerCase();
        if (["true", "1", "yes", "on"].includes(lower)) return true;
        if (["false", "0", "no", "off"].includes(lower)) return false;
        ctx.addIssue({ code: "custom", message: "must be true or false" });
        return z.NEVER;
      });
    case "string":
      return z.string();
  }
}

/**
 * Parses `text` with `schema`; a failure becomes one line: "<label> <message> (got "<text>")",
 * or the message alone when it names the input itself ("unknown arch …").
 */
export function parseText<T>(schema: TextSchema<T>, text: string, label: string): T {
  const r = schema.safeParse(text);
  if (r.success) return r.data;
  const message = r.error.issues[0]?.message ?? "is not valid";
  if (message.startsWith("unknown ")) throw new FlushlabInputError(message);
  throw new FlushlabInputError(`${label} ${message} (got ${JSON.stringify(text)})`);
}
