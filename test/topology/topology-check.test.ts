import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { AdminState, OperState, SiteKind, type Gateway, type Link, type Topology } from '../../common/model.js';
import {
  checkTopology,
  defaultLinkId,
  formatEndpoint,
  parseEndpoint,
  topologyProblems,
  withDefaults,
} from '../../controller/topology/topology-check.js';

// Objects as the admin API hands them in: model names, no lines.
const gw = (id: string, siteId: string, nodeId: number, extra: Partial<Gateway> = {}): Gateway => ({
  id,
  siteId,
  nodeId,
  endpoints: [],
  underlayMtu: 1500,
  lastSeenUnixMs: 0,
  ...extra,
});
const link = (a: string, b: string, cost: number, extra: Partial<Link> = {}): Link => ({
  id: defaultLinkId(a, b),
  a,
  b,
  cost,
  capacityMbps: 1000,
  mtu: 1500,
  srlgs: [],
  adminState: AdminState.UP,
  operState: OperState.UNSPECIFIED,
  rttUs: 0,
  lossPpm: 0,
  changedUnixMs: 0,
  ...extra,
});

function valid(): Topology {
  return {
    vrfs: [{ name: 'guest', id: 2 }, { name: 'corp', id: 1 }],
    sites: [
      { id: 'fra', name: 'Frankfurt', kind: SiteKind.DATACENTER, region: 'eu' },
      { id: 'ber', name: 'Berlin', kind: SiteKind.OFFICE, region: 'eu' },
    ],
    gateways: [gw('fra-gw1', 'fra', 101, { endpoints: [{ host: '2001:DB8::A', port: 4789 }] }), gw('ber-gw1', 'ber', 1)],
    links: [link('fra-gw1', 'ber-gw1', 10, { srlgs: ['z', 'a'], operState: OperState.DOWN, rttUs: 900 })],
    prefixes: [
      { siteId: 'fra', vrf: 'corp', cidr: '10.10.0.0/16' },
      { siteId: 'ber', vrf: 'guest', cidr: '2001:DB8:1::/48' },
      { siteId: 'ber', vrf: 'corp', cidr: '192.168.1.0/24' },
    ],
  };
}

function problem(t: unknown): SwitchbackError {
  try {
    checkTopology(t as Topology);
  } catch (err) {
    assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'), `not a SwitchbackError: ${String(err)}`);
    return err;
  }
  assert.unreachable('accepted an invalid topology');
  throw new Error('unreachable');
}

const check = suite('checkTopology (admin API objects)');

check('returns the canonical form: sorted, canonical texts, frozen; operational state kept', () => {
  const t = checkTopology(valid());
  assert.equal(t.vrfs.map((v) => v.name), ['corp', 'guest']);
  assert.equal(t.sites.map((s) => s.id), ['ber', 'fra']);
  assert.equal(t.gateways.map((g) => g.id), ['ber-gw1', 'fra-gw1']);
  assert.equal(t.gateways[1].endpoints, [{ host: '2001:db8::a', port: 4789 }]);
  assert.equal(t.prefixes, [
    { siteId: 'ber', vrf: 'corp', cidr: '192.168.1.0/24' },
    { siteId: 'ber', vrf: 'guest', cidr: '2001:db8:1::/48' },
    { siteId: 'fra', vrf: 'corp', cidr: '10.10.0.0/16' },
  ]);
  assert.equal(t.links[0].srlgs, ['a', 'z']);
  assert.is(t.links[0].operState, OperState.DOWN);
  assert.is(t.links[0].rttUs, 900);
  assert.ok(Object.isFrozen(t.prefixes[0]));
  // Canonical input comes back equal.
  assert.equal(checkTopology(t), t);
});

