// What `ctl apply` will do: the typed, human-readable difference between the
// stored topology and the desired one, and the merge that keeps what only the
// network knows (a link that is oper-DOWN stays DOWN after an apply).

import { AdminState, SiteKind } from '../../common/model.js';
import type { Gateway, Link, Prefix, Site, Topology, Vrf } from '../../common/model.js';
import { canonicalPrefix } from '../../common/prefix.js';
import { cmp, deepFreeze, defaultLinkId, formatEndpoint, prefixKey } from './topology-check.js';

// One validation for both paths (YAML and admin API); re-exported so callers
// working with diffs need one import.
export { checkTopology, withDefaults, topologyProblems } from './topology-check.js';

export type ChangeType = 'add' | 'update' | 'remove';
export type ChangeKind = 'vrf' | 'site' | 'gateway' | 'link' | 'prefix';

export interface TopologyChange {
  type: ChangeType;
  kind: ChangeKind;
  /** VRF name, site/gateway/link id, or `site:vrf:cidr` for a prefix. */
  id: string;
  /** One line for people: "link fra-gw1--ash-gw1: cost 10 -> 20, drained". */
  summary: string;
}

/**
 * The changes that turn `current` into `desired`, ignoring operational state
 * (oper state, RTT, loss, last seen, change times). Order: additions and
 * updates in dependency order (VRFs, sites, gateways, links, prefixes), then
 * removals in reverse, each group sorted by id, so applying them one by one
 * never leaves a dangling reference. Both inputs should be valid topologies.
 */
export function diffTopology(current: Topology, desired: Topology): TopologyChange[] {
  const upserts: TopologyChange[] = [];
  const removals: TopologyChange[] = [];
  const kinds: ChangeKind[] = ['vrf', 'site', 'gateway', 'link', 'prefix'];
  const byKind = new Map<ChangeKind, { up: TopologyChange[]; rm: TopologyChange[] }>(kinds.map((k) => [k, { up: [], rm: [] }]));

  const diff = <T>(kind: ChangeKind, before: readonly T[], after: readonly T[], key: (x: T) => string, describe: Describer<T>) => {
    const slot = byKind.get(kind)!;
    const old = new Map(before.map((x) => [key(x), x]));
    const neu = new Map(after.map((x) => [key(x), x]));
    for (const [id, x] of neu) {
      const was = old.get(id);
      if (was === undefined) slot.up.push({ type: 'add', kind, id, summary: describe.add(x) });
      else {
        const fields = describe.changes(was, x);
        if (fields.length > 0) slot.up.push({ type: 'update', kind, id, summary: `${kind === 'vrf' ? 'VRF' : kind} ${id}: ${fields.join(', ')}` });
      }
    }
    for (const [id, x] of old) if (!neu.has(id)) slot.rm.push({ type: 'remove', kind, id, summary: describe.remove(x) });
  };

  diff('vrf', current.vrfs, desired.vrfs, (v) => v.name, vrfText);
  diff('site', current.sites, desired.sites, (s) => s.id, siteText);
  diff('gateway', current.gateways, desired.gateways, (g) => g.id, gatewayText);
  diff('link', current.links, desired.links, (l) => l.id, linkText);
  diff('prefix', current.prefixes.map(canonical), desired.prefixes.map(canonical), prefixKey, prefixText);

  const byId = (x: TopologyChange, y: TopologyChange) => cmp(x.id, y.id);
  for (const k of kinds) upserts.push(...byKind.get(k)!.up.sort(byId));
  for (const k of [...kinds].reverse()) removals.push(...byKind.get(k)!.rm.sort(byId));
  return [...upserts, ...removals];
}

/**
 * `desired` with the operational state of `current` carried over: for a link
 * with the same id joining the same two gateways, its oper state, RTT, loss
 * and change time; for a gateway with the same id, when it was last seen.
 * Everything else is `desired`'s. The result is deeply frozen.
 */
export function mergeOperational(current: Topology, desired: Topology): Topology {
  const links = new Map(current.links.map((l) => [l.id, l]));
  const gateways = new Map(current.gateways.map((g) => [g.id, g]));
  return deepFreeze({
    vrfs: desired.vrfs.map((v) => ({ ...v })),
    sites: desired.sites.map((s) => ({ ...s })),
    gateways: desired.gateways.map((g): Gateway => {
      const was = gateways.get(g.id);
      return { ...g, endpoints: g.endpoints.map((e) => ({ ...e })), lastSeenUnixMs: was ? was.lastSeenUnixMs : g.lastSeenUnixMs };
    }),
    links: desired.links.map((l): Link => {
      const was = links.get(l.id);
      // A link whose ends changed is a different tunnel: its old measurements say nothing.
      const keep = was !== undefined && defaultLinkId(was.a, was.b) === defaultLinkId(l.a, l.b) ? was : undefined;
      return {
        ...l,
        srlgs: [...l.srlgs],
        ...(keep ? { operState: keep.operState, rttUs: keep.rttUs, lossPpm: keep.lossPpm, changedUnixMs: keep.changedUnixMs } : {}),
      };
    }),
    prefixes: desired.prefixes.map((p) => ({ ...p })),
  });
}

