// Deterministic generated topologies for benchmarks and what-if runs, shaped
// like a real deployment: regions of datacenters (two gateways each, meshed
// inside the region in two planes), hub datacenters linked across regions,
// branch offices dual-homed to two datacenters of their region, and random
// extra tunnels until there are about `linksPerGateway` links per gateway.
// Same options and seed, same topology.

import { invalid } from '../common/errors.js';
import { checkTopology, defaultLinkId, withDefaults } from '../controller/topology/topology-check.js';
import { createRandom } from '../common/random.js';
import { AdminState, OperState, SiteKind, type Gateway, type Link, type Prefix, type Site, type Topology } from '../common/model.js';

export interface GenerateTopologyOptions {
  /** Total number of gateways (at least 2). */
  gateways: number;
  seed: number;
  /** Target average number of links per gateway (default 10). */
  linksPerGateway?: number;
  /** Prefixes each site announces (default 10); hub datacenters add anycast ones. */
  prefixesPerSite?: number;
  /** Default: one region per 250 gateways, at least 2. */
  regions?: number;
}

const pad = (n: number, w = 3) => String(n).padStart(w, '0');

export function generateTopology(opts: GenerateTopologyOptions): Topology {
  const total = opts.gateways;
  if (!Number.isInteger(total) || total < 2 || total > 65535) throw invalid('gateways', `must be an integer in 2..65535, got ${total}`);
  const linksPerGateway = opts.linksPerGateway ?? 10;
  const prefixesPerSite = opts.prefixesPerSite ?? 10;
  if (!(linksPerGateway >= 1)) throw invalid('linksPerGateway', `must be >= 1, got ${linksPerGateway}`);
  if (!Number.isInteger(prefixesPerSite) || prefixesPerSite < 0) throw invalid('prefixesPerSite', `must be a non-negative integer`);
  const R = opts.regions ?? Math.max(2, Math.round(total / 250));
  if (!Number.isInteger(R) || R < 1) throw invalid('regions', `must be a positive integer, got ${R}`);
  const rnd = createRandom(opts.seed);

  // About 10% of gateways sit in datacenters, two per datacenter.
  const dcSites = Math.max(1, Math.min(Math.floor(total / 2), Math.max(R * 2, Math.round(total * 0.05))));
  const regionCount = Math.min(R, dcSites);
  const sites: Site[] = [];
  const gateways: Gateway[] = [];
  const siteRegion = new Map<string, number>();
  const dcsOfRegion: string[][][] = Array.from({ length: regionCount }, () => []); // region -> dc -> gateway ids
  const officesOfRegion: string[][] = Array.from({ length: regionCount }, () => []);

  const addGateway = (siteId: string, k: number, endpoints: number) => {
    const i = gateways.length;
    const id = `${siteId}-gw${k}`;
    gateways.push({
      id,
      siteId,
      nodeId: i + 1,
      endpoints: Array.from({ length: endpoints }, (_, e) => ({ host: `198.${18 + e}.${(i >> 8) & 255}.${i & 255}`, port: 4789 })),
      underlayMtu: 1500,
      lastSeenUnixMs: 0,
    });
    return id;
  };

  for (let d = 0; d < dcSites; d++) {
    const r = d % regionCount;
    const id = `r${pad(r, 2)}-dc${pad(Math.floor(d / regionCount))}`;
    sites.push({ id, name: `Datacenter ${r}.${Math.floor(d / regionCount)}`, kind: SiteKind.DATACENTER, region: `region-${r}` });
    siteRegion.set(id, r);
    const left = total - gateways.length - (dcSites - d - 1);
    const per = left >= 2 ? 2 : 1;
    dcsOfRegion[r]!.push(Array.from({ length: per }, (_, k) => addGateway(id, k + 1, 2)));
  }
  for (let o = 0; gateways.length < total; o++) {
    const r = o % regionCount;
    const id = `r${pad(r, 2)}-of${pad(Math.floor(o / regionCount), 4)}`;
    sites.push({ id, name: `Office ${r}.${Math.floor(o / regionCount)}`, kind: SiteKind.OFFICE, region: `region-${r}` });
    siteRegion.set(id, r);
    officesOfRegion[r]!.push(addGateway(id, 1, 1));
  }

  const links: Link[] = [];
  const linked = new Set<string>();
  const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);
  const addLink = (a: string, b: string, cost: number, capacityMbps: number, mtu: number, srlgs: string[] = []) => {
    const key = pairKey(a, b);
    if (a === b || linked.has(key)) return false;
    linked.add(key);
    links.push({
      id: defaultLinkId(a, b),
      a,
      b,
      cost,
      capacityMbps,
      mtu,
      srlgs,
      adminState: AdminState.UP,
      operState: OperState.UP,
      rttUs: cost * 1000,
      lossPpm: 0,
      changedUnixMs: 0,
    });
    return true;
  };

  // Inside each datacenter, and between the datacenters of a region (plane k to plane k).
  for (const dcs of dcsOfRegion) {
    for (const gws of dcs) if (gws.length === 2) addLink(gws[0]!, gws[1]!, 1, 100000, 0);
    for (let x = 0; x < dcs.length; x++) {
      for (let y = x + 1; y < dcs.length; y++) {
        const cost = rnd.int(5, 20);
        for (let k = 0; k < Math.min(dcs[x]!.length, dcs[y]!.length); k++) addLink(dcs[x]![k]!, dcs[y]![k]!, cost + k, 10000, 0);
      }
    }
  }
  // Hub datacenters (the first two of a region) across regions; a submarine
  // cable or long-haul fibre is a shared risk for the links between two regions.
  for (let r1 = 0; r1 < regionCount; r1++) {
    for (let r2 = r1 + 1; r2 < regionCount; r2++) {
      const base = 30 + 15 * (r2 - r1) + rnd.int(0, 30);
      for (let h = 0; h < 2; h++) {
        const a = dcsOfRegion[r1]![h % dcsOfRegion[r1]!.length]!;
        const b = dcsOfRegion[r2]![h % dcsOfRegion[r2]!.length]!;
        addLink(a[0]!, b[0]!, base + h * 5, 10000, 0, [`cable-r${r1}-r${r2}-${h}`]);
      }
    }
  }
  // Offices: two uplinks to two different datacenters of their region; both
  // share the office's access line.
  for (let r = 0; r < regionCount; r++) {
    const dcs = dcsOfRegion[r]!;
    for (const office of officesOfRegion[r]!) {
      const first = rnd.int(0, dcs.length - 1);
      const second = dcs.length > 1 ? (first + rnd.int(1, dcs.length - 1)) % dcs.length : first;
      const srlg = [`access-${office.replace(/-gw\d+$/, '')}`];
      const c1 = rnd.int(10, 40);
      addLink(office, rnd.pick(dcs[first]!), c1, rnd.pick([100, 200, 500, 1000]), 1400, srlg);
      addLink(office, rnd.pick(dcs[second]!), c1 + rnd.int(5, 30), rnd.pick([100, 200, 500]), 1400, srlg);
    }
  }
  // Extra tunnels (mostly inside a region) up to the target density.
  const target = Math.round((total * linksPerGateway) / 2);
  const byRegion: string[][] = Array.from({ length: regionCount }, () => []);
  for (const g of gateways) byRegion[siteRegion.get(g.siteId)!]!.push(g.id);
  const allIds = gateways.map((g) => g.id);
  for (let attempts = 0; links.length < target && attempts < target * 20; attempts++) {
    const a = rnd.pick(gateways);
    const pool = rnd.chance(0.8) ? byRegion[siteRegion.get(a.siteId)!]! : allIds;
    addLink(a.id, rnd.pick(pool), rnd.int(20, 200), rnd.pick([100, 500, 1000]), 1400);
  }

  const prefixes = makePrefixes(sites, dcsOfRegion, prefixesPerSite);
  // Exactly what `switchback ctl apply` would accept and store: defaults
  // filled (a link MTU of 0 becomes the smaller underlay MTU), validated.
  return checkTopology(
    withDefaults({
      vrfs: [
        { name: 'corp', id: 1 },
        { name: 'guest', id: 2 },
      ],
      sites,
      gateways,
      links,
      prefixes,
    }),
  );
}

function makePrefixes(sites: Site[], dcsOfRegion: string[][][], perSite: number): Prefix[] {
  const out: Prefix[] = [];
  let corp = 0;
  let guest = 0;
  for (const site of sites) {
    for (let j = 0; j < perSite; j++) {
      if (j % 5 === 4) {
        const k = guest++;
        out.push({ siteId: site.id, vrf: 'guest', cidr: `100.${64 + ((k >> 8) & 63)}.${k & 255}.0/24` });
      } else {
        const k = corp++;
        out.push({ siteId: site.id, vrf: 'corp', cidr: `10.${(k >> 8) % 255}.${k & 255}.0/24` });
      }
    }
  }
  // Anycast services announced by the hub datacenters of every region.
  for (const dcs of dcsOfRegion) {
    dcs.slice(0, 2).forEach((gws, h) => {
      out.push({ siteId: gws[0]!.replace(/-gw\d+$/, ''), vrf: 'corp', cidr: `10.255.${h}.0/24` });
    });
  }
  return out;
}
