// Hold-down damps flapping of a peer that was working; a peer that has
// never answered (its agent is still starting) has nothing to damp.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { HealthMonitor, type HealthEvent } from '../../router-agent/health/index.js';
import { EchoPeers } from './echo-peer.js';

const startup = suite('health at start-up');

function setup() {
  const clock = new ManualClock(0);
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({ clock, sendProbe: echo.send, config: { intervalMs: 100, multiplier: 3, holdMs: 5000 }, statsIntervalMs: 0 });
  echo.monitor = monitor;
  const events: HealthEvent[] = [];
  monitor.on((e) => events.push(e));
  return { clock, echo, monitor, events };
}

startup('a peer that never answered comes up at its first answered interval, without the hold time', () => {
  const { clock, echo, monitor, events } = setup();
  const path = echo.path('dc1', { up: false });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(1000);
  assert.is(monitor.state('dc1'), 'down', 'no answer: down after the detection time');
  path.up = true; // the peer's agent has started
  clock.advanceTo(1250);
  assert.is(monitor.state('dc1'), 'up');
  const up = events.find((e) => e.type === 'peer-up')!;
  assert.ok(up.atMs <= 1200, `up at ${up.atMs}, not after a 5 s hold`);
});

startup('a peer that had answered and then failed still waits the full hold time', () => {
  const { clock, echo, monitor } = setup();
  const path = echo.path('dc1');
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(1000);
  path.up = false;
  clock.advanceTo(1500);
  assert.is(monitor.state('dc1'), 'down');
  path.up = true;
  clock.advanceTo(1500 + 4000);
  assert.is(monitor.state('dc1'), 'down', 'held down: it was working before');
  clock.advanceTo(1500 + 5200);
  assert.is(monitor.state('dc1'), 'up');
});

startup.run();
