// The result of a routing computation, kept compact (distance rows and
// per-gateway route blocks in typed arrays) so it can be held between
// changes and updated incrementally. Flow rules and paths are built from it
// on demand: a full set of rules is O(gateways x prefixes) objects (about ten
// million for 1,000 gateways), too many to hold for every gateway at once.

import { invalid } from '../../common/errors.js';
import { ruleKey } from '../../common/flow-table.js';
import { Action, type FlowRule, type NextHop, type Peer, type Topology } from '../../common/model.js';
import type { PathHop } from '../../proto/gen/switchback/v1/admin.js';
import { buildLinks, buildNodes, type Links, type Nodes, type RuleKeyEntry } from './graph.js';
import { resolveOptions, type ResolvedRoutingOptions, type RoutingOptions } from './options.js';
import { computeBlock, NO_ARC, type RouteBlock } from './route-block.js';
import { Dijkstra, minOf } from './shortest-paths.js';

export type { PathHop };

/** The paths behind one rule, for people (GetRoutes, `switchback ctl routes`). */
export interface RoutePaths {
  /** One path per primary next hop (each continuing on the first primary of every later hop); [self] at cost 0 for a delivered prefix; empty when dropped. */
  primary: PathHop[];
  /** Through the backup next hop, then that neighbour's own primaries. */
  backup?: PathHop;
}

export interface GatewayRoutes {
  gatewayId: string;
  nodeId: number;
  /** One rule per (vrf, prefix) of the topology, in canonical order (see common/flow-table.ts). Frozen. */
  rules: FlowRule[];
  /** Every non-drained link of this gateway, by link id; key fields empty (the store fills them). Frozen. */
  peers: Peer[];
  /** Keyed by ruleKey(vrf, prefix). */
  paths: Map<string, RoutePaths>;
}

export interface RoutingState {
  readonly topology: Topology;
  readonly options: ResolvedRoutingOptions;
  /** Every gateway, in id order. `rules` and `paths` are built when read. */
  readonly routes: ReadonlyMap<string, GatewayRoutes>;
  /**
   * Gateways whose rules or peers differ from the state this one was derived
   * from. Exact after a link-only change; every gateway after a full computation.
   */
  readonly changedGateways: ReadonlySet<string>;
  /** Cost of the shortest usable path between two gateways (Infinity if none). */
  distance(fromGatewayId: string, toGatewayId: string): number;
}

const MAX_COST = 0xffffffff;
const EMPTY = Buffer.alloc(0);
const clampCost = (c: number) => (c > MAX_COST ? MAX_COST : c);

export interface StateParts {
  readonly topology: Topology;
  readonly options: ResolvedRoutingOptions;
  readonly nodes: Nodes;
  readonly links: Links;
  readonly rows: readonly Float64Array[];
  /** Per site; null for sites that own no prefix. */
  readonly siteDist: readonly (Float64Array | null)[];
  readonly groupDist: readonly Float64Array[];
  readonly blocks: readonly RouteBlock[];
  readonly peers: readonly (readonly Peer[])[];
  readonly changedGateways: ReadonlySet<string>;
  /** Set by recomputeAfterLinkChange: the state this one came from, and where routes may have moved. */
  readonly derivation?: Derivation;
}

/**
 * How a state was derived from another (by its `id`, not a reference: a
 * chain of states must not stay alive). `moved` maps a gateway index to the
 * groups whose rule there changed, ascending (null: any may have, the
 * gateway's arcs changed); a gateway not in it has every rule of the state
 * it came from.
 */
export interface Derivation {
  readonly fromId: number;
  readonly moved: ReadonlyMap<number, readonly number[] | null>;
}

let nextStateId = 1;

export class State implements RoutingState, StateParts {
  readonly topology: Topology;
  readonly options: ResolvedRoutingOptions;
  readonly nodes: Nodes;
  readonly links: Links;
  readonly rows: readonly Float64Array[];
  readonly siteDist: readonly (Float64Array | null)[];
  readonly groupDist: readonly Float64Array[];
  readonly blocks: readonly RouteBlock[];
  readonly peers: readonly (readonly Peer[])[];
  readonly changedGateways: ReadonlySet<string>;
  readonly derivation?: Derivation;
  /** Names this state in a later state's derivation. */
  readonly id = nextStateId++;
  private routesMap?: ReadonlyMap<string, GatewayRoutes>;