check('names fields with the model (proto) names and no line', () => {
  const t = valid();
  t.gateways[1] = gw('ber-gw1', 'nowhere', 1);
  let e = problem(t);
  assert.is(e.field, 'gateways[1].site_id');
  assert.is(e.line, undefined);
  assert.match(e.message, /unknown site 'nowhere'/);

  const p = valid();
  p.prefixes[0] = { siteId: 'fra', vrf: 'corp', cidr: '10.10.0.0/8' };
  e = problem(p);
  assert.is(e.field, 'prefixes[0].cidr');
  assert.match(e.message, /host bits/);

  const g = valid();
  g.gateways[0] = gw('fra-gw1', 'fra', 101, { endpoints: [{ host: '203.0.113.1', port: 70000 }] });
  assert.is(problem(g).field, 'gateways[0].endpoints[0].port');
  g.gateways[0] = gw('fra-gw1', 'fra', 101, { endpoints: [{ host: '[2001:db8::1]', port: 1 }] });
  assert.is(problem(g).field, 'gateways[0].endpoints[0].host');
});

check('every rule of the file format applies to objects too', () => {
  const cases: [string, (t: Topology) => void, RegExp][] = [
    ['links[0].cost', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 0)), /positive integer/],
    ['links[0].cost', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 2.5)), /positive integer/],
    ['links[0].b', (t) => (t.links[0] = link('fra-gw1', 'fra-gw1', 1)), /to itself/],
    ['links[0].a', (t) => (t.links[0] = link('x', 'ber-gw1', 1)), /unknown gateway 'x'/],
    ['links[1].id', (t) => t.links.push(link('ber-gw1', 'fra-gw1', 1)), /duplicate link id/],
    ['links[0].mtu', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { mtu: 9216 })), /exceeds the underlay MTU 1500/],
    ['links[0].mtu', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { mtu: 0 })), /576-9216/],
    ['links[0].admin_state', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { adminState: AdminState.UNSPECIFIED })), /UP or DRAINED/],
    ['links[0].oper_state', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { operState: 7 as OperState })), /UNSPECIFIED, UP or DOWN/],
    ['links[0].loss_ppm', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { lossPpm: 2_000_000 })), /0-1000000/],
    ['links[0].capacity_mbps', (t) => (t.links[0] = link('fra-gw1', 'ber-gw1', 1, { capacityMbps: 0 })), /positive integer/],
    ['vrfs[0].id', (t) => (t.vrfs[0] = { name: 'guest', id: 0x1000000 }), /1-16777215/],
    ['vrfs[1].id', (t) => (t.vrfs[1] = { name: 'corp', id: 2 }), /duplicate VRF id 2/],
    ['vrfs[1].name', (t) => (t.vrfs[1] = { name: 'guest', id: 1 }), /duplicate VRF name/],
    ['sites[1].id', (t) => (t.sites[1] = { ...t.sites[1], id: 'fra' }), /duplicate site id/],
    ['sites[0].kind', (t) => (t.sites[0] = { ...t.sites[0], kind: SiteKind.UNSPECIFIED }), /datacenter or office/],
    ['gateways[1].node_id', (t) => (t.gateways[1] = gw('ber-gw1', 'ber', 101)), /duplicate node id 101/],
    ['gateways[1].node_id', (t) => (t.gateways[1] = gw('ber-gw1', 'ber', 0)), /1-4294967295/],
    ['gateways[1].underlay_mtu', (t) => (t.gateways[1] = gw('ber-gw1', 'ber', 1, { underlayMtu: 100 })), /576-9216/],
    ['gateways[1].id', (t) => (t.gateways[1] = gw('fra-gw1', 'ber', 1)), /duplicate gateway id/],
    ['prefixes[0].vrf', (t) => (t.prefixes[0] = { ...t.prefixes[0], vrf: 'nope' }), /unknown VRF 'nope'/],
    ['prefixes[3].cidr', (t) => t.prefixes.push({ siteId: 'fra', vrf: 'corp', cidr: '10.10.0.0/16' }), /twice/],
  ];
  for (const [field, mutate, pattern] of cases) {
    const t = valid();
    mutate(t);
    const e = problem(t);
    assert.is(e.field, field, e.message);
    assert.match(e.message, pattern);
  }
});

