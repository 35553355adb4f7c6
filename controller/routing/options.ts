import { invalid } from '../../common/errors.js';
import type { Link } from '../../common/model.js';

export interface RoutingOptions {
  /** At most this many equal-cost primaries per rule (lowest gateway id, then link id, first). */
  maxEcmp?: number;
  /** Prefer a node-protecting backup over a merely link-protecting one. */
  preferNodeProtecting?: boolean;
  /**
   * Effective cost per link id (e.g. RTT-derived with hysteresis, see
   * link-cost.ts); links not listed use their configured `cost`.
   */
  costOverrides?: ReadonlyMap<string, number>;
}

export type ResolvedRoutingOptions = Readonly<{
  maxEcmp: number;
  preferNodeProtecting: boolean;
  costOverrides: ReadonlyMap<string, number>;
}>;

export const DEFAULT_ROUTING_OPTIONS: ResolvedRoutingOptions = Object.freeze({
  maxEcmp: 16,
  preferNodeProtecting: true,
  costOverrides: new Map<string, number>(),
});

export function resolveOptions(opts: RoutingOptions | undefined): ResolvedRoutingOptions {
  const o = { ...DEFAULT_ROUTING_OPTIONS, ...(opts ?? {}) };
  if (!Number.isInteger(o.maxEcmp) || o.maxEcmp < 1) throw invalid('maxEcmp', `must be a positive integer, got ${o.maxEcmp}`);
  return Object.freeze({
    maxEcmp: o.maxEcmp,
    preferNodeProtecting: o.preferNodeProtecting !== false,
    costOverrides: o.costOverrides ?? DEFAULT_ROUTING_OPTIONS.costOverrides,
  });
}

/** The cost routing uses for a link: its override if any, else its configured cost. */
export function effectiveCost(link: Link, opts?: RoutingOptions): number {
  return opts?.costOverrides?.get(link.id) ?? link.cost;
}
