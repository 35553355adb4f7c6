// Measured RTT moves a link's cost only past the hysteresis threshold, so
// routes follow real latency without flapping on noise.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { OperState, SiteKind, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';

const gw = (id: string, n: number) => ({ id, siteId: id, nodeId: n, endpoints: [{ host: `192.0.2.${n}`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 });
const link = (a: string, b: string, cost: number) => ({ id: `${a}--${b}`, a, b, cost, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 });
// o reaches d directly (cost 10) or via m (6 + 6 = 12).
const topology: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: ['d', 'm', 'o'].map((id) => ({ id, name: id, kind: SiteKind.DATACENTER, region: 'eu' })),
  gateways: [gw('d', 1), gw('m', 2), gw('o', 3)],
  links: [link('d', 'o', 10), link('d', 'm', 6), link('m', 'o', 6)],
  prefixes: [{ siteId: 'd', vrf: 'corp', cidr: '10.1.0.0/24' }],
};

const primaryOf = (c: Controller) => c.store.table('o')!.rules.find((r) => r.prefix === '10.1.0.0/24')!.primary.map((h) => h.gatewayId);

const rtt = suite('RTT-derived link cost');

rtt('off by default: RTT is recorded, costs and routes do not move', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(topology, 'test');
  const seq = c.store.lastSeq();
  assert.is(c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 50_000 })?.action, 'link.oper');
  assert.is(c.links().find((l) => l.id === 'd--o')!.rttUs, 50_000);
  assert.is(c.links().find((l) => l.id === 'd--o')!.effectiveCost, 10);
  assert.is(c.store.lastSeq(), seq + 1, 'only the oper-state change was journaled');
  assert.equal(primaryOf(c), ['d']);
});

rtt('on: moves only past the hysteresis threshold, and routes follow', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock(), costPolicy: { rttCost: true, usPerCostUnit: 1000, hysteresisPct: 20 } });
  c.applyTopology(topology, 'test');
  c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 11_000 });
  const seq = c.store.lastSeq();
  // 12 ms -> cost 12: 20% above 10 is not MORE than 20%: noise, no change.
  assert.is(c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 12_000 }), undefined);
  assert.is(c.store.lastSeq(), seq);
  assert.equal(primaryOf(c), ['d']);
  // 15 ms -> cost 15: past the threshold; the way via m (12) is now cheaper.
  const e = c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 15_000 })!;
  assert.is(e.action, 'link.cost');
  assert.match(e.summary, /link d-o cost 10 -> 15 \(RTT 15\.0 ms\), reported by o/);
  assert.equal(primaryOf(c), ['m']);
  assert.is(c.links().find((l) => l.id === 'd--o')!.effectiveCost, 15);
  // 16 ms: within 20% of 15, no flap.
  assert.is(c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 16_000 }), undefined);
  // Back to 8 ms: the configured cost (10) is a floor and applies at once.
  assert.is(c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 8_000 })!.action, 'link.cost');
  assert.equal(primaryOf(c), ['d']);
});

rtt('the effective cost survives a controller restart on the same store', () => {
  const store = new MemoryStore();
  const policy = { rttCost: true, usPerCostUnit: 1000, hysteresisPct: 20 };
  const c = new Controller({ store, clock: new ManualClock(), costPolicy: policy });
  c.applyTopology(topology, 'test');
  c.reportLink({ gatewayId: 'o', linkId: 'd--o', state: OperState.UP, rttUs: 30_000 });
  const seq = store.lastSeq();
  const again = new Controller({ store, clock: new ManualClock(), costPolicy: policy });
  assert.is(store.lastSeq(), seq, 'no recompute needed: the stored tables already use the RTT cost');
  assert.equal(primaryOf(again), ['m']);
});

rtt('a report from a gateway that is not an end of the link is refused', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(topology, 'test');
  assert.throws(() => c.reportLink({ gatewayId: 'm', linkId: 'd--o', state: OperState.DOWN }), /not an end of link/);
  assert.is(c.topology().links.find((l) => l.id === 'd--o')!.operState, OperState.UNSPECIFIED);
});

rtt.run();
