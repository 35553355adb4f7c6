// Topology as code: the declarative YAML form of a topology (docs/topology.md)
// and its export. Reading is two steps: syntax -> model objects (this file:
// keys, types, the text forms of endpoints and kinds), then the semantic rules
// shared with the admin API (topology-check.ts). Both steps report problems
// with the field path as written and its line.

import { Document, isMap, isScalar, isSeq, type LineCounter } from 'yaml';
import { AdminState, MAX_VRF_ID, OperState, SiteKind } from '../../common/model.js';
import type { Gateway, Link, Prefix, Site, Topology, Vrf } from '../../common/model.js';
import { SwitchbackError } from '../../common/errors.js';
import { problemsError, didYouMean, show } from './problems.js';
import { parseYaml, YamlReader, type Fields, type Item } from './yaml-reader.js';
import {
  MAX_MTU,
  MAX_U32,
  MIN_MTU,
  canonicalTopology,
  checkTopology,
  formatEndpoint,
  readEndpoint,
  topologyProblems,
  withDefaults,
  type Location,
} from './topology-check.js';

export const TOPOLOGY_KEYS = ['vrfs', 'sites', 'gateways', 'links'] as const;
const VRF_KEYS = ['name', 'id'];
const SITE_KEYS = ['id', 'name', 'kind', 'region', 'prefixes'];
const PREFIX_KEYS = ['vrf', 'cidr'];
const GATEWAY_KEYS = ['id', 'site', 'node_id', 'endpoints', 'underlay_mtu'];
const LINK_KEYS = ['id', 'a', 'b', 'cost', 'capacity_mbps', 'mtu', 'srlgs', 'drained'];
const KINDS: Record<string, SiteKind> = { datacenter: SiteKind.DATACENTER, office: SiteKind.OFFICE };

export interface TopologyYamlOptions {
  /**
   * The topology stored now: gateways without `node_id` keep the node id
   * they have there (see withDefaults), so re-applying a file never
   * renumbers them.
   */
  current?: Topology;
}

/**
 * Parses and validates a topology file. Returns the canonical, deeply frozen
 * topology (sorted by id; operational fields at their defaults). Throws one
 * SwitchbackError INVALID_ARGUMENT naming source, line and field of the first
 * problem and listing all of them.
 */
export function parseTopologyYaml(text: string, source: string, opts: TopologyYamlOptions = {}): Topology {
  const { doc, reader } = parseYaml(text, source);
  if (doc.contents === null) {
    throw problemsError([
      { field: '', source, line: 1, message: 'the file holds no topology; expected a mapping with vrfs, sites, gateways and links' },
    ]);
  }
  const t = readTopology(doc.contents, reader, '', opts.current);
  reader.throwIfProblems();
  if (!t) throw new SwitchbackError('INTERNAL', 'topology reader returned nothing without a problem');
  return t;
}

export interface TopologyNodeContext extends TopologyYamlOptions {
  /** The file named in errors. */
  source: string;
  /** The LineCounter given to `parseDocument`, for line numbers. */
  lineCounter?: LineCounter;
  /** Path of the node in its file, prefixed to every field (`topology` -> `topology.links[2].cost`). */
  field?: string;
}

/**
 * Validates a topology held in a node of a larger YAML document (e.g. the
 * `topology:` of a simulator scenario) and returns it like parseTopologyYaml,
 * with lines of the enclosing file and fields under `ctx.field`.
 */
export function topologyFromYaml(node: unknown, ctx: TopologyNodeContext): Topology {
  const reader = new YamlReader(ctx.source, ctx.lineCounter);
  const t = readTopology(node, reader, ctx.field ?? '', ctx.current);
  reader.throwIfProblems();
  if (!t) throw new SwitchbackError('INTERNAL', 'topology reader returned nothing without a problem');
  return t;
}

/**
 * The same as topologyFromYaml, but adds problems to a caller's reader
 * instead of throwing, so a scenario reader reports its own problems and
 * the topology's together. Returns undefined when there were problems.
 */
