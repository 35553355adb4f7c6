import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminState, OperState, SiteKind, type Topology } from '../../common/model.js';
import { checkTopology, diffTopology, mergeOperational } from '../../controller/topology/topology-diff.js';
import { parseTopologyYaml, topologyToYaml } from '../../controller/topology/topology-yaml.js';

const exampleText = readFileSync(new URL('../../examples/topology.yaml', import.meta.url), 'utf8');
const ex = parseTopologyYaml(exampleText, 'examples/topology.yaml');

/** The example with some operational state, as the store would hold it. */
const live: Topology = {
  ...ex,
  links: ex.links.map((l) =>
    l.id === 'tat-fra-ash'
      ? { ...l, operState: OperState.DOWN, rttUs: 0, lossPpm: 1_000_000, changedUnixMs: 1_700_000_000_000 }
      : { ...l, operState: OperState.UP, rttUs: 12_000, lossPpm: 10, changedUnixMs: 1_600_000_000_000 },
  ),
  gateways: ex.gateways.map((g) => ({ ...g, lastSeenUnixMs: 1_700_000_000_123 })),
};

const diff = suite('diffTopology');

diff('no changes between a topology and itself, or its export, whatever the operational state', () => {
  assert.equal(diffTopology(ex, ex), []);
  assert.equal(diffTopology(live, parseTopologyYaml(topologyToYaml(live), 'export.yaml')), []);
});

diff('lists additions, updates and removals, typed, in an order that keeps references valid', () => {
  const yaml = exampleText
    // update: a cost and a drain on one link; a site renamed; a gateway's MTU
    .replace('{ a: ber-gw1, b: fra-gw1, cost: 10, capacity_mbps: 500 }', '{ a: ber-gw1, b: fra-gw1, cost: 30, capacity_mbps: 500, drained: true }')
    .replace('name: Munich office', 'name: München office')
    .replace('{ id: par-gw1, site: par, endpoints: [ "198.51.100.14:4789" ], underlay_mtu: 1492 }', '{ id: par-gw1, site: par, endpoints: [ "198.51.100.14:4789" ], underlay_mtu: 1500 }')
    // remove: Chicago with its gateway, links and prefix
    .replace(/  - id: chi\n(    .*\n){4}      - .*\n/, '')
    .replace('  - { id: chi-gw1, site: chi, endpoints: [ "198.51.100.22:4789" ] }\n', '')
    .replace('  - { a: chi-gw1, b: ash-gw2, cost: 12, capacity_mbps: 500 }\n', '')
    .replace('  - { a: chi-gw1, b: ams-gw1, cost: 65, capacity_mbps: 500 }\n', '')
    // add: a VRF, and a prefix in it
    .replace('  - { name: acquired, id: 2 }', '  - { name: acquired, id: 2 }\n  - { name: lab, id: 3 }')
    .replace('      - { vrf: corp, cidr: 10.20.0.0/16 }', '      - { vrf: corp, cidr: 10.20.0.0/16 }\n      - { vrf: lab, cidr: 10.99.0.0/16 }');
  const desired = parseTopologyYaml(yaml, 'desired.yaml', { current: ex });
  const changes = diffTopology(live, mergeOperational(live, desired));
  assert.equal(
    changes.map((c) => `${c.type} ${c.kind} ${c.id}`),
    [
      'add vrf lab',
      'update site muc',
      'update gateway par-gw1',
      'update link ams-gw1--par-gw1',
      'update link ber-gw1--fra-gw1',
      'update link fra-gw1--par-gw1',
      'add prefix ams:lab:10.99.0.0/16',
      'remove prefix chi:corp:10.202.0.0/24',
      'remove link ams-gw1--chi-gw1',
      'remove link ash-gw2--chi-gw1',
      'remove gateway chi-gw1',
      'remove site chi',
    ],
  );
  const summary = Object.fromEntries(changes.map((c) => [`${c.type} ${c.id}`, c.summary]));
  assert.is(summary['add lab'], 'add VRF lab (id 3)');
  assert.is(summary['update muc'], "site muc: name 'Munich office' -> 'München office'");
  assert.is(summary['update par-gw1'], 'gateway par-gw1: underlay MTU 1492 -> 1500');
  assert.is(summary['update ber-gw1--fra-gw1'], 'link ber-gw1--fra-gw1: cost 10 -> 30, drained');
  // the MTUs of both Paris links follow the default (the smaller underlay MTU)
  assert.is(summary['update ams-gw1--par-gw1'], 'link ams-gw1--par-gw1: MTU 1492 -> 1500');
  assert.is(summary['update fra-gw1--par-gw1'], 'link fra-gw1--par-gw1: MTU 1492 -> 1500');
  assert.is(summary['add ams:lab:10.99.0.0/16'], 'announce 10.99.0.0/16 in VRF lab from site ams');
  assert.is(summary['remove chi:corp:10.202.0.0/24'], 'withdraw 10.202.0.0/24 in VRF corp from site chi');
  assert.is(summary['remove chi-gw1'], 'remove gateway chi-gw1 from site chi');
  assert.is(summary['remove chi'], "remove office site chi 'Chicago office'");
});

