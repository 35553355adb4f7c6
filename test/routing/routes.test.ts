import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { computeRoutes, computeRoutingState, ruleKey, type GatewayRoutes } from '../../controller/routing/index.js';
import { SwitchbackError } from '../../common/errors.js';
import { Action, type FlowRule, type Topology } from '../../common/model.js';
import { makeLink } from './reference.js';

const routes = suite('routing on hand-made topologies');

type LinkSpec = [id: string, a: string, b: string, cost: number, state?: 'up' | 'down' | 'drained' | 'unspecified'];

/** sites: site id -> its gateways; every site gets prefix 10.<i>.0.0/16 in VRF corp unless `prefixes` is given. */
function topo(sites: Record<string, string[]>, links: LinkSpec[], prefixes?: [site: string, vrf: string, cidr: string][]): Topology {
  const ids = Object.keys(sites);
  return {
    vrfs: [
      { name: 'corp', id: 1 },
      { name: 'office-a', id: 10 },
      { name: 'office-b', id: 20 },
    ],
    sites: ids.map((id) => ({ id, name: id, kind: 0, region: '' })),
    gateways: ids.flatMap((site) =>
      sites[site]!.map((id) => ({ id, siteId: site, nodeId: 0, endpoints: [{ host: `${id}.example.net`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 })),
    ).map((g, i) => ({ ...g, nodeId: i + 1 })),
    links: links.map(([id, a, b, cost, state]) => makeLink(id, a, b, cost, state ?? 'up')),
    prefixes: prefixes?.map(([siteId, vrf, cidr]) => ({ siteId, vrf, cidr })) ?? ids.map((siteId, i) => ({ siteId, vrf: 'corp', cidr: `10.${i}.0.0/16` })),
  };
}

/** One site per gateway, named like the gateway. */
const single = (...gws: string[]) => Object.fromEntries(gws.map((g) => [g, [g]]));

type CostedHop = { gatewayId: string; linkId: string; cost: number };
type CostedRule = Omit<FlowRule, 'primary' | 'backup'> & { primary: CostedHop[]; backup?: CostedHop };

/** The rule with each next hop's path cost, taken from the routes' paths (tables carry no costs). */
function rule(r: Map<string, GatewayRoutes>, gw: string, cidr: string, vrf = 1): CostedRule {
  const found = r.get(gw)!.rules.find((x) => x.prefix === cidr && x.vrf === vrf);
  assert.ok(found, `no rule for ${vrf}/${cidr} at ${gw}`);
  const p = r.get(gw)!.paths.get(ruleKey(vrf, cidr));
  return {
    ...found!,
    primary: found!.primary.map((h, i) => ({ ...h, cost: p!.primary[i]!.cost })),
    backup: found!.backup ? { ...found!.backup, cost: p!.backup!.cost } : undefined,
  };
}

const hops = (x: CostedRule) => x.primary.map((h) => `${h.gatewayId}/${h.linkId}@${h.cost}`);
const bk = (x: CostedRule) => (x.backup ? `${x.backup.gatewayId}/${x.backup.linkId}@${x.backup.cost}` : undefined);

routes('ring of five: shortest way round, the other way as backup where it is loop-free', () => {
  // a - b - c - d - e - a, cost 1 each; prefixes 10.<i>.0.0/16 for a..e
  const t = topo(single('a', 'b', 'c', 'd', 'e'), [
    ['ab', 'a', 'b', 1],
    ['bc', 'b', 'c', 1],
    ['cd', 'c', 'd', 1],
    ['de', 'd', 'e', 1],
    ['ea', 'e', 'a', 1],
  ]);
  const r = computeRoutes(t);
  assert.is(rule(r, 'a', '10.0.0.0/16').action, Action.DELIVER);
  const toC = rule(r, 'a', '10.2.0.0/16');
  assert.is(toC.action, Action.FORWARD);
  assert.equal(hops(toC), ['b/ab@2']);
  // e reaches c in 2 without passing a (2 < 1 + 2), and avoids b too.
  assert.is(bk(toC), 'e/ea@3');
  assert.is(toC.destSiteId, 'c');
  // To the direct neighbour b there is no LFA: e's way to b (2) is not shorter than via a (1 + 1).
  const toB = rule(r, 'a', '10.1.0.0/16');
  assert.equal(hops(toB), ['b/ab@1']);
  assert.is(toB.backup, undefined);
  const paths = r.get('a')!.paths.get(ruleKey(1, '10.2.0.0/16'))!;
  assert.equal(paths.primary, [{ gateways: ['a', 'b', 'c'], cost: 2 }]);
  assert.equal(paths.backup, { gateways: ['a', 'e', 'd', 'c'], cost: 3 });
  assert.equal(r.get('a')!.paths.get(ruleKey(1, '10.0.0.0/16')), { primary: [{ gateways: ['a'], cost: 0 }] });
});

routes('ring of four: both ways round the ring are equal-cost primaries (ECMP)', () => {
  const t = topo(single('a', 'b', 'c', 'd'), [
    ['ab', 'a', 'b', 3],
    ['bc', 'b', 'c', 3],
    ['cd', 'c', 'd', 3],
    ['da', 'd', 'a', 3],
  ]);
  const toC = rule(computeRoutes(t), 'a', '10.2.0.0/16');
  assert.equal(hops(toC), ['b/ab@6', 'd/da@6']);
  assert.is(toC.backup, undefined);
  const paths = computeRoutes(t).get('a')!.paths.get(ruleKey(1, '10.2.0.0/16'))!;
  assert.equal(paths.primary.map((p) => p.gateways), [
    ['a', 'b', 'c'],
    ['a', 'd', 'c'],
  ]);
});

routes('three meshed datacenters with dual-homed offices', () => {
  // dc1, dc2, dc3 meshed at cost 10; of1 -> dc1 (5), dc2 (8); of2 -> dc2 (5), dc3 (8)
  const t = topo(single('dc1', 'dc2', 'dc3', 'of1', 'of2'), [
    ['dc1-dc2', 'dc1', 'dc2', 10],
    ['dc1-dc3', 'dc1', 'dc3', 10],
    ['dc2-dc3', 'dc2', 'dc3', 10],
    ['of1-dc1', 'of1', 'dc1', 5],
    ['of1-dc2', 'of1', 'dc2', 8],
    ['of2-dc2', 'of2', 'dc2', 5],
    ['of2-dc3', 'of2', 'dc3', 8],
  ]);
  const r = computeRoutes(t);
  // of1 -> of2: via dc2 costs 8 + 5; dc1 is a loop-free (not node-protecting) backup: 5 + 15.
  const ofToOf = rule(r, 'of1', '10.4.0.0/16');
  assert.equal(hops(ofToOf), ['dc2/of1-dc2@13']);
  assert.is(bk(ofToOf), 'dc1/of1-dc1@20');
  // dc3 -> of1: via dc1 (15); dc2 protects against dc1 failing (8 < 10 + 5) and beats of2 (18 < 21).
  const dcToOf = rule(r, 'dc3', '10.3.0.0/16');
  assert.equal(hops(dcToOf), ['dc1/dc1-dc3@15']);
  assert.is(bk(dcToOf), 'dc2/dc2-dc3@18');
  // Peers of an office: its two datacenter tunnels, by link id, keys left for the store.
  const peers = r.get('of1')!.peers;
  assert.equal(peers.map((p) => [p.linkId, p.gatewayId, p.nodeId, p.mtu]), [
    ['of1-dc1', 'dc1', 1, 1500],
    ['of1-dc2', 'dc2', 2, 1500],
  ]);
  assert.equal(peers[0]!.endpoints, [{ host: 'dc1.example.net', port: 4789 }]);
  assert.is(peers[0]!.key.length, 0);
});

routes('a partitioned graph drops what it cannot reach', () => {
  const t = topo(single('a', 'b', 'c', 'd'), [
    ['ab', 'a', 'b', 1],
    ['cd', 'c', 'd', 1],
  ]);
  const r = computeRoutes(t);
  const toD = rule(r, 'a', '10.3.0.0/16');
  assert.is(toD.action, Action.DROP);
  assert.equal(toD.primary, []);
  assert.is(toD.backup, undefined);
  assert.is(toD.destSiteId, 'd');
  assert.equal(r.get('a')!.paths.get(ruleKey(1, '10.3.0.0/16')), { primary: [] });
  assert.is(rule(r, 'a', '10.1.0.0/16').action, Action.FORWARD);
  assert.is(computeRoutingState(t).distance('a', 'd'), Infinity);
});

routes('parallel links: equal ones are both primaries, a dearer one is a link-protecting backup', () => {
  const eq = computeRoutes(
    topo(single('a', 'b'), [
      ['ab-1', 'a', 'b', 4],
      ['ab-2', 'a', 'b', 4],
    ]),
  );
  assert.equal(hops(rule(eq, 'a', '10.1.0.0/16')), ['b/ab-1@4', 'b/ab-2@4']);
  const dear = computeRoutes(
    topo(single('a', 'b'), [
      ['ab-1', 'a', 'b', 4],
      ['ab-2', 'a', 'b', 9],
    ]),
  );
  assert.equal(hops(rule(dear, 'a', '10.1.0.0/16')), ['b/ab-1@4']);
  assert.is(bk(rule(dear, 'a', '10.1.0.0/16')), 'b/ab-2@9');
  assert.equal(dear.get('a')!.peers.map((p) => p.linkId), ['ab-1', 'ab-2']);
});

routes('a drained link carries nothing and is no peer; an oper-down one carries nothing but stays a peer', () => {
  const links = (state: 'drained' | 'down'): LinkSpec[] => [
    ['ab', 'a', 'b', 1],
    ['bc', 'b', 'c', 1],
    ['ac', 'a', 'c', 1, state],
  ];
  for (const state of ['drained', 'down'] as const) {
    const r = computeRoutes(topo(single('a', 'b', 'c'), links(state)));
    assert.equal(hops(rule(r, 'a', '10.2.0.0/16')), ['b/ab@2'], state);
    assert.is(rule(r, 'a', '10.2.0.0/16').backup, undefined);
    const peerLinks = r.get('a')!.peers.map((p) => p.linkId);
    assert.equal(peerLinks, state === 'drained' ? ['ab'] : ['ab', 'ac'], state);
  }
  // Unspecified oper state (no report yet) counts as usable.
  const r = computeRoutes(topo(single('a', 'b', 'c'), links('down').map((l) => (l[0] === 'ac' ? [...l.slice(0, 4), 'unspecified'] : l)) as LinkSpec[]));
  assert.equal(hops(rule(r, 'a', '10.2.0.0/16')), ['c/ac@1']);
});

routes('VRFs keep two offices on 192.168.1.0/24 apart', () => {
  const t = topo(
    single('dc', 'of-a', 'of-b'),
    [
      ['a', 'of-a', 'dc', 1],
      ['b', 'of-b', 'dc', 1],
    ],
    [
      ['of-a', 'office-a', '192.168.1.0/24'],
      ['of-b', 'office-b', '192.168.1.0/24'],
    ],
  );
  const r = computeRoutes(t);
  assert.equal(
    r.get('dc')!.rules.map((x) => [x.vrf, x.prefix, x.destSiteId, x.primary[0]?.gatewayId]),
    [
      [10, '192.168.1.0/24', 'of-a', 'of-a'],
      [20, '192.168.1.0/24', 'of-b', 'of-b'],
    ],
  );
  assert.is(rule(r, 'of-a', '192.168.1.0/24', 10).action, Action.DELIVER);
  assert.is(rule(r, 'of-a', '192.168.1.0/24', 20).action, Action.FORWARD);
});

routes('an anycast prefix goes to the nearest announcing site; ties are ECMP', () => {
  // dc1 - of1 - of2 - dc2 in a line, plus of3 equally far from both.
  const t = topo(
    single('dc1', 'dc2', 'of1', 'of2', 'of3'),
    [
      ['l1', 'dc1', 'of1', 1],
      ['l2', 'of1', 'of2', 5],
      ['l3', 'of2', 'dc2', 1],
      ['l4', 'of3', 'dc1', 2],
      ['l5', 'of3', 'dc2', 2],
    ],
    [
      ['dc1', 'corp', '10.255.0.0/24'],
      ['dc2', 'corp', '10.255.0.0/24'],
    ],
  );
  const r = computeRoutes(t);
  assert.is(rule(r, 'dc1', '10.255.0.0/24').action, Action.DELIVER);
  assert.is(rule(r, 'dc2', '10.255.0.0/24').destSiteId, 'dc2');
  assert.equal(hops(rule(r, 'of1', '10.255.0.0/24')), ['dc1/l1@1']);
  assert.is(rule(r, 'of1', '10.255.0.0/24').destSiteId, 'dc1');
  assert.equal(hops(rule(r, 'of2', '10.255.0.0/24')), ['dc2/l3@1']);
  assert.is(rule(r, 'of2', '10.255.0.0/24').destSiteId, 'dc2');
  assert.equal(hops(rule(r, 'of3', '10.255.0.0/24')), ['dc1/l4@2', 'dc2/l5@2']);
  assert.is(rule(r, 'of3', '10.255.0.0/24').destSiteId, 'dc1');
  assert.is(r.get('of1')!.rules.length, 1);
});

routes('a site with two gateways: both deliver, and others reach whichever is nearer', () => {
  const t = topo({ dc: ['dc-a', 'dc-b'], of: ['of'] }, [
    ['dc', 'dc-a', 'dc-b', 1],
    ['up1', 'of', 'dc-a', 10],
    ['up2', 'of', 'dc-b', 4],
  ]);
  const r = computeRoutes(t);
  assert.is(rule(r, 'dc-a', '10.0.0.0/16').action, Action.DELIVER);
  assert.is(rule(r, 'dc-b', '10.0.0.0/16').action, Action.DELIVER);
  assert.equal(hops(rule(r, 'of', '10.0.0.0/16')), ['dc-b/up2@4']);
  assert.is(bk(rule(r, 'of', '10.0.0.0/16')), 'dc-a/up1@10');
  assert.equal(hops(rule(r, 'dc-a', '10.1.0.0/16')), ['dc-b/dc@5']);
});

routes('rules come in canonical order: VRF id, then prefix text', () => {
  const t = topo(single('a', 'b'), [['ab', 'a', 'b', 1]], [
    ['b', 'office-b', '10.0.0.0/8'],
    ['b', 'corp', '192.168.0.0/16'],
    ['a', 'corp', '10.1.0.0/16'],
    ['b', 'corp', '10.0.0.0/8'],
    ['b', 'corp', '10.0.0.0/8'],
  ]);
  assert.equal(
    computeRoutes(t).get('a')!.rules.map((x) => ruleKey(x.vrf, x.prefix)),
    ['1/10.0.0.0/8', '1/10.1.0.0/16', '1/192.168.0.0/16', '20/10.0.0.0/8'],
  );
  assert.is(ruleKey(20, '10.0.0.0/8'), '20/10.0.0.0/8');
});

routes('rules, next hops and peers are frozen', () => {
  const r = computeRoutes(topo(single('a', 'b'), [['ab', 'a', 'b', 1]]));
  const x = r.get('a')!.rules.find((y) => y.prefix === '10.1.0.0/16')!;
  assert.ok(Object.isFrozen(r.get('a')!.rules) && Object.isFrozen(x) && Object.isFrozen(x.primary) && Object.isFrozen(x.primary[0]));
  assert.ok(Object.isFrozen(r.get('a')!.peers[0]));
  assert.throws(() => {
    (x as { action: Action }).action = Action.DROP;
  });
});

routes('bad input gets a SwitchbackError naming the field', () => {
  const base = topo(single('a', 'b'), [['ab', 'a', 'b', 1]]);
  const cases: [Topology, string][] = [
    [{ ...base, links: [makeLink('ax', 'a', 'x', 1)] }, 'links[ax].b'],
    [{ ...base, links: [makeLink('aa', 'a', 'a', 1)] }, 'links[aa].b'],
    [{ ...base, links: [makeLink('ab', 'a', 'b', 0)] }, 'links[ab].cost'],
    [{ ...base, links: [makeLink('ab', 'a', 'b', 1), makeLink('ab', 'b', 'a', 1)] }, 'links'],
    [{ ...base, prefixes: [{ siteId: 'a', vrf: 'nope', cidr: '10.0.0.0/8' }] }, 'prefixes[0].vrf'],
    [{ ...base, prefixes: [{ siteId: 'zz', vrf: 'corp', cidr: '10.0.0.0/8' }] }, 'prefixes[0].siteId'],
    [{ ...base, gateways: [...base.gateways, { ...base.gateways[0]!, id: 'c', siteId: 'nowhere' }] }, 'gateways[c].siteId'],
    [{ ...base, gateways: [...base.gateways, base.gateways[0]!] }, 'gateways'],
  ];
  for (const [t, field] of cases) {
    try {
      computeRoutes(t);
      assert.unreachable(`accepted bad ${field}`);
    } catch (e) {
      assert.ok(SwitchbackError.is(e, 'INVALID_ARGUMENT'), String(e));
      assert.is((e as SwitchbackError).field, field);
    }
  }
  assert.throws(() => computeRoutes(base, { maxEcmp: 0 }), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
});

routes('cost overrides (RTT-derived costs) steer routes; maxEcmp caps the primaries', () => {
  const t = topo(single('a', 'b', 'c', 'd'), [
    ['ab', 'a', 'b', 1],
    ['bd', 'b', 'd', 1],
    ['ac', 'a', 'c', 1],
    ['cd', 'c', 'd', 1],
  ]);
  assert.equal(hops(rule(computeRoutes(t), 'a', '10.3.0.0/16')), ['b/ab@2', 'c/ac@2']);
  assert.equal(hops(rule(computeRoutes(t, { maxEcmp: 1 }), 'a', '10.3.0.0/16')), ['b/ab@2']);
  const slow = computeRoutes(t, { costOverrides: new Map([['ab', 7]]) });
  assert.equal(hops(rule(slow, 'a', '10.3.0.0/16')), ['c/ac@2']);
  assert.is(bk(rule(slow, 'a', '10.3.0.0/16')), 'b/ab@8');
});

routes.run();
