// Recompute after link changes, reusing everything the change cannot touch.
//
// 1. Distance rows. Row s (distances from s) stays valid unless a changed
//    link was on a shortest path from s before (old edge tight:
//    d(u) + c = d(v)) or would shorten one now (new edge: d(u) + c < d(v)).
//    If neither holds for every changed link, the old row is still a feasible
//    potential (lower bound) and every old shortest path survives (upper
//    bound), so it is exact. The other rows are repaired in place of a new
//    run when one link changed (Dijkstra.update), else re-run.
// 2. Routes. The route of gateway S to group G reads only: S's arcs; d_G at
//    S and at S's neighbours; dist between members of S's closed
//    neighbourhood (LFA tests); and, for anycast groups, each owning site's
//    distance at S. So S is recomputed entirely when it ends a changed link;
//    for group G when d_G (or a member site's distance) changed at S or a
//    neighbour, or when a changed distance between members of S's
//    neighbourhood flips one of G's LFA tests. Everything else is shared
//    with the previous state.
// Anything beyond links (gateways, sites, prefixes, VRFs, options) falls back
// to a full computation. Property tests check the result equals a full one.

import { invalid } from '../../common/errors.js';
import { peersEqual } from '../../common/flow-table.js';
import type { Peer, Topology } from '../../common/model.js';
import { buildLinks, patchLinks, sameLinkRec, type LinkRec } from './graph.js';
import { resolveOptions, type RoutingOptions } from './options.js';
import { computeBlock, patchBlock, type RouteBlock } from './route-block.js';
import { Dijkstra } from './shortest-paths.js';
import { buildPeers, computeRoutingState, groupDistance, sameRoute, siteDistance, State, type RoutingState } from './state.js';

function sameNonLinkParts(a: Topology, b: Topology): boolean {
  if (a === b) return true;
  if (a.vrfs.length !== b.vrfs.length || a.sites.length !== b.sites.length) return false;
  if (a.gateways.length !== b.gateways.length || a.prefixes.length !== b.prefixes.length) return false;
  for (let i = 0; i < a.vrfs.length; i++) {
    if (a.vrfs[i]!.name !== b.vrfs[i]!.name || a.vrfs[i]!.id !== b.vrfs[i]!.id) return false;
  }
  for (let i = 0; i < a.sites.length; i++) if (a.sites[i]!.id !== b.sites[i]!.id) return false;
  for (let i = 0; i < a.gateways.length; i++) {
    const x = a.gateways[i]!;
    const y = b.gateways[i]!;
    if (x.id !== y.id || x.siteId !== y.siteId || x.nodeId !== y.nodeId || x.underlayMtu !== y.underlayMtu) return false;
    if (x.endpoints.length !== y.endpoints.length) return false;
    for (let k = 0; k < x.endpoints.length; k++) {
      if (x.endpoints[k]!.host !== y.endpoints[k]!.host || x.endpoints[k]!.port !== y.endpoints[k]!.port) return false;
    }
  }
  for (let i = 0; i < a.prefixes.length; i++) {
    const x = a.prefixes[i]!;
    const y = b.prefixes[i]!;
    if (x.siteId !== y.siteId || x.vrf !== y.vrf || x.cidr !== y.cidr) return false;
  }
  return true;
}

const sameEdge = (x: LinkRec | undefined, y: LinkRec | undefined) =>
  (!x?.usable && !y?.usable) || (!!x && !!y && x.usable && y.usable && x.a === y.a && x.b === y.b && x.cost === y.cost);

