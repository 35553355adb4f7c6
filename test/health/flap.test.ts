// A flapping tunnel must not flap routes: the health monitor's hold time
// bounds how often the controller (the real one, over an in-memory store)
// recomputes and moves traffic.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { OperState } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { parseTopologyYaml } from '../../controller/topology/topology-yaml.js';
import { HealthMonitor, type HealthEvent } from '../../router-agent/health/index.js';
import { EchoPeers } from './echo-peer.js';

const TOPOLOGY = `
vrfs: [{ name: corp, id: 1 }]
sites:
  - { id: dc1, kind: datacenter, region: eu, prefixes: [{ vrf: corp, cidr: 10.1.0.0/16 }] }
  - { id: dc2, kind: datacenter, region: us, prefixes: [{ vrf: corp, cidr: 10.2.0.0/16 }] }
  - { id: office, kind: office, region: eu, prefixes: [{ vrf: corp, cidr: 192.168.1.0/24 }] }
gateways:
  - { id: dc1-gw, site: dc1 }
  - { id: dc2-gw, site: dc2 }
  - { id: office-gw, site: office }
links:
  - { a: office-gw, b: dc1-gw, cost: 10 }
  - { a: office-gw, b: dc2-gw, cost: 20 }
  - { a: dc1-gw, b: dc2-gw, cost: 5 }
`;

const flap = suite('health: a flapping link does not flap routes');

interface Run {
  transitions: HealthEvent[];
  /** Virtual times of journal entries that changed the office's table. */
  routeMoves: number[];
}

/** The office link to dc1 is up for `upMs`, down for `downMs`, repeatedly, for a minute. */
function runFlap(upMs: number, downMs: number, holdMs: number): Run {
  const clock = new ManualClock(0);
  const controller = new Controller({ store: new MemoryStore(), clock });
  controller.applyTopology(parseTopologyYaml(TOPOLOGY, 'flap.yaml'), 'test');
  const routeMoves: number[] = [];
  controller.on((e) => {
    if (e.type === 'journal' && e.entry.tables.some((t) => t.gatewayId === 'office-gw')) routeMoves.push(clock.now());
  });
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({ clock, sendProbe: echo.send, config: { intervalMs: 100, multiplier: 3, holdMs }, statsIntervalMs: 0 });
  echo.monitor = monitor;
  const transitions: HealthEvent[] = [];
  // The agent's reports, straight to the controller (no control delay here).
  monitor.on((e) => {
    if (e.type === 'stats') return;
    transitions.push(e);
    controller.reportLink({ gatewayId: 'office-gw', linkId: e.linkId, state: e.type === 'peer-down' ? OperState.DOWN : OperState.UP });
  });
  const flapping = echo.path('dc1-gw', { rttMs: 8 });
  echo.path('dc2-gw', { rttMs: 30 });
  monitor.setPeers(controller.store.table('office-gw')!.peers);
  for (let t = 1000; t < 61_000; ) {
    clock.advanceTo(t);
    flapping.up = !flapping.up;
    t += flapping.up ? upMs : downMs;
  }
  clock.advanceTo(61_000);
  return { transitions, routeMoves };
}

flap('flapping every 2 s for a minute: routes move once (down), not 30 times', () => {
  const r = runFlap(2000, 2000, 5000);
  assert.equal(r.transitions.map((e) => e.type), ['peer-down']);
  assert.is(r.routeMoves.length, 1);
  assert.ok(r.routeMoves.length <= 60_000 / 5000, 'at most once per hold time');
});

flap('flapping slower than the hold time: every return waits the hold time, so moves stay bounded', () => {
  const hold = 5000;
  const r = runFlap(7000, 3000, hold);
  assert.ok(r.transitions.length >= 4, `the link did come back (${r.transitions.length} transitions)`);
  for (let i = 1; i < r.transitions.length; i++) {
    const prev = r.transitions[i - 1]!;
    const cur = r.transitions[i]!;
    assert.is.not(prev.type, cur.type, 'alternating');
    if (cur.type === 'peer-up') assert.ok(cur.atMs - prev.atMs >= hold, `up ${cur.atMs - prev.atMs} ms after down`);
  }
  const ups = r.transitions.filter((e) => e.type === 'peer-up').length;
  assert.ok(ups <= 60_000 / hold);
  assert.is(r.routeMoves.length, r.transitions.length, 'each accepted transition moves routes once');
});

flap('without a hold time the same flapping moves routes on every flap (the bound is the hold time)', () => {
  const r = runFlap(2000, 2000, 0);
  assert.ok(r.routeMoves.length >= 25, `${r.routeMoves.length} moves`);
});

flap.run();
