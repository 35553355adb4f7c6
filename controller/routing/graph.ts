// The topology turned into index-based arrays: gateways are nodes numbered in
// gateway-id order (so "lowest index" is "lowest id" in every tie-break), usable
// links are arcs in CSR form, and prefixes are grouped by the set of sites
// that own them (every prefix of a group routes identically).

import { invalid } from '../../common/errors.js';
import { compareRuleKeys, ruleKey } from '../../common/flow-table.js';
import { AdminState, OperState, type Gateway, type Link, type Topology } from '../../common/model.js';
import { effectiveCost, type ResolvedRoutingOptions } from './options.js';

const MAX_COST = 0xffffffff;

export interface RuleKeyEntry {
  readonly vrf: number;
  readonly prefix: string;
  readonly key: string;
  /** Index into Nodes.groups. */
  readonly group: number;
}

/** Everything but the links: what stays the same across a link change. */
export interface Nodes {
  readonly gatewayIds: readonly string[];
  readonly gatewayIndex: ReadonlyMap<string, number>;
  readonly gateways: readonly Gateway[];
  readonly gatewaySite: Int32Array;
  readonly siteIds: readonly string[];
  readonly siteGateways: readonly (readonly number[])[];
  /** Destination groups: the sorted site indices owning a (vrf, prefix). */
  readonly groups: readonly (readonly number[])[];
  /** Every (vrf, prefix) in canonical rule order. */
  readonly ruleKeys: readonly RuleKeyEntry[];
  /** Groups each site belongs to. */
  readonly siteGroups: readonly (readonly number[])[];
  /** Indices into ruleKeys of each group's rules, ascending. */
  readonly groupKeys: readonly (readonly number[])[];
}

export interface LinkRec {
  readonly id: string;
  readonly a: number;
  readonly b: number;
  readonly cost: number;
  /** Carries traffic: not drained and not oper-down. */
  readonly usable: boolean;
  /** A peer of both ends (not drained), even when oper-down, so probes see it return. */
  readonly peered: boolean;
  readonly mtu: number;
}

