// Three real agents (data plane + health + local failover) on an in-memory
// underlay and a manual clock: probes cross the tunnel format, a silent
// peer is detected after exactly `multiplier` intervals, traffic moves to
// the precomputed backup at once, and the report sink hears about it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { OperState, SiteKind, type FlowTable, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { Agent } from '../../router-agent/agent.js';
import { attachAgentHealth, type AgentHealth } from '../../router-agent/agent-health.js';
import { MemoryHub } from '../../router-agent/io/memory-underlay.js';
import { decodeProbe, encodeProbe } from '../../router-agent/health/probe-codec.js';
import { ipv4 } from '../dataplane/build-packets.js';

const gw = (id: string, site: string, n: number) => ({ id, siteId: site, nodeId: n, endpoints: [{ host: `192.0.2.${n}`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 });
const link = (a: string, b: string, cost: number) => ({ id: `${a}--${b}`, a, b, cost, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 });
const topology: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: [
    { id: 'o', name: 'office', kind: SiteKind.OFFICE, region: 'eu' },
    { id: 'a', name: 'dc a', kind: SiteKind.DATACENTER, region: 'eu' },
    { id: 'b', name: 'dc b', kind: SiteKind.DATACENTER, region: 'eu' },
  ],
  gateways: [gw('a1', 'a', 1), gw('b1', 'b', 2), gw('o1', 'o', 3)],
  // o1 reaches b via a1 (15) rather than directly (20): the direct link is the backup.
  links: [link('a1', 'b1', 5), link('a1', 'o1', 10), link('b1', 'o1', 20)],
  prefixes: [
    { siteId: 'o', vrf: 'corp', cidr: '10.1.0.0/24' },
    { siteId: 'a', vrf: 'corp', cidr: '10.2.0.0/24' },
    { siteId: 'b', vrf: 'corp', cidr: '10.3.0.0/24' },
  ],
};

type Report = { peerGatewayId: string; state: OperState; at: number };

function setup() {
  const clock = new ManualClock(0, 1_800_000_000_000);
  const ctl = new Controller({ store: new MemoryStore(), clock });
  ctl.applyTopology(topology, 'test');
  const tables = new Map<string, FlowTable>(ctl.store.tables().map((t) => [t.gatewayId, t]));
  // One millisecond of underlay latency, in virtual time.
  const hub = new MemoryHub({ schedule: (fn) => void clock.setTimeout(fn, 1) });
  const agents = new Map<string, { agent: Agent; health: AgentHealth; reports: Report[] }>();
  for (const g of topology.gateways) {
    const agent = new Agent({ gatewayId: g.id, clock, underlay: hub.open(g.endpoints[0]!) });
    const reports: Report[] = [];
    const health = attachAgentHealth(agent, {
      clock,
      probe: { intervalMs: 100, multiplier: 3, holdMs: 5000 },
      statsIntervalMs: 0,
      reports: { reportLink: (r) => void (r.state !== OperState.UNSPECIFIED && reports.push({ peerGatewayId: r.peerGatewayId, state: r.state, at: clock.now() })) },
    });
    assert.ok(agent.applyTable(tables.get(g.id)!));
    agents.set(g.id, { agent, health, reports });
  }
  return { clock, agents };
}

const toB = () => ipv4({ src: '10.1.0.10', dst: '10.3.0.10', payload: new Uint8Array(64) });
const nextHop = (a: Agent, now: number) => {
  const v = a.dataPlane!.fromAccess(toB(), now);
  return v.type === 'send' ? v.peer.gatewayId : v.type;
};

const health = suite('agent health and local failover');

health('probe codec round trip; bad bytes are refused', () => {
  const p = { seq: 7, sentAt: 1234.5, size: 1400 };
  const padded = encodeProbe(p);
  assert.is(padded.length, 1400);
  assert.equal(decodeProbe(padded), p);
  assert.is(encodeProbe(p, false).length, 20);
  assert.is(decodeProbe(new Uint8Array(10)), undefined);
  assert.is(decodeProbe(new Uint8Array(40)), undefined, 'wrong magic');
});

health('probes cross the tunnel format and keep every peer up; RTT is measured', () => {
  const { clock, agents } = setup();
  clock.advance(2000);
  const o1 = agents.get('o1')!;
  assert.equal(o1.reports, [], 'no state change while all is well');
  for (const peer of ['a1', 'b1']) {
    const s = o1.health.monitor.stats(peer)!;
    assert.is(s.state, 'up');
    assert.ok(s.received >= 15, `replies from ${peer}: ${s.received}`);
    assert.is(s.rttUs, 2000, 'two hops of 1 ms');
  }
  assert.is(nextHop(o1.agent, clock.now()), 'a1');
});

health('a silent peer is down after exactly 3 missed intervals; traffic takes the backup at once', async () => {
  const { clock, agents } = setup();
  clock.advance(1000);
  const o1 = agents.get('o1')!;
  const t0 = clock.now();
  await agents.get('a1')!.agent.close(); // a1's underlay goes silent
  // The last reply from a1 came back at ~902 ms; down is declared 3
  // intervals after it (BFD's detection time), so 200-300 ms after the cut.
  clock.advance(150);
  assert.equal(o1.reports, [], 'not yet: fewer than 3 intervals without a reply');
  assert.is(nextHop(o1.agent, clock.now()), 'a1');
  clock.advance(150);
  assert.is(o1.reports.length, 1);
  assert.is(o1.reports[0]!.peerGatewayId, 'a1');
  assert.is(o1.reports[0]!.state, OperState.DOWN);
  const detection = o1.reports[0]!.at - t0;
  assert.ok(detection > 200 && detection <= 300, `detected ${detection} ms after the cut`);
  assert.is(nextHop(o1.agent, clock.now()), 'b1', 'local failover to the loop-free backup');
  assert.is(o1.health.failovers(), 1);
});

health('local failover off: traffic waits for the controller (dropped meanwhile)', async () => {
  const clock = new ManualClock(0, 1_800_000_000_000);
  const ctl = new Controller({ store: new MemoryStore(), clock });
  ctl.applyTopology(topology, 'test');
  const hub = new MemoryHub({ schedule: (fn) => void clock.setTimeout(fn, 1) });
  const agents = topology.gateways.map((g) => {
    const agent = new Agent({ gatewayId: g.id, clock, underlay: hub.open(g.endpoints[0]!) });
    const h = attachAgentHealth(agent, { clock, probe: { intervalMs: 100, multiplier: 3, holdMs: 5000 }, statsIntervalMs: 0, localFailover: false });
    agent.applyTable(ctl.store.table(g.id)!);
    return { agent, h };
  });
  clock.advance(1000);
  await agents[0]!.agent.close(); // a1
  clock.advance(500);
  assert.is(agents[2]!.h.monitor.state('a1'), 'down');
  assert.is(nextHop(agents[2]!.agent, clock.now()), 'a1', 'still the primary: only a new table moves it');
});

health.run();
