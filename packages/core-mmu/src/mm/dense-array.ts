/**
 * Object arrays indexed by small integer ids (PTE-lock keys, mm ids) that are filled
 * sparsely. V8 turns an array into a dictionary (a hash lookup on every read) when an
 * element is stored far past its end; growing it with `undefined` up to the index first
 * keeps it a packed array (docs/performance.md).
 */

/** Stores `value` at `index`, growing `arr` with `undefined` up to it first. */
export function storeDense<T>(arr: (T | undefined)[], index: number, value: T): void {
  while (arr.length <= index) arr.push(undefined);
  arr[index] = value;
}