export interface Links {
  /** Sorted by id. */
  readonly links: readonly LinkRec[];
  readonly linkIndex: ReadonlyMap<string, number>;
  /** Usable arcs of node v are arcStart[v] .. arcStart[v+1]-1, sorted by (neighbour, link id). */
  readonly arcStart: Int32Array;
  readonly arcNbr: Int32Array;
  readonly arcCost: Float64Array;
  readonly arcLink: Int32Array;
  /** Links (usable or not, not drained) incident to each node, sorted by link id. */
  readonly peerLinks: readonly (readonly number[])[];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function buildNodes(topo: Topology): Nodes {
  const siteIds = [...new Set(topo.sites.map((s) => s.id))].sort(byString);
  if (siteIds.length !== topo.sites.length) throw invalid('sites', 'duplicate site id');
  const siteIndex = new Map(siteIds.map((id, i) => [id, i]));

  const gateways = topo.gateways.slice().sort((x, y) => byString(x.id, y.id));
  const gatewayIds = gateways.map((g) => g.id);
  const gatewayIndex = new Map(gatewayIds.map((id, i) => [id, i]));
  if (gatewayIndex.size !== gateways.length) throw invalid('gateways', 'duplicate gateway id');
  const gatewaySite = new Int32Array(gateways.length);
  const siteGateways: number[][] = siteIds.map(() => []);
  gateways.forEach((g, i) => {
    const s = siteIndex.get(g.siteId);
    if (s === undefined) throw invalid(`gateways[${g.id}].siteId`, `unknown site '${g.siteId}'`);
    gatewaySite[i] = s;
    siteGateways[s]!.push(i);
  });

  const vrfIds = new Map(topo.vrfs.map((v) => [v.name, v.id]));
  const owners = new Map<string, { vrf: number; prefix: string; sites: Set<number> }>();
  topo.prefixes.forEach((p, i) => {
    const vrf = vrfIds.get(p.vrf);
    if (vrf === undefined) throw invalid(`prefixes[${i}].vrf`, `unknown VRF '${p.vrf}'`);
    const site = siteIndex.get(p.siteId);
    if (site === undefined) throw invalid(`prefixes[${i}].siteId`, `unknown site '${p.siteId}'`);
    const key = ruleKey(vrf, p.cidr);
    let o = owners.get(key);
    if (!o) owners.set(key, (o = { vrf, prefix: p.cidr, sites: new Set() }));
    o.sites.add(site);
  });

  const groupIndex = new Map<string, number>();
  const groups: number[][] = [];
  const entries = [...owners.values()].sort(compareRuleKeys);
  const ruleKeys: RuleKeyEntry[] = entries.map((o) => {
    const sites = [...o.sites].sort((x, y) => x - y);
    const gk = sites.join(',');
    let group = groupIndex.get(gk);
    if (group === undefined) {
      group = groups.length;
      groupIndex.set(gk, group);
      groups.push(sites);
    }
    return Object.freeze({ vrf: o.vrf, prefix: o.prefix, key: ruleKey(o.vrf, o.prefix), group });
  });
  const siteGroups: number[][] = siteIds.map(() => []);
  groups.forEach((sites, gi) => sites.forEach((s) => siteGroups[s]!.push(gi)));
  const groupKeys: number[][] = groups.map(() => []);
  ruleKeys.forEach((k, i) => groupKeys[k.group]!.push(i));

  return { gatewayIds, gatewayIndex, gateways, gatewaySite, siteIds, siteGateways, groups, ruleKeys, siteGroups, groupKeys };
}

function linkMtu(link: Link, a: Gateway, b: Gateway): number {
  if (link.mtu > 0) return link.mtu;
  const x = a.underlayMtu;
  const y = b.underlayMtu;
  return x > 0 && y > 0 ? Math.min(x, y) : x > 0 ? x : y > 0 ? y : 0;
}

function linkRec(l: Link, nodes: Nodes, opts: ResolvedRoutingOptions): LinkRec {
  const a = nodes.gatewayIndex.get(l.a);
  const b = nodes.gatewayIndex.get(l.b);
  if (a === undefined) throw invalid(`links[${l.id}].a`, `unknown gateway '${l.a}'`);
  if (b === undefined) throw invalid(`links[${l.id}].b`, `unknown gateway '${l.b}'`);
  if (a === b) throw invalid(`links[${l.id}].b`, `a link cannot join gateway '${l.a}' to itself`);
  const cost = effectiveCost(l, opts);
  if (!Number.isInteger(cost) || cost < 1 || cost > MAX_COST) {
    throw invalid(`links[${l.id}].cost`, `must be an integer in 1..${MAX_COST}, got ${cost}`);
  }
  const peered = l.adminState !== AdminState.DRAINED;
  const usable = peered && l.operState !== OperState.DOWN;
  return Object.freeze({ id: l.id, a, b, cost, usable, peered, mtu: linkMtu(l, nodes.gateways[a]!, nodes.gateways[b]!) });
}

/** Whether `l` still yields `was`, without building a record (the hot path of patchLinks). */
function unchanged(l: Link, was: LinkRec, nodes: Nodes, opts: ResolvedRoutingOptions): boolean {
  const peered = l.adminState !== AdminState.DRAINED;
  if (peered !== was.peered || (peered && l.operState !== OperState.DOWN) !== was.usable) return false;
  if (effectiveCost(l, opts) !== was.cost) return false;
  if (nodes.gatewayIndex.get(l.a) !== was.a || nodes.gatewayIndex.get(l.b) !== was.b) return false;
  return l.mtu > 0 ? l.mtu === was.mtu : linkMtu(l, nodes.gateways[was.a]!, nodes.gateways[was.b]!) === was.mtu;
}

export const sameLinkRec = (x: LinkRec | undefined, y: LinkRec | undefined) =>
  x === y || (!!x && !!y && x.id === y.id && x.a === y.a && x.b === y.b && x.cost === y.cost && x.usable === y.usable && x.peered === y.peered && x.mtu === y.mtu);

export function buildLinks(topo: Topology, nodes: Nodes, opts: ResolvedRoutingOptions): Links {
  const sorted = topo.links.slice().sort((x, y) => byString(x.id, y.id));
  const links = sorted.map((l, i) => {
    if (i > 0 && sorted[i - 1]!.id === l.id) throw invalid('links', `duplicate link id '${l.id}'`);
    return linkRec(l, nodes, opts);
  });
  return layout(links, nodes.gatewayIds.length);
}

/** Usable arcs of node v in CSR order: by neighbour, then link (index = id order). */
function arcsOf(links: readonly LinkRec[], ids: readonly number[], v: number): number[][] {
  const out: number[][] = [];
  for (const i of ids) {
    const l = links[i]!;
    if (l.usable) out.push([l.a === v ? l.b : l.a, i]);
  }
  return out.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
}

function layout(links: readonly LinkRec[], n: number): Links {
  const degree = new Int32Array(n);
  const peerLinks: number[][] = Array.from({ length: n }, () => []);
  links.forEach((l, i) => {
    if (l.usable) {
      degree[l.a]!++;
      degree[l.b]!++;
    }
    if (l.peered) {
      peerLinks[l.a]!.push(i);
      peerLinks[l.b]!.push(i);
    }
  });
  const arcStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) {
    if (degree[v]! > 0xfffe) throw invalid(`gateways[${v}]`, 'more than 65534 usable links');
    arcStart[v + 1] = arcStart[v]! + degree[v]!;
  }
  const m = arcStart[n]!;
  const arcNbr = new Int32Array(m);
  const arcCost = new Float64Array(m);
  const arcLink = new Int32Array(m);
  for (let v = 0; v < n; v++) {
    let k = arcStart[v]!;
    for (const [nbr, i] of arcsOf(links, peerLinks[v]!, v)) {
      arcNbr[k] = nbr!;
      arcCost[k] = links[i!]!.cost;
      arcLink[k++] = i!;
    }
  }
  const linkIndex = new Map(links.map((l, i) => [l.id, i]));
  return { links, linkIndex, arcStart, arcNbr, arcCost, arcLink, peerLinks };
}