function changedPositions(a: Float64Array, b: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

/**
 * The state for `topo`, derived from `prev`. `changedLinkIds` is advisory
 * only: links are compared here (O(links)), so a missing or extra id cannot
 * make the result wrong. Pass `opts` only to change options (e.g. new cost
 * overrides); they default to those of `prev`.
 */
export function recomputeAfterLinkChange(
  prev: RoutingState,
  topo: Topology,
  changedLinkIds: readonly string[] = [],
  opts?: RoutingOptions,
): RoutingState {
  if (!(prev instanceof State)) throw invalid('prev', 'not a state returned by computeRoutingState');
  const options = opts === undefined ? prev.options : resolveOptions(opts);
  if (
    options.maxEcmp !== prev.options.maxEcmp ||
    options.preferNodeProtecting !== prev.options.preferNodeProtecting ||
    !sameNonLinkParts(prev.topology, topo)
  ) {
    return computeRoutingState(topo, options);
  }
  const nodes = prev.nodes;
  const n = nodes.gatewayIds.length;
  const G = nodes.groups.length;
  const patched = patchLinks(prev.links, topo, nodes, options);
  const links = patched?.links ?? buildLinks(topo, nodes, options);
  const old = prev.links;

  // Which links changed, and how. Gateways at the ends of a link that
  // starts or stops carrying traffic (or changes cost) get new arcs.
  // changedLinkIds is not needed: links are compared here.
  void changedLinkIds;
  const edgeChanges: { old?: LinkRec; now?: LinkRec; link: number }[] = [];
  const arcsChanged = new Uint8Array(n);
  const peerTouched = new Set<number>();
  const consider = (x: LinkRec | undefined, y: LinkRec | undefined, link: number) => {
    if (sameLinkRec(x, y)) return;
    if (!sameEdge(x, y)) {
      edgeChanges.push({ old: x?.usable ? x : undefined, now: y?.usable ? y : undefined, link });
      for (const r of [x, y]) if (r?.usable) arcsChanged[r.a] = arcsChanged[r.b] = 1;
    }
    for (const r of [x, y]) if (r) peerTouched.add(r.a).add(r.b);
  };
  if (patched) {
    for (const i of patched.changed) consider(old.links[i], links.links[i], i);
  } else {
    for (const id of new Set([...old.linkIndex.keys(), ...links.linkIndex.keys()])) {
      const j = links.linkIndex.get(id);
      consider(old.links[old.linkIndex.get(id) ?? -1], links.links[j ?? -1], j ?? -1);
    }
  }

  // 1. Distance rows.
  const rows = prev.rows.slice();
  const rowPos = new Map<number, number[]>();
  if (edgeChanges.length) {
    const dij = new Dijkstra(links, n);
    for (let s = 0; s < n; s++) {
      const row = prev.rows[s]!;
      let affected = false;
      for (const e of edgeChanges) {
        if (e.old) {
          const { a, b, cost } = e.old;
          const da = row[a]!;
          const db = row[b]!;
          if ((da !== Infinity && da + cost === db) || (db !== Infinity && db + cost === da)) affected = true;
        }
        if (e.now) {
          const { a, b, cost } = e.now;
          if (row[a]! + cost < row[b]! || row[b]! + cost < row[a]!) affected = true;
        }
        if (affected) break;
      }
      if (!affected) continue;
      if (edgeChanges.length === 1) {
        const e = edgeChanges[0]!;
        const up = dij.update(row, e.old, e.now, e.link);
        if (up) {
          rows[s] = up.row;
          rowPos.set(s, up.changed);
        }
        continue;
      }
      const fresh = dij.run(s);
      const pos = changedPositions(row, fresh);
      if (pos.length) {
        rows[s] = fresh;
        rowPos.set(s, pos);
      }
    }
  }

  // Site and group distances over the changed rows.
  const siteDist = prev.siteDist.slice();
  const sitePos = new Map<number, number[]>();
  const sitesToCheck = new Set<number>();
  for (const s of rowPos.keys()) sitesToCheck.add(nodes.gatewaySite[s]!);
  for (const site of sitesToCheck) {
    if (!siteDist[site]) continue; // owns no prefix
    const fresh = siteDistance(nodes, site, rows);
    const gws = nodes.siteGateways[site]!;
    const pos = gws.length === 1 ? rowPos.get(gws[0]!)! : changedPositions(siteDist[site]!, fresh);
    if (pos.length) {
      siteDist[site] = fresh;
      sitePos.set(site, pos);
    }
  }
  const groupDist = prev.groupDist.slice();
  const groupPos = new Map<number, Set<number>>();
  for (const [site, pos] of sitePos) {
    for (const g of nodes.siteGroups[site]!) {
      let set = groupPos.get(g);
      if (!set) groupPos.set(g, (set = new Set()));
      for (const x of pos) set.add(x);
    }
  }
  for (const g of groupPos.keys()) groupDist[g] = groupDistance(nodes.groups[g]!, siteDist, n);

  // 2. Which routes to recompute. The route of s to g reads d_g at s and at
  // its neighbours: a group whose distance changed at x is a candidate at x
  // and at every neighbour of x. Kept as lists per gateway (a fleet-wide
  // change moves every group's distance at one hub: a gateway-by-group
  // matrix would be filled and scanned for a million entries).
  const { arcStart, arcNbr } = links;
  const changedAt: (number[] | undefined)[] = new Array(n);
  const touched = new Uint8Array(n);
  for (const [g, pos] of groupPos) {
    for (const x of pos) {
      const list = changedAt[x];
      if (list) list.push(g);
      else changedAt[x] = [g];
    }
  }
  for (let x = 0; x < n; x++) {
    if (!changedAt[x]) continue;
    touched[x] = 1;
    for (let a = arcStart[x]!; a < arcStart[x + 1]!; a++) touched[arcNbr[a]!] = 1;
  }
  // Changed distances between two members of a gateway's closed neighbourhood.
  const pairsAt = new Map<number, number[]>();
  const stamp = new Int32Array(n).fill(-1);
  const addPair = (s: number, p: number, q: number) => {
    if (arcsChanged[s]) return;
    let list = pairsAt.get(s);
    if (!list) pairsAt.set(s, (list = []));
    list.push(p, q);
  };
  for (const [r, pos] of rowPos) {
    stamp[r] = r;
    for (let a = arcStart[r]!; a < arcStart[r + 1]!; a++) stamp[arcNbr[a]!] = r;
    for (const x of pos) {
      if (stamp[x] === r) addPair(x, r, x);
      for (let a = arcStart[x]!; a < arcStart[x + 1]!; a++) if (stamp[arcNbr[a]!] === r) addPair(arcNbr[a]!, r, x);
    }
  }

  // 3. Recompute, and find the gateways whose rules really changed.
  const inputs = { links, rows, groupDist, maxEcmp: options.maxEcmp, preferNodeProtecting: options.preferNodeProtecting };
  const blocks: RouteBlock[] = prev.blocks.slice();
  const changed = new Set<number>();
  const probe = new State({ ...prev, links, rows, siteDist, groupDist, blocks, changedGateways: new Set() });
  const groups: number[] = [];
  const moved = new Map<number, readonly number[] | null>();
  // Per group: the gateway (s + 1) that listed it last, as a candidate and as moved.
  const candidateOf = new Int32Array(G);
  const movedOf = new Int32Array(G);
  const before = prev.rows;
  for (let s = 0; s < n; s++) {
    if (arcsChanged[s]) {
      moved.set(s, null);
      blocks[s] = computeBlock(inputs, s);
      for (let g = 0; g < G && !changed.has(s); g++) if (!sameRoute(prev, probe, s, g)) changed.add(s);
      continue;
    }
    const pairs = pairsAt.get(s);
    if (!touched[s] && !pairs) continue;
    const tag = s + 1;
    groups.length = 0;
    for (let a = arcStart[s]! - 1; a < arcStart[s + 1]!; a++) {
      const list = changedAt[a < arcStart[s]! ? s : arcNbr[a]!];
      if (!list) continue;
      for (let i = 0; i < list.length; i++) {
        const g = list[i]!;
        if (candidateOf[g] !== tag) {
          candidateOf[g] = tag;
          groups.push(g);
        }
      }
    }
    if (pairs && groups.length < G) {
      // Such a pair matters to a group only through the outcome of an LFA
      // test (d(N) < dist(N,S) + d(S), d(N) < dist(N,P) + d(P)); d is
      // unchanged around S for groups not listed yet, so a group needs
      // recomputing only where an outcome flips. Checking costs O(pairs)
      // per group, recomputing O(degree): with many pairs, every group of
      // the gateway is recomputed instead.
      const all = pairs.length > 2 * (arcStart[s + 1]! - arcStart[s]!);
      for (let g = 0; g < G; g++) {
        if (candidateOf[g] === tag) continue;
        const d = groupDist[g]!;
        let flips = all;
        for (let i = 0; i < pairs.length && !flips; i += 2) {
          const p = pairs[i]!;
          const q = pairs[i + 1]!;
          // Test "d(N) < dist(N, M) + d(M)" with M = S (LFA) or M = a primary P;
          // distances are symmetric, so (q, p) is in the list too.
          flips = d[q]! < before[p]![q]! + d[p]! !== d[q]! < rows[p]![q]! + d[p]!;
        }
        if (flips) {
          candidateOf[g] = tag;
          groups.push(g);
        }
      }
    }
    if (!groups.length) continue;
    // The groups whose rule at s moves: next hops (arcs of s are unchanged,
    // so equal offsets are equal hops), or, with the same next hops
    // (tables carry no costs), reachability flipping (forward <-> drop) or
    // an anycast destination moving.
    const here: number[] = [];
    const pb = prev.blocks[s]!;
    blocks[s] = patchBlock(inputs, s, pb, groups, (g) => {
      movedOf[g] = tag;
      here.push(g);
    });
    // Reachability and anycast destination at s depend on the distances at
    // s only: the groups whose distance changed here (changedAt).
    const own = changedAt[s];
    for (let i = 0; own && i < own.length; i++) {
      const g = own[i]!;
      if (movedOf[g] === tag) continue;
      if (
        (prev.groupDist[g]![s] === Infinity) !== (groupDist[g]![s] === Infinity) ||
        (nodes.groups[g]!.length > 1 && prev.destSite(g, s) !== probe.destSite(g, s))
      ) {
        movedOf[g] = tag;
        here.push(g);
      }
    }
    if (here.length) {
      changed.add(s);
      moved.set(s, here.sort((x, y) => x - y));
    }
  }

  const peers: (readonly Peer[])[] = prev.peers.slice();
  for (const s of peerTouched) {
    const fresh = buildPeers(nodes, links, s);
    const was = prev.peers[s]!;
    if (fresh.length !== was.length || fresh.some((p, i) => !peersEqual(p, was[i]!))) {
      peers[s] = fresh;
      changed.add(s);
    }
  }

  return new State({
    topology: topo,
    options,
    nodes,
    links,
    rows,
    siteDist,
    groupDist,
    blocks,
    peers,
    // Id order (indices follow ids), for stable journals and logs.
    changedGateways: new Set([...changed].sort((x, y) => x - y).map((s) => nodes.gatewayIds[s]!)),
    derivation: { fromId: prev.id, moved },
  });
}
