/**
 * Machine flags beside --pcid/--invpcid/--pti, in their on|off style: --la57 (5-level
 * paging, x86-64 only) and --pte-leak-erratum (Intel Knights Landing's A/D erratum,
 * X86_BUG_PTE_LEAK). `run`, `compare` and `sweep` take them (RUN_OPTIONS); a config's
 * `machine: { la57, pteLeakErratum }` sets the same fields.
 */
import type { MachineOptions } from "@flushlab/core-mmu";
import type { OptionSpecs } from "./args.js";
import { onOffText } from "./schemas.js";

export const MACHINE_ON_OFF_OPTIONS = {
  la57: { type: "string", valueName: "on|off", description: "5-level paging (CR4.LA57: a fifth page-table level, 57-bit addresses; x86-64 only; default off)", schema: onOffText },
  "pte-leak-erratum": {
    type: "string",
    valueName: "on|off",
    description: "the CPUs have Knights Landing's A/D erratum (X86_BUG_PTE_LEAK): a write through a cached clean entry whose PTE was cleared completes instead of faulting, hazard class 3 (default off)",
    schema: onOffText,
  },
} as const satisfies OptionSpecs;

/** The machine fields the flags set (only those given). */
export function machineOnOff(flags: { readonly la57?: boolean; readonly "pte-leak-erratum"?: boolean }): Partial<Pick<MachineOptions, "la57" | "pteLeakErratum">> {
  return {
    ...(flags.la57 !== undefined ? { la57: flags.la57 } : {}),
    ...(flags["pte-leak-erratum"] !== undefined ? { pteLeakErratum: flags["pte-leak-erratum"] } : {}),
  };
}
