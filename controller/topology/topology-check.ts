// Semantic validation of a topology, the same for both ways one arrives: a
// YAML file (`ctl apply`, the simulator's scenarios) and objects from the
// admin API. The YAML reader only turns syntax into objects; every rule about
// what a valid topology is lives here, in one place.
//
// checkTopology returns the canonical form the rest of the system relies on:
// deeply frozen, arrays sorted (VRFs by id, sites/gateways/links by id,
// prefixes by site, VRF name and address), prefixes and endpoint hosts in
// canonical text, SRLGs sorted.

import { MAX_VRF_ID, AdminState, OperState, SiteKind } from '../../common/model.js';
import type { Endpoint, Gateway, Link, Prefix, Site, Topology, Vrf } from '../../common/model.js';
import { formatIp, parseIp, parsePrefix, type Cidr } from '../../common/prefix.js';
import { SwitchbackError } from '../../common/errors.js';
import { didYouMean, problemsError, show, type Problem } from './problems.js';

export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Link ids are longer so the default `<a>--<b>` of two long gateway ids still fits. */
export const LINK_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
export const ID_RULE = "1-63 characters: lowercase letters, digits, '-', '_', '.', starting with a letter or digit";
export const MAX_NAME_LENGTH = 128;
export const MIN_MTU = 576;
export const MAX_MTU = 9216;
export const DEFAULT_MTU = 1500;
export const DEFAULT_CAPACITY_MBPS = 1000;
export const MAX_U32 = 0xffffffff;
export const MAX_LOSS_PPM = 1_000_000;

/** Where a model path (`prefixes[3].cidr`) came from in the input, for error messages. */
export interface Location {
  /** The field as the user wrote it (`sites[0].prefixes[1].cidr`). */
  field: string;
  line?: number;
}

export interface CheckOptions {
  /** The file (or other source) named in errors. */
  source?: string;
  /** Maps a model path to where it was written; paths it does not know are reported as they are. */
  locate?: (modelPath: string) => Location | undefined;
}

/** The default id of a link: its two gateway ids, sorted, joined by `--`. */
export function defaultLinkId(a: string, b: string): string {
  return a <= b ? `${a}--${b}` : `${b}--${a}`;
}

/** `fra:corp:10.10.0.0/16`: site, VRF and CIDR (site and VRF ids hold no ':'). */
export function prefixKey(p: Prefix): string {
  return `${p.siteId}:${p.vrf}:${p.cidr}`;
}

/**
 * Fills the values an author may leave out (0, '' or UNSPECIFIED in the
 * model): gateway node ids, underlay MTU 1500, link id `<a>--<b>`, capacity
 * 1000 Mbit/s, link MTU = the smaller underlay MTU of its two gateways, admin
 * state UP.
 *
 * Node ids: a gateway without one keeps the id it has in `current` (the
 * stored topology) when that id is free, so re-applying a file never
 * renumbers gateways; the others, in sorted gateway-id order, get the
 * smallest free id (1, 2, ...). Values given explicitly are never changed.
 */
export function withDefaults(t: Topology, current?: Topology): Topology {
  // Malformed input is left for checkTopology to report.
  if (!isObjectList(t?.gateways) || !isObjectList(t?.links)) return t;
  const gateways = t.gateways.map((g) => ({ ...g, underlayMtu: g.underlayMtu === 0 ? DEFAULT_MTU : g.underlayMtu }));
  const taken = new Set<number>(gateways.map((g) => g.nodeId).filter((n) => n !== 0));
  const previous = new Map(isObjectList(current?.gateways) ? current.gateways.map((g) => [g.id, g.nodeId]) : []);
  const unnumbered = gateways.filter((g) => g.nodeId === 0).sort((x, y) => cmp(x.id, y.id));
  const stillUnnumbered: typeof gateways = [];
  for (const g of unnumbered) {
    const p = previous.get(g.id);
    if (p !== undefined && isU32(p) && p > 0 && !taken.has(p)) {
      g.nodeId = p;
      taken.add(p);
    } else {
      stillUnnumbered.push(g);
    }
  }
  let next = 1;
  for (const g of stillUnnumbered) {
    while (taken.has(next)) next++;
    g.nodeId = next;
    taken.add(next);
  }

  const mtuOf = new Map<string, number>();
  for (const g of gateways) {
    if (isInRange(g.underlayMtu, MIN_MTU, MAX_MTU)) mtuOf.set(g.id, Math.min(g.underlayMtu, mtuOf.get(g.id) ?? Infinity));
  }
  const links = t.links.map((l) => {
    const known = [mtuOf.get(l.a), mtuOf.get(l.b)].filter((m): m is number => m !== undefined);
    return {
      ...l,
      id: l.id === '' ? defaultLinkId(l.a, l.b) : l.id,
      capacityMbps: l.capacityMbps === 0 ? DEFAULT_CAPACITY_MBPS : l.capacityMbps,
      mtu: l.mtu === 0 ? (known.length > 0 ? Math.min(...known) : DEFAULT_MTU) : l.mtu,
      adminState: l.adminState === AdminState.UNSPECIFIED ? AdminState.UP : l.adminState,
    };
  });
  return { ...t, gateways, links };
}

