// Health wired to the real data plane: the moment a primary's peer is
// declared down, packets take the precomputed backup, with no controller
// involved; after the hold time they return to the primary.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import { HealthMonitor, wireLocalFailover } from '../../router-agent/health/index.js';
import { forward, ipv4, key, peer, table } from '../dataplane/build-packets.js';
import { EchoPeers } from './echo-peer.js';

const lf = suite('health: local fast failover');

function setup(opts: { backup: boolean }) {
  const clock = new ManualClock(0);
  const dp = new DataPlane({ accessVrf: 10, initialCounter: 1n });
  const t = table(1, [peer('B', 2, key(0xb)), peer('C', 3, key(0xc))], [forward(10, '10.2.0.0/16', ['B'], opts.backup ? 'C' : undefined)]);
  dp.setTable(t);
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({ clock, sendProbe: echo.send, config: { intervalMs: 100, multiplier: 3, holdMs: 2000 }, statsIntervalMs: 0 });
  echo.monitor = monitor;
  const failover = wireLocalFailover(monitor, dp);
  monitor.setPeers(t.peers);
  const toB = echo.path('B');
  echo.path('C');
  const nextHop = () => {
    const v = dp.fromAccess(ipv4({ src: '10.1.0.1', dst: '10.2.0.9' }), clock.now());
    return v.type === 'send' ? v.peer.gatewayId : v.type === 'drop' ? `drop:${v.reason}` : v.type;
  };
  return { clock, dp, monitor, failover, toB, nextHop, t };
}

lf('a primary declared down: the next packet takes the backup; back after the hold time', () => {
  const { clock, toB, nextHop } = setup({ backup: true });
  clock.advanceTo(1000);
  assert.is(nextHop(), 'B');
  toB.up = false; // last reply from B at 910
  clock.advanceTo(1209);
  assert.is(nextHop(), 'B', 'not yet detected: still the primary');
  clock.advanceTo(1210);
  assert.is(nextHop(), 'C', 'detected: the backup, at once');
  toB.up = true;
  clock.advanceTo(2500);
  assert.is(nextHop(), 'C', 'held down: replies for less than the hold time');
  clock.advanceTo(3400);
  assert.is(nextHop(), 'B', 'primary again after the hold');
});

lf('no backup: packets are dropped as "no usable next hop" until a new table', () => {
  const { clock, toB, nextHop, dp } = setup({ backup: false });
  clock.advanceTo(1000);
  toB.up = false;
  clock.advanceTo(1300);
  assert.is(nextHop(), 'drop:no_usable_next_hop');
  assert.is(dp.snapshot().drops.no_usable_next_hop, 1);
});

lf('resync tells a data plane that starts afresh (a restart, another VRF) what health knows', () => {
  const { clock, toB, nextHop, monitor, failover, t } = setup({ backup: true });
  clock.advanceTo(1000);
  toB.up = false;
  clock.advanceTo(1300);
  assert.is(nextHop(), 'C');
  const fresh = new DataPlane({ accessVrf: 10, initialCounter: 1n << 20n });
  fresh.setTable(t);
  const hop = () => {
    const v = fresh.fromAccess(ipv4({ src: '10.1.0.1', dst: '10.2.0.9' }), clock.now());
    return v.type === 'send' ? v.peer.gatewayId : v.type;
  };
  assert.is(hop(), 'B', 'a new data plane starts with every peer up');
  const wired = wireLocalFailover(monitor, fresh);
  wired.resync();
  assert.is(hop(), 'C');
  failover.close();
  wired.close();
  toB.up = true;
  clock.advanceTo(10_000);
  assert.is(nextHop(), 'C', 'closed: health no longer drives the data plane');
});

lf.run();
