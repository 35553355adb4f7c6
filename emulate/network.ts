// The scenario's topology as network namespaces: per gateway a namespace
// with a router-id endpoint 10.255.255.N on its loopback (the topology's own
// endpoints are usually documentation addresses, so they are rewritten to
// these), per link a veth pair with a /30 and /32 routes between the router
// ids (taking a link's veth down cuts exactly that tunnel), per site and VRF
// a host namespace on a bridge (that VRF's site LAN) shared by all the site's
// gateways, the host owning the first address of each IPv4 prefix of the
// VRF, and a NOC namespace with a management veth 10.253.x.y/30 to every
// gateway. A site with prefixes in several VRFs has one LAN per VRF; the
// gateway's interface on the first is 'acc' (main routing table), on each
// further one 'acc<vrf id>', whose traffic an `ip rule` sends to routing
// table 1000 + vrf id, where the agent's TUN for that VRF routes the VRF's
// remote prefixes (prefixes may overlap across VRFs: 192.168.1.0/24 twice).
import { precondition } from '../common/errors.js';
import type { Topology } from '../common/model.js';
import { formatIp, parsePrefix, prefixContains, type Cidr } from '../common/prefix.js';
import type { ExecResult, NetnsHarness } from './netns.js';

export interface SiteHost {
  site: string;
  ns: string;
  vrf: string;
  vrfId: number;
  /**
   * Undefined for the site's first VRF (the agent's --tun, the main routing
   * table); for a further VRF, the kernel routing table of its LAN in the
   * gateway namespaces (the agent's --vrf-tun VRF=NAME:TABLE).
   */
  routeTable?: number;
  /** The agent's TUN device for this VRF in the gateway namespaces. */
  tun: string;
  /** Addresses the host owns (the first host address of each IPv4 prefix of its VRF). */
  addresses: string[];
  prefixes: string[];
  /** The gateway the host routes through. */
  via: string;
}

/** A link's underlay veth at each end: [namespace, interface, route to the far router id]. */
export interface LinkEnds {
  a: [string, string, string[]];
  b: [string, string, string[]];
}

export interface EmulatedNetwork {
  /** The topology as applied: endpoints rewritten to router ids. */
  topology: Topology;
  gwNs: Map<string, string>;
  /** Per gateway: n (router id 10.255.255.n), management addresses. */
  gwIndex: Map<string, number>;
  mgmt: Map<string, { noc: string; gw: string; nocIf: string }>;
  /** Per site id its first VRF's host; a further VRF's host under 'site/vrf'. */
  hosts: Map<string, SiteHost>;
  /** Per link id, its underlay veth as seen from each end. */
  linkIf: Map<string, LinkEnds>;
  noc: string;
  endpoint(gw: string): string;
  /** What the network could not represent (IPv6 prefixes, second VRFs ...). */
  notes: string[];
}

const RESERVED = ['10.253.0.0/16', '10.254.0.0/16', '10.255.255.0/24'].map((p) => parsePrefix(p));

export function firstHost(c: Cidr): string {
  const b = Uint8Array.from(c.bytes);
  if (c.length < 32) b[3] = b[3]! + 1;
  return formatIp(4, b);
}