/**
 * Validates a complete topology (see withDefaults for filling the optional
 * values) and returns its canonical, deeply frozen form. Throws one
 * SwitchbackError INVALID_ARGUMENT listing every problem; its field and line
 * are those of the first.
 */
export function checkTopology(t: Topology, opts: CheckOptions = {}): Topology {
  const problems = topologyProblems(t, opts);
  if (problems.length > 0) throw problemsError(problems);
  return canonicalTopology(t);
}

/** Every problem checkTopology would report, without throwing. */
export function topologyProblems(t: Topology, opts: CheckOptions = {}): Problem[] {
  const problems: Problem[] = [];
  const fail = (path: string, message: string) => {
    const loc = opts.locate?.(path);
    problems.push({ field: loc?.field ?? path, message, source: opts.source, line: loc?.line });
  };
  if (t === null || typeof t !== 'object') {
    fail('', `expected a topology object, got ${show(t)}`);
    return problems;
  }
  for (const key of ['vrfs', 'sites', 'gateways', 'links', 'prefixes'] as const) {
    if (!Array.isArray(t[key])) {
      fail(key, `expected a list, got ${show(t[key])}`);
      return problems;
    }
    t[key].forEach((item, i) => {
      if (item === null || typeof item !== 'object') fail(`${key}[${i}]`, `expected an object, got ${show(item)}`);
    });
  }
  if (problems.length > 0) return problems;

  const vrfByName = checkVrfs(t.vrfs, fail);
  const siteIds = checkSites(t.sites, fail);
  const gatewayMtu = checkGateways(t.gateways, siteIds, fail);
  checkLinks(t.links, gatewayMtu, fail);
  checkPrefixes(t.prefixes, siteIds, vrfByName, fail);
  return problems;
}

type Fail = (path: string, message: string) => void;

function checkVrfs(vrfs: readonly Vrf[], fail: Fail): Set<string> {
  const names = new Map<string, number>();
  const ids = new Map<number, number>();
  vrfs.forEach((v, i) => {
    const at = `vrfs[${i}]`;
    if (checkId(v.name, `${at}.name`, 'VRF name', fail)) {
      const dup = names.get(v.name);
      if (dup !== undefined) fail(`${at}.name`, `duplicate VRF name ${show(v.name)} (also vrfs[${dup}]); VRF names must be unique`);
      else names.set(v.name, i);
    }
    if (!isInRange(v.id, 1, MAX_VRF_ID)) {
      fail(`${at}.id`, `VRF id must be an integer 1-${MAX_VRF_ID} (it travels in 24 bits of the tunnel header), got ${show(v.id)}`);
    } else {
      const dup = ids.get(v.id);
      if (dup !== undefined) fail(`${at}.id`, `duplicate VRF id ${v.id} (also vrfs[${dup}]); VRF ids must be unique`);
      else ids.set(v.id, i);
    }
  });
  return new Set(names.keys());
}

