// Durations in configuration: "24h", "90m", "5s", "250ms", "7d", or 0 (off).
import { invalid } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration written with a unit (or the number 0); a clear error naming `field` otherwise. */
export function parseDuration(v: unknown, field: string, source?: string): number {
  if (v === 0 || v === '0') return 0;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim()) : null;
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!Number.isFinite(ms) || ms > 365 * UNIT_MS.d!) {
    throw invalid(field, `must be a duration such as 24h, 30m, 5s or 250ms (0 turns it off), up to 365d; got ${JSON.stringify(v)}`, { source });
  }
  return Math.round(ms);
}
