import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { changedRules, computeRoutingState, diffRoutes, recomputeAfterLinkChange, ruleKey, type RoutingState } from '../../controller/routing/index.js';
import { encodeContent, patchContent, tableBytes } from '../../controller/table-encodings.js';
import { encodeFlowTable } from '../../common/table-codec.js';
import { applyDelta, compareRuleKeys, rulesEqual, tableHash } from '../../common/flow-table.js';
import { Action, type FlowRule, type FlowTable } from '../../common/model.js';
import type { Link, Topology } from '../../common/model.js';
import { generateTopology } from '../../sim/generate-topology.js';
import { buildLinks, buildNodes, patchLinks } from '../../controller/routing/graph.js';
import { resolveOptions } from '../../controller/routing/options.js';
import { linkState, makeLink, topologyArb } from './reference.js';

const incremental = suite('recomputeAfterLinkChange');

type Step =
  | { kind: 'state'; link: number; state: 'up' | 'unspecified' | 'down' | 'drained' }
  | { kind: 'cost'; link: number; cost: number }
  | { kind: 'mtu'; link: number; mtu: number }
  | { kind: 'remove'; link: number }
  | { kind: 'add'; a: number; b: number; cost: number }
  | { kind: 'move'; link: number; a: number; b: number }
  | { kind: 'double'; first: number; second: number; cost: number }
  | { kind: 'prefix'; site: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('state' as const), link: fc.nat(), state: fc.constantFrom('up' as const, 'unspecified' as const, 'down' as const, 'drained' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('cost' as const), link: fc.nat(), cost: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mtu' as const), link: fc.nat(), mtu: fc.constantFrom(0, 1280, 1400) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), link: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), a: fc.nat(), b: fc.nat(), cost: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('move' as const), link: fc.nat(), a: fc.nat(), b: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('double' as const), first: fc.nat(), second: fc.nat(), cost: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prefix' as const), site: fc.nat() }) },
);

let added = 0;
/** The topology after the step, and the link ids a caller would report. */
function applyStep(topo: Topology, step: Step): { topo: Topology; changed: string[] } {
  const links = topo.links.slice();
  const gw = (i: number) => topo.gateways[i % topo.gateways.length]!.id;
  const at = (i: number) => i % Math.max(1, links.length);
  const patch = (i: number, p: Partial<Link>) => {
    links[at(i)] = { ...links[at(i)]!, ...p };
    return [links[at(i)]!.id];
  };
  if (links.length === 0 && step.kind !== 'add' && step.kind !== 'prefix') return { topo, changed: [] };
  switch (step.kind) {
    case 'state':
      return { topo: { ...topo, links }, changed: patch(step.link, linkState(step.state)) };
    case 'cost':
      return { topo: { ...topo, links }, changed: patch(step.link, { cost: step.cost }) };
    case 'mtu':
      return { topo: { ...topo, links }, changed: patch(step.link, { mtu: step.mtu }) };
    case 'remove': {
      const [gone] = links.splice(at(step.link), 1);
      return { topo: { ...topo, links }, changed: [gone!.id] };
    }
    case 'add': {
      if (gw(step.a) === gw(step.b)) return { topo, changed: [] };
      const l = makeLink(`n${added++}`, gw(step.a), gw(step.b), step.cost);
      return { topo: { ...topo, links: [...links, l] }, changed: [l.id] };
    }
    case 'move': {
      if (gw(step.a) === gw(step.b)) return { topo, changed: [] };
      return { topo: { ...topo, links }, changed: patch(step.link, { a: gw(step.a), b: gw(step.b) }) };
    }
    case 'double': {
      // Two links change in one transaction (e.g. a shared-risk group).
      const c1 = patch(step.first, linkState('down'));
      const c2 = patch(step.second, { cost: step.cost });
      return { topo: { ...topo, links }, changed: [...c1, ...c2] };
    }
    case 'prefix': {
      const site = topo.sites[step.site % topo.sites.length]!.id;
      return { topo: { ...topo, prefixes: [...topo.prefixes, { siteId: site, vrf: 'red', cidr: `172.16.${added++ % 256}.0/24` }] }, changed: [] };
    }
  }
}

function snapshot(st: RoutingState) {
  return [...st.routes.values()].map((r) => ({ id: r.gatewayId, rules: r.rules, peers: r.peers, paths: [...r.paths] }));
}