function checkSites(sites: readonly Site[], fail: Fail): Set<string> {
  const ids = new Map<string, number>();
  sites.forEach((s, i) => {
    const at = `sites[${i}]`;
    if (checkId(s.id, `${at}.id`, 'site id', fail)) {
      const dup = ids.get(s.id);
      if (dup !== undefined) fail(`${at}.id`, `duplicate site id ${show(s.id)} (also sites[${dup}]); site ids must be unique`);
      else ids.set(s.id, i);
    }
    if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > MAX_NAME_LENGTH || hasControl(s.name)) {
      fail(`${at}.name`, `site name must be text of 1-${MAX_NAME_LENGTH} characters without control characters, got ${show(s.name)}`);
    }
    if (s.kind !== SiteKind.DATACENTER && s.kind !== SiteKind.OFFICE) {
      fail(`${at}.kind`, `site kind must be datacenter or office, got ${show(s.kind)}`);
    }
    if (typeof s.region !== 'string' || (s.region !== '' && !ID_PATTERN.test(s.region))) {
      fail(`${at}.region`, `region must be empty or ${ID_RULE}, got ${show(s.region)}`);
    }
  });
  return new Set(ids.keys());
}

function checkGateways(gateways: readonly Gateway[], siteIds: Set<string>, fail: Fail): Map<string, number> {
  const ids = new Map<string, number>();
  const nodeIds = new Map<number, number>();
  const endpoints = new Map<string, string>();
  const mtu = new Map<string, number>();
  gateways.forEach((g, i) => {
    const at = `gateways[${i}]`;
    const idOk = checkId(g.id, `${at}.id`, 'gateway id', fail);
    if (idOk) {
      const dup = ids.get(g.id);
      if (dup !== undefined) fail(`${at}.id`, `duplicate gateway id ${show(g.id)} (also gateways[${dup}]); gateway ids must be unique`);
      else ids.set(g.id, i);
    }
    if (typeof g.siteId !== 'string' || !siteIds.has(g.siteId)) {
      fail(`${at}.site_id`, `unknown site ${show(g.siteId)}${didYouMean(String(g.siteId), siteIds)}; expected the id of a site under sites`);
    }
    if (!isInRange(g.nodeId, 1, MAX_U32)) {
      fail(`${at}.node_id`, `node id must be an integer 1-${MAX_U32}, got ${show(g.nodeId)}`);
    } else {
      const dup = nodeIds.get(g.nodeId);
      if (dup !== undefined) fail(`${at}.node_id`, `duplicate node id ${g.nodeId} (also gateways[${dup}]); node ids must be unique`);
      else nodeIds.set(g.nodeId, i);
    }
    if (!Array.isArray(g.endpoints)) {
      fail(`${at}.endpoints`, `expected a list of endpoints, got ${show(g.endpoints)}`);
    } else {
      g.endpoints.forEach((e, j) => {
        const text = checkEndpoint(e, `${at}.endpoints[${j}]`, fail);
        if (text === undefined) return;
        const owner = endpoints.get(text);
        if (owner !== undefined) fail(`${at}.endpoints[${j}]`, `endpoint ${text} is listed twice (also ${owner}); each underlay endpoint belongs to one gateway`);
        else endpoints.set(text, `${at}.endpoints[${j}]`);
      });
    }
    if (!isInRange(g.underlayMtu, MIN_MTU, MAX_MTU)) {
      fail(`${at}.underlay_mtu`, `underlay MTU must be an integer ${MIN_MTU}-${MAX_MTU}, got ${show(g.underlayMtu)}`);
    } else if (idOk && !mtu.has(g.id)) {
      mtu.set(g.id, g.underlayMtu);
    }
    if (!isInRange(g.lastSeenUnixMs, 0, Number.MAX_SAFE_INTEGER)) {
      fail(`${at}.last_seen_unix_ms`, `must be a non-negative integer, got ${show(g.lastSeenUnixMs)}`);
    }
  });
  // Unknown gateways are those not in `ids`; a gateway with a bad MTU is known but unconstrained.
  for (const id of ids.keys()) if (!mtu.has(id)) mtu.set(id, Infinity);
  return mtu;
}