  constructor(p: StateParts) {
    this.topology = p.topology;
    this.options = p.options;
    this.nodes = p.nodes;
    this.links = p.links;
    this.rows = p.rows;
    this.siteDist = p.siteDist;
    this.groupDist = p.groupDist;
    this.blocks = p.blocks;
    this.peers = p.peers;
    this.changedGateways = p.changedGateways;
    this.derivation = p.derivation;
  }

  get routes(): ReadonlyMap<string, GatewayRoutes> {
    return (this.routesMap ??= new Map(this.nodes.gatewayIds.map((id, s) => [id, new GatewayRoutesView(this, s)])));
  }

  distance(fromGatewayId: string, toGatewayId: string): number {
    const a = this.nodes.gatewayIndex.get(fromGatewayId);
    const b = this.nodes.gatewayIndex.get(toGatewayId);
    if (a === undefined) throw invalid('fromGatewayId', `unknown gateway '${fromGatewayId}'`);
    if (b === undefined) throw invalid('toGatewayId', `unknown gateway '${toGatewayId}'`);
    return this.rows[a]![b]!;
  }

  /** The owning site a rule of group g at gateway s points at: the nearest, lowest id on ties. */
  destSite(g: number, s: number): number {
    const sites = this.nodes.groups[g]!;
    let best = sites[0]!;
    if (sites.length === 1) return best;
    let bestD = this.siteDist[best]![s]!;
    for (let i = 1; i < sites.length; i++) {
      const d = this.siteDist[sites[i]!]![s]!;
      if (d < bestD) {
        best = sites[i]!;
        bestD = d;
      }
    }
    return best;
  }

  nextHop(s: number, arcOffset: number): NextHop {
    const a = this.links.arcStart[s]! + arcOffset;
    return Object.freeze({
      gatewayId: this.nodes.gatewayIds[this.links.arcNbr[a]!]!,
      linkId: this.links.links[this.links.arcLink[a]!]!.id,
    });
  }

  /** Gateways from s to a delivering gateway of group g, taking the first primary at every hop. */
  follow(g: number, s: number, out: string[]): string[] {
    const d = this.groupDist[g]!;
    const { arcStart, arcNbr } = this.links;
    let cur = s;
    out.push(this.nodes.gatewayIds[cur]!);
    for (let steps = 0; d[cur] !== 0 && d[cur] !== Infinity && steps < this.rows.length; steps++) {
      const blk = this.blocks[cur]!;
      const ps = blk.primStart[g]!;
      if (ps === blk.primStart[g + 1]) break;
      cur = arcNbr[arcStart[cur]! + blk.primArcs[ps]!]!;
      out.push(this.nodes.gatewayIds[cur]!);
    }
    return out;
  }
}

/** Whether gateway s routes group g identically in both states (as the flow rule would show). */
/** Whether gateway s's rule for group g is the same in both states (tables carry next hops, not costs). */
export function sameRoute(o: State, nw: State, s: number, g: number): boolean {
  const dO = o.groupDist[g]![s]!;
  const dN = nw.groupDist[g]![s]!;
  if ((dO === 0) !== (dN === 0) || (dO === Infinity) !== (dN === Infinity)) return false;
  if (o.nodes.groups[g]!.length > 1 && o.destSite(g, s) !== nw.destSite(g, s)) return false;
  if (dO === 0 || dO === Infinity) return true;
  const ob = o.blocks[s]!;
  const nb = nw.blocks[s]!;
  const po = ob.primStart[g]!;
  const pn = nb.primStart[g]!;
  const count = ob.primStart[g + 1]! - po;
  if (count !== nb.primStart[g + 1]! - pn) return false;
  for (let k = 0; k < count; k++) if (!sameArc(o, nw, s, ob.primArcs[po + k]!, nb.primArcs[pn + k]!)) return false;
  const bo = ob.backup[g]!;
  const bn = nb.backup[g]!;
  if (bo === NO_ARC || bn === NO_ARC) return bo === bn;
  return sameArc(o, nw, s, bo, bn);
}

/**
 * Whether arc offset `ko` of s in `o` and `kn` in `nw` are the same hop: a
 * link may have moved to other gateways, so link and neighbour are compared.
 * (No closures: this runs for every gateway and group a change may touch.)
 */
