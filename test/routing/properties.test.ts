import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { computeRoutingState, ruleKey, type RoutingState } from '../../controller/routing/index.js';
import { Action, type FlowRule, type Topology } from '../../common/model.js';
import { arcsOf, destinations, distTo, floydWarshall, referenceRoutes, topologyArb, type Dist } from './reference.js';

const props = suite('routing properties (random topologies)');

const RUNS = { numRuns: 150 };

function rulesByGateway(st: RoutingState): Map<string, Map<string, FlowRule>> {
  const out = new Map<string, Map<string, FlowRule>>();
  for (const [id, r] of st.routes) out.set(id, new Map(r.rules.map((x) => [ruleKey(x.vrf, x.prefix), x])));
  return out;
}

function linkCost(topo: Topology, linkId: string): number {
  return topo.links.find((l) => l.id === linkId)!.cost;
}

/**
 * Follows every primary from `from` (all ECMP branches) and returns the
 * costs of the paths that end at a delivering gateway; throws on a loop,
 * on a dead end, or when a path touches `avoid`.
 */
function walkPrimaries(
  topo: Topology,
  rules: Map<string, Map<string, FlowRule>>,
  key: string,
  from: string,
  avoid?: string,
): number[] {
  const costs: number[] = [];
  const go = (gw: string, seen: Set<string>, cost: number) => {
    if (gw === avoid) throw new Error(`path from ${from} for ${key} returns to ${avoid}`);
    if (seen.has(gw)) throw new Error(`loop at ${gw} for ${key} from ${from}`);
    const rule = rules.get(gw)!.get(key)!;
    if (rule.action === Action.DELIVER) return void costs.push(cost);
    if (rule.action !== Action.FORWARD || rule.primary.length === 0) throw new Error(`dead end at ${gw} for ${key}`);
    const next = new Set(seen).add(gw);
    for (const h of rule.primary) go(h.gatewayId, next, cost + linkCost(topo, h.linkId));
  };
  go(from, new Set(), 0);
  return costs;
}

props('every gateway gets exactly the reference rules and peers (Floyd–Warshall, definitions)', () => {
  fc.assert(
    fc.property(topologyArb(9, false), (topo) => {
      const st = computeRoutingState(topo);
      const ref = referenceRoutes(topo);
      assert.equal([...st.routes.keys()], [...ref.keys()]);
      for (const [id, r] of st.routes) {
        assert.equal(r.rules, ref.get(id)!.rules, `rules of ${id}`);
        assert.equal(r.peers, ref.get(id)!.peers, `peers of ${id}`);
      }
    }),
    RUNS,
  );
});

props('every primary path is a shortest path and loop-free', () => {
  fc.assert(
    fc.property(topologyArb(10), (topo) => {
      const st = computeRoutingState(topo);
      const rules = rulesByGateway(st);
      const d = floydWarshall(topo);
      for (const D of destinations(topo)) {
        const key = ruleKey(D.vrf, D.prefix);
        for (const g of topo.gateways) {
          const rule = rules.get(g.id)!.get(key)!;
          const best = distTo(d, g.id, D.gateways);
          if (best === Infinity) {
            assert.is(rule.action, Action.DROP);
            continue;
          }
          for (const h of st.routes.get(g.id)!.paths.get(key)!.primary) assert.is(h.cost, best);
          const costs = walkPrimaries(topo, rules, key, g.id);
          assert.ok(costs.length > 0);
          for (const c of costs) assert.is(c, best, `path cost from ${g.id} to ${key}`);
        }
      }
    }),
    RUNS,
  );
});

/** Shortest-path next hops in the graph without `failed`, from the reference. */
function postFailureWalk(topo: Topology, failed: Set<string>, dAfter: Dist, gws: string[], from: string, avoid: string): void {
  const go = (gw: string, seen: Set<string>) => {
    if (gw === avoid) throw new Error(`post-failure path from ${from} returns to ${avoid}`);
    if (seen.has(gw)) throw new Error(`post-failure loop at ${gw}`);
    const dg = distTo(dAfter, gw, gws);
    if (dg === 0) return;
    const next = arcsOf(topo, gw, failed).filter((a) => a.cost + distTo(dAfter, a.nbr, gws) === dg);
    assert.ok(next.length > 0, `post-failure dead end at ${gw}`);
    for (const a of next) go(a.nbr, new Set(seen).add(gw));
  };
  go(from, new Set());
}