function checkLinks(links: readonly Link[], gatewayMtu: Map<string, number>, fail: Fail): void {
  const ids = new Map<string, number>();
  const pairs = new Map<string, number>();
  links.forEach((l, i) => {
    const at = `links[${i}]`;
    if (typeof l.id !== 'string' || !LINK_ID_PATTERN.test(l.id)) {
      fail(`${at}.id`, `link id must be 1-128 characters: lowercase letters, digits, '-', '_', '.', starting with a letter or digit; got ${show(l.id)}`);
    } else {
      const dup = ids.get(l.id);
      if (dup !== undefined) fail(`${at}.id`, `duplicate link id ${show(l.id)} (also links[${dup}]); link ids must be unique`);
      else ids.set(l.id, i);
    }
    let endsOk = true;
    for (const end of ['a', 'b'] as const) {
      if (typeof l[end] !== 'string' || !gatewayMtu.has(l[end])) {
        endsOk = false;
        fail(`${at}.${end}`, `unknown gateway ${show(l[end])}${didYouMean(String(l[end]), gatewayMtu.keys())}; expected the id of a gateway under gateways`);
      }
    }
    if (endsOk && l.a === l.b) {
      fail(`${at}.b`, `a link cannot join gateway ${show(l.a)} to itself; expected a and b to be two different gateways`);
    } else if (endsOk) {
      const pair = defaultLinkId(l.a, l.b);
      const dup = pairs.get(pair);
      if (dup !== undefined) fail(`${at}`, `gateways ${l.a} and ${l.b} are already joined by links[${dup}]; at most one link per pair of gateways`);
      else pairs.set(pair, i);
    }
    if (!isInRange(l.cost, 1, MAX_U32)) fail(`${at}.cost`, `cost must be a positive integer (1-${MAX_U32}), got ${show(l.cost)}`);
    if (!isInRange(l.capacityMbps, 1, MAX_U32)) {
      fail(`${at}.capacity_mbps`, `capacity must be a positive integer number of Mbit/s (1-${MAX_U32}), got ${show(l.capacityMbps)}`);
    }
    if (!isInRange(l.mtu, MIN_MTU, MAX_MTU)) {
      fail(`${at}.mtu`, `MTU must be an integer ${MIN_MTU}-${MAX_MTU}, got ${show(l.mtu)}`);
    } else if (endsOk) {
      for (const end of [l.a, l.b]) {
        const limit = gatewayMtu.get(end) ?? Infinity;
        if (l.mtu > limit) {
          fail(`${at}.mtu`, `MTU ${l.mtu} exceeds the underlay MTU ${limit} of gateway ${end}; expected at most ${limit}`);
          break;
        }
      }
    }
    if (!Array.isArray(l.srlgs)) {
      fail(`${at}.srlgs`, `expected a list of shared-risk group names, got ${show(l.srlgs)}`);
    } else {
      const seen = new Set<string>();
      l.srlgs.forEach((s, j) => {
        if (!checkId(s, `${at}.srlgs[${j}]`, 'shared-risk group name', fail)) return;
        if (seen.has(s)) fail(`${at}.srlgs[${j}]`, `shared-risk group ${show(s)} is listed twice`);
        seen.add(s);
      });
    }
    checkLinkState(l, at, fail);
  });
}

/** The fields of a link that only its own checks read (no other object or invariant does). */
export type LinkStatePatch = Partial<Pick<Link, 'adminState' | 'operState' | 'rttUs' | 'lossPpm' | 'changedUnixMs'>>;

function checkLinkState(l: Link, at: string, fail: Fail): void {
  if (l.adminState !== AdminState.UP && l.adminState !== AdminState.DRAINED) {
    fail(`${at}.admin_state`, `admin state must be UP or DRAINED, got ${show(l.adminState)}`);
  }
  if (l.operState !== OperState.UNSPECIFIED && l.operState !== OperState.UP && l.operState !== OperState.DOWN) {
    fail(`${at}.oper_state`, `oper state must be UNSPECIFIED, UP or DOWN, got ${show(l.operState)}`);
  }
  if (!isInRange(l.rttUs, 0, MAX_U32)) fail(`${at}.rtt_us`, `must be a non-negative integer, got ${show(l.rttUs)}`);
  if (!isInRange(l.lossPpm, 0, MAX_LOSS_PPM)) fail(`${at}.loss_ppm`, `must be an integer 0-${MAX_LOSS_PPM}, got ${show(l.lossPpm)}`);
  if (!isInRange(l.changedUnixMs, 0, Number.MAX_SAFE_INTEGER)) {
    fail(`${at}.changed_unix_ms`, `must be a non-negative integer, got ${show(l.changedUnixMs)}`);
  }
}