/** diffRoutes turns prev's table into next's, and lists only rules that really changed. */
function checkDiff(prev: RoutingState, next: RoutingState, id: string): void {
  const d = diffRoutes(prev, next, id);
  const rules = new Map<string, FlowRule>(prev.routes.get(id)!.rules.map((r) => [ruleKey(r.vrf, r.prefix), r]));
  for (const k of d.removedRules) rules.delete(ruleKey(k.vrf, k.prefix));
  for (const r of d.upsertedRules) {
    const old = rules.get(ruleKey(r.vrf, r.prefix));
    assert.ok(!old || !rulesEqual(old, r), `upserted an unchanged rule ${r.prefix} at ${id}`);
    rules.set(ruleKey(r.vrf, r.prefix), r);
  }
  assert.equal([...rules.values()].sort(compareRuleKeys), next.routes.get(id)!.rules, `diffRoutes for ${id}`);
  const peers = new Map(prev.routes.get(id)!.peers.map((p) => [p.linkId, p]));
  for (const l of d.removedPeers) peers.delete(l);
  for (const p of d.upsertedPeers) peers.set(p.linkId, p);
  assert.equal([...peers.values()].sort((a, b) => (a.linkId < b.linkId ? -1 : 1)), next.routes.get(id)!.peers);
  assert.is(d.upsertedRules.length + d.removedRules.length + d.upsertedPeers.length + d.removedPeers.length > 0, next.changedGateways.has(id));
}

function tablesDiffer(a: RoutingState, b: RoutingState): Set<string> {
  const out = new Set<string>();
  for (const [id, r] of b.routes) {
    const o = a.routes.get(id)!;
    if (JSON.stringify([o.rules, o.peers]) !== JSON.stringify([r.rules, r.peers])) out.add(id);
  }
  return out;
}

incremental('equals a full recomputation after any sequence of link changes; changedGateways is exact', () => {
  let linkOnly = 0;
  fc.assert(
    fc.property(topologyArb(14, false), fc.array(stepArb, { minLength: 1, maxLength: 8 }), (topo0, steps) => {
      let topo = topo0;
      let st = computeRoutingState(topo);
      for (const step of steps) {
        const { topo: next, changed } = applyStep(topo, step);
        const inc = recomputeAfterLinkChange(st, next, changed);
        const full = computeRoutingState(next);
        assert.equal(snapshot(inc), snapshot(full), `after ${JSON.stringify(step)}`);
        if (step.kind !== 'prefix') {
          linkOnly++;
          assert.equal([...inc.changedGateways].sort(), [...tablesDiffer(st, full)].sort(), `changedGateways after ${JSON.stringify(step)}`);
        } else {
          for (const id of tablesDiffer(st, full)) assert.ok(inc.changedGateways.has(id));
        }
        for (const id of inc.routes.keys()) checkDiff(st, inc, id);
        topo = next;
        st = inc;
      }
    }),
    { numRuns: 200 },
  );
  assert.ok(linkOnly > 500);
});

incremental('patching the link arrays gives exactly what building them afresh gives', () => {
  const opts = resolveOptions(undefined);
  let patchedOnce = 0;
  fc.assert(
    fc.property(topologyArb(12, false), fc.array(stepArb, { minLength: 1, maxLength: 3 }), (topo0, steps) => {
      const nodes = buildNodes(topo0);
      const before = buildLinks(topo0, nodes, opts);
      let topo = topo0;
      for (const step of steps) if (step.kind !== 'prefix') topo = applyStep(topo, step).topo;
      const patched = patchLinks(before, topo, nodes, opts);
      if (!patched) return;
      patchedOnce++;
      assert.equal(patched.links, buildLinks(topo, nodes, opts));
    }),
    { numRuns: 300 },
  );
  assert.ok(patchedOnce > 100);
});

incremental('leaves the previous state untouched', () => {
  const topo = generateTopology({ gateways: 40, seed: 7 });
  const st = computeRoutingState(topo);
  const before = snapshot(st);
  const links = topo.links.map((l, i) => (i === 3 ? { ...l, ...linkState('down') } : l));
  const next = recomputeAfterLinkChange(st, { ...topo, links }, [topo.links[3]!.id]);
  assert.ok(next.changedGateways.size > 0);
  assert.equal(snapshot(st), before);
});

incremental('a change that routing does not see changes no gateway', () => {
  const topo = generateTopology({ gateways: 30, seed: 3 });
  const st = computeRoutingState(topo);
  const links = topo.links.map((l) => ({ ...l, rttUs: l.rttUs + 5, changedUnixMs: 99 }));
  const next = recomputeAfterLinkChange(st, { ...topo, links }, links.map((l) => l.id));
  assert.is(next.changedGateways.size, 0);
  assert.equal(snapshot(next), snapshot(st));
});

incremental('equals a full recomputation on a generated 150-gateway topology, link by link', () => {
  const topo = generateTopology({ gateways: 150, seed: 11 });
  let st = computeRoutingState(topo);
  let cur = topo;
  for (let k = 0; k < 12; k++) {
    const i = (k * 37) % cur.links.length;
    const links = cur.links.map((l, j) => (j === i ? { ...l, ...linkState(k % 3 === 2 ? 'up' : 'down') } : l));
    cur = { ...cur, links };
    st = recomputeAfterLinkChange(st, cur, [links[i]!.id]);
  }
  assert.equal(snapshot(st), snapshot(computeRoutingState(cur)));
});