function sameArc(o: State, nw: State, s: number, ko: number, kn: number): boolean {
  const ao = o.links.arcStart[s]! + ko;
  const an = nw.links.arcStart[s]! + kn;
  return (
    o.links.links[o.links.arcLink[ao]!]!.id === nw.links.links[nw.links.arcLink[an]!]!.id &&
    o.nodes.gatewayIds[o.links.arcNbr[ao]!] === nw.nodes.gatewayIds[nw.links.arcNbr[an]!]
  );
}

interface RuleTemplate {
  action: Action;
  primary: NextHop[];
  backup: NextHop | undefined;
  destSiteId: string;
}

function template(st: State, s: number, g: number): RuleTemplate {
  const d = st.groupDist[g]!;
  const dS = d[s]!;
  const destSiteId = st.nodes.siteIds[st.destSite(g, s)]!;
  if (dS === 0) return { action: Action.DELIVER, primary: Object.freeze([]) as unknown as NextHop[], backup: undefined, destSiteId };
  if (dS === Infinity) return { action: Action.DROP, primary: Object.freeze([]) as unknown as NextHop[], backup: undefined, destSiteId };
  const blk = st.blocks[s]!;
  const primary: NextHop[] = [];
  for (let k = blk.primStart[g]!; k < blk.primStart[g + 1]!; k++) primary.push(st.nextHop(s, blk.primArcs[k]!));
  const b = blk.backup[g]!;
  let backup: NextHop | undefined;
  if (b !== NO_ARC) backup = st.nextHop(s, b);
  return { action: Action.FORWARD, primary: Object.freeze(primary) as NextHop[], backup, destSiteId };
}

export function makeRule(k: RuleKeyEntry, t: RuleTemplate): FlowRule {
  return Object.freeze({ vrf: k.vrf, prefix: k.prefix, action: t.action, primary: t.primary, backup: t.backup, destSiteId: t.destSiteId });
}

/** The rules of gateway s for the given groups only, in canonical order. */
export function buildGroupRules(st: State, s: number, groups: readonly number[]): FlowRule[] {
  return buildIndexedGroupRules(st, s, groups).rules;
}

/** As buildGroupRules, with each rule's index in the gateway's whole (canonical) rule list. */
export function buildIndexedGroupRules(st: State, s: number, groups: readonly number[]): { indices: number[]; rules: FlowRule[] } {
  const idx: number[] = [];
  for (const g of groups) idx.push(...st.nodes.groupKeys[g]!);
  idx.sort((a, b) => a - b);
  const templates = new Map<number, RuleTemplate>();
  const rules = idx.map((i) => {
    const k = st.nodes.ruleKeys[i]!;
    let t = templates.get(k.group);
    if (!t) templates.set(k.group, (t = template(st, s, k.group)));
    return makeRule(k, t);
  });
  return { indices: idx, rules };
}

export function buildRules(st: State, s: number): FlowRule[] {
  const templates: (RuleTemplate | undefined)[] = new Array(st.nodes.groups.length);
  const keys = st.nodes.ruleKeys;
  const rules: FlowRule[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    rules[i] = makeRule(k, (templates[k.group] ??= template(st, s, k.group)));
  }
  return Object.freeze(rules) as FlowRule[];
}

export function buildPaths(st: State, s: number): Map<string, RoutePaths> {
  const perGroup: (RoutePaths | undefined)[] = new Array(st.nodes.groups.length);
  const { arcStart, arcNbr, arcCost } = st.links;
  const paths = new Map<string, RoutePaths>();
  for (const k of st.nodes.ruleKeys) {
    let p = perGroup[k.group];
    if (!p) {
      const g = k.group;
      const d = st.groupDist[g]!;
      const dS = d[s]!;
      if (dS === 0) p = { primary: [{ gateways: [st.nodes.gatewayIds[s]!], cost: 0 }] };
      else if (dS === Infinity) p = { primary: [] };
      else {
        const blk = st.blocks[s]!;
        const primary: PathHop[] = [];
        for (let j = blk.primStart[g]!; j < blk.primStart[g + 1]!; j++) {
          const nb = arcNbr[arcStart[s]! + blk.primArcs[j]!]!;
          primary.push({ gateways: st.follow(g, nb, [st.nodes.gatewayIds[s]!]), cost: clampCost(dS) });
        }
        p = { primary };
        const b = blk.backup[g]!;
        if (b !== NO_ARC) {
          const a = arcStart[s]! + b;
          const nb = arcNbr[a]!;
          p.backup = { gateways: st.follow(g, nb, [st.nodes.gatewayIds[s]!]), cost: clampCost(arcCost[a]! + d[nb]!) };
        }
      }
      perGroup[g] = Object.freeze(p);
    }
    paths.set(k.key, p);
  }
  return paths;
}

