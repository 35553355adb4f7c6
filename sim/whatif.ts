// What-if: fail every link, gateway, site and shared-risk group in turn (and
// every pair, on request), compare with the baseline using the real routing,
// and rank the failures by impact. The routing code is used at two depths:
// the baseline tables (computeRoutingState) give every next hop and backup
// the data planes would use; after a failure, distances come from routing's
// own graph and shortest-path code (buildLinks + Dijkstra, the costs and
// usability rules routing applies) run only from the few sources or
// destinations the failure touches, and full tables (recomputeAfterLinkChange)
// only when a demand's path is hit, because that is what makes a sweep of a
// thousand failures take seconds rather than minutes.
//
// Traffic is looked at per site pair (from the first gateway of site A, as the
// simulator's access side does, to site B's prefixes) and per demand when a
// scenario gives demands. Only pairs whose baseline path touches the failure
// can change (removing links never shortens a path and leaves every other
// shortest path intact), so each failure looks at those alone: an inverted
// index from links and gateways to the pairs whose path uses them.
//
// Predicted outage of an affected pair, from the baseline tables:
//   - the data plane skips dead primaries and takes the loop-free backup: if
//     that walk still reaches the destination, the outage is the detection
//     time (multiplier x interval);
//   - else, if routing finds a path after the failure, detection + control
//     delay (the report) + compute + control delay (the push);
//   - else the pair is disconnected.
// Stretch for site pairs is of path cost; for demands, of latency when the
// scenario gives link latencies (else of cost as well).

import { invalid } from '../common/errors.js';
import { Action, OperState, type FlowRule, type Link, type Topology } from '../common/model.js';
import { computeRoutingState, recomputeAfterLinkChange, ruleKey, type RoutingOptions, type RoutingState } from '../controller/routing/index.js';
import { buildLinks, buildNodes } from '../controller/routing/graph.js';
import { resolveOptions } from '../controller/routing/options.js';
import { Dijkstra } from '../controller/routing/shortest-paths.js';
import { DEFAULT_TIMING, linkNet, type Demand, type NetworkSpec, type Timing } from './scenario.js';
import { ms3 } from './result.js';

export type FailureKind = 'link' | 'gateway' | 'site' | 'srlg';

export interface FailureElement {
  kind: FailureKind;
  id: string;
}

export interface WhatIfOptions {
  /** Also every pair of single failures. */
  pairs?: boolean;
  /** Refuse --pairs sweeps larger than this (default 100,000 failures). */
  maxPairs?: number;
  routing?: RoutingOptions;
  timing?: Partial<Pick<Timing, 'probeIntervalMs' | 'detectMultiplier' | 'controlDelayMs' | 'computeMs'>>;
  demands?: readonly Demand[];
  network?: NetworkSpec;
}

export interface DemandImpact {
  id: string;
  disconnected: boolean;
  predictedOutageMs: number | null;
  pathBefore: string[];
  pathAfter: string[];
  latencyBeforeMs: number;
  latencyAfterMs: number | null;
  stretch: number | null;
}

export interface FailureImpact {
  name: string;
  elements: FailureElement[];
  linksDown: number;
  gatewaysDown: number;
  /** Site pairs connected before and not after (both sites still up). */
  disconnectedPairs: number;
  /** Site pairs whose source or destination site is itself down. */
  lostWithFailure: number;
  /** Site pairs whose traffic is hit (outage, longer path or disconnected). */
  affectedPairs: number;
  /** Affected pairs restored by local failover alone. */
  coveredLocally: number;
  /** Affected pairs that wait for the controller. */
  needController: number;
  worstStretch: { from: string; to: string; costBefore: number; costAfter: number; stretch: number } | null;
  /** Worst predicted outage over the affected pairs and demands that stay connected (null when none is hit). */
  predictedOutageMs: number | null;
  /** Demands with both ends up and no path left. */
  disconnectedDemands: string[];
  /** Demands whose source or destination site is down with the failure. */
  demandsGoneWithFailure: string[];
  demands: DemandImpact[];
  overloadedLinks: { id: string; loadMbps: number; capacityMbps: number; utilisationPct: number }[];
}