export function readTopology(node: unknown, reader: YamlReader, field: string, current?: Topology): Topology | undefined {
  const before = reader.problems.length;
  const top = reader.object(node, field, TOPOLOGY_KEYS, 'a mapping with vrfs, sites, gateways and links', reader.lineOf(node));
  if (!top) return undefined;
  const loc = new Map<string, Location>();
  const put = (modelPath: string, yamlField: string, line: number | undefined) => loc.set(modelPath, { field: yamlField, line });
  const reg = (modelPath: string, f: Fields, key: string) => put(modelPath, f.path(key), f.lineOf(key));

  const vrfs: Vrf[] = [];
  for (const item of top.list('vrfs', 'VRFs { name, id }')) {
    const m = `vrfs[${vrfs.length}]`;
    put(m, item.field, item.line);
    const f = reader.object(item.node, item.field, VRF_KEYS, 'a VRF { name, id }', item.line);
    if (!f) continue;
    reg(`${m}.name`, f, 'name');
    reg(`${m}.id`, f, 'id');
    vrfs.push({ name: f.string('name', 'a VRF name', { required: true }) ?? '', id: f.integer('id', { expected: `an integer 1-${MAX_VRF_ID}` }, { required: true }) ?? 0 });
  }

  const sites: Site[] = [];
  const prefixes: Prefix[] = [];
  for (const item of top.list('sites', 'sites')) {
    const m = `sites[${sites.length}]`;
    put(m, item.field, item.line);
    const f = reader.object(item.node, item.field, SITE_KEYS, 'a site { id, name, kind, region, prefixes }', item.line);
    if (!f) continue;
    for (const key of ['id', 'name', 'kind', 'region']) reg(`${m}.${key}`, f, key);
    const id = f.string('id', 'a site id', { required: true }) ?? '';
    const kindText = f.string('kind', 'datacenter or office', { required: true });
    let kind = SiteKind.UNSPECIFIED;
    if (kindText !== undefined) {
      kind = KINDS[kindText] ?? SiteKind.UNSPECIFIED;
      if (kind === SiteKind.UNSPECIFIED) {
        reader.fail(f.path('kind'), `unknown site kind ${show(kindText)}${didYouMean(kindText, Object.keys(KINDS))}; expected datacenter or office`, f.lineOf('kind'));
      }
    }
    sites.push({
      id,
      name: f.has('name') ? (f.string('name', 'a site name') ?? '') : id,
      kind,
      region: f.string('region', 'a region name') ?? '',
    });
    for (const p of f.list('prefixes', 'prefixes { vrf, cidr }')) readPrefix(reader, p, id, prefixes, put, f.path('id'), f.lineOf('id'));
  }

  const gateways: Gateway[] = [];
  for (const item of top.list('gateways', 'gateways')) {
    const m = `gateways[${gateways.length}]`;
    put(m, item.field, item.line);
    const f = reader.object(item.node, item.field, GATEWAY_KEYS, 'a gateway { id, site, node_id, endpoints, underlay_mtu }', item.line);
    if (!f) continue;
    reg(`${m}.id`, f, 'id');
    reg(`${m}.site_id`, f, 'site');
    reg(`${m}.node_id`, f, 'node_id');
    reg(`${m}.endpoints`, f, 'endpoints');
    reg(`${m}.underlay_mtu`, f, 'underlay_mtu');
    const endpoints = f.list('endpoints', "endpoints like '203.0.113.10:4789'").flatMap((e, j) => {
      put(`${m}.endpoints[${j}]`, e.field, e.line);
      const text = reader.string(e.node, e.field, "an endpoint like '203.0.113.10:4789' (IPv6 as \"[2001:db8::1]:4789\", in quotes)", e.line, { required: true });
      if (text === undefined) return [];
      const endpoint = readEndpoint(text);
      if (typeof endpoint !== 'string') return [endpoint];
      reader.fail(e.field, endpoint, e.line);
      return [];
    });
    gateways.push({
      id: f.string('id', 'a gateway id', { required: true }) ?? '',
      siteId: f.string('site', 'the id of a site', { required: true }) ?? '',
      nodeId: f.integer('node_id', { min: 1, max: MAX_U32 }) ?? 0,
      endpoints,
      underlayMtu: f.integer('underlay_mtu', { min: MIN_MTU, max: MAX_MTU }) ?? 0,
      lastSeenUnixMs: 0,
    });
  }

  const links: Link[] = [];
  for (const item of top.list('links', 'links')) {
    const m = `links[${links.length}]`;
    put(m, item.field, item.line);
    const f = reader.object(item.node, item.field, LINK_KEYS, 'a link { a, b, cost, ... }', item.line);
    if (!f) continue;
    for (const key of ['id', 'a', 'b', 'cost', 'capacity_mbps', 'mtu']) reg(`${m}.${key}`, f, key);
    reg(`${m}.admin_state`, f, 'drained');
    const srlgs = f.list('srlgs', 'shared-risk group names').flatMap((s, j) => {
      put(`${m}.srlgs[${j}]`, s.field, s.line);
      const v = reader.string(s.node, s.field, 'a shared-risk group name', s.line, { required: true });
      return v === undefined ? [] : [v];
    });
    links.push({
      id: f.string('id', 'a link id') ?? '',
      a: f.string('a', 'the id of a gateway', { required: true }) ?? '',
      b: f.string('b', 'the id of a gateway', { required: true }) ?? '',
      cost: f.integer('cost', { expected: 'a positive integer' }, { required: true }) ?? 0,
      capacityMbps: f.integer('capacity_mbps', { min: 1, max: MAX_U32 }) ?? 0,
      mtu: f.integer('mtu', { min: MIN_MTU, max: MAX_MTU }) ?? 0,
      srlgs,
      adminState: f.boolean('drained') === true ? AdminState.DRAINED : AdminState.UP,
      operState: OperState.UNSPECIFIED,
      rttUs: 0,
      lossPpm: 0,
      changedUnixMs: 0,
    });
  }

  if (reader.problems.length > before) return undefined;
  const t = withDefaults({ vrfs, sites, gateways, links, prefixes }, current);
  const locate = (path: string): Location | undefined => {
    // Paths the reader did not register (e.g. `.host` of an endpoint) map to their nearest registered parent.
    for (let p = path, rest = ''; p !== ''; ) {
      const hit = loc.get(p);
      if (hit) return { field: hit.field + rest, line: hit.line };
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      rest = p.slice(cut) + rest;
      p = p.slice(0, cut);
    }
    return field ? { field: `${field}.${path}` } : undefined;
  };
  const problems = topologyProblems(t, { source: reader.source, locate });
  reader.problems.push(...problems);
  return problems.length > 0 ? undefined : canonicalTopology(t);
}

