// Periodic work done per key (a whole table written again after a run of
// deltas) must not fall on every key at once: a change that reaches a
// thousand gateways would otherwise do it for all of them in the same
// round. A key's own period, fixed by the key (FNV-1a), spreads them out.

/** A number in [min, min + spread) that depends only on `key`. */
export function staggered(key: string, min: number, spread: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return min + (h % spread);
}
