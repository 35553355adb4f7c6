// Measured-RTT link cost with hysteresis. Pure: the caller keeps the current
// effective cost of each link (it is state, the memory of the hysteresis) and
// hands it to routing through RoutingOptions.costOverrides.

import { invalid } from '../../common/errors.js';

export interface CostPolicy {
  /** Derive the cost from measured RTT (never below the configured cost). */
  rttCost: boolean;
  /** Microseconds of RTT per cost unit (1000: one unit per millisecond). */
  usPerCostUnit: number;
  /** Move the cost only when the RTT-derived cost differs by more than this percentage. */
  hysteresisPct: number;
}

export const DEFAULT_COST_POLICY: Readonly<CostPolicy> = Object.freeze({
  rttCost: false,
  usPerCostUnit: 1000,
  hysteresisPct: 20,
});

const MAX_COST = 0xffffffff;

function positiveInt(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > MAX_COST) throw invalid(field, `must be an integer in 1..${MAX_COST}, got ${v}`);
}

/** The cost an RTT sample alone would give: max(configured, round(rtt / usPerCostUnit)). */
export function rttDerivedCost(configuredCost: number, measuredRttUs: number, policy: CostPolicy): number {
  return Math.min(MAX_COST, Math.max(configuredCost, Math.round(measuredRttUs / policy.usPerCostUnit)));
}

/**
 * The effective cost to use from now on. With `rttCost` off it is the
 * configured cost. Otherwise it stays `currentCost` unless the RTT-derived
 * cost differs from it by more than `hysteresisPct` percent, so routes do not
 * flap on jitter. The configured cost is a floor that applies at once (an
 * operator raising a cost is not noise); without a measurement the current
 * cost is kept.
 */
export function nextCost(
  configuredCost: number,
  currentCost: number,
  measuredRttUs: number | undefined,
  policy: CostPolicy = DEFAULT_COST_POLICY,
): number {
  positiveInt('cost', configuredCost);
  if (!policy.rttCost) return configuredCost;
  if (!Number.isFinite(policy.usPerCostUnit) || policy.usPerCostUnit <= 0) {
    throw invalid('usPerCostUnit', `must be a positive number, got ${policy.usPerCostUnit}`);
  }
  if (!Number.isFinite(policy.hysteresisPct) || policy.hysteresisPct < 0) {
    throw invalid('hysteresisPct', `must be a non-negative number, got ${policy.hysteresisPct}`);
  }
  // An unknown or corrupt current cost (0 after a restart, say) restarts from the configured one.
  const current = Number.isInteger(currentCost) && currentCost >= 1 && currentCost <= MAX_COST ? currentCost : configuredCost;
  if (measuredRttUs === undefined) return Math.max(configuredCost, current);
  if (!Number.isFinite(measuredRttUs) || measuredRttUs < 0) {
    throw invalid('rttUs', `must be a non-negative number of microseconds, got ${measuredRttUs}`);
  }
  const derived = rttDerivedCost(configuredCost, measuredRttUs, policy);
  if (current < configuredCost) return derived;
  return Math.abs(derived - current) * 100 > policy.hysteresisPct * current ? derived : current;
}