incremental('an anycast destination that moves to an equally near site is a change', () => {
  // S reaches x by one link; x reaches site "zeta" (cost 1) and, later at the
  // same distance, site "alpha". Same next hop, same cost: only destSiteId moves.
  const topo: Topology = {
    vrfs: [{ name: 'corp', id: 1 }],
    sites: ['s', 'x', 'alpha', 'zeta'].map((id) => ({ id, name: id, kind: 0, region: '' })),
    gateways: ['s', 'x', 'alpha', 'zeta'].map((id, i) => ({ id, siteId: id, nodeId: i + 1, endpoints: [], underlayMtu: 1500, lastSeenUnixMs: 0 })),
    links: [makeLink('s-x', 's', 'x', 1), makeLink('x-zeta', 'x', 'zeta', 1), makeLink('x-alpha', 'x', 'alpha', 5)],
    prefixes: [
      { siteId: 'zeta', vrf: 'corp', cidr: '10.9.9.0/24' },
      { siteId: 'alpha', vrf: 'corp', cidr: '10.9.9.0/24' },
    ],
  };
  const st = computeRoutingState(topo);
  const rule = (x: RoutingState) => x.routes.get('s')!.rules[0]!;
  assert.is(rule(st).destSiteId, 'zeta');
  const next = recomputeAfterLinkChange(st, { ...topo, links: topo.links.map((l) => (l.id === 'x-alpha' ? { ...l, cost: 1 } : l)) }, ['x-alpha']);
  assert.is(rule(next).action, Action.FORWARD);
  assert.equal(rule(next).primary, rule(st).primary);
  assert.is(rule(next).destSiteId, 'alpha');
  assert.ok(next.changedGateways.has('s'));
  assert.equal(diffRoutes(st, next, 's').upsertedRules, [rule(next)]);
});

incremental('refuses a state it did not make', () => {
  const topo = generateTopology({ gateways: 4, seed: 1 });
  const fake = { ...computeRoutingState(topo) } as unknown as RoutingState;
  assert.throws(() => recomputeAfterLinkChange(fake, topo, []), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT');
});

incremental('tables built from the rules a change moved equal the tables computed from scratch, byte for byte', () => {
  const contentOf = (st: RoutingState, id: string): FlowTable => {
    const r = st.routes.get(id)!;
    return { gatewayId: id, nodeId: r.nodeId, version: 0, epoch: 0, rules: r.rules, peers: r.peers };
  };
  let patched = 0;
  fc.assert(
    fc.property(topologyArb(14, false), fc.array(stepArb, { minLength: 1, maxLength: 8 }), (topo0, steps) => {
      let topo = topo0;
      let st = computeRoutingState(topo);
      // The controller's kept encodings, patched change after change.
      const kept = new Map([...st.routes.keys()].map((id) => [id, { ...encodeContent(contentOf(st, id)), version: 1 }]));
      const held = new Map([...st.routes.keys()].map((id) => [id, { ...contentOf(st, id), version: 1 }]));
      for (const [version, step] of steps.entries()) {
        const { topo: next } = applyStep(topo, step);
        const inc = recomputeAfterLinkChange(st, next);
        const full = computeRoutingState(next);
        for (const id of inc.routes.keys()) {
          const expected = contentOf(full, id);
          const moved = changedRules(st, inc, id);
          if (step.kind === 'prefix') {
            assert.is(moved, undefined, 'a prefix change has no rule-by-rule answer');
            kept.set(id, { ...encodeContent(expected), version: version + 2 });
            held.set(id, { ...expected, version: version + 2 });
            continue;
          }
          assert.ok(moved, `link-only change at ${id}`);
          const { enc, delta } = patchContent(kept.get(id)!, moved.indices, moved.rules, inc.routes.get(id)!.peers);
          assert.ok(tableBytes(enc, 7, 3).equals(encodeFlowTable({ ...expected, version: 7, epoch: 3 })), `bytes of ${id} after ${JSON.stringify(step)}`);
          assert.ok(enc.hash.equals(tableHash(expected)), `hash of ${id}`);
          assert.is(moved.indices.length > 0 || delta.upsertedPeers.length + delta.removedPeers.length > 0, inc.changedGateways.has(id), `changed ${id}`);
          // The delta turns what an agent holds into the new table.
          const applied = applyDelta(held.get(id)!, { ...delta, version: version + 2, epoch: 1 });
          assert.ok(encodeFlowTable(applied).equals(encodeFlowTable({ ...expected, version: version + 2, epoch: 1 })), `delta of ${id}`);
          if (moved.indices.length) patched++;
          kept.set(id, { ...enc, version: version + 2 });
          held.set(id, applied);
        }
        topo = next;
        st = inc;
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(patched > 200, `only ${patched} tables were patched`);
});

incremental.run();