/**
 * The links of `topo` derived from `old` when the set of link ids is the
 * same (the common case: a state or cost change), touching only the
 * gateways at the ends of changed links; null when ids were added or
 * removed (use buildLinks). Also returns the changed links' indices.
 */
export function patchLinks(old: Links, topo: Topology, nodes: Nodes, opts: ResolvedRoutingOptions): { links: Links; changed: number[] } | null {
  if (topo.links.length !== old.links.length) return null;
  const seen = new Uint8Array(old.links.length);
  const changed: number[] = [];
  const recs = new Map<number, LinkRec>();
  for (const l of topo.links) {
    const i = old.linkIndex.get(l.id);
    if (i === undefined || seen[i]) return null;
    seen[i] = 1;
    const was = old.links[i]!;
    if (unchanged(l, was, nodes, opts)) continue;
    const rec = linkRec(l, nodes, opts);
    if (sameLinkRec(was, rec)) continue;
    changed.push(i);
    recs.set(i, rec);
  }
  if (changed.length === 0) return { links: old, changed };

  const links = old.links.slice();
  for (const [i, rec] of recs) links[i] = rec;
  const touched = new Set<number>();
  for (const i of changed) for (const l of [old.links[i]!, links[i]!]) touched.add(l.a).add(l.b);

  const n = nodes.gatewayIds.length;
  const peerLinks = old.peerLinks.slice() as number[][];
  const newArcs = new Map<number, number[][]>();
  for (const v of touched) {
    const ids = new Set(old.peerLinks[v]);
    for (const i of changed) {
      const l = links[i]!;
      if (l.peered && (l.a === v || l.b === v)) ids.add(i);
      else ids.delete(i);
    }
    peerLinks[v] = [...ids].sort((x, y) => x - y);
    newArcs.set(v, arcsOf(links, peerLinks[v]!, v));
  }
  const arcStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) {
    const deg = newArcs.get(v)?.length ?? old.arcStart[v + 1]! - old.arcStart[v]!;
    if (deg > 0xfffe) throw invalid(`gateways[${nodes.gatewayIds[v]}]`, 'more than 65534 usable links');
    arcStart[v + 1] = arcStart[v]! + deg;
  }
  const m = arcStart[n]!;
  const arcNbr = new Int32Array(m);
  const arcCost = new Float64Array(m);
  const arcLink = new Int32Array(m);
  // Copy the untouched runs of nodes in one go each.
  let v = 0;
  while (v < n) {
    const arcs = newArcs.get(v);
    if (arcs) {
      let k = arcStart[v]!;
      for (const [nbr, i] of arcs) {
        arcNbr[k] = nbr!;
        arcCost[k] = links[i!]!.cost;
        arcLink[k++] = i!;
      }
      v++;
      continue;
    }
    let w = v;
    while (w < n && !newArcs.has(w)) w++;
    const from = old.arcStart[v]!;
    const to = old.arcStart[w]!;
    arcNbr.set(old.arcNbr.subarray(from, to), arcStart[v]!);
    arcCost.set(old.arcCost.subarray(from, to), arcStart[v]!);
    arcLink.set(old.arcLink.subarray(from, to), arcStart[v]!);
    v = w;
  }
  return { links: { links, linkIndex: old.linkIndex, arcStart, arcNbr, arcCost, arcLink, peerLinks }, changed };
}
