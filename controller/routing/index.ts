// Route computation: pure, data in and data out. See docs/routing.md.
export {
  computeRoutes,
  computeRoutingState,
  ruleKey,
  type GatewayRoutes,
  type PathHop,
  type RoutePaths,
  type RoutingState,
} from './state.js';
export { recomputeAfterLinkChange } from './incremental.js';
export { DEFAULT_ROUTING_OPTIONS, effectiveCost, type RoutingOptions, type ResolvedRoutingOptions } from './options.js';
export { DEFAULT_COST_POLICY, nextCost, rttDerivedCost, type CostPolicy } from './link-cost.js';
export { changedRules, diffRoutes, type ChangedRules, type RoutesDiff } from './route-diff.js';