/** The k-th address from the top of an IPv4 prefix (k = 1: broadcast - 1). */
function fromTop(c: Cidr, k: number): string {
  let v = ((c.bytes[0]! << 24) | (c.bytes[1]! << 16) | (c.bytes[2]! << 8) | c.bytes[3]!) >>> 0;
  v = (v + 2 ** (32 - c.length) - 1 - k) >>> 0;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

const label = (s: string, fallback: string) => (/^[a-z0-9-]{1,16}$/.test(s) ? s : fallback);

export async function buildEmulatedNetwork(h: NetnsHarness, topo: Topology, port = 4789): Promise<EmulatedNetwork> {
  const notes: string[] = [];
  if (topo.gateways.length > 250) throw precondition(`the emulator handles at most 250 gateways (this topology has ${topo.gateways.length})`);
  if (topo.links.length > 16000) throw precondition('too many links to emulate');
  for (const p of topo.prefixes) {
    const c = parsePrefix(p.cidr);
    if (c.family !== 4) continue;
    for (const r of RESERVED) {
      if (prefixContains(r, c.bytes) || prefixContains(c, r.bytes)) {
        throw precondition(`site ${p.siteId} prefix ${p.cidr} overlaps ${r.text}, which the emulator uses for its underlay and management network`);
      }
    }
  }
  const run = async (ns: string, ...args: string[]) => check(await h.exec(ns, 'ip', args), `ip ${args.join(' ')} in ${ns}`);
  const sysctl = async (ns: string, kv: string) => check(await h.exec(ns, 'sysctl', ['-qw', kv]), `sysctl ${kv}`);

  const gwNs = new Map<string, string>();
  const gwIndex = new Map<string, number>();
  const mgmt = new Map<string, { noc: string; gw: string; nocIf: string }>();
  const noc = await h.namespace('noc');
  const rid = (gw: string) => `10.255.255.${gwIndex.get(gw)}`;
  let n = 0;
  for (const g of topo.gateways) {
    gwIndex.set(g.id, ++n);
    const ns = await h.namespace(label(g.id, `gw${n}`));
    gwNs.set(g.id, ns);
    await run(ns, 'address', 'add', `${rid(g.id)}/32`, 'dev', 'lo');
    for (const kv of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']) await sysctl(ns, kv);
    const m = { noc: `10.253.${n}.1`, gw: `10.253.${n}.2`, nocIf: `m${n}` };
    await h.veth({ ns: noc, ifname: m.nocIf, address: `${m.noc}/30` }, { ns, ifname: 'mgmt', address: `${m.gw}/30` });
    mgmt.set(g.id, m);
  }

  const linkIf = new Map<string, LinkEnds>();
  let k = 0;
  for (const l of topo.links) {
    const na = gwIndex.get(l.a)!;
    const nb = gwIndex.get(l.b)!;
    const base = k++ * 4;
    const net = `10.254.${base >> 8}.${base & 255}`;
    const addr = (i: number) => `10.254.${base >> 8}.${(base & 255) + i}`;
    void net;
    const ia = `u${na}-${nb}`;
    const ib = `u${nb}-${na}`;
    await h.veth({ ns: gwNs.get(l.a)!, ifname: ia, address: `${addr(1)}/30` }, { ns: gwNs.get(l.b)!, ifname: ib, address: `${addr(2)}/30` });
    const ends: LinkEnds = {
      a: [gwNs.get(l.a)!, ia, ['route', 'replace', `${rid(l.b)}/32`, 'via', addr(2), 'dev', ia]],
      b: [gwNs.get(l.b)!, ib, ['route', 'replace', `${rid(l.a)}/32`, 'via', addr(1), 'dev', ib]],
    };
    for (const [ns, , route] of [ends.a, ends.b]) await run(ns, ...route);
    linkIf.set(l.id, ends);
  }

  const vrfId = new Map(topo.vrfs.map((v) => [v.name, v.id]));
  const hosts = new Map<string, SiteHost>();
  let si = 0;
  for (const s of topo.sites) {
    si++;
    const gws = topo.gateways.filter((g) => g.siteId === s.id);
    const prefixes = topo.prefixes.filter((p) => p.siteId === s.id);
    const v6 = prefixes.filter((p) => parsePrefix(p.cidr).family === 6);
    if (v6.length) notes.push(`site ${s.id}: IPv6 prefixes ${v6.map((p) => p.cidr).join(', ')} have no host (the emulator's hosts are IPv4)`);
    const v4 = prefixes.filter((p) => parsePrefix(p.cidr).family === 4);
    if (!gws.length || !v4.length) {
      notes.push(`site ${s.id}: no ${gws.length ? 'IPv4 prefix' : 'gateway'}, so no host`);
      continue;
    }
    // The site's VRFs, lowest id first: the first is the agent's --tun, each further one a --vrf-tun.
    const vrfs = [...new Set(v4.map((p) => p.vrf))].sort((x, y) => (vrfId.get(x) ?? 0) - (vrfId.get(y) ?? 0));
    for (const [vi, vrf] of vrfs.entries()) {
      const id = vrfId.get(vrf) ?? 0;
      const mine = v4.filter((p) => p.vrf === vrf);
      const table = vi === 0 ? undefined : 1000 + id;
      const acc = vi === 0 ? 'acc' : `acc${id}`;
      const ns = await h.namespace(vi === 0 ? label(`h-${s.id}`.slice(0, 16), `h${si}`) : label(`h-${s.id}-${vrf}`.slice(0, 16), `h${si}v${id}`));
      await run(ns, 'link', 'add', 'lan', 'type', 'bridge');
      await run(ns, 'link', 'set', 'lan', 'up');
      const first = parsePrefix(mine[0]!.cidr);
      const addresses: string[] = [];
      for (const p of mine) {
        const c = parsePrefix(p.cidr);
        const a = firstHost(c);
        addresses.push(a);
        await run(ns, 'address', 'add', `${a}/${c.length}`, 'dev', 'lan');
      }
      let gi = 0;
      for (const g of gws) {
        gi++;
        const gn = gwIndex.get(g.id)!;
        const gns = gwNs.get(g.id)!;
        const gwAddr = fromTop(first, gi);
        await h.veth({ ns, ifname: `s${gn}` }, { ns: gns, ifname: acc, address: first.length <= 30 ? `${gwAddr}/${first.length}` : undefined });
        await run(ns, 'link', 'set', `s${gn}`, 'master', 'lan');
        const inTable = table === undefined ? [] : ['table', String(table)];
        // The site's other prefixes are on the same LAN: on-link routes.
        for (const p of mine.slice(first.length <= 30 && table === undefined ? 1 : 0)) await run(gns, 'route', 'replace', p.cidr, 'dev', acc, ...inTable);
        if (table !== undefined) {
          // This VRF's LAN and its TUN (delivered packets) look up its own
          // table only: nothing of it reaches another VRF's routes.
          await run(gns, 'route', 'replace', 'unreachable', 'default', ...inTable);
          for (const iif of [acc, tunName(vi)]) await run(gns, 'rule', 'add', 'iif', iif, 'lookup', String(table), 'pref', String(1000 + vi));
        }
        if (gi === 1) {
          if (first.length <= 30) await run(ns, 'route', 'add', 'default', 'via', gwAddr);
          else await run(ns, 'route', 'add', 'default', 'dev', 'lan');
        }
      }
      const host: SiteHost = { site: s.id, ns, vrf, vrfId: id, addresses, prefixes: mine.map((p) => p.cidr), via: gws[0]!.id, tun: tunName(vi) };
      if (table !== undefined) host.routeTable = table;
      hosts.set(vi === 0 ? s.id : `${s.id}/${vrf}`, host);
    }
  }

  const topology: Topology = {
    ...topo,
    gateways: topo.gateways.map((g) => ({ ...g, endpoints: [{ host: rid(g.id), port }] })),
  };
  return { topology, gwNs, gwIndex, mgmt, hosts, linkIf, noc, endpoint: rid, notes };
}

/** The agent's TUN for a site's i-th VRF (0: --tun, then --vrf-tun). */
export function tunName(i: number): string {
  return `sb${i}`;
}

function check(r: ExecResult, what: string): string {
  if (r.code !== 0) throw precondition(`${what} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
