import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateTopology } from '../../sim/generate-topology.js';
import { computeRoutingState } from '../../controller/routing/index.js';
import { SiteKind } from '../../common/model.js';
import { SwitchbackError } from '../../common/errors.js';

const gen = suite('generateTopology');

gen('deterministic from the seed', () => {
  assert.equal(generateTopology({ gateways: 120, seed: 5 }), generateTopology({ gateways: 120, seed: 5 }));
  assert.not.equal(generateTopology({ gateways: 120, seed: 5 }).links, generateTopology({ gateways: 120, seed: 6 }).links);
});

gen('the requested size and density, regions, dual-homed offices, connected', () => {
  for (const gateways of [20, 300]) {
    const t = generateTopology({ gateways, seed: 1 });
    assert.is(t.gateways.length, gateways);
    assert.is(new Set(t.gateways.map((g) => g.id)).size, gateways);
    assert.is(new Set(t.gateways.map((g) => g.nodeId)).size, gateways);
    assert.ok(Math.abs(t.links.length - gateways * 5) <= gateways * 0.5, `${t.links.length} links`);
    assert.ok(new Set(t.sites.map((s) => s.region)).size >= 2);
    const kind = new Map(t.sites.map((s) => [s.id, s]));
    const siteOf = new Map(t.gateways.map((g) => [g.id, kind.get(g.siteId)!]));
    for (const site of t.sites) {
      assert.ok(t.prefixes.filter((p) => p.siteId === site.id).length >= 10);
      if (site.kind !== SiteKind.OFFICE) continue;
      const gw = t.gateways.find((g) => g.siteId === site.id)!.id;
      const uplinks = t.links.filter((l) => (l.a === gw || l.b === gw) && siteOf.get(l.a === gw ? l.b : l.a)!.kind === SiteKind.DATACENTER);
      const dcs = new Set(uplinks.map((l) => siteOf.get(l.a === gw ? l.b : l.a)!.id));
      assert.ok(dcs.size >= 2, `${site.id} is not dual-homed`);
      const home = uplinks.filter((l) => siteOf.get(l.a === gw ? l.b : l.a)!.region === site.region);
      assert.ok(home.length >= 2, `${site.id} is dual-homed in its own region`);
    }
    assert.is(new Set(t.links.map((l) => l.id)).size, t.links.length);
    assert.ok(t.links.every((l) => l.a !== l.b && l.cost >= 1));
    const st = computeRoutingState(t); // also validates the topology
    const first = t.gateways[0]!.id;
    for (const g of t.gateways) assert.ok(st.distance(first, g.id) < Infinity, `${g.id} unreachable`);
  }
});

gen('unique prefixes per VRF except the announced anycast ones', () => {
  const t = generateTopology({ gateways: 200, seed: 2 });
  const owners = new Map<string, Set<string>>();
  for (const p of t.prefixes) {
    const k = `${p.vrf} ${p.cidr}`;
    owners.set(k, (owners.get(k) ?? new Set()).add(p.siteId));
  }
  const shared = [...owners].filter(([, s]) => s.size > 1).map(([k]) => k);
  assert.ok(shared.length >= 1);
  assert.ok(shared.every((k) => k.startsWith('corp 10.255.')));
});

gen('bad options are SwitchbackErrors', () => {
  for (const opts of [{ gateways: 1, seed: 1 }, { gateways: 2.5, seed: 1 }, { gateways: 10, seed: 1, regions: 0 }]) {
    assert.throws(() => generateTopology(opts), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
  }
  assert.is(generateTopology({ gateways: 2, seed: 1 }).gateways.length, 2);
});

gen.run();
