// What changed in one gateway's table between two routing states, without
// building either table: after a link change only a few destination groups
// of a gateway usually change, and a table has a rule per prefix of the
// whole topology. The result is what a TableDelta carries (removals first).

import { invalid, notFound } from '../../common/errors.js';
import { comparePeers, peersEqual, ruleKey, rulesEqual } from '../../common/flow-table.js';
import type { FlowRule, Peer, RuleKey } from '../../common/model.js';
import { buildGroupRules, buildIndexedGroupRules, sameRoute, State, type RoutingState } from './state.js';

export interface RoutesDiff {
  gatewayId: string;
  removedRules: RuleKey[];
  /** New or changed rules, in canonical order. */
  upsertedRules: FlowRule[];
  removedPeers: string[];
  upsertedPeers: Peer[];
}

const noRoutes = { rules: [] as FlowRule[], peers: [] as Peer[] };

/**
 * The changes to `gatewayId`'s rules and peers from `prev` to `next`. Cheap
 * when `next` came from `prev` through recomputeAfterLinkChange (only the
 * changed destination groups are turned into rules); otherwise both tables
 * are built and compared. A gateway missing from `prev` starts empty.
 */
export function diffRoutes(prev: RoutingState, next: RoutingState, gatewayId: string): RoutesDiff {
  if (!(prev instanceof State) || !(next instanceof State)) throw invalid('prev', 'not a state returned by computeRoutingState');
  const s = next.nodes.gatewayIndex.get(gatewayId);
  if (s === undefined) throw notFound('gateway', gatewayId);
  const peersDiff = diffPeers(prev.routes.get(gatewayId)?.peers ?? [], next.peers[s]!);

  if (prev.nodes === next.nodes) {
    const groups: number[] = [];
    for (let g = 0; g < next.nodes.groups.length; g++) if (!sameRoute(prev, next, s, g)) groups.push(g);
    return { gatewayId, removedRules: [], upsertedRules: buildGroupRules(next, s, groups), ...peersDiff };
  }

  const before = prev.routes.get(gatewayId) ?? noRoutes;
  const after = next.routes.get(gatewayId)!;
  const old = new Map(before.rules.map((r) => [ruleKey(r.vrf, r.prefix), r]));
  const keep = new Set(after.rules.map((r) => ruleKey(r.vrf, r.prefix)));
  return {
    gatewayId,
    removedRules: before.rules.filter((r) => !keep.has(ruleKey(r.vrf, r.prefix))).map((r) => ({ vrf: r.vrf, prefix: r.prefix })),
    upsertedRules: after.rules.filter((r) => {
      const o = old.get(ruleKey(r.vrf, r.prefix));
      return !o || !rulesEqual(o, r);
    }),
    ...peersDiff,
  };
}

function diffPeers(before: readonly Peer[], after: readonly Peer[]): Pick<RoutesDiff, 'removedPeers' | 'upsertedPeers'> {
  const old = new Map(before.map((p) => [p.linkId, p]));
  const keep = new Set(after.map((p) => p.linkId));
  return {
    removedPeers: before.filter((p) => !keep.has(p.linkId)).map((p) => p.linkId),
    upsertedPeers: after.filter((p) => !old.has(p.linkId) || !peersEqual(old.get(p.linkId)!, p)).sort(comparePeers),
  };
}

/** The rules of one gateway that a change moved, by their place in its table. */
export interface ChangedRules {
  /** Ascending indices into the gateway's rules (canonical order; the list itself did not change). */
  indices: number[];
  /** The new rules at those indices. */
  rules: FlowRule[];
}

/**
 * The rules of `gatewayId` that differ between `prev` and `next`, when
 * `next` came from `prev` through recomputeAfterLinkChange and so has the
 * same rule list (the same keys in the same order): only the destination
 * groups that moved are turned into rules. Undefined otherwise (a full
 * computation may have added or removed rules), and for a gateway `prev`
 * does not know.
 */
export function changedRules(prev: RoutingState, next: RoutingState, gatewayId: string): ChangedRules | undefined {
  if (!(prev instanceof State) || !(next instanceof State)) throw invalid('prev', 'not a state returned by computeRoutingState');
  if (prev.nodes !== next.nodes) return undefined;
  const s = next.nodes.gatewayIndex.get(gatewayId);
  if (s === undefined) return undefined;
  const groups: number[] = [];
  // Derived from prev: only the groups it lists for s can differ.
  const d = next.derivation?.fromId === prev.id ? next.derivation.moved : undefined;
  // null: every group of s was recomputed (its arcs changed); absent: none.
  const candidates = !d ? null : d.has(s) ? d.get(s)! : [];
  if (candidates) {
    for (const g of candidates) if (!sameRoute(prev, next, s, g)) groups.push(g);
  } else {
    for (let g = 0; g < next.nodes.groups.length; g++) if (!sameRoute(prev, next, s, g)) groups.push(g);
  }
  return buildIndexedGroupRules(next, s, groups);
}
