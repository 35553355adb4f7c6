import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYamlValue, stringify as stringifyYaml } from 'yaml';
import { SwitchbackError } from '../../common/errors.js';
import { AdminState, MAX_VRF_ID, OperState, SiteKind, type Gateway, type Link, type Prefix, type Topology } from '../../common/model.js';
import { cidrFromBytes, formatIp } from '../../common/prefix.js';
import { checkTopology, defaultLinkId, MAX_MTU, MAX_U32, MIN_MTU } from '../../controller/topology/topology-check.js';
import { parseTopologyYaml, topologyToYaml } from '../../controller/topology/topology-yaml.js';

const exampleText = readFileSync(new URL('../../examples/topology.yaml', import.meta.url), 'utf8');
const exampleValue: unknown = parseYamlValue(exampleText);

// ---------------------------------------------------------------------------
// Random valid topologies: raw material from fast-check, made consistent by build().

const idArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/);
// eslint-disable-next-line no-control-regex
const nameArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s));
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const ipArb = fc.oneof(
  bytes(4).map((b) => ({ family: 4 as const, b })),
  bytes(16).map((b) => ({ family: 6 as const, b })),
);
const endpointArb = fc.record({ ip: ipArb, port: fc.integer({ min: 1, max: 65535 }) });
const cidrArb = fc.record({ ip: ipArb, len: fc.nat() }).map(({ ip, len }) => {
  const length = len % (ip.family === 4 ? 33 : 129);
  const masked = ip.b.map((x, i) => x & ((0xff << (8 - Math.max(0, Math.min(8, length - 8 * i)))) & 0xff));
  return cidrFromBytes(ip.family, masked, length).text;
});

const rawArb = fc.record({
  vrfNames: fc.uniqueArray(idArb, { minLength: 1, maxLength: 4 }),
  vrfIds: fc.uniqueArray(fc.integer({ min: 1, max: MAX_VRF_ID }), { minLength: 4, maxLength: 4 }),
  sites: fc.uniqueArray(
    fc.record({
      id: idArb,
      name: nameArb,
      kind: fc.constantFrom(SiteKind.DATACENTER, SiteKind.OFFICE),
      region: fc.option(idArb, { nil: '' }),
    }),
    { selector: (s) => s.id, minLength: 1, maxLength: 6 },
  ),
  gateways: fc.uniqueArray(
    fc.record({
      id: idArb,
      site: fc.nat(),
      nodeId: fc.integer({ min: 1, max: MAX_U32 }),
      endpoints: fc.array(endpointArb, { maxLength: 3 }),
      mtu: fc.integer({ min: MIN_MTU, max: MAX_MTU }),
    }),
    { selector: (g) => g.id, maxLength: 8 },
  ),
  links: fc.array(
    fc.record({
      a: fc.nat(),
      b: fc.nat(),
      id: fc.option(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,127}$/), { nil: undefined }),
      cost: fc.integer({ min: 1, max: MAX_U32 }),
      capacity: fc.integer({ min: 1, max: MAX_U32 }),
      mtu: fc.nat(),
      srlgs: fc.uniqueArray(idArb, { maxLength: 3 }),
      drained: fc.boolean(),
    }),
    { maxLength: 16 },
  ),
  prefixes: fc.array(fc.record({ site: fc.nat(), vrf: fc.nat(), cidr: cidrArb }), { maxLength: 16 }),
});

type Raw = typeof rawArb extends fc.Arbitrary<infer R> ? R : never;

