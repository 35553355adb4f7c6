import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LineCounter, parseDocument } from 'yaml';
import { SwitchbackError } from '../../common/errors.js';
import { AdminState, OperState, SiteKind, type Topology } from '../../common/model.js';
import { parseIp, parsePrefix, prefixContains } from '../../common/prefix.js';
import { parseTopologyYaml, readTopology, topologyFromYaml, topologyToYaml } from '../../controller/topology/topology-yaml.js';
import { YamlReader } from '../../controller/topology/yaml-reader.js';

const EXAMPLE_PATH = new URL('../../examples/topology.yaml', import.meta.url);
const exampleText = readFileSync(EXAMPLE_PATH, 'utf8');

// Line numbers below refer to this text; keep it unchanged or fix them.
const BASE = [
  'vrfs:', //                                    1
  '  - { name: corp, id: 1 }', //                2
  '  - { name: guest, id: 2 }', //               3
  'sites:', //                                   4
  '  - id: fra', //                              5
  '    name: Frankfurt DC', //                   6
  '    kind: datacenter', //                     7
  '    region: eu', //                           8
  '    prefixes:', //                            9
  '      - { vrf: corp, cidr: 10.10.0.0/16 }', // 10
  '  - id: ber', //                              11
  '    kind: office', //                         12
  '    prefixes:', //                            13
  '      - { vrf: guest, cidr: 192.168.1.0/24 }', // 14
  'gateways:', //                                15
  '  - id: fra-gw1', //                          16
  '    site: fra', //                            17
  '    node_id: 101', //                         18
  '    endpoints: [ "203.0.113.10:4789" ]', //   19
  '  - id: ber-gw1', //                          20
  '    site: ber', //                            21
  '    endpoints: [ "198.51.100.11:4789" ]', //  22
  '  - { id: fra-gw2, site: fra }', //           23
  'links:', //                                   24
  '  - a: fra-gw1', //                           25
  '    b: ber-gw1', //                           26
  '    cost: 10', //                             27
  '    srlgs: [ fibre-1 ]', //                   28
];
const base = () => [...BASE];
const text = (lines: string[]) => `${lines.join('\n')}\n`;

/** BASE with line `n` (1-based) replaced by `by` (several lines, or none). */
function edit(n: number, ...by: string[]): string {
  const lines = base();
  lines.splice(n - 1, 1, ...by);
  return text(lines);
}
const append = (...more: string[]) => text([...base(), ...more]);
const insertAfter = (n: number, ...more: string[]) => {
  const lines = base();
  lines.splice(n, 0, ...more);
  return text(lines);
};

function rejects(input: string, field: string | undefined, line: number, pattern: RegExp): SwitchbackError {
  let caught: unknown;
  try {
    parseTopologyYaml(input, 'bad.yaml');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `accepted invalid input (expected ${field} at line ${line})`);
  assert.ok(SwitchbackError.is(caught, 'INVALID_ARGUMENT'), `not a SwitchbackError INVALID_ARGUMENT: ${String(caught)}`);
  const e = caught as SwitchbackError;
  assert.is(e.source, 'bad.yaml');
  assert.is(e.field, field, `field, in: ${e.message}`);
  assert.is(e.line, line, `line, in: ${e.message}`);
  assert.match(e.message, pattern);
  assert.ok(e.message.startsWith(`bad.yaml:${line}: ${field ? `${field}: ` : ''}`), e.message);
  return e;
}

// ---------------------------------------------------------------------------
const parse = suite('parseTopologyYaml');