export function buildPeers(nodes: Nodes, links: Links, s: number): Peer[] {
  return Object.freeze(
    links.peerLinks[s]!.map((li) => {
      const l = links.links[li]!;
      const far = nodes.gateways[l.a === s ? l.b : l.a]!;
      return Object.freeze({
        gatewayId: far.id,
        nodeId: far.nodeId,
        linkId: l.id,
        endpoints: Object.freeze(far.endpoints.map((e) => Object.freeze({ host: e.host, port: e.port }))) as Peer['endpoints'],
        mtu: l.mtu,
        key: EMPTY,
        keyId: 0,
        previousKey: EMPTY,
        previousKeyId: 0,
        nextKey: EMPTY,
        nextKeyId: 0,
      });
    }),
  ) as Peer[];
}

class GatewayRoutesView implements GatewayRoutes {
  readonly gatewayId: string;
  readonly nodeId: number;
  // Weak: reading every gateway's rules once must not pin them all in memory
  // for as long as the state is kept for incremental updates.
  private rulesRef?: WeakRef<FlowRule[]>;
  private pathsRef?: WeakRef<Map<string, RoutePaths>>;

  constructor(private readonly st: State, private readonly s: number) {
    this.gatewayId = st.nodes.gatewayIds[s]!;
    this.nodeId = st.nodes.gateways[s]!.nodeId;
  }

  get rules(): FlowRule[] {
    let r = this.rulesRef?.deref();
    if (!r) {
      r = buildRules(this.st, this.s);
      this.rulesRef = new WeakRef(r);
    }
    return r;
  }

  get peers(): Peer[] {
    return this.st.peers[this.s] as Peer[];
  }

  get paths(): Map<string, RoutePaths> {
    let p = this.pathsRef?.deref();
    if (!p) {
      p = buildPaths(this.st, this.s);
      this.pathsRef = new WeakRef(p);
    }
    return p;
  }
}

/** The full computation: all-pairs shortest paths, then every gateway's routes. */
export function computeRoutingState(topo: Topology, opts?: RoutingOptions): RoutingState {
  const options = resolveOptions(opts);
  const nodes = buildNodes(topo);
  const links = buildLinks(topo, nodes, options);
  const n = nodes.gatewayIds.length;
  const dij = new Dijkstra(links, n);
  const rows: Float64Array[] = new Array(n);
  for (let s = 0; s < n; s++) rows[s] = dij.run(s);
  const siteDist = siteDistances(nodes, rows);
  const groupDist = nodes.groups.map((sites) => groupDistance(sites, siteDist, n));
  const inputs = { links, rows, groupDist, maxEcmp: options.maxEcmp, preferNodeProtecting: options.preferNodeProtecting };
  const blocks: RouteBlock[] = new Array(n);
  const peers: Peer[][] = new Array(n);
  for (let s = 0; s < n; s++) {
    blocks[s] = computeBlock(inputs, s);
    peers[s] = buildPeers(nodes, links, s);
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
    changedGateways: new Set(nodes.gatewayIds),
  });
}

export function siteDistance(nodes: Nodes, site: number, rows: readonly Float64Array[]): Float64Array {
  const gws = nodes.siteGateways[site]!;
  return gws.length === 1 ? rows[gws[0]!]! : minOf(gws.map((g) => rows[g]!), rows.length);
}

function siteDistances(nodes: Nodes, rows: readonly Float64Array[]): (Float64Array | null)[] {
  return nodes.siteIds.map((_, site) => (nodes.siteGroups[site]!.length ? siteDistance(nodes, site, rows) : null));
}

export function groupDistance(sites: readonly number[], siteDist: readonly (Float64Array | null)[], n: number): Float64Array {
  return sites.length === 1 ? siteDist[sites[0]!]! : minOf(sites.map((s) => siteDist[s]!), n);
}

/** Routes of every gateway (see RoutingState for the incremental form). */
export function computeRoutes(topo: Topology, opts?: RoutingOptions): Map<string, GatewayRoutes> {
  return computeRoutingState(topo, opts).routes as Map<string, GatewayRoutes>;
}

export { ruleKey };