diff('describes additions fully and undrain, SRLG, endpoint, ends and kind changes', () => {
  const base: Topology = parseTopologyYaml(
    [
      'vrfs: [ { name: corp, id: 1 } ]',
      'sites: [ { id: s, kind: office }, { id: t, kind: office } ]',
      'gateways: [ { id: a, site: s, node_id: 1 }, { id: b, site: s, node_id: 2 }, { id: c, site: s, node_id: 3 } ]',
      'links: [ { id: l, a: a, b: b, cost: 1, drained: true, srlgs: [ x ] } ]',
    ].join('\n'),
    'base.yaml',
  );
  const next: Topology = {
    ...base,
    vrfs: [{ name: 'corp', id: 9 }],
    sites: [base.sites[0], { ...base.sites[1], kind: SiteKind.DATACENTER, region: 'eu' }],
    gateways: [{ ...base.gateways[0], endpoints: [{ host: '2001:db8::1', port: 4789 }], nodeId: 4 }, ...base.gateways.slice(1)],
    links: [
      { ...base.links[0], b: 'c', adminState: AdminState.UP, srlgs: ['x', 'y'], capacityMbps: 10 },
      { ...base.links[0], id: 'm', a: 'b', b: 'c', srlgs: [], adminState: AdminState.UP, cost: 3, mtu: 1400 },
    ],
  };
  const byId = Object.fromEntries(diffTopology(base, checkTopology(next)).map((c) => [c.id, c.summary]));
  assert.equal(byId, {
    corp: 'VRF corp: id 1 -> 9',
    t: 'site t: kind office -> datacenter, region none -> eu',
    a: 'gateway a: node id 1 -> 4, endpoints none -> [2001:db8::1]:4789',
    l: 'link l: ends a/b -> a/c, capacity 1000 Mbit/s -> 10 Mbit/s, SRLGs x -> x y, undrained',
    m: 'add link m between b and c (cost 3, 1000 Mbit/s, MTU 1400)',
  });
});

diff.run();

const merge = suite('mergeOperational');

merge('keeps the operational state of links and gateways that stay, takes everything else from desired', () => {
  const desired = parseTopologyYaml(exampleText.replace('    cost: 40\n', '    cost: 41\n'), 'desired.yaml');
  const merged = mergeOperational(live, desired);
  const tat = merged.links.find((l) => l.id === 'tat-fra-ash')!;
  assert.is(tat.operState, OperState.DOWN, 'an oper-DOWN link stays DOWN after apply');
  assert.is(tat.lossPpm, 1_000_000);
  assert.is(tat.changedUnixMs, 1_700_000_000_000);
  assert.is(tat.cost, 41);
  const other = merged.links.find((l) => l.id === 'ber-gw1--fra-gw1')!;
  assert.equal([other.operState, other.rttUs, other.lossPpm], [OperState.UP, 12_000, 10]);
  assert.ok(merged.gateways.every((g) => g.lastSeenUnixMs === 1_700_000_000_123));
  assert.ok(Object.isFrozen(merged) && Object.isFrozen(merged.links[0]) && Object.isFrozen(merged.links[0].srlgs));
  // the merge is still a valid topology
  assert.equal(checkTopology(merged), merged);
});

merge('a link whose ends changed, and new links and gateways, start without operational state', () => {
  const moved = exampleText.replace(
    '  - id: tat-fra-ash\n    a: fra-gw1\n    b: ash-gw1',
    '  - id: tat-fra-ash\n    a: fra-gw2\n    b: ash-gw1',
  );
  const desired = parseTopologyYaml(
    moved.replace('  - { id: chi-gw1,', '  - { id: chi-gw2, site: chi }\n  - { id: chi-gw1,').replace(
      '  - { a: chi-gw1, b: ams-gw1, cost: 65, capacity_mbps: 500 }',
      '  - { a: chi-gw1, b: ams-gw1, cost: 65, capacity_mbps: 500 }\n  - { a: chi-gw2, b: ash-gw1, cost: 9 }',
    ),
    'desired.yaml',
  );
  const merged = mergeOperational(live, desired);
  const tat = merged.links.find((l) => l.id === 'tat-fra-ash')!;
  assert.equal([tat.a, tat.operState, tat.lossPpm, tat.changedUnixMs], ['fra-gw2', OperState.UNSPECIFIED, 0, 0]);
  const fresh = merged.links.find((l) => l.id === 'ash-gw1--chi-gw2')!;
  assert.is(fresh.operState, OperState.UNSPECIFIED);
  assert.is(merged.gateways.find((g) => g.id === 'chi-gw2')!.lastSeenUnixMs, 0);
  // a link with the same ends written the other way round is the same tunnel
  const swapped = parseTopologyYaml(exampleText.replace('    a: fra-gw1\n    b: ash-gw1', '    a: ash-gw1\n    b: fra-gw1'), 's.yaml');
  assert.is(mergeOperational(live, swapped).links.find((l) => l.id === 'tat-fra-ash')!.operState, OperState.DOWN);
});

merge('does not modify its inputs', () => {
  const before = JSON.stringify(live);
  const desired = parseTopologyYaml(exampleText, 'd.yaml');
  mergeOperational(live, desired);
  assert.is(JSON.stringify(live), before);
  assert.ok(desired.links.every((l) => l.operState === OperState.UNSPECIFIED));
});

merge.run();