function build(raw: Raw): Topology {
  const vrfs = raw.vrfNames.map((name, i) => ({ name, id: raw.vrfIds[i] }));
  const sites = raw.sites.map((s) => ({ ...s }));
  const nodeIds = new Set<number>();
  const endpoints = new Set<string>();
  const gateways: Gateway[] = [];
  for (const g of raw.gateways) {
    if (nodeIds.has(g.nodeId)) continue;
    nodeIds.add(g.nodeId);
    const eps = g.endpoints
      .filter((e) => e.ip.b.some((x) => x !== 0))
      .map((e) => ({ host: formatIp(e.ip.family, e.ip.b), port: e.port }))
      .filter((e) => {
        const key = `${e.host}|${e.port}`;
        if (endpoints.has(key)) return false;
        endpoints.add(key);
        return true;
      });
    gateways.push({ id: g.id, siteId: sites[g.site % sites.length].id, nodeId: g.nodeId, endpoints: eps, underlayMtu: g.mtu, lastSeenUnixMs: 0 });
  }
  const links: Link[] = [];
  const linkIds = new Set<string>();
  const pairs = new Set<string>();
  for (const l of raw.links) {
    if (gateways.length < 2) break;
    const a = gateways[l.a % gateways.length];
    const b = gateways[l.b % gateways.length];
    const pair = defaultLinkId(a.id, b.id);
    const id = l.id ?? pair;
    if (a === b || pairs.has(pair) || linkIds.has(id)) continue;
    pairs.add(pair);
    linkIds.add(id);
    const maxMtu = Math.min(a.underlayMtu, b.underlayMtu);
    links.push({
      id,
      a: a.id,
      b: b.id,
      cost: l.cost,
      capacityMbps: l.capacity,
      mtu: MIN_MTU + (l.mtu % (maxMtu - MIN_MTU + 1)),
      srlgs: l.srlgs,
      adminState: l.drained ? AdminState.DRAINED : AdminState.UP,
      operState: OperState.UNSPECIFIED,
      rttUs: 0,
      lossPpm: 0,
      changedUnixMs: 0,
    });
  }
  const prefixes: Prefix[] = [];
  const seen = new Set<string>();
  for (const p of raw.prefixes) {
    const prefix = { siteId: sites[p.site % sites.length].id, vrf: vrfs[p.vrf % vrfs.length].name, cidr: p.cidr };
    const key = `${prefix.siteId} ${prefix.vrf} ${prefix.cidr}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prefixes.push(prefix);
  }
  return { vrfs, sites, gateways, links, prefixes };
}

const topologyArb = rawArb.map(build);

const reversed = (t: Topology): Topology => ({
  vrfs: [...t.vrfs].reverse(),
  sites: [...t.sites].reverse(),
  gateways: [...t.gateways].reverse(),
  links: [...t.links].reverse().map((l) => ({ ...l, srlgs: [...l.srlgs].reverse() })),
  prefixes: [...t.prefixes].reverse(),
});

const roundTrip = suite('round trip of random valid topologies');

roundTrip('parse(export(t)) equals the canonical t, and exporting again gives the same bytes', () => {
  fc.assert(
    fc.property(topologyArb, (t) => {
      const canonical = checkTopology(t);
      const yaml = topologyToYaml(t);
      const back = parseTopologyYaml(yaml, 'random.yaml');
      assert.equal(back, canonical);
      assert.is(topologyToYaml(back), yaml);
    }),
    { numRuns: 150 },
  );
});

roundTrip('the export does not depend on the order of the input', () => {
  fc.assert(
    fc.property(topologyArb, (t) => {
      assert.is(topologyToYaml(reversed(t)), topologyToYaml(t));
    }),
    { numRuns: 60 },
  );
});

roundTrip.run();

// ---------------------------------------------------------------------------
// Bad input of every kind: a SwitchbackError INVALID_ARGUMENT, never anything else.

function onlySwitchbackErrors(text: string): void {
  let t: Topology;
  try {
    t = parseTopologyYaml(text, 'fuzz.yaml');
  } catch (err) {
    if (!SwitchbackError.is(err, 'INVALID_ARGUMENT')) throw err;
    assert.is(err.source, 'fuzz.yaml');
    assert.ok(err.line === undefined || (Number.isInteger(err.line) && err.line >= 1), `line ${err.line}`);
    assert.ok(err.message.length > 0);
    return;
  }
  // Whatever is accepted is valid: it exports and reads back unchanged.
  assert.equal(parseTopologyYaml(topologyToYaml(t), 'again.yaml'), t);
}

const fuzz = suite('garbage and mutations');

const yamlish = fc.string({
  unit: fc.constantFrom(...'abc019 :-[]{},"\'\n\t#&*!|>%@`?.'.split(''), 'vrfs', 'sites', 'links', 'gateways', 'id', 'cost', 'kind'),
  maxLength: 200,
});

fuzz('random text', () => {
  fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), yamlish), onlySwitchbackErrors), { numRuns: 400 });
});