parse('reads the base text with defaults filled and operational state at defaults', () => {
  const t = parseTopologyYaml(text(base()), 'base.yaml');
  assert.equal(t.vrfs, [{ name: 'corp', id: 1 }, { name: 'guest', id: 2 }]);
  assert.equal(t.sites, [
    { id: 'ber', name: 'ber', kind: SiteKind.OFFICE, region: '' },
    { id: 'fra', name: 'Frankfurt DC', kind: SiteKind.DATACENTER, region: 'eu' },
  ]);
  assert.equal(t.gateways, [
    { id: 'ber-gw1', siteId: 'ber', nodeId: 1, endpoints: [{ host: '198.51.100.11', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
    { id: 'fra-gw1', siteId: 'fra', nodeId: 101, endpoints: [{ host: '203.0.113.10', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
    { id: 'fra-gw2', siteId: 'fra', nodeId: 2, endpoints: [], underlayMtu: 1500, lastSeenUnixMs: 0 },
  ]);
  assert.equal(t.links, [
    {
      id: 'ber-gw1--fra-gw1',
      a: 'fra-gw1',
      b: 'ber-gw1',
      cost: 10,
      capacityMbps: 1000,
      mtu: 1500,
      srlgs: ['fibre-1'],
      adminState: AdminState.UP,
      operState: OperState.UNSPECIFIED,
      rttUs: 0,
      lossPpm: 0,
      changedUnixMs: 0,
    },
  ]);
  assert.equal(t.prefixes, [
    { siteId: 'ber', vrf: 'guest', cidr: '192.168.1.0/24' },
    { siteId: 'fra', vrf: 'corp', cidr: '10.10.0.0/16' },
  ]);
});

parse('returns a deeply frozen topology', () => {
  const t = parseTopologyYaml(text(base()), 'base.yaml');
  assert.ok(Object.isFrozen(t));
  assert.ok(Object.isFrozen(t.links));
  assert.ok(Object.isFrozen(t.links[0]));
  assert.ok(Object.isFrozen(t.links[0].srlgs));
  assert.ok(Object.isFrozen(t.gateways[0].endpoints[0]));
  assert.throws(() => (t.links as unknown as unknown[]).push({}));
});

parse('the order of items in the file does not matter', () => {
  const b = base();
  const reordered = text([...b.slice(14, 23), ...b.slice(0, 14), ...b.slice(23)]);
  // gateways first, then vrfs and sites, then links: the same topology
  assert.equal(parseTopologyYaml(reordered, 'r.yaml'), parseTopologyYaml(text(base()), 'b.yaml'));
});

parse('canonicalises prefixes and endpoints, and sorts SRLGs', () => {
  const t = parseTopologyYaml(
    text([
      'vrfs: [ { name: v6, id: 7 } ]',
      'sites: [ { id: s, kind: office, prefixes: [ { vrf: v6, cidr: "2001:DB8:0:0::/32" } ] } ]',
      'gateways: [ { id: g1, site: s, endpoints: [ "[2001:DB8::0:1]:4789" ] }, { id: g2, site: s } ]',
      'links: [ { a: g2, b: g1, cost: 1, srlgs: [ zz, aa ] } ]',
    ]),
    'v6.yaml',
  );
  assert.is(t.prefixes[0].cidr, '2001:db8::/32');
  assert.equal(t.gateways[0].endpoints, [{ host: '2001:db8::1', port: 4789 }]);
  assert.equal(t.links[0].srlgs, ['aa', 'zz']);
  assert.is(t.links[0].id, 'g1--g2');
});

parse('assigns missing node ids: smallest free, in gateway-id order, never an explicit one', () => {
  const t = parseTopologyYaml(
    text([
      'sites: [ { id: s, kind: office } ]',
      'gateways:',
      '  - { id: d, site: s }',
      '  - { id: b, site: s, node_id: 1 }',
      '  - { id: a, site: s }',
      '  - { id: c, site: s, node_id: 3 }',
    ]),
    'n.yaml',
  );
  assert.equal(
    t.gateways.map((g) => [g.id, g.nodeId]),
    [['a', 2], ['b', 1], ['c', 3], ['d', 4]],
  );
});

parse('with the stored topology, gateways keep their node ids and new ones do not renumber others', () => {
  const first = parseTopologyYaml(text(base()), 'base.yaml');
  assert.is(first.gateways.find((g) => g.id === 'fra-gw2')!.nodeId, 2);
  // A new gateway sorting before the others would take id 1 in a fresh parse...
  const grown = insertAfter(23, '  - { id: aaa-gw, site: fra }');
  const fresh = parseTopologyYaml(grown, 'grown.yaml');
  assert.is(fresh.gateways.find((g) => g.id === 'aaa-gw')!.nodeId, 1);
  // ... but applied over the stored topology everyone keeps theirs.
  const applied = parseTopologyYaml(grown, 'grown.yaml', { current: first });
  const ids = Object.fromEntries(applied.gateways.map((g) => [g.id, g.nodeId]));
  assert.equal(ids, { 'aaa-gw': 3, 'ber-gw1': 1, 'fra-gw1': 101, 'fra-gw2': 2 });
  // An explicit id wins over a stored one.
  const claimed = parseTopologyYaml(edit(23, '  - { id: fra-gw2, site: fra, node_id: 1 }'), 'c.yaml', { current: first });
  assert.equal(
    claimed.gateways.map((g) => [g.id, g.nodeId]),
    [['ber-gw1', 2], ['fra-gw1', 101], ['fra-gw2', 1]],
  );
});

parse('link MTU defaults to the smaller underlay MTU; drained maps to the admin state', () => {
  const t = parseTopologyYaml(
    text([
      'sites: [ { id: s, kind: datacenter } ]',
      'gateways: [ { id: a, site: s, underlay_mtu: 9000 }, { id: b, site: s, underlay_mtu: 1492 }, { id: c, site: s, underlay_mtu: 9000 } ]',
      'links:',
      '  - { a: a, b: b, cost: 1 }',
      '  - { a: a, b: c, cost: 1, drained: true, capacity_mbps: 40000 }',
    ]),
    'm.yaml',
  );
  assert.equal(
    t.links.map((l) => [l.id, l.mtu, l.adminState, l.capacityMbps]),
    [['a--b', 1492, AdminState.UP, 1000], ['a--c', 9000, AdminState.DRAINED, 40000]],
  );
});

parse('an explicitly empty topology is valid; an empty file is not', () => {
  assert.equal(parseTopologyYaml('vrfs: []\nsites: []\n', 'e.yaml'), { vrfs: [], sites: [], gateways: [], links: [], prefixes: [] });
  assert.equal(parseTopologyYaml('{}\n', 'e.yaml').sites, []);
  rejects('', undefined, 1, /holds no topology/);
  rejects('# only a comment\n', undefined, 1, /holds no topology/);
});

parse.run();

// ---------------------------------------------------------------------------
const bad = suite('parseTopologyYaml: bad input names the field and the line');

bad('malformed YAML', () => {
  rejects(edit(23, '  - { id: fra-gw2, site: fra'), undefined, 24, /malformed YAML/);
  rejects(edit(27, '    cost: 10', '    cost: 11'), undefined, 28, /malformed YAML.*unique.*appears twice/);
  rejects(edit(27, '\tcost: 10'), undefined, 27, /malformed YAML/);
  rejects(append('---', 'vrfs: []'), undefined, 29, /more than one YAML document/);
  rejects(edit(26, '    b: [2001:db8::1]:4789'), undefined, 26, /malformed YAML/);
});

bad('a document that is not a mapping', () => {
  rejects('- vrfs\n- sites\n', undefined, 1, /expected a mapping with vrfs, sites, gateways and links, got a list/);
  rejects('just text\n', undefined, 1, /expected a mapping.*got the text 'just text'/);
});

bad('unknown keys, with a suggestion for typos', () => {
  rejects(edit(27, '    cots: 10'), 'links[0].cots', 27, /unknown key 'cots' \(did you mean 'cost'\?\); expected one of: id, a, b, cost/);
  rejects(edit(24, 'linkz:'), 'linkz', 24, /unknown key 'linkz' \(did you mean 'links'\?\)/);
  rejects(edit(8, '    regoin: eu'), 'sites[0].regoin', 8, /did you mean 'region'/);
  rejects(edit(2, '  - { name: corp, id: 1, colour: red }'), 'vrfs[0].colour', 2, /unknown key 'colour'; expected one of: name, id/);
  rejects(edit(10, '      - { vrf: corp, cidr: 10.10.0.0/16, site: fra }'), 'sites[0].prefixes[0].site', 10, /unknown key 'site'/);
  rejects(edit(18, '    nodeid: 101'), 'gateways[0].nodeid', 18, /did you mean 'node_id'/);
});

bad('missing required fields', () => {
  rejects(edit(27), 'links[0].cost', 25, /is required; expected a positive integer/);
  rejects(edit(26), 'links[0].b', 25, /is required; expected the id of a gateway/);
  rejects(edit(12), 'sites[1].kind', 11, /is required; expected datacenter or office/);
  rejects(edit(17), 'gateways[0].site', 16, /is required/);
  rejects(edit(2, '  - { id: 1 }'), 'vrfs[0].name', 2, /is required/);
  rejects(edit(10, '      - { vrf: corp }'), 'sites[0].prefixes[0].cidr', 10, /is required; expected a prefix like/);
  rejects(edit(27, '    cost:'), 'links[0].cost', 27, /is required/);
});

bad('wrong types', () => {
  rejects(edit(27, '    cost: "10"'), 'links[0].cost', 27, /expected a positive integer, got the text '10'/);
  rejects(edit(27, '    cost: 1.5'), 'links[0].cost', 27, /expected a positive integer, got the number 1.5/);
  rejects(edit(27, '    cost: [ 10 ]'), 'links[0].cost', 27, /got a list/);
  rejects(edit(19, '    endpoints: "203.0.113.10:4789"'), 'gateways[0].endpoints', 19, /expected a list of endpoints/);
  rejects(edit(28, '    drained: yes'), 'links[0].drained', 28, /expected true or false, got the text 'yes'/);
  rejects(edit(11, '  - id: 42'), 'sites[1].id', 11, /expected a site id, got the number 42 \(write it in quotes: "42"\)/);
  rejects(edit(7, '    kind: hub'), 'sites[0].kind', 7, /unknown site kind 'hub'; expected datacenter or office/);
  rejects(edit(7, '    kind: ofice'), 'sites[0].kind', 7, /did you mean 'office'/);
  const lines = base();
  lines.splice(4, 6, '  - fra');
  rejects(text(lines), 'sites[0]', 5, /expected a site \{ id, name, kind, region, prefixes \}, got the text 'fra'/);
  const flat = base();
  flat.splice(8, 2, '    prefixes: { vrf: corp, cidr: 10.0.0.0/8 }');
  rejects(text(flat), 'sites[0].prefixes', 9, /expected a list of prefixes/);
  rejects(edit(26, '    b: *x'), 'links[0].b', 26, /aliases \(\*x\) are not supported/);
});

bad('invalid CIDR', () => {
  rejects(edit(10, '      - { vrf: corp, cidr: 10.10.0.0/33 }'), 'sites[0].prefixes[0].cidr', 10, /out of range/);
  rejects(edit(10, '      - { vrf: corp, cidr: 10.10.0.1/16 }'), 'sites[0].prefixes[0].cidr', 10, /host bits.*did you mean '10.10.0.0\/16'/);
  rejects(edit(10, '      - { vrf: corp, cidr: 10.10.0.0 }'), 'sites[0].prefixes[0].cidr', 10, /prefix length is missing/);
  rejects(edit(14, '      - { vrf: guest, cidr: banana/8 }'), 'sites[1].prefixes[0].cidr', 14, /not a valid prefix/);
});

bad('invalid endpoints', () => {
  rejects(edit(19, '    endpoints: [ "203.0.113.10" ]'), 'gateways[0].endpoints[0]', 19, /the port is missing; expected host:port/);
  rejects(edit(19, '    endpoints: [ "2001:db8::1:4789" ]'), 'gateways[0].endpoints[0]', 19, /IPv6 address must be written in brackets/);
  rejects(edit(19, '    endpoints: [ "203.0.113.10:0" ]'), 'gateways[0].endpoints[0]', 19, /port '0' is not a number 1-65535/);
  rejects(edit(19, '    endpoints: [ "gw.example.com:4789" ]'), 'gateways[0].endpoints[0]', 19, /not a valid endpoint/);
  rejects(edit(19, '    endpoints: [ "0.0.0.0:4789" ]'), 'gateways[0].endpoints[0]', 19, /unspecified address/);
  rejects(edit(19, '    endpoints:', '      - [2001:db8::1]:4789'), undefined, 20, /malformed YAML/);
  rejects(edit(22, '    endpoints: [ "203.0.113.10:4789" ]'), 'gateways[1].endpoints[0]', 22, /endpoint 203.0.113.10:4789 is listed twice/);
});

bad('unknown references', () => {
  rejects(edit(21, '    site: bern'), 'gateways[1].site', 21, /unknown site 'bern' \(did you mean 'ber'\?\); expected the id of a site/);
  rejects(edit(26, '    b: ber-gw2'), 'links[0].b', 26, /unknown gateway 'ber-gw2' \(did you mean 'ber-gw1'\?\)/);
  rejects(edit(25, '  - a: nowhere'), 'links[0].a', 25, /unknown gateway 'nowhere'; expected the id of a gateway/);
  rejects(edit(14, '      - { vrf: guests, cidr: 192.168.1.0/24 }'), 'sites[1].prefixes[0].vrf', 14, /unknown VRF 'guests' \(did you mean 'guest'\?\); expected one of: corp, guest/);
});

bad('a link from a gateway to itself, and a second link between the same gateways', () => {
  rejects(edit(26, '    b: fra-gw1'), 'links[0].b', 26, /cannot join gateway 'fra-gw1' to itself; expected a and b to be two different gateways/);
  rejects(append('  - { id: other, a: ber-gw1, b: fra-gw1, cost: 5 }'), 'links[1]', 29, /already joined by links\[0\]/);
});

bad('duplicate ids', () => {
  rejects(edit(11, '  - id: fra'), 'sites[1].id', 11, /duplicate site id 'fra' \(also sites\[0\]\)/);
  rejects(edit(20, '  - id: fra-gw1'), 'gateways[1].id', 20, /duplicate gateway id 'fra-gw1'/);
  rejects(append('  - { id: ber-gw1--fra-gw1, a: fra-gw2, b: ber-gw1, cost: 5 }'), 'links[1].id', 29, /duplicate link id 'ber-gw1--fra-gw1'/);
  rejects(edit(3, '  - { name: corp, id: 2 }'), 'vrfs[1].name', 3, /duplicate VRF name 'corp'/);
  rejects(edit(3, '  - { name: guest, id: 1 }'), 'vrfs[1].id', 3, /duplicate VRF id 1/);
  rejects(edit(23, '  - { id: fra-gw2, site: fra, node_id: 101 }'), 'gateways[2].node_id', 23, /duplicate node id 101 \(also gateways\[0\]\)/);
  rejects(insertAfter(10, '      - { vrf: corp, cidr: 10.10.0.0/16 }'), 'sites[0].prefixes[1].cidr', 11, /announces 10.10.0.0\/16 in VRF corp twice/);
  // The same prefix written differently is still the same prefix.
  rejects(
    edit(10, '      - { vrf: corp, cidr: "2001:db8::/32" }', '      - { vrf: corp, cidr: "2001:DB8:0::/32" }'),
    'sites[0].prefixes[1].cidr',
    11,
    /twice/,
  );
});

bad('cost, MTU, capacity, VRF id and node id out of range', () => {
  rejects(edit(27, '    cost: 0'), 'links[0].cost', 27, /cost must be a positive integer .* got 0/);
  rejects(edit(27, '    cost: -3'), 'links[0].cost', 27, /positive integer/);
  rejects(edit(27, '    cost: 4294967296'), 'links[0].cost', 27, /positive integer/);
  rejects(insertAfter(27, '    mtu: 10000'), 'links[0].mtu', 28, /expected an integer 576-9216, got the number 10000/);
  rejects(insertAfter(27, '    mtu: 500'), 'links[0].mtu', 28, /576-9216/);
  rejects(insertAfter(27, '    mtu: 9000'), 'links[0].mtu', 28, /exceeds the underlay MTU 1500 of gateway fra-gw1/);
  rejects(insertAfter(18, '    underlay_mtu: 100'), 'gateways[0].underlay_mtu', 19, /576-9216/);
  rejects(insertAfter(27, '    capacity_mbps: 0'), 'links[0].capacity_mbps', 28, /1-4294967295/);
  rejects(edit(2, '  - { name: corp, id: 0 }'), 'vrfs[0].id', 2, /VRF id must be an integer 1-16777215 .*24 bits.* got 0/);
  rejects(edit(2, '  - { name: corp, id: 16777216 }'), 'vrfs[0].id', 2, /1-16777215/);
  rejects(edit(18, '    node_id: 0'), 'gateways[0].node_id', 18, /1-4294967295/);
});

bad('bad ids and names', () => {
  rejects(edit(5, '  - id: Fra'), 'sites[0].id', 5, /site id must be .* got 'Fra' \(write 'fra'\)/);
  rejects(edit(28, '    srlgs: [ "fibre 1" ]'), 'links[0].srlgs[0]', 28, /shared-risk group name must be/);
  rejects(edit(28, '    srlgs: [ f, f ]'), 'links[0].srlgs[1]', 28, /listed twice/);
  rejects(edit(6, '    name: ""'), 'sites[0].name', 6, /site name must be text of 1-128 characters/);
  rejects(edit(8, '    region: EU West'), 'sites[0].region', 8, /region must be empty or/);
});

bad('all problems are listed, the first in file order carries field and line', () => {
  const input = text([
    ...base().slice(0, 26),
    '    cost: 0', // 27
    '    srlgs: [ fibre-1 ]',
    '  - { a: fra-gw2, b: nowhere, cost: 1 }', // 29
  ]).replace('site: ber\n', 'site: bern\n'); // line 21
  const e = rejects(input, 'gateways[1].site', 21, /unknown site 'bern'/);
  const lines = e.message.split('\n');
  assert.is(lines.length, 3, e.message);
  assert.match(lines[1], /^bad\.yaml:27: links\[0\]\.cost: /);
  assert.match(lines[2], /^bad\.yaml:29: links\[1\]\.b: unknown gateway 'nowhere'/);
});

bad('many problems are cut off with a count', () => {
  const links = Array.from({ length: 40 }, (_, i) => `  - { id: l${i}, a: fra-gw1, b: ber-gw1, cost: 0 }`);
  const e = rejects(text([...base().slice(0, 24), ...links]), 'links[0].cost', 25, /cost must be a positive integer/);
  const lines = e.message.split('\n');
  assert.is(lines.length, 26);
  assert.match(lines[25], /^\.\.\. and \d+ more problems$/);
});

bad('a typo in a key is not also reported as a missing key', () => {
  const e = rejects(edit(27, '    cots: 10'), 'links[0].cots', 27, /did you mean 'cost'/);
  assert.not.match(e.message, /is required/);
});

bad.run();

// ---------------------------------------------------------------------------
const sub = suite('topology inside a larger YAML document');

const SCENARIO = [
  'name: fra-ber outage', //            1
  'duration_s: 60', //                  2
  'topology:', //                       3
  '  vrfs: [ { name: corp, id: 1 } ]', // 4
  '  sites:', //                        5
  '    - { id: fra, kind: datacenter, prefixes: [ { vrf: corp, cidr: 10.0.0.0/8 } ] }', // 6
  '    - { id: ber, kind: office }', // 7
  '  gateways:', //                     8
  '    - { id: fra-gw1, site: fra }', // 9
  '    - { id: ber-gw1, site: ber }', // 10
  '  links:', //                        11
  '    - { a: fra-gw1, b: ber-gw1, cost: 10 }', // 12
  'events: []', //                      13
];

function scenario(lines: string[]) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(`${lines.join('\n')}\n`, { lineCounter });
  return { lineCounter, node: doc.get('topology', true) };
}

sub('topologyFromYaml reads a node of another document', () => {
  const { lineCounter, node } = scenario(SCENARIO);
  const t = topologyFromYaml(node, { source: 'scenario.yaml', lineCounter, field: 'topology' });
  assert.equal(t, parseTopologyYaml(topologyToYaml(t), 'x'));
  assert.is(t.links[0].id, 'ber-gw1--fra-gw1');
  assert.ok(Object.isFrozen(t));
});

sub('errors carry the line in the enclosing file and the field under the node', () => {
  const lines = [...SCENARIO];
  lines[11] = '    - { a: fra-gw1, b: ber-gw1, cost: 0 }';
  const { lineCounter, node } = scenario(lines);
  try {
    topologyFromYaml(node, { source: 'scenario.yaml', lineCounter, field: 'topology' });
    assert.unreachable('accepted cost 0');
  } catch (err) {
    assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'));
    assert.is(err.field, 'topology.links[0].cost');
    assert.is(err.line, 12);
    assert.is(err.source, 'scenario.yaml');
  }
  lines[11] = '    - { a: fra-gw1, b: ber-gw1, cost: 1, cots: 2 }';
  const again = scenario(lines);
  assert.throws(
    () => topologyFromYaml(again.node, { source: 'scenario.yaml', lineCounter: again.lineCounter, field: 'topology' }),
    (e: unknown) => SwitchbackError.is(e) && e.field === 'topology.links[0].cots' && e.line === 12,
  );
});

sub('readTopology adds problems to the caller\'s reader instead of throwing', () => {
  const lines = [...SCENARIO];
  lines[8] = '    - { id: fra-gw1, site: frankfurt }';
  const { lineCounter, node } = scenario(lines);
  const reader = new YamlReader('scenario.yaml', lineCounter);
  reader.fail('events', 'a problem of the scenario itself', 13);
  assert.is(readTopology(node, reader, 'topology'), undefined);
  assert.equal(
    reader.problems.map((p) => [p.field, p.line]),
    [['events', 13], ['topology.gateways[0].site', 9]],
  );
  assert.throws(() => reader.throwIfProblems(), (e: unknown) => SwitchbackError.is(e) && e.line === 9);
});

sub('a missing topology node is reported, not a crash', () => {
  assert.throws(
    () => topologyFromYaml(undefined, { source: 's.yaml', field: 'topology' }),
    (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT') && e.field === 'topology',
  );
});

sub.run();

// ---------------------------------------------------------------------------
const example = suite('examples/topology.yaml');

const ex = parseTopologyYaml(exampleText, 'examples/topology.yaml');
const siteOf = new Map(ex.gateways.map((g) => [g.id, ex.sites.find((s) => s.id === g.siteId)!]));

example('has at least 3 datacenters in 2 regions and 6 offices with one gateway each', () => {
  const dcs = ex.sites.filter((s) => s.kind === SiteKind.DATACENTER);
  const offices = ex.sites.filter((s) => s.kind === SiteKind.OFFICE);
  assert.ok(dcs.length >= 3);
  assert.ok(new Set(dcs.map((s) => s.region)).size >= 2);
  assert.is(offices.length, 6);
  for (const o of offices) assert.is(ex.gateways.filter((g) => g.siteId === o.id).length, 1, o.id);
  for (const d of dcs) {
    const n = ex.gateways.filter((g) => g.siteId === d.id).length;
    assert.ok(n >= 1 && n <= 2, d.id);
  }
});

example('every office is tunneled to two datacenters, the two at different costs', () => {
  for (const g of ex.gateways.filter((x) => siteOf.get(x.id)!.kind === SiteKind.OFFICE)) {
    const links = ex.links.filter((l) => l.a === g.id || l.b === g.id);
    assert.is(links.length, 2, g.id);
    const far = links.map((l) => siteOf.get(l.a === g.id ? l.b : l.a)!);
    assert.ok(far.every((s) => s.kind === SiteKind.DATACENTER), g.id);
    assert.is(new Set(far.map((s) => s.id)).size, 2, g.id);
    assert.is.not(links[0].cost, links[1].cost, g.id);
  }
});

example('the datacenters are meshed, and some links share a risk group', () => {
  const dcs = ex.sites.filter((s) => s.kind === SiteKind.DATACENTER).map((s) => s.id);
  for (const x of dcs) {
    for (const y of dcs) {
      if (x >= y) continue;
      const joined = ex.links.some((l) => {
        const ends = [siteOf.get(l.a)!.id, siteOf.get(l.b)!.id];
        return ends.includes(x) && ends.includes(y);
      });
      assert.ok(joined, `${x} and ${y} are not linked`);
    }
  }
  const count = new Map<string, number>();
  for (const l of ex.links) for (const s of l.srlgs) count.set(s, (count.get(s) ?? 0) + 1);
  assert.ok([...count.values()].some((n) => n >= 2));
});

example('two offices share 192.168.1.0/24 in different VRFs; the second VRF reaches a datacenter', () => {
  const shared = ex.prefixes.filter((p) => p.cidr === '192.168.1.0/24');
  assert.is(shared.length, 2);
  assert.is.not(shared[0].vrf, shared[1].vrf);
  assert.ok(shared.every((p) => ex.sites.find((s) => s.id === p.siteId)!.kind === SiteKind.OFFICE));
  const other = shared.map((p) => p.vrf).find((v) => v !== 'corp')!;
  assert.ok(ex.prefixes.some((p) => p.vrf === other && ex.sites.find((s) => s.id === p.siteId)!.kind === SiteKind.DATACENTER));
});

example('an anycast service prefix is announced from two datacenters', () => {
  const dcPrefixes = ex.prefixes.filter((p) => ex.sites.find((s) => s.id === p.siteId)!.kind === SiteKind.DATACENTER);
  const bySvc = new Map<string, Set<string>>();
  for (const p of dcPrefixes) bySvc.set(`${p.vrf} ${p.cidr}`, (bySvc.get(`${p.vrf} ${p.cidr}`) ?? new Set()).add(p.siteId));
  assert.ok([...bySvc.values()].some((sites) => sites.size >= 2));
});

example('underlay endpoints use documentation addresses only', () => {
  const doc = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'].map((c) => parsePrefix(c));
  const endpoints = ex.gateways.flatMap((g) => g.endpoints);
  assert.ok(endpoints.length >= ex.gateways.length);
  for (const e of endpoints) {
    const ip = parseIp(e.host);
    assert.ok(doc.some((c) => c.family === ip.family && prefixContains(c, ip.bytes)), e.host);
  }
});

example('defaults are applied as documented', () => {
  const link = (a: string, b: string) => ex.links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a))!;
  assert.is(link('fra-gw1', 'fra-gw2').mtu, 9000);
  assert.is(link('par-gw1', 'ams-gw1').mtu, 1492);
  assert.is(link('fra-gw2', 'ash-gw2').mtu, 1400);
  const offices = ex.gateways.filter((g) => g.nodeId < 100).map((g) => [g.id, g.nodeId]);
  assert.equal(offices, [['ber-gw1', 1], ['chi-gw1', 2], ['muc-gw1', 3], ['nyc-gw1', 4], ['par-gw1', 5], ['rtm-gw1', 6]]);
});

example.run();

// ---------------------------------------------------------------------------
const roundTrip = suite('topologyToYaml');

roundTrip('export then parse gives the same topology; export of that is byte-identical', () => {
  const exported = topologyToYaml(ex);
  const back = parseTopologyYaml(exported, 'exported.yaml');
  assert.equal(back, ex);
  assert.is(topologyToYaml(back), exported);
});

roundTrip('the export is readable: header, sections, one line per small record, every link id', () => {
  const y = topologyToYaml(parseTopologyYaml(text(base()), 'b.yaml'));
  assert.is(
    y,
    [
      '# Switchback topology (format: docs/topology.md).',
      '# Apply with: switchback ctl apply <this file>',
      '',
      'vrfs:',
      '  - { name: corp, id: 1 }',
      '  - { name: guest, id: 2 }',
      '',
      'sites:',
      '  - id: ber',
      '    name: ber',
      '    kind: office',
      '    prefixes:',
      '      - { vrf: guest, cidr: 192.168.1.0/24 }',
      '  - id: fra',
      '    name: Frankfurt DC',
      '    kind: datacenter',
      '    region: eu',
      '    prefixes:',
      '      - { vrf: corp, cidr: 10.10.0.0/16 }',
      '',
      'gateways:',
      '  - id: ber-gw1',
      '    site: ber',
      '    node_id: 1',
      '    endpoints: [ "198.51.100.11:4789" ]',
      '    underlay_mtu: 1500',
      '  - id: fra-gw1',
      '    site: fra',
      '    node_id: 101',
      '    endpoints: [ "203.0.113.10:4789" ]',
      '    underlay_mtu: 1500',
      '  - id: fra-gw2',
      '    site: fra',
      '    node_id: 2',
      '    underlay_mtu: 1500',
      '',
      'links:',
      '  - id: ber-gw1--fra-gw1',
      '    a: fra-gw1',
      '    b: ber-gw1',
      '    cost: 10',
      '    capacity_mbps: 1000',
      '    mtu: 1500',
      '    srlgs: [ fibre-1 ]',
      '',
    ].join('\n'),
  );
});

roundTrip('operational state is not exported', () => {
  const withOps: Topology = {
    ...ex,
    links: ex.links.map((l) => ({ ...l, operState: OperState.DOWN, rttUs: 1234, lossPpm: 5, changedUnixMs: 1700000000000 })),
    gateways: ex.gateways.map((g) => ({ ...g, lastSeenUnixMs: 1700000000000 })),
  };
  assert.is(topologyToYaml(withOps), topologyToYaml(ex));
});

roundTrip('drained links and empty sections survive the round trip', () => {
  const drained: Topology = { ...ex, links: ex.links.map((l, i) => (i === 0 ? { ...l, adminState: AdminState.DRAINED } : l)) };
  const y = topologyToYaml(drained);
  assert.match(y, /drained: true/);
  assert.equal(parseTopologyYaml(y, 'd.yaml'), drained);
  const empty: Topology = { vrfs: [], sites: [], gateways: [], links: [], prefixes: [] };
  assert.equal(parseTopologyYaml(topologyToYaml(empty), 'e.yaml'), empty);
});

roundTrip('names that need quoting survive', () => {
  const odd = ['yes', '123', 'a: b', '# not a comment', ' leading space', 'quote \' and "', 'Zürich — 東京', 'true', 'null', '- dash', '[x]'];
  const t: Topology = { ...ex, sites: ex.sites.map((s, i) => ({ ...s, name: odd[i % odd.length] })) };
  assert.equal(parseTopologyYaml(topologyToYaml(t), 'q.yaml').sites, [...t.sites]);
});

roundTrip('refuses to export an invalid topology', () => {
  const broken: Topology = { ...ex, links: [...ex.links, { ...ex.links[0], id: 'loop', a: 'fra-gw1', b: 'fra-gw1' }] };
  assert.throws(() => topologyToYaml(broken), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
});

roundTrip.run();
