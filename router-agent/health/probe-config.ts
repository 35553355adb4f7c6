// Probe timing for one tunnel peer, validated once at the edge. The same
// object configures the agent and the simulator, so a scenario's
// `detect_multiplier` is exactly the agent's.

import { invalid } from '../../common/errors.js';

export interface ProbeConfig {
  /** A probe every this many milliseconds (BFD's transmit interval). */
  intervalMs: number;
  /** DOWN after this many consecutive intervals without a reply (BFD's detect multiplier). */
  multiplier: number;
  /** A DOWN peer is UP again only after replies in every interval for this long. */
  holdMs: number;
  /** Liveness probes the loss figure is computed over (a sliding window). */
  lossWindow: number;
  /** Search the path MTU with padded probes (one per interval while searching). */
  pmtu: boolean;
  /** Largest size a path-MTU search tries, when the peer does not say (bytes of underlay packet). */
  pmtuMaxBytes: number;
  /** Start a new path-MTU search this long after the last one settled. */
  pmtuRefreshMs: number;
}

export const DEFAULT_PROBE_CONFIG: Readonly<ProbeConfig> = Object.freeze({
  intervalMs: 100,
  multiplier: 3,
  holdMs: 5000,
  lossWindow: 50,
  pmtu: false,
  pmtuMaxBytes: 1500,
  pmtuRefreshMs: 600_000,
});

/** The smallest underlay packet every IPv4 path must carry. */
export const PMTU_MIN_BYTES = 576;

const limits: Record<keyof Omit<ProbeConfig, 'pmtu'>, [number, number, boolean]> = {
  intervalMs: [1, 60_000, false],
  multiplier: [1, 255, true],
  holdMs: [0, 3_600_000, false],
  lossWindow: [1, 10_000, true],
  pmtuMaxBytes: [PMTU_MIN_BYTES, 65_535, true],
  pmtuRefreshMs: [1000, 86_400_000, false],
};

/** Defaults overlaid with `partial`; throws INVALID_ARGUMENT naming `${field}.${key}`. */
export function resolveProbeConfig(partial: Partial<ProbeConfig> | undefined, field = 'health', base: ProbeConfig = DEFAULT_PROBE_CONFIG): ProbeConfig {
  const out: ProbeConfig = { ...base };
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v === undefined) continue;
    if (k === 'pmtu') {
      if (typeof v !== 'boolean') throw invalid(`${field}.pmtu`, `must be true or false, got ${String(v)}`);
      out.pmtu = v;
      continue;
    }
    const lim = limits[k as keyof typeof limits];
    if (!lim) throw invalid(`${field}.${k}`, `unknown probe setting; expected one of: pmtu, ${Object.keys(limits).join(', ')}`);
    const [min, max, integer] = lim;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw invalid(`${field}.${k}`, `must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${String(v)}`);
    }
    (out as unknown as Record<string, number>)[k] = v;
  }
  return Object.freeze(out);
}