/**
 * `t` (canonical, as checkTopology returns it) with the state fields of
 * link `id` patched: the same result and the same errors as checkTopology
 * over the patched model (with withDefaults' admin state default), but only
 * the patched link is checked and the rest of the frozen model is shared. A
 * drain or a link report at 1,000 gateways would otherwise check and copy
 * the whole model. Returns `t` itself when the patch changes nothing.
 */
export function patchLinkState(t: Topology, id: string, patch: LinkStatePatch): Topology {
  const i = t.links.findIndex((l) => l.id === id);
  if (i < 0) return t;
  const was = t.links[i]!;
  const l: Link = { ...was, ...patch };
  if (l.adminState === AdminState.UNSPECIFIED) l.adminState = AdminState.UP;
  const problems: Problem[] = [];
  checkLinkState(l, `links[${i}]`, (field, message) => problems.push({ field, message }));
  if (problems.length > 0) throw problemsError(problems);
  const fields = ['adminState', 'operState', 'rttUs', 'lossPpm', 'changedUnixMs'] as const;
  if (fields.every((f) => l[f] === was[f])) return t;
  const links = t.links.slice();
  links[i] = deepFreeze(l);
  return deepFreeze({ ...t, links });
}

function checkPrefixes(prefixes: readonly Prefix[], siteIds: Set<string>, vrfs: Set<string>, fail: Fail): void {
  const seen = new Map<string, number>();
  prefixes.forEach((p, i) => {
    const at = `prefixes[${i}]`;
    const siteOk = typeof p.siteId === 'string' && siteIds.has(p.siteId);
    if (!siteOk) fail(`${at}.site_id`, `unknown site ${show(p.siteId)}${didYouMean(String(p.siteId), siteIds)}; expected the id of a site under sites`);
    const vrfOk = typeof p.vrf === 'string' && vrfs.has(p.vrf);
    if (!vrfOk) {
      const known = vrfs.size > 0 ? `one of: ${[...vrfs].sort(cmp).join(', ')}` : 'a VRF declared under vrfs (none is)';
      fail(`${at}.vrf`, `unknown VRF ${show(p.vrf)}${didYouMean(String(p.vrf), vrfs)}; expected ${known}`);
    }
    const cidr = tryCidr(p.cidr, `${at}.cidr`, fail);
    if (cidr && siteOk && vrfOk) {
      const key = `${p.siteId}:${p.vrf}:${cidr.text}`;
      const dup = seen.get(key);
      if (dup !== undefined) fail(`${at}.cidr`, `site ${p.siteId} announces ${cidr.text} in VRF ${p.vrf} twice (also prefixes[${dup}])`);
      else seen.set(key, i);
    }
  });
}

function tryCidr(text: unknown, field: string, fail: Fail): Cidr | undefined {
  try {
    return parsePrefix(text as string, field);
  } catch (err) {
    if (!SwitchbackError.is(err)) throw err;
    fail(field, stripField(err.message, field));
    return undefined;
  }
}

/** Parses `host:port` (IPv6 as `[addr]:port`) into a model endpoint with canonical host text. */
export function parseEndpoint(text: string, field: string): Endpoint {
  const r = readEndpoint(text);
  if (typeof r === 'string') throw new SwitchbackError('INVALID_ARGUMENT', r, { field });
  return r;
}

/** The endpoint, or what is wrong with the text. */
export function readEndpoint(text: string): Endpoint | string {
  const bad = (problem: string) =>
    `${show(text)} is not a valid endpoint: ${problem}; expected host:port like '203.0.113.10:4789' or '[2001:db8::1]:4789'`;
  if (typeof text !== 'string' || text.length === 0) return bad('it is empty');
  if (text.length > 64) return bad('it is too long');
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return bad("the '[' has no closing ']'");
    host = text.slice(1, close);
    if (text[close + 1] !== ':') return bad("the port after ']' is missing");
    port = text.slice(close + 2);
    if (!host.includes(':')) return bad('only IPv6 addresses are written in brackets');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return bad('the port is missing');
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) return bad('an IPv6 address must be written in brackets');
  }
  if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535) return bad(`port ${show(port)} is not a number 1-65535`);
  const problem = endpointHostProblem(host);
  if (problem) return bad(problem);
  return { host: canonicalHost(host), port: Number(port) };
}