export interface WhatIfResult {
  topology: { sites: number; gateways: number; links: number; srlgs: number; sitePairs: number };
  predictions: { localFailoverMs: number; controllerMs: number; probeIntervalMs: number; detectMultiplier: number; controlDelayMs: number; computeMs: number };
  baseline: {
    connectedPairs: number;
    disconnectedPairs: number;
    demands: { id: string; path: string[]; latencyMs: number; connected: boolean }[];
    overloadedLinks: { id: string; loadMbps: number; capacityMbps: number; utilisationPct: number }[];
  };
  pairsIncluded: boolean;
  /** Ranked, worst first. */
  failures: FailureImpact[];
}

interface Pair {
  a: number; // source site index
  b: number; // destination site index
  key: string;
}

const NONE = -1;

/** Runs the sweep. Pure: the topology in, the ranking out. */
export function whatIf(topo: Topology, opts: WhatIfOptions = {}): WhatIfResult {
  const timing = { ...DEFAULT_TIMING, ...(opts.timing ?? {}) };
  const detectMs = timing.probeIntervalMs * timing.detectMultiplier;
  const controllerMs = detectMs + 2 * timing.controlDelayMs + timing.computeMs;

  // --- indices -------------------------------------------------------------------
  const gwIds = topo.gateways.map((g) => g.id).sort();
  const gwIndex = new Map(gwIds.map((id, i) => [id, i]));
  const siteIds = topo.sites.map((s) => s.id).sort();
  const siteIndex = new Map(siteIds.map((id, i) => [id, i]));
  const siteOfGw = new Int32Array(gwIds.length);
  const siteGws: number[][] = siteIds.map(() => []);
  for (const g of topo.gateways) {
    const gi = gwIndex.get(g.id)!;
    const si = siteIndex.get(g.siteId);
    if (si === undefined) throw invalid(`gateways[${g.id}].site`, `unknown site '${g.siteId}'`);
    siteOfGw[gi] = si;
  }
  gwIds.forEach((_, gi) => siteGws[siteOfGw[gi]!]!.push(gi));
  const links = [...topo.links].sort((x, y) => (x.id < y.id ? -1 : 1));
  const linkIndex = new Map(links.map((l, i) => [l.id, i]));
  const usable = (l: Link) => l.adminState !== 2 && l.operState !== OperState.DOWN;
  const linksOfGw: number[][] = gwIds.map(() => []);
  links.forEach((l, i) => {
    linksOfGw[gwIndex.get(l.a)!]!.push(i);
    linksOfGw[gwIndex.get(l.b)!]!.push(i);
  });
  const vrfId = new Map(topo.vrfs.map((v) => [v.name, v.id]));

  // One prefix per destination site: the one with fewest owners (ideally only this site).
  const owners = new Map<string, Set<string>>();
  for (const p of topo.prefixes) {
    const k = ruleKey(vrfId.get(p.vrf)!, p.cidr);
    const set = owners.get(k) ?? new Set();
    set.add(p.siteId);
    owners.set(k, set);
  }
  const repKey: (string | undefined)[] = siteIds.map((sid) => {
    let best: string | undefined;
    let bestN = Infinity;
    for (const p of topo.prefixes) {
      if (p.siteId !== sid) continue;
      const k = ruleKey(vrfId.get(p.vrf)!, p.cidr);
      const n = owners.get(k)!.size;
      if (n < bestN || (n === bestN && best !== undefined && k < best)) {
        best = k;
        bestN = n;
      }
    }
    return best;
  });

  const pairs: Pair[] = [];
  for (let a = 0; a < siteIds.length; a++) {
    if (siteGws[a]!.length === 0) continue;
    for (let b = 0; b < siteIds.length; b++) if (b !== a && repKey[b] !== undefined) pairs.push({ a, b, key: repKey[b]! });
  }

  // --- baseline -------------------------------------------------------------------
  const baseline = computeRoutingState(topo, opts.routing);
  const ruleCache = new Map<RoutingState, Map<number, Map<string, FlowRule>>>();
  const ruleAt = (st: RoutingState, g: number, key: string): FlowRule | undefined => {
    let perState = ruleCache.get(st);
    if (!perState) ruleCache.set(st, (perState = new Map()));
    let m = perState.get(g);
    if (!m) {
      m = new Map(st.routes.get(gwIds[g]!)!.rules.map((r) => [ruleKey(r.vrf, r.prefix), r]));
      perState.set(g, m);
    }
    return m.get(key);
  };
  const nodes = buildNodes(topo);
  const resolved = resolveOptions(opts.routing);
  const n = nodes.gatewayIds.length;
  const nodeOf = Int32Array.from(gwIds, (id) => nodes.gatewayIndex.get(id)!);
  const baseGraph = buildLinks(topo, nodes, resolved);
  const baseDij = new Dijkstra(baseGraph, n);
  const baseRows = gwIds.map((_, g) => baseDij.run(nodeOf[g]!));
  /** Distance from gateway `src` (its row) to the nearest gateway of `site` that is up. */
  const dist = (row: Float64Array, site: number, down?: Uint8Array) => {
    let best = Infinity;
    for (const b of siteGws[site]!) {
      if (down?.[b]) continue;
      const d = row[nodeOf[b]!]!;
      if (d < best) best = d;
    }
    return best;
  };
  const firstUp = (site: number, down?: ReadonlySet<number>) => siteGws[site]!.find((g) => !down?.has(g)) ?? NONE;

  const d0 = new Float64Array(pairs.length);
  // Inverted index: element -> pairs whose baseline path touches it.
  const byLink: number[][] = links.map(() => []);
  const byGw: number[][] = gwIds.map(() => []);
  pairs.forEach((p, pi) => {
    const src = siteGws[p.a]![0]!;
    d0[pi] = dist(baseRows[src]!, p.b);
    const seenL = new Set<number>();
    const seenG = new Set<number>();
    walkPrimary(baseline, src, p.key, (g, hopLinks) => {
      if (!seenG.has(g)) {
        seenG.add(g);
        byGw[g]!.push(pi);
      }
      for (const li of hopLinks) {
        if (seenL.has(li)) continue;
        seenL.add(li);
        byLink[li]!.push(pi);
        const l = links[li]!;
        for (const e of [gwIndex.get(l.a)!, gwIndex.get(l.b)!]) {
          if (!seenG.has(e)) {
            seenG.add(e);
            byGw[e]!.push(pi);
          }
        }
      }
    });
  });

  /** Follows the first primary from `src`; calls `visit` with each gateway and the primary links it may use. */
  function walkPrimary(st: RoutingState, src: number, key: string, visit: (g: number, hopLinks: number[]) => void): number[] {
    const path: number[] = [];
    let g = src;
    for (let steps = 0; steps <= gwIds.length; steps++) {
      path.push(g);
      const r = ruleAt(st, g, key);
      if (!r || r.action !== Action.FORWARD || r.primary.length === 0) {
        visit(g, []);
        break;
      }
      visit(g, r.primary.map((h) => linkIndex.get(h.linkId)!));
      g = gwIndex.get(r.primary[0]!.gatewayId)!;
    }
    return path;
  }

  // Baseline next hops per (gateway, destination key), as indices, for the
  // failover walks (run for every affected pair of every failure).
  interface Hops {
    fwd: boolean;
    pg: Int32Array;
    pl: Int32Array;
    bg: number;
    bl: number;
  }
  const hopCache = new Map<string, (Hops | null)[]>();
  const hopsOf = (key: string): (Hops | null)[] => {
    let arr = hopCache.get(key);
    if (!arr) {
      arr = gwIds.map((_, g) => {
        const r = ruleAt(baseline, g, key);
        if (!r) return null;
        return {
          fwd: r.action === Action.FORWARD,
          pg: Int32Array.from(r.primary, (h) => gwIndex.get(h.gatewayId)!),
          pl: Int32Array.from(r.primary, (h) => linkIndex.get(h.linkId)!),
          bg: r.backup ? gwIndex.get(r.backup.gatewayId)! : NONE,
          bl: r.backup ? linkIndex.get(r.backup.linkId)! : NONE,
        };
      });
      hopCache.set(key, arr);
    }
    return arr;
  };

  /**
   * The data plane's reaction before any new table: dead primaries skipped,
   * else the backup. 'clean' when the path never met the failure.
   */
  function failoverWalk(src: number, key: string, destSite: number, downL: Uint8Array, downG: Uint8Array): 'clean' | 'covered' | 'broken' {
    const hops = hopsOf(key);
    let g = src;
    let hit = false;
    for (let steps = 0; steps <= gwIds.length; steps++) {
      if (downG[g]) return 'broken';
      if (siteOfGw[g] === destSite) return hit ? 'covered' : 'clean';
      const h = hops[g];
      if (!h || !h.fwd) return 'broken';
      let next = NONE;
      for (let k = 0; k < h.pg.length; k++) {
        if (downL[h.pl[k]!] || downG[h.pg[k]!]) hit = true;
        else if (next === NONE) next = h.pg[k]!;
      }
      if (next === NONE && h.bg !== NONE && !downL[h.bl] && !downG[h.bg]) next = h.bg;
      if (next === NONE) return 'broken';
      g = next;
    }
    return 'broken'; // a loop before the controller fixes it
  }

  // --- demands ---------------------------------------------------------------------
  const demands = (opts.demands ?? []).map((d) => ({
    d,
    src: firstUp(siteIndex.get(d.from)!),
    key: ruleKey(d.vrfId, d.prefix),
    dest: new Set(d.destSites.map((s) => siteIndex.get(s)!)),
    mbps: (d.ratePps * d.packetBytes * 8) / 1e6,
  }));
  const latencyOf = (l: number) => (opts.network ? linkNet(opts.network, links[l]!.id).latencyMs : links[l]!.cost);
  /** The path a demand takes in a state: gateways, links, latency; undefined when it is dropped. */
  function demandPath(st: RoutingState, src: number, key: string, dest: Set<number>, downG?: ReadonlySet<number>) {
    const gws: number[] = [];
    const ls: number[] = [];
    let lat = 0;
    let g = src;
    for (let steps = 0; steps <= gwIds.length; steps++) {
      if (downG?.has(g)) return undefined;
      gws.push(g);
      const r = ruleAt(st, g, key);
      if (!r) return undefined;
      if (r.action === Action.DELIVER) return dest.has(siteOfGw[g]!) ? { gws, ls, lat } : undefined;
      if (r.action !== Action.FORWARD || r.primary.length === 0) return undefined;
      const h = r.primary[0]!;
      const li = linkIndex.get(h.linkId)!;
      ls.push(li);
      lat += latencyOf(li);
      g = gwIndex.get(h.gatewayId)!;
    }
    return undefined;
  }
  const baseDemand = demands.map((x) => (x.src === NONE ? undefined : demandPath(baseline, x.src, x.key, x.dest)));
  const baseLoad = new Float64Array(links.length);
  baseDemand.forEach((p, i) => p?.ls.forEach((li) => (baseLoad[li] += demands[i]!.mbps)));
  const overloaded = (load: Float64Array, downL?: ReadonlySet<number>) =>
    links
      .map((l, i) => ({ l, i }))
      .filter(({ l, i }) => l.capacityMbps > 0 && load[i]! > l.capacityMbps + 1e-9 && !downL?.has(i))
      .map(({ l, i }) => ({ id: l.id, loadMbps: ms3(load[i]!), capacityMbps: l.capacityMbps, utilisationPct: ms3((load[i]! / l.capacityMbps) * 100) }));

  // --- failures -------------------------------------------------------------------------
  const srlgs = [...new Set(links.flatMap((l) => l.srlgs))].sort();
  const singles: FailureElement[] = [
    ...links.filter(usable).map((l) => ({ kind: 'link' as const, id: l.id })),
    ...gwIds.map((id) => ({ kind: 'gateway' as const, id })),
    ...siteIds.filter((_, i) => siteGws[i]!.length > 0).map((id) => ({ kind: 'site' as const, id })),
    ...srlgs.map((id) => ({ kind: 'srlg' as const, id })),
  ];
  const sets: FailureElement[][] = singles.map((e) => [e]);
  if (opts.pairs) {
    const count = (singles.length * (singles.length - 1)) / 2;
    const max = opts.maxPairs ?? 100_000;
    if (count > max) {
      throw invalid('pairs', `${singles.length} single failures make ${count} pairs, more than the limit of ${max}; raise it (--max-pairs) or sweep a smaller topology`);
    }
    for (let i = 0; i < singles.length; i++) for (let j = i + 1; j < singles.length; j++) sets.push([singles[i]!, singles[j]!]);
  }

  const expand = (els: FailureElement[]) => {
    const downG = new Set<number>();
    const downL = new Set<number>();
    for (const e of els) {
      if (e.kind === 'link') downL.add(linkIndex.get(e.id)!);
      else if (e.kind === 'gateway') downG.add(gwIndex.get(e.id)!);
      else if (e.kind === 'site') for (const g of siteGws[siteIndex.get(e.id)!]!) downG.add(g);
      else links.forEach((l, i) => l.srlgs.includes(e.id) && downL.add(i));
    }
    for (const g of downG) for (const li of linksOfGw[g]!) downL.add(li);
    for (const li of [...downL]) if (!usable(links[li]!)) downL.delete(li);
    return { downG, downL, key: [...downL].sort((x, y) => x - y).join(',') };
  };

  const mark = new Uint8Array(pairs.length);
  const downLm = new Uint8Array(links.length);
  const downGm = new Uint8Array(gwIds.length);
  // Failures with the same links down share one routing computation: order them together.
  const expanded = sets.map((els) => ({ els, ...expand(els) }));
  const order = expanded.map((_, i) => i).sort((x, y) => (expanded[x]!.key < expanded[y]!.key ? -1 : expanded[x]!.key > expanded[y]!.key ? 1 : x - y));
  let lastKey: string | undefined;
  let lastTopo: Topology = topo;
  let lastState: RoutingState | undefined;
  let lastDij: Dijkstra = baseDij;
  /** d1[k] for k < count: distance from source(k) to the nearest up gateway of site(k). */
  function coverDistances(count: number, source: (k: number) => number, site: (k: number) => number, dij: Dijkstra, down: Uint8Array): Float64Array {
    const out = new Float64Array(count);
    const bySrc = new Map<number, number[]>();
    const byDst = new Map<number, number[]>();
    for (let k = 0; k < count; k++) {
      const s = source(k);
      const b = site(k);
      (bySrc.get(s) ?? bySrc.set(s, []).get(s)!).push(k);
      (byDst.get(b) ?? byDst.set(b, []).get(b)!).push(k);
    }
    const done = new Uint8Array(count);
    const left = (list: number[]) => {
      let c = 0;
      for (const k of list) if (!done[k]) c++;
      return c;
    };
    for (let remaining = count; remaining > 0; ) {
      let best: { side: 's' | 'd'; key: number; n: number } | undefined;
      for (const [key, list] of bySrc) {
        const c = left(list);
        if (c > 0 && (!best || c > best.n)) best = { side: 's', key, n: c };
      }
      for (const [key, list] of byDst) {
        const c = left(list);
        if (c > 0 && (!best || c > best.n)) best = { side: 'd', key, n: c };
      }
      if (!best) break;
      if (best.side === 's') {
        const row = dij.run(nodeOf[best.key]!);
        for (const k of bySrc.get(best.key)!) if (!done[k]) {
          out[k] = dist(row, site(k), down);
          done[k] = 1;
        }
        bySrc.delete(best.key);
      } else {
        // Undirected links: the distance to a site is the distance from it (its nearest up gateway).
        const row = new Float64Array(n).fill(Infinity);
        for (const g of siteGws[best.key]!) {
          if (down[g]) continue;
          const r = dij.run(nodeOf[g]!);
          for (let x = 0; x < n; x++) if (r[x]! < row[x]!) row[x] = r[x]!;
        }
        for (const k of byDst.get(best.key)!) if (!done[k]) {
          out[k] = row[nodeOf[source(k)]!]!;
          done[k] = 1;
        }
        byDst.delete(best.key);
      }
      remaining -= best.n;
    }
    return out;
  }

  const impacts: FailureImpact[] = new Array(expanded.length);
  for (const idx of order) {
    const { els, downG, downL, key } = expanded[idx]!;
    if (key !== lastKey) {
      if (lastState) ruleCache.delete(lastState);
      lastState = undefined;
      lastTopo = topoWithLinksDown(topo, links, downL);
      lastDij = downL.size === 0 ? baseDij : new Dijkstra(buildLinks(lastTopo, nodes, resolved), n);
      lastKey = key;
    }
    const key0 = key;
    // Full tables only when a demand needs its new path.
    const tables = () => {
      if (!lastState || lastKey !== key0) lastState = downL.size === 0 ? baseline : recomputeAfterLinkChange(baseline, lastTopo, [...downL].map((i) => links[i]!.id));
      return lastState;
    };
    impacts[idx] = assess(els, downG, downL, lastDij, tables);
  }
  if (lastState) ruleCache.delete(lastState);

  function assess(els: FailureElement[], downG: Set<number>, downL: Set<number>, dij: Dijkstra, tables: () => RoutingState): FailureImpact {
    const touched: number[] = [];
    const touch = (list: number[]) => {
      for (const pi of list) if (!mark[pi]) {
        mark[pi] = 1;
        touched.push(pi);
      }
    };
    for (const li of downL) touch(byLink[li]!);
    for (const g of downG) touch(byGw[g]!);
    for (const pi of touched) mark[pi] = 0;
    touched.sort((x, y) => x - y);
    for (const li of downL) downLm[li] = 1;
    for (const g of downG) downGm[g] = 1;
    let disconnectedPairs = 0;
    let lostWithFailure = 0;
    let affected = 0;
    let coveredLocally = 0;
    let needController = 0;
    let worst: FailureImpact['worstStretch'] = null;
    let worstOutage: number | null = null;
    const siteDown = (s: number) => siteGws[s]!.every((g) => downGm[g]);
    // The pairs to look at, and their sources after the failure.
    const live: number[] = [];
    const srcOf = new Int32Array(touched.length);
    for (const pi of touched) {
      const p = pairs[pi]!;
      if (!(d0[pi]! < Infinity)) continue; // not connected in the baseline either
      if (siteDown(p.a) || siteDown(p.b)) {
        lostWithFailure++;
        continue;
      }
      srcOf[live.length] = firstUp(p.a, downG);
      live.push(pi);
    }
    // Distances after the failure: each pair needs the row of its source or
    // of its destination site; a greedy cover keeps the Dijkstra runs few
    // (an office cut off touches pairs from everywhere to it and from it to
    // everywhere: two rows, not two hundred).
    const d1 = coverDistances(live.length, (k) => srcOf[k]!, (k) => pairs[live[k]!]!.b, dij, downGm);

    live.forEach((pi, k) => {
      const p = pairs[pi]!;
      const after = d1[k]!;
      const walk = failoverWalk(srcOf[k]!, p.key, p.b, downLm, downGm);
      if (walk === 'clean' && after === d0[pi]) return;
      affected++;
      if (!(after < Infinity)) {
        disconnectedPairs++;
        return;
      }
      let outage = 0;
      if (walk === 'covered') {
        outage = detectMs;
        coveredLocally++;
      } else if (walk === 'broken') {
        outage = controllerMs;
        needController++;
      }
      if (outage > 0 && (worstOutage === null || outage > worstOutage)) worstOutage = outage;
      const stretch = d0[pi]! > 0 ? after / d0[pi]! : 1;
      if (stretch > 1 && (!worst || stretch > worst.stretch)) {
        worst = { from: siteIds[p.a]!, to: siteIds[p.b]!, costBefore: d0[pi]!, costAfter: after, stretch: ms3(stretch) };
      }
    });

    // Demands: new paths for those whose path the failure touches; loads move with them.
    const load = Float64Array.from(baseLoad);
    const dImpacts: DemandImpact[] = [];
    const disconnectedDemands: string[] = [];
    const gone: string[] = [];
    demands.forEach((x, i) => {
      const before = baseDemand[i];
      if (!before) return;
      const hitsPath = before.ls.some((li) => downL.has(li)) || before.gws.some((g) => downG.has(g));
      if (!hitsPath) return;
      const src = firstUp(siteIndex.get(x.d.from)!, downG);
      const after = src === NONE ? undefined : demandPath(tables(), src, x.key, x.dest, downG);
      for (const li of before.ls) load[li] -= x.mbps;
      if (after) for (const li of after.ls) load[li] += x.mbps;
      const walk = src === NONE ? 'broken' : failoverWalk(src, x.key, [...x.dest][0]!, downLm, downGm);
      const outage = !after ? null : walk === 'covered' ? detectMs : walk === 'broken' ? controllerMs : 0;
      const endsDown = src === NONE || [...x.dest].every((site) => siteDown(site));
      if (!after) (endsDown ? gone : disconnectedDemands).push(x.d.id);
      else if (outage !== null && outage > 0 && (worstOutage === null || outage > worstOutage)) worstOutage = outage;
      dImpacts.push({
        id: x.d.id,
        disconnected: !after,
        predictedOutageMs: outage,
        pathBefore: before.gws.map((g) => gwIds[g]!),
        pathAfter: after ? after.gws.map((g) => gwIds[g]!) : [],
        latencyBeforeMs: ms3(before.lat),
        latencyAfterMs: after ? ms3(after.lat) : null,
        stretch: after && before.lat > 0 ? ms3(after.lat / before.lat) : null,
      });
    });

    for (const li of downL) downLm[li] = 0;
    for (const g of downG) downGm[g] = 0;
    return {
      name: els.map((e) => `${e.kind} ${e.id}`).join(' + '),
      elements: els,
      linksDown: downL.size,
      gatewaysDown: downG.size,
      disconnectedPairs,
      lostWithFailure,
      affectedPairs: affected,
      coveredLocally,
      needController,
      worstStretch: worst,
      predictedOutageMs: worstOutage,
      disconnectedDemands,
      demandsGoneWithFailure: gone,
      demands: dImpacts,
      overloadedLinks: overloaded(load, downL),
    };
  }

  const ranked = impacts.slice().sort(compareImpact);
  const connected = [...d0].filter((d) => d < Infinity).length;
  return {
    topology: { sites: siteIds.length, gateways: gwIds.length, links: links.length, srlgs: srlgs.length, sitePairs: pairs.length },
    predictions: {
      localFailoverMs: detectMs,
      controllerMs,
      probeIntervalMs: timing.probeIntervalMs,
      detectMultiplier: timing.detectMultiplier,
      controlDelayMs: timing.controlDelayMs,
      computeMs: timing.computeMs,
    },
    baseline: {
      connectedPairs: connected,
      disconnectedPairs: pairs.length - connected,
      demands: demands.map((x, i) => {
        const p = baseDemand[i];
        return { id: x.d.id, path: p ? p.gws.map((g) => gwIds[g]!) : [], latencyMs: p ? ms3(p.lat) : 0, connected: !!p };
      }),
      overloadedLinks: overloaded(baseLoad),
    },
    pairsIncluded: !!opts.pairs,
    failures: ranked,
  };
}