check('malformed objects give a SwitchbackError, never a TypeError', () => {
  const shapes: unknown[] = [
    null,
    42,
    {},
    { ...valid(), links: 'x' },
    { ...valid(), sites: [null] },
    { ...valid(), gateways: [{ id: 'g' }] },
    { ...valid(), links: [{}] },
    { ...valid(), prefixes: [{ siteId: 1, vrf: {}, cidr: [] }] },
    { ...valid(), gateways: [gw('fra-gw1', 'fra', 1, { endpoints: [null as never] })] },
  ];
  for (const s of shapes) {
    problem(s);
    assert.not.throws(() => topologyProblems(s as Topology));
    assert.not.throws(() => withDefaults(s as Topology));
  }
});

check.run();

const defaults = suite('withDefaults');

defaults('fills what the admin API may leave out, keeps what is given', () => {
  const t: Topology = {
    vrfs: [],
    sites: [{ id: 's', name: 's', kind: SiteKind.DATACENTER, region: '' }],
    gateways: [gw('b', 's', 0, { underlayMtu: 0 }), gw('a', 's', 0, { underlayMtu: 1400 }), gw('c', 's', 2)],
    links: [link('b', 'a', 5, { id: '', mtu: 0, capacityMbps: 0, adminState: AdminState.UNSPECIFIED })],
    prefixes: [],
  };
  const d = withDefaults(t);
  assert.equal(d.gateways.map((g) => [g.id, g.nodeId, g.underlayMtu]), [['b', 3, 1500], ['a', 1, 1400], ['c', 2, 1500]]);
  assert.equal(
    [d.links[0].id, d.links[0].mtu, d.links[0].capacityMbps, d.links[0].adminState],
    ['a--b', 1400, 1000, AdminState.UP],
  );
  assert.not.throws(() => checkTopology(d));
  // the input is not modified
  assert.is(t.gateways[0].nodeId, 0);
});

defaults('keeps stored node ids unless an explicit id claims them', () => {
  const stored: Topology = { vrfs: [], sites: [], links: [], prefixes: [], gateways: [gw('a', 's', 7), gw('b', 's', 8)] };
  const t: Topology = { vrfs: [], sites: [], links: [], prefixes: [], gateways: [gw('a', 's', 0), gw('b', 's', 0), gw('c', 's', 8)] };
  assert.equal(withDefaults(t, stored).gateways.map((g) => g.nodeId), [7, 1, 8]);
});

defaults.run();

const endpoints = suite('endpoints');

endpoints('parse and format host:port, IPv6 in brackets, canonically', () => {
  assert.equal(parseEndpoint('203.0.113.1:4789', 'e'), { host: '203.0.113.1', port: 4789 });
  assert.equal(parseEndpoint('[2001:DB8:0::1]:1', 'e'), { host: '2001:db8::1', port: 1 });
  assert.is(formatEndpoint({ host: '2001:db8::1', port: 1 }), '[2001:db8::1]:1');
  assert.is(formatEndpoint({ host: '203.0.113.1', port: 65535 }), '203.0.113.1:65535');
});

endpoints('refuse what is not host:port with an IP literal', () => {
  const bad = ['', ':80', '203.0.113.1:', '203.0.113.1:65536', '203.0.113.1:080', '[203.0.113.1]:80', '[2001:db8::1]80', '[2001:db8::1:80', '::1:80', 'host:80', '203.0.113.1 :80', '0.0.0.0:1', '[::]:1'];
  for (const text of bad) {
    assert.throws(
      () => parseEndpoint(text, 'gateways[0].endpoints[0]'),
      (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT') && e.field === 'gateways[0].endpoints[0]' && /expected host:port/.test(e.message),
      text,
    );
  }
});

endpoints.run();