/** `host:port`, IPv6 in brackets: the YAML form of an endpoint. */
export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function checkEndpoint(e: Endpoint, field: string, fail: Fail): string | undefined {
  if (e === null || typeof e !== 'object') {
    fail(field, `expected an endpoint {host, port}, got ${show(e)}`);
    return undefined;
  }
  const problem = endpointHostProblem(e.host);
  if (problem) {
    fail(`${field}.host`, `${show(e.host)}: ${problem}; expected an IPv4 or IPv6 address`);
    return undefined;
  }
  if (!isInRange(e.port, 1, 65535)) {
    fail(`${field}.port`, `port must be an integer 1-65535, got ${show(e.port)}`);
    return undefined;
  }
  return formatEndpoint({ host: canonicalHost(e.host), port: e.port });
}

function endpointHostProblem(host: unknown): string | undefined {
  try {
    const ip = parseIp(host as string, 'host');
    if (ip.bytes.every((b) => b === 0)) return 'the unspecified address cannot be reached';
    return undefined;
  } catch (err) {
    if (!SwitchbackError.is(err)) throw err;
    return stripField(err.message, 'host');
  }
}

function canonicalHost(host: string): string {
  const ip = parseIp(host, 'host');
  return formatIp(ip.family, ip.bytes);
}

function checkId(value: unknown, field: string, what: string, fail: Fail): value is string {
  if (typeof value === 'string' && ID_PATTERN.test(value)) return true;
  const lower = typeof value === 'string' && ID_PATTERN.test(value.toLowerCase()) ? ` (write ${show(value.toLowerCase())})` : '';
  fail(field, `${what} must be ${ID_RULE}; got ${show(value)}${lower}`);
  return false;
}

function stripField(message: string, field: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

// ---------------------------------------------------------------------------
// Canonical form

/** Sorted copy with canonical texts, deeply frozen. Assumes a topology that passed topologyProblems. */
export function canonicalTopology(t: Topology): Topology {
  const cidrs = new Map<Prefix, Cidr>(t.prefixes.map((p) => [p, parsePrefix(p.cidr)]));
  const prefixes = [...t.prefixes].sort(
    (x, y) => cmp(x.siteId, y.siteId) || cmp(x.vrf, y.vrf) || compareCidr(cidrs.get(x)!, cidrs.get(y)!),
  );
  return deepFreeze({
    vrfs: [...t.vrfs].sort((x, y) => x.id - y.id).map((v) => ({ name: v.name, id: v.id })),
    sites: [...t.sites].sort(byId).map((s) => ({ id: s.id, name: s.name, kind: s.kind, region: s.region })),
    gateways: [...t.gateways].sort(byId).map((g) => ({
      id: g.id,
      siteId: g.siteId,
      nodeId: g.nodeId,
      endpoints: g.endpoints.map((e) => ({ host: canonicalHost(e.host), port: e.port })),
      underlayMtu: g.underlayMtu,
      lastSeenUnixMs: g.lastSeenUnixMs,
    })),
    links: [...t.links].sort(byId).map((l) => ({
      id: l.id,
      a: l.a,
      b: l.b,
      cost: l.cost,
      capacityMbps: l.capacityMbps,
      mtu: l.mtu,
      srlgs: [...l.srlgs].sort(cmp),
      adminState: l.adminState,
      operState: l.operState,
      rttUs: l.rttUs,
      lossPpm: l.lossPpm,
      changedUnixMs: l.changedUnixMs,
    })),
    prefixes: prefixes.map((p) => ({ siteId: p.siteId, vrf: p.vrf, cidr: cidrs.get(p)!.text })),
  });
}

/** Address order: IPv4 before IPv6, then by network bytes, then shorter first. */
export function compareCidr(x: Cidr, y: Cidr): number {
  if (x.family !== y.family) return x.family - y.family;
  for (let i = 0; i < x.bytes.length; i++) if (x.bytes[i] !== y.bytes[i]) return x.bytes[i] - y.bytes[i];
  return x.length - y.length;
}

/** Code-unit order: the same on every machine and locale. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const byId = (x: { id: string }, y: { id: string }) => cmp(x.id, y.id);

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function isInRange(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isObjectList(v: unknown): v is object[] {
  return Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object');
}

function isU32(v: unknown): v is number {
  return isInRange(v, 0, MAX_U32);
}

function hasControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(s);
}