/**
 * Worst first: demands without connectivity, site pairs without
 * connectivity (cut apart, or gone with a failed site), links overloaded,
 * predicted outage, stretch, pairs hit; then by name.
 */
export function compareImpact(x: FailureImpact, y: FailureImpact): number {
  const demandsLost = (f: FailureImpact) => f.disconnectedDemands.length + f.demandsGoneWithFailure.length;
  return (
    demandsLost(y) - demandsLost(x) ||
    y.disconnectedPairs + y.lostWithFailure - (x.disconnectedPairs + x.lostWithFailure) ||
    y.overloadedLinks.length - x.overloadedLinks.length ||
    (y.predictedOutageMs ?? 0) - (x.predictedOutageMs ?? 0) ||
    (y.worstStretch?.stretch ?? 1) - (x.worstStretch?.stretch ?? 1) ||
    y.affectedPairs - x.affectedPairs ||
    (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)
  );
}

function topoWithLinksDown(topo: Topology, sorted: readonly Link[], down: ReadonlySet<number>): Topology {
  if (down.size === 0) return topo;
  const ids = new Set([...down].map((i) => sorted[i]!.id));
  return { ...topo, links: topo.links.map((l) => (ids.has(l.id) ? { ...l, operState: OperState.DOWN } : l)) };
}