fuzz('random YAML values', () => {
  const value = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom('vrfs', 'sites', 'gateways', 'links'), fc.jsonValue({ maxDepth: 3 })));
  fc.assert(fc.property(value, (v) => onlySwitchbackErrors(stringifyYaml(v))), { numRuns: 300 });
});

type Mutation = { at: number; op: 'delete' | 'replace' | 'add'; value: unknown; key: string };

/** Every (container, key) place in a parsed value. */
function places(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []) {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), places(x, out)));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.push([v as Record<string, unknown>, k]), places(x, out));
  return out;
}

function mutate(doc: unknown, ms: Mutation[]): unknown {
  for (const m of ms) {
    const all = places(doc);
    if (all.length === 0) break;
    const [container, key] = all[m.at % all.length];
    if (Array.isArray(container)) {
      if (m.op === 'delete') container.splice(key as number, 1);
      else if (m.op === 'replace') container[key as number] = m.value;
      else container.push(m.value);
    } else {
      if (m.op === 'delete') delete container[key];
      else if (m.op === 'replace') container[key] = m.value;
      else container[m.key] = m.value;
    }
  }
  return doc;
}

fuzz('the example with values replaced, removed or added', () => {
  const leaf = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(0, -1, 1.5, 4294967296, 16777216, '', 'fra-gw1', 'ams-gw1', 'corp', '10.0.0.1/8', '::/0', '[::1]:1', true, null),
  );
  const mutation = fc.record({
    at: fc.nat(),
    op: fc.constantFrom('delete' as const, 'replace' as const, 'add' as const),
    value: leaf,
    key: fc.constantFrom('id', 'cost', 'cots', 'mtu', 'node_id', 'site', 'a', 'b', 'vrf', 'cidr', 'extra'),
  });
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
      onlySwitchbackErrors(stringifyYaml(mutate(structuredClone(exampleValue), ms)));
    }),
    { numRuns: 150 },
  );
});

fuzz('the example text with characters and lines cut, inserted, duplicated and swapped', () => {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.oneof(yamlish, fc.string({ unit: 'binary', maxLength: 5 })) }),
    fc.record({ kind: fc.constant('dupline' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('swaplines' as const), at: fc.nat(), to: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
      let text = exampleText;
      for (const e of edits) {
        const lines = text.split('\n');
        if (e.kind === 'cut') {
          const at = e.at % text.length;
          text = text.slice(0, at) + text.slice(at + e.n);
        } else if (e.kind === 'insert') {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.s + text.slice(at);
        } else if (e.kind === 'dupline') {
          const i = e.at % lines.length;
          lines.splice(i, 0, lines[i]);
          text = lines.join('\n');
        } else {
          const i = e.at % lines.length;
          const j = e.to % lines.length;
          [lines[i], lines[j]] = [lines[j], lines[i]];
          text = lines.join('\n');
        }
      }
      onlySwitchbackErrors(text);
    }),
    { numRuns: 200 },
  );
});

fuzz('adversarial shapes: deep nesting, aliases, huge numbers, odd tags', () => {
  const inputs = [
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `${'- '.repeat(2000)}x`,
    'a: &a [1, 2]\nb: *a\n',
    'vrfs: &v [ { name: corp, id: 1 } ]\nsites: *v\n',
    'vrfs: [ { name: corp, id: 1e400 } ]\n',
    'vrfs: [ { name: corp, id: .nan } ]\n',
    'vrfs: [ { name: corp, id: 0x10 } ]\n',
    'vrfs: [ { name: !!binary aGVsbG8=, id: 1 } ]\n',
    'vrfs: [ { name: !custom corp, id: 1 } ]\n',
    'vrfs: [ { ? [a] : 1 } ]\n',
    'vrfs: [ { 1: corp } ]\n',
    'sites: [ { id: s, kind: office, name: !!int 12 } ]\n',
    '\ufeffvrfs: []\n',
    'vrfs: !!set { a, b }\n',
    'vrfs: []\nvrfs: []\n',
    '%YAML 1.1\n---\nvrfs: []\n',
    'x'.repeat(100_000),
  ];
  for (const input of inputs) onlySwitchbackErrors(input);
});

fuzz.run();
