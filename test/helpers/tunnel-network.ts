// Builds a Switchback network out of network namespaces: for every gateway a
// namespace (the agent runs there), for every site a host namespace behind
// its gateway, and for every link a veth pair as the underlay. Each gateway
// has an underlay "router id" address on its loopback (its tunnel endpoint)
// and a /32 route to each neighbour's router id over that link's veth, so
// taking a link's veth down cuts exactly that tunnel.
import { SiteKind, type Topology } from '../../common/model.js';
import type { NetnsHarness } from './netns.js';

export interface SiteSpec {
  id: string;
  kind: 'datacenter' | 'office';
  /** The site's prefix; the gateway takes .1 and the host .10. */
  prefix24: string; // e.g. '10.1.0' (a /24)
  vrf?: string;
}

export interface GatewaySpec {
  id: string;
  site: string;
  /** Router-id index: the endpoint is 10.255.255.<n>. */
  n: number;
}

export interface LinkSpec {
  a: string;
  b: string;
  cost: number;
}

export interface NetworkSpec {
  sites: SiteSpec[];
  gateways: GatewaySpec[];
  links: LinkSpec[];
  vrfs?: { name: string; id: number }[];
  port?: number;
}

export interface BuiltNetwork {
  topology: Topology;
  /** Namespace of each gateway and of each site's host. */
  gwNs: Map<string, string>;
  hostNs: Map<string, string>;
  /** Address of each site's host. */
  hostAddr: Map<string, string>;
  /** The underlay veth of each link as seen from each end: [ns, ifname]. */
  linkIf: Map<string, { a: [string, string]; b: [string, string] }>;
  endpoint: (gw: string) => string;
}

export const linkId = (a: string, b: string) => (a < b ? `${a}--${b}` : `${b}--${a}`);

export async function buildTunnelNetwork(h: NetnsHarness, spec: NetworkSpec): Promise<BuiltNetwork> {
  const port = spec.port ?? 4789;
  const gwNs = new Map<string, string>();
  const hostNs = new Map<string, string>();
  const hostAddr = new Map<string, string>();
  const linkIf = new Map<string, { a: [string, string]; b: [string, string] }>();
  const routerId = new Map(spec.gateways.map((g) => [g.id, `10.255.255.${g.n}`]));
  const ipIn = (ns: string, ...args: string[]) => h.exec(ns, 'ip', args).then(check);
  const sysctl = (ns: string, kv: string) => h.exec(ns, 'sysctl', ['-qw', kv]).then(check);

  for (const g of spec.gateways) {
    const ns = await h.namespace(`gw${g.n}`);
    gwNs.set(g.id, ns);
    await ipIn(ns, 'address', 'add', `${routerId.get(g.id)}/32`, 'dev', 'lo');
    await sysctl(ns, 'net.ipv4.ip_forward=1');
    await sysctl(ns, 'net.ipv4.conf.all.rp_filter=0');
    await sysctl(ns, 'net.ipv4.conf.default.rp_filter=0');
  }
  for (const s of spec.sites) {
    const gw = spec.gateways.find((g) => g.site === s.id)!;
    const ns = await h.namespace(`h${gw.n}`);
    hostNs.set(s.id, ns);
    hostAddr.set(s.id, `${s.prefix24}.10`);
    await h.veth({ ns, ifname: `h${gw.n}`, address: `${s.prefix24}.10/24` }, { ns: gwNs.get(gw.id)!, ifname: `acc${gw.n}`, address: `${s.prefix24}.1/24` });
    await ipIn(ns, 'route', 'add', 'default', 'via', `${s.prefix24}.1`);
  }
  let k = 0;
  for (const l of spec.links) {
    const ga = spec.gateways.find((g) => g.id === l.a)!;
    const gb = spec.gateways.find((g) => g.id === l.b)!;
    const net = `10.254.${k++}`;
    const ia = `u${ga.n}-${gb.n}`;
    const ib = `u${gb.n}-${ga.n}`;
    await h.veth({ ns: gwNs.get(l.a)!, ifname: ia, address: `${net}.1/30` }, { ns: gwNs.get(l.b)!, ifname: ib, address: `${net}.2/30` });
    await ipIn(gwNs.get(l.a)!, 'route', 'add', `${routerId.get(l.b)}/32`, 'via', `${net}.2`, 'dev', ia);
    await ipIn(gwNs.get(l.b)!, 'route', 'add', `${routerId.get(l.a)}/32`, 'via', `${net}.1`, 'dev', ib);
    linkIf.set(linkId(l.a, l.b), { a: [gwNs.get(l.a)!, ia], b: [gwNs.get(l.b)!, ib] });
  }

  const vrfs = spec.vrfs ?? [{ name: 'corp', id: 1 }];
  const topology: Topology = {
    vrfs,
    sites: spec.sites.map((s) => ({ id: s.id, name: s.id, kind: s.kind === 'datacenter' ? SiteKind.DATACENTER : SiteKind.OFFICE, region: 'lab' })),
    gateways: spec.gateways.map((g) => ({ id: g.id, siteId: g.site, nodeId: g.n, endpoints: [{ host: routerId.get(g.id)!, port }], underlayMtu: 1500, lastSeenUnixMs: 0 })),
    links: spec.links.map((l) => ({
      id: linkId(l.a, l.b), a: l.a, b: l.b, cost: l.cost, capacityMbps: 1000, mtu: 1500, srlgs: [],
      adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0,
    })),
    prefixes: spec.sites.map((s) => ({ siteId: s.id, vrf: s.vrf ?? vrfs[0]!.name, cidr: `${s.prefix24}.0/24` })),
  };
  return { topology, gwNs, hostNs, hostAddr, linkIf, endpoint: (gw) => routerId.get(gw)! };
}

function check(r: { code: number | null; stdout: string; stderr: string }): string {
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}
