// Hand-checked failover outcomes of the simulator (real controller, routing,
// health monitor and data plane in virtual time).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../sim/run-scenario.js';
import type { DemandResult, SimResult } from '../../sim/result.js';
import { officeScenario } from './fixtures.js';

const failover = suite('sim: an office loses its primary datacenter link');

const INTERVAL = 100;
const CONTROL = 20;
const COMPUTE = 50;

function demand(r: SimResult, id: string): DemandResult {
  const d = r.demands.find((x) => x.id === id);
  assert.ok(d, `demand ${id}`);
  return d!;
}

/** When a gateway declared the peer across `link` DOWN (first such entry). */
function downAt(r: SimResult, gw: string, peer: string): number {
  const e = r.timeline.find((x) => x.kind === 'peer-down' && x.subject === gw && x.text.includes(`peer ${peer} `));
  assert.ok(e, `${gw} detected ${peer}`);
  return e!.atMs;
}

const linkDown = `  - { at_ms: 5000, link_down: dc1-gw--o1-gw }`;

failover('with local failover the outage is the detection time (about multiplier x interval)', async () => {
  const r = await runScenario(officeScenario({ events: linkDown }));
  const d = demand(r, 'o1-dc1');
  assert.is(d.episodes.length, 1);
  const e = d.episodes[0]!;
  assert.is(e.kind, 'outage');
  assert.is(e.restoredBy, 'local-failover');
  assert.is(e.causeAtMs, 5000);
  // The office's own detection: its last reply came before 5000 (the reply
  // in flight is lost with the link), at most one interval plus the RTT earlier.
  const detected = downAt(r, 'o1-gw', 'dc1-gw');
  const rtt = 10;
  assert.ok(detected - 5000 <= 3 * INTERVAL && detected - 5000 > 2 * INTERVAL - rtt, `detected ${detected - 5000} ms after the failure`);
  assert.ok(Math.abs(e.split.detectionMs - (detected - e.startMs)) < 1e-6, 'detection is measured to the office DOWN');
  // Restored by the next packet the office sends (1 ms apart): outage == detection.
  assert.ok(e.durationMs - e.split.detectionMs >= 0 && e.durationMs - e.split.detectionMs <= 1.001, `outage ${e.durationMs} vs detection ${e.split.detectionMs}`);
  assert.is(e.split.reconvergenceMs, 0);
  assert.equal(e.pathBefore, ['o1-gw', 'dc1-gw']);
  assert.equal(e.pathAfter, ['o1-gw', 'dc2-gw', 'dc1-gw']);
  assert.is(e.latencyBeforeMs, 5);
  assert.is(e.latencyAfterMs, 11);
  assert.is(e.stretch, 2.2);
  assert.ok(d.outageMs < 3 * INTERVAL + 50, 'under 3 x interval + 50 ms');
});

failover('without local failover it is detection + control delay + compute + push', async () => {
  const r = await runScenario(officeScenario({ events: linkDown, timing: { local_failover: false } }));
  const e = demand(r, 'o1-dc1').episodes[0]!;
  assert.is(e.restoredBy, 'controller');
  // The controller acts on the first report, from whichever end detected first.
  const first = Math.min(downAt(r, 'o1-gw', 'dc1-gw'), downAt(r, 'dc1-gw', 'o1-gw'));
  const tableAt = first + CONTROL + COMPUTE + CONTROL;
  const applied = r.timeline.find((x) => x.kind === 'table' && x.subject === 'o1-gw' && x.atMs >= 5000);
  assert.ok(applied, 'the office applied a new table');
  assert.ok(Math.abs(applied!.atMs - tableAt) < 1e-6, `table at ${applied!.atMs}, expected ${tableAt}`);
  // The first packet sent after the table applies gets through (1 ms spacing);
  // the outage starts with the first packet lost, which was on its way (5 ms) at 5000.
  assert.ok(e.startMs >= 5000 - 5 && e.startMs <= 5000, `starts at ${e.startMs}`);
  const expected = tableAt - e.startMs;
  assert.ok(e.durationMs >= expected - 1 && e.durationMs <= expected + 1.001, `outage ${e.durationMs}, expected ${expected}`);
  assert.ok(e.split.reconvergenceMs > 0 && e.split.localFailoverMs === 0);
  assert.ok(Math.abs(e.split.detectionMs + e.split.reconvergenceMs - e.durationMs) < 0.01, 'the parts add up');
});

failover('when the office has no loop-free backup it waits for the controller, even with local failover on', async () => {
  // dc1-dc2 costs 100: dc2 reaches dc1 through the office, so dc2 is no loop-free alternate.
  const r = await runScenario(officeScenario({ events: linkDown, dcCost: 100 }));
  const e = demand(r, 'o1-dc1').episodes[0]!;
  assert.is(e.restoredBy, 'controller');
  const first = Math.min(downAt(r, 'o1-gw', 'dc1-gw'), downAt(r, 'dc1-gw', 'o1-gw'));
  const expected = first + CONTROL + COMPUTE + CONTROL - e.startMs;
  assert.ok(e.durationMs >= expected - 1 && e.durationMs <= expected + 1.001, `outage ${e.durationMs}, expected ${expected}`);
  assert.ok(e.lossReasons['no_usable_next_hop at o1-gw']! > 0, 'the office dropped for lack of a usable next hop until the table came');
});

failover('the link coming back moves traffic home only after the hold time', async () => {
  const r = await runScenario(officeScenario({ events: `${linkDown}\n  - { at_ms: 8000, link_up: dc1-gw--o1-gw }` }));
  const d = demand(r, 'o1-dc1');
  assert.is(d.episodes.length, 1, 'the return costs no packets');
  assert.equal(d.pathEnd, ['o1-gw', 'dc1-gw']);
  const up = r.timeline.find((x) => x.kind === 'peer-up' && x.subject === 'o1-gw');
  // Replies resume within an interval (+ RTT) of 8000; up at the first tick after 5 s of them.
  assert.ok(up && up.atMs >= 13_000 && up.atMs <= 13_000 + 2 * INTERVAL + 10, `peer up at ${up?.atMs}`);
});

failover('a larger detect multiplier (the agent setting) makes the outage longer by the extra intervals', async () => {
  const at3 = demand(await runScenario(officeScenario({ events: linkDown })), 'o1-dc1').outageMs;
  const at6 = demand(await runScenario(officeScenario({ events: linkDown, timing: { detect_multiplier: 6 } })), 'o1-dc1').outageMs;
  assert.ok(at6 - at3 > 2 * INTERVAL && at6 - at3 < 4 * INTERVAL, `3: ${at3} ms, 6: ${at6} ms`);
});

failover('a per-link probe setting in network: (the agent override for that tunnel) shortens its detection', async () => {
  const base = demand(await runScenario(officeScenario({ events: linkDown })), 'o1-dc1').episodes[0]!;
  const fast = demand(await runScenario(officeScenario({ events: linkDown, primaryLink: 'probe_interval_ms: 20' })), 'o1-dc1').episodes[0]!;
  assert.is(fast.restoredBy, 'local-failover');
  assert.ok(fast.split.detectionMs <= 3 * 20 && fast.split.detectionMs > 2 * 20 - 10, `detection ${fast.split.detectionMs} ms at 20 ms probes`);
  assert.ok(base.split.detectionMs > 2 * INTERVAL - 10, `detection ${base.split.detectionMs} ms at 100 ms probes`);
});

failover.run();
