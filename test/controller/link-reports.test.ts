// Each end of a tunnel reports its own view. A link is down while either end
// says so: the end that has not noticed a cut yet must not put the dead link
// back into the routes with its periodic report.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { OperState, SiteKind, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';

const gw = (id: string, n: number) => ({ id, siteId: id, nodeId: n, endpoints: [{ host: `192.0.2.${n}`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 });
const link = (a: string, b: string, cost: number) => ({ id: `${a}--${b}`, a, b, cost, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 });
const topology: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: ['a', 'b', 'c'].map((id) => ({ id, name: id, kind: SiteKind.DATACENTER, region: 'eu' })),
  gateways: [gw('a', 1), gw('b', 2), gw('c', 3)],
  links: [link('a', 'b', 1), link('a', 'c', 5), link('b', 'c', 5)],
  prefixes: [{ siteId: 'b', vrf: 'corp', cidr: '10.2.0.0/24' }],
};
const oper = (c: Controller) => c.topology().links.find((l) => l.id === 'a--b')!.operState;
const nextHop = (c: Controller) => c.store.table('a')!.rules.find((r) => r.prefix === '10.2.0.0/24')!.primary.map((h) => h.gatewayId);

const reports = suite('link reports from both ends');

reports('down from one end holds while the other end still reports up; up needs both', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(topology, 'test');
  c.reportLink({ gatewayId: 'a', linkId: 'a--b', state: OperState.UP, rttUs: 1000 });
  c.reportLink({ gatewayId: 'b', linkId: 'a--b', state: OperState.UP, rttUs: 1000 });
  assert.is(oper(c), OperState.UP);
  assert.equal(nextHop(c), ['b']);

  const down = c.reportLink({ gatewayId: 'a', linkId: 'a--b', state: OperState.DOWN })!;
  assert.match(down.summary, /link a-b down, reported by a/);
  assert.equal(nextHop(c), ['c'], 'rerouted around the dead tunnel');

  // b has not noticed yet: its periodic report still says up.
  assert.is(c.reportLink({ gatewayId: 'b', linkId: 'a--b', state: OperState.UP, rttUs: 1000 }), undefined);
  assert.is(oper(c), OperState.DOWN, 'the dead link stays out of the routes');
  assert.equal(nextHop(c), ['c']);

  c.reportLink({ gatewayId: 'b', linkId: 'a--b', state: OperState.DOWN });
  c.reportLink({ gatewayId: 'a', linkId: 'a--b', state: OperState.UP });
  assert.is(oper(c), OperState.DOWN, 'b still sees it down');
  const up = c.reportLink({ gatewayId: 'b', linkId: 'a--b', state: OperState.UP })!;
  assert.match(up.summary, /link a-b up, reported by b/);
  assert.equal(nextHop(c), ['b']);
});

reports.run();
