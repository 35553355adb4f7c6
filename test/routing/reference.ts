// An independent, deliberately simple reference for the routing tests:
// Floyd–Warshall over string-keyed maps, every rule derived straight from the
// definitions in docs/routing.md. Shares no code with controller/routing.
import fc from 'fast-check';
import { Action, AdminState, OperState, type FlowRule, type Link, type NextHop, type Peer, type Topology } from '../../common/model.js';

export interface RefRoutes {
  rules: FlowRule[];
  peers: Peer[];
}

export const usable = (l: Link) => l.adminState !== AdminState.DRAINED && l.operState !== OperState.DOWN;

export type Dist = Map<string, Map<string, number>>;

/** All-pairs distances over the usable links, minus `without`. */
export function floydWarshall(topo: Topology, without: ReadonlySet<string> = new Set()): Dist {
  const ids = topo.gateways.map((g) => g.id);
  const d: Dist = new Map(ids.map((i) => [i, new Map(ids.map((j) => [j, i === j ? 0 : Infinity]))]));
  for (const l of topo.links) {
    if (!usable(l) || without.has(l.id)) continue;
    if (l.cost < d.get(l.a)!.get(l.b)!) {
      d.get(l.a)!.set(l.b, l.cost);
      d.get(l.b)!.set(l.a, l.cost);
    }
  }
  for (const k of ids) for (const i of ids) for (const j of ids) {
    const via = d.get(i)!.get(k)! + d.get(k)!.get(j)!;
    if (via < d.get(i)!.get(j)!) d.get(i)!.set(j, via);
  }
  return d;
}

export interface Arc {
  nbr: string;
  link: string;
  cost: number;
}

export function arcsOf(topo: Topology, gw: string, without: ReadonlySet<string> = new Set()): Arc[] {
  const out: Arc[] = [];
  for (const l of topo.links) {
    if (!usable(l) || without.has(l.id)) continue;
    if (l.a === gw) out.push({ nbr: l.b, link: l.id, cost: l.cost });
    else if (l.b === gw) out.push({ nbr: l.a, link: l.id, cost: l.cost });
  }
  return out.sort((x, y) => (x.nbr < y.nbr ? -1 : x.nbr > y.nbr ? 1 : x.link < y.link ? -1 : x.link > y.link ? 1 : 0));
}

export interface Destination {
  vrf: number;
  prefix: string;
  sites: string[];
  gateways: string[];
}