// ---------------------------------------------------------------------------

interface Describer<T> {
  add(x: T): string;
  remove(x: T): string;
  /** "what: old -> new" for every field that differs; empty when equal. */
  changes(before: T, after: T): string[];
}

const arrow = (what: string, a: unknown, b: unknown) => `${what} ${String(a)} -> ${String(b)}`;
const quoted = (s: string) => `'${s}'`;
const kindName = (k: SiteKind) => (k === SiteKind.DATACENTER ? 'datacenter' : k === SiteKind.OFFICE ? 'office' : 'unspecified');
const list = (xs: readonly string[]) => (xs.length === 0 ? 'none' : xs.join(' '));

const vrfText: Describer<Vrf> = {
  add: (v) => `add VRF ${v.name} (id ${v.id})`,
  remove: (v) => `remove VRF ${v.name} (id ${v.id})`,
  changes: (a, b) => (a.id !== b.id ? [arrow('id', a.id, b.id)] : []),
};

const siteText: Describer<Site> = {
  add: (s) => `add ${kindName(s.kind)} site ${s.id} ${quoted(s.name)}${s.region ? ` in region ${s.region}` : ''}`,
  remove: (s) => `remove ${kindName(s.kind)} site ${s.id} ${quoted(s.name)}`,
  changes: (a, b) => {
    const out: string[] = [];
    if (a.name !== b.name) out.push(arrow('name', quoted(a.name), quoted(b.name)));
    if (a.kind !== b.kind) out.push(arrow('kind', kindName(a.kind), kindName(b.kind)));
    if (a.region !== b.region) out.push(arrow('region', a.region || 'none', b.region || 'none'));
    return out;
  },
};

const endpointsText = (g: Gateway) => list(g.endpoints.map(formatEndpoint));

const gatewayText: Describer<Gateway> = {
  add: (g) => `add gateway ${g.id} at site ${g.siteId} (node ${g.nodeId}, endpoints ${endpointsText(g)}, underlay MTU ${g.underlayMtu})`,
  remove: (g) => `remove gateway ${g.id} from site ${g.siteId}`,
  changes: (a, b) => {
    const out: string[] = [];
    if (a.siteId !== b.siteId) out.push(arrow('site', a.siteId, b.siteId));
    if (a.nodeId !== b.nodeId) out.push(arrow('node id', a.nodeId, b.nodeId));
    if (endpointsText(a) !== endpointsText(b)) out.push(arrow('endpoints', endpointsText(a), endpointsText(b)));
    if (a.underlayMtu !== b.underlayMtu) out.push(arrow('underlay MTU', a.underlayMtu, b.underlayMtu));
    return out;
  },
};

const srlgText = (l: Link) => list([...l.srlgs].sort(cmp));
const drained = (l: Link) => l.adminState === AdminState.DRAINED;

const linkText: Describer<Link> = {
  add: (l) =>
    `add link ${l.id} between ${l.a} and ${l.b} (cost ${l.cost}, ${l.capacityMbps} Mbit/s, MTU ${l.mtu}` +
    `${l.srlgs.length > 0 ? `, SRLGs ${srlgText(l)}` : ''}${drained(l) ? ', drained' : ''})`,
  remove: (l) => `remove link ${l.id} between ${l.a} and ${l.b}`,
  changes: (a, b) => {
    const out: string[] = [];
    if (a.a !== b.a || a.b !== b.b) out.push(arrow('ends', `${a.a}/${a.b}`, `${b.a}/${b.b}`));
    if (a.cost !== b.cost) out.push(arrow('cost', a.cost, b.cost));
    if (a.capacityMbps !== b.capacityMbps) out.push(arrow('capacity', `${a.capacityMbps} Mbit/s`, `${b.capacityMbps} Mbit/s`));
    if (a.mtu !== b.mtu) out.push(arrow('MTU', a.mtu, b.mtu));
    if (srlgText(a) !== srlgText(b)) out.push(arrow('SRLGs', srlgText(a), srlgText(b)));
    if (drained(a) !== drained(b)) out.push(drained(b) ? 'drained' : 'undrained');
    return out;
  },
};

const prefixText: Describer<Prefix> = {
  add: (p) => `announce ${p.cidr} in VRF ${p.vrf} from site ${p.siteId}`,
  remove: (p) => `withdraw ${p.cidr} in VRF ${p.vrf} from site ${p.siteId}`,
  changes: () => [],
};

/** Prefixes compared by canonical text, so '2001:DB8::/32' and '2001:db8::/32' are one prefix. */
function canonical(p: Prefix): Prefix {
  try {
    return { ...p, cidr: canonicalPrefix(p.cidr) };
  } catch {
    return p;
  }
}