function readPrefix(
  reader: YamlReader,
  item: Item,
  siteId: string,
  out: Prefix[],
  put: (modelPath: string, yamlField: string, line: number | undefined) => void,
  siteIdField: string,
  siteIdLine: number | undefined,
): void {
  const m = `prefixes[${out.length}]`;
  put(m, item.field, item.line);
  const f = reader.object(item.node, item.field, PREFIX_KEYS, 'a prefix { vrf, cidr }', item.line);
  if (!f) return;
  put(`${m}.site_id`, siteIdField, siteIdLine);
  put(`${m}.vrf`, f.path('vrf'), f.lineOf('vrf'));
  put(`${m}.cidr`, f.path('cidr'), f.lineOf('cidr'));
  out.push({
    siteId,
    vrf: f.string('vrf', 'a VRF name', { required: true }) ?? '',
    cidr: f.string('cidr', "a prefix like '10.10.0.0/16'", { required: true }) ?? '',
  });
}

// ---------------------------------------------------------------------------
// Export

const HEADER = [
  ' Switchback topology (format: docs/topology.md).',
  ' Apply with: switchback ctl apply <this file>',
].join('\n');

/**
 * Writes a topology as YAML that parseTopologyYaml reads back to the same
 * topology (operational state is not part of the file). Output is stable:
 * canonical order, fixed layout. Throws INVALID_ARGUMENT for an invalid
 * topology: what cannot be applied is not exported.
 */
export function topologyToYaml(t: Topology): string {
  const c = checkTopology(t);
  const prefixesOf = new Map<string, Prefix[]>();
  for (const p of c.prefixes) {
    const list = prefixesOf.get(p.siteId) ?? [];
    list.push(p);
    prefixesOf.set(p.siteId, list);
  }
  const kindName = (k: SiteKind) => (k === SiteKind.DATACENTER ? 'datacenter' : 'office');
  const plain = {
    vrfs: c.vrfs.map((v) => ({ name: v.name, id: v.id })),
    sites: c.sites.map((s) => ({
      id: s.id,
      name: s.name,
      kind: kindName(s.kind),
      ...(s.region ? { region: s.region } : {}),
      ...(prefixesOf.has(s.id) ? { prefixes: prefixesOf.get(s.id)!.map((p) => ({ vrf: p.vrf, cidr: p.cidr })) } : {}),
    })),
    gateways: c.gateways.map((g) => ({
      id: g.id,
      site: g.siteId,
      node_id: g.nodeId,
      ...(g.endpoints.length > 0 ? { endpoints: g.endpoints.map(formatEndpoint) } : {}),
      underlay_mtu: g.underlayMtu,
    })),
    links: c.links.map((l) => ({
      // Always written, even when it is the default: `ctl drain <link>` needs it.
      id: l.id,
      a: l.a,
      b: l.b,
      cost: l.cost,
      capacity_mbps: l.capacityMbps,
      mtu: l.mtu,
      ...(l.srlgs.length > 0 ? { srlgs: [...l.srlgs] } : {}),
      ...(l.adminState === AdminState.DRAINED ? { drained: true } : {}),
    })),
  };
  const doc = new Document(plain);
  doc.commentBefore = HEADER;
  // Small records on one line each; a blank line between sections.
  const root = doc.contents;
  if (isMap(root)) {
    root.items.forEach((pair, i) => {
      if (i > 0 && isScalar(pair.key)) pair.key.spaceBefore = true;
    });
  }
  const flow = (node: unknown, quoteItems = false) => {
    if (!isSeq(node) && !isMap(node)) return;
    node.flow = true;
    if (quoteItems && isSeq(node)) for (const it of node.items) if (isScalar(it)) it.type = 'QUOTE_DOUBLE';
  };
  const seq = (key: string) => {
    const n = doc.get(key);
    return isSeq(n) ? n.items : [];
  };
  for (const v of seq('vrfs')) flow(v);
  for (const s of seq('sites')) if (isMap(s)) { const ps = s.get('prefixes'); if (isSeq(ps)) ps.items.forEach((p) => flow(p)); }
  for (const g of seq('gateways')) if (isMap(g)) flow(g.get('endpoints'), true);
  for (const l of seq('links')) if (isMap(l)) flow(l.get('srlgs'));
  return doc.toString({ lineWidth: 0, indentSeq: true });
}