export function destinations(topo: Topology): Destination[] {
  const vrfId = new Map(topo.vrfs.map((v) => [v.name, v.id]));
  const byKey = new Map<string, Destination>();
  for (const p of topo.prefixes) {
    const vrf = vrfId.get(p.vrf)!;
    const k = `${vrf} ${p.cidr}`;
    if (!byKey.has(k)) byKey.set(k, { vrf, prefix: p.cidr, sites: [], gateways: [] });
    const d = byKey.get(k)!;
    if (!d.sites.includes(p.siteId)) d.sites.push(p.siteId);
  }
  for (const d of byKey.values()) {
    d.sites.sort();
    d.gateways = topo.gateways.filter((g) => d.sites.includes(g.siteId)).map((g) => g.id);
  }
  return [...byKey.values()].sort((a, b) => a.vrf - b.vrf || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

export const distTo = (d: Dist, from: string, gws: readonly string[]) => Math.min(Infinity, ...gws.map((g) => d.get(from)!.get(g)!));

export function referenceRoutes(topo: Topology, maxEcmp = 16): Map<string, RefRoutes> {
  const d = floydWarshall(topo);
  const dests = destinations(topo);
  const siteOf = new Map(topo.gateways.map((g) => [g.id, g.siteId]));
  const out = new Map<string, RefRoutes>();
  for (const gw of [...topo.gateways].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const S = gw.id;
    const rules: FlowRule[] = dests.map((D) => {
      const siteDist = (site: string) => distTo(d, S, topo.gateways.filter((g) => g.siteId === site).map((g) => g.id));
      let destSiteId = D.sites[0]!;
      for (const s of D.sites) if (siteDist(s) < siteDist(destSiteId)) destSiteId = s;
      const dS = distTo(d, S, D.gateways);
      const base = { vrf: D.vrf, prefix: D.prefix };
      if (D.sites.includes(siteOf.get(S)!)) return { ...base, action: Action.DELIVER, primary: [], backup: undefined, destSiteId };
      if (dS === Infinity) return { ...base, action: Action.DROP, primary: [], backup: undefined, destSiteId };
      const dD = (x: string) => distTo(d, x, D.gateways);
      const arcs = arcsOf(topo, S);
      const prim = arcs.filter((a) => a.cost + dD(a.nbr) === dS).slice(0, maxEcmp);
      const primary: NextHop[] = prim.map((a) => ({ gatewayId: a.nbr, linkId: a.link }));
      const candidates = arcs
        .filter((a) => !prim.includes(a) && dD(a.nbr) < d.get(a.nbr)!.get(S)! + dS)
        .map((a) => ({
          a,
          node: prim.every((p) => p.nbr !== a.nbr && dD(a.nbr) < d.get(a.nbr)!.get(p.nbr)! + dD(p.nbr)),
          via: a.cost + dD(a.nbr),
        }))
        .sort((x, y) => Number(y.node) - Number(x.node) || x.via - y.via);
      const b = candidates[0];
      const backup = b ? { gatewayId: b.a.nbr, linkId: b.a.link } : undefined;
      return { ...base, action: Action.FORWARD, primary, backup, destSiteId };
    });
    const peers: Peer[] = topo.links
      .filter((l) => l.adminState !== AdminState.DRAINED && (l.a === S || l.b === S))
      .sort((x, y) => (x.id < y.id ? -1 : 1))
      .map((l) => {
        const far = topo.gateways.find((g) => g.id === (l.a === S ? l.b : l.a))!;
        const mtu = l.mtu || Math.min(...[gw.underlayMtu, far.underlayMtu].filter((m) => m > 0), Infinity);
        return {
          gatewayId: far.id,
          nodeId: far.nodeId,
          linkId: l.id,
          endpoints: far.endpoints.map((e) => ({ host: e.host, port: e.port })),
          mtu: mtu === Infinity ? 0 : mtu,
          key: Buffer.alloc(0),
          keyId: 0,
          previousKey: Buffer.alloc(0),
          previousKeyId: 0,
          nextKey: Buffer.alloc(0),
          nextKeyId: 0,
        };
      });
    out.set(S, { rules, peers });
  }
  return out;
}

// ---- random topologies -------------------------------------------------

const STATES = ['up', 'unspecified', 'down', 'drained'] as const;
type LinkStateName = (typeof STATES)[number];

export function linkState(s: LinkStateName): Pick<Link, 'adminState' | 'operState'> {
  switch (s) {
    case 'up':
      return { adminState: AdminState.UP, operState: OperState.UP };
    case 'unspecified':
      return { adminState: AdminState.UNSPECIFIED, operState: OperState.UNSPECIFIED };
    case 'down':
      return { adminState: AdminState.UP, operState: OperState.DOWN };
    case 'drained':
      return { adminState: AdminState.DRAINED, operState: OperState.UP };
  }
}

export function makeLink(id: string, a: string, b: string, cost: number, state: LinkStateName = 'up', mtu = 0): Link {
  return { id, a, b, cost, capacityMbps: 0, mtu, srlgs: [], ...linkState(state), rttUs: 0, lossPpm: 0, changedUnixMs: 0 };
}

const CIDRS = ['10.0.0.0/24', '10.0.1.0/24', '10.1.0.0/16', '192.168.1.0/24', '2001:db8::/48'];

/**
 * Random topologies of up to `maxGateways` gateways: a spanning tree (usable
 * when `connected`, else any state) plus extra links in any state, parallel
 * links included; small costs so that ties (ECMP) are common.
 */
export function topologyArb(maxGateways: number, connected = true): fc.Arbitrary<Topology> {
  return fc.integer({ min: 2, max: maxGateways }).chain((n) =>
    fc
      .record({
        siteOf: fc.array(fc.nat(n - 1), { minLength: n, maxLength: n }),
        parents: fc.array(fc.nat(), { minLength: n - 1, maxLength: n - 1 }),
        treeCost: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: n - 1, maxLength: n - 1 }),
        treeState: fc.array(fc.constantFrom(...(connected ? (['up', 'unspecified'] as const) : STATES)), {
          minLength: n - 1,
          maxLength: n - 1,
        }),
        extra: fc.array(
          fc.record({ a: fc.nat(n - 1), b: fc.nat(n - 1), cost: fc.integer({ min: 1, max: 4 }), state: fc.constantFrom(...STATES) }),
          { maxLength: 2 * n },
        ),
        prefixes: fc.array(fc.record({ site: fc.nat(n - 1), vrf: fc.constantFrom('red', 'blue'), cidr: fc.constantFrom(...CIDRS) }), {
          minLength: 1,
          maxLength: 10,
        }),
        mtus: fc.array(fc.constantFrom(0, 1400, 1500, 9000), { minLength: n, maxLength: n }),
      })
      .map((r) => {
        const gid = (i: number) => `g${String(i).padStart(2, '0')}`;
        const sid = (i: number) => `s${String(i).padStart(2, '0')}`;
        const links: Link[] = [];
        for (let i = 1; i < n; i++) {
          links.push(makeLink(`t${i}`, gid(i), gid(r.parents[i - 1]! % i), r.treeCost[i - 1]!, r.treeState[i - 1]!, i % 3 === 0 ? 1400 : 0));
        }
        r.extra.forEach((e, k) => {
          if (e.a !== e.b) links.push(makeLink(`x${k}`, gid(e.a), gid(e.b), e.cost, e.state));
        });
        return {
          vrfs: [
            { name: 'red', id: 7 },
            { name: 'blue', id: 3 },
          ],
          sites: Array.from({ length: n }, (_, i) => ({ id: sid(i), name: sid(i), kind: 0, region: '' })),
          gateways: Array.from({ length: n }, (_, i) => ({
            id: gid(i),
            siteId: sid(r.siteOf[i]!),
            nodeId: 100 + i,
            endpoints: [{ host: `192.0.2.${i}`, port: 4789 }],
            underlayMtu: r.mtus[i]!,
            lastSeenUnixMs: 0,
          })),
          links,
          prefixes: r.prefixes.map((p) => ({ siteId: sid(p.site), vrf: p.vrf, cidr: p.cidr })),
        };
      }),
  );
}