props('every backup is a loop-free alternate: no path back to S when the primary links fail', () => {
  let checked = 0;
  fc.assert(
    fc.property(topologyArb(10), (topo) => {
      const st = computeRoutingState(topo);
      const rules = rulesByGateway(st);
      const d = floydWarshall(topo);
      for (const D of destinations(topo)) {
        const key = ruleKey(D.vrf, D.prefix);
        for (const g of topo.gateways) {
          const rule = rules.get(g.id)!.get(key)!;
          if (!rule.backup) continue;
          checked++;
          const S = g.id;
          const N = rule.backup.gatewayId;
          assert.not.ok(rule.primary.some((p) => p.linkId === rule.backup!.linkId), 'backup is not a primary link');
          const dN = distTo(d, N, D.gateways);
          const dS = distTo(d, S, D.gateways);
          assert.ok(dN < d.get(N)!.get(S)! + dS, `LFA inequality for ${S} -> ${N} (${key})`);
          assert.is(st.routes.get(g.id)!.paths.get(key)!.backup!.cost, linkCost(topo, rule.backup.linkId) + dN);
          // Simulate: the primary links fail; the packet goes to N.
          const failed = new Set(rule.primary.map((p) => p.linkId));
          // Before the controller reacts, N forwards on its current primaries...
          walkPrimaries(topo, rules, key, N, S);
          // ...and after it reacts, on the post-failure shortest paths.
          const dAfter = floydWarshall(topo, failed);
          assert.ok(distTo(dAfter, N, D.gateways) < Infinity);
          postFailureWalk(topo, failed, dAfter, D.gateways, N, S);
        }
      }
    }),
    RUNS,
  );
  assert.ok(checked > 100, `only ${checked} backups were exercised`);
});

props('a node-protecting backup is chosen whenever one exists', () => {
  fc.assert(
    fc.property(topologyArb(10), (topo) => {
      const st = computeRoutingState(topo);
      const d = floydWarshall(topo);
      const dests = destinations(topo);
      for (const [S, r] of st.routes) {
        for (const rule of r.rules) {
          if (rule.action !== Action.FORWARD) continue;
          const D = dests.find((x) => x.vrf === rule.vrf && x.prefix === rule.prefix)!;
          const dD = (x: string) => distTo(d, x, D.gateways);
          const protects = (n: string) => rule.primary.every((p) => p.gatewayId !== n && dD(n) < d.get(n)!.get(p.gatewayId)! + dD(p.gatewayId));
          const primaryLinks = new Set(rule.primary.map((p) => p.linkId));
          const anyProtecting = arcsOf(topo, S).some(
            (a) => !primaryLinks.has(a.link) && dD(a.nbr) < d.get(a.nbr)!.get(S)! + dD(S) && protects(a.nbr),
          );
          if (anyProtecting) assert.ok(rule.backup && protects(rule.backup.gatewayId), `${S} ${rule.prefix}`);
        }
      }
    }),
    RUNS,
  );
});

props('the result does not depend on the order of the input lists', () => {
  fc.assert(
    fc.property(topologyArb(8, false), fc.integer(), (topo, seed) => {
      const rot = <T>(xs: T[]) => (xs.length ? [...xs.slice(seed % xs.length), ...xs.slice(0, seed % xs.length)].reverse() : xs);
      const shuffled: Topology = { ...topo, gateways: rot(topo.gateways), links: rot(topo.links), prefixes: rot(topo.prefixes), sites: rot(topo.sites) };
      const a = computeRoutingState(topo);
      const b = computeRoutingState(shuffled);
      for (const [id, r] of a.routes) {
        assert.equal(b.routes.get(id)!.rules, r.rules);
        assert.equal(b.routes.get(id)!.peers, r.peers);
        assert.equal([...b.routes.get(id)!.paths], [...r.paths]);
      }
    }),
    { numRuns: 60 },
  );
});

props.run();
