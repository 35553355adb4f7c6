// Whole-datacenter loss, a partition that isolates an office, a gray
// failure, the controller going away, and byte-identical output.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadScenario } from '../../sim/scenario.js';
import { runScenario } from '../../sim/run-scenario.js';
import type { DemandResult, SimResult } from '../../sim/result.js';
import { officeScenario } from './fixtures.js';

const sc = suite('sim: scenarios');

const demand = (r: SimResult, id: string): DemandResult => {
  const d = r.demands.find((x) => x.id === id);
  assert.ok(d, `demand ${id}`);
  return d!;
};

sc('the same scenario and seed give byte-identical JSON; another seed does not', async () => {
  const s = officeScenario({ events: '  - { at_ms: 3000, link_down: dc1-gw--o1-gw }\n  - { at_ms: 6000, gray: { link: dc1-gw--dc2-gw, drop_pct: 20 } }', timing: { duration_s: 8, max_sample_pps: 200 } });
  const a = JSON.stringify(await runScenario(s));
  const b = JSON.stringify(await runScenario(s));
  assert.ok(a === b, 'identical');
  const c = JSON.stringify(await runScenario(officeScenario({ events: '  - { at_ms: 3000, link_down: dc1-gw--o1-gw }\n  - { at_ms: 6000, gray: { link: dc1-gw--dc2-gw, drop_pct: 20 } }', timing: { duration_s: 8, max_sample_pps: 200, seed: 4 } })));
  assert.ok(a !== c, 'the seed matters (probe phases, packet phases, random drops)');
});

sc('a whole datacenter lost: traffic through it fails over locally, traffic to it is unreachable, not an outage', async () => {
  const s = officeScenario({
    events: '  - { at_ms: 3000, site_down: dc1 }\n  - { at_ms: 8000, site_up: dc1 }',
    demands: ['  - { id: o1-dc1, from: o1, to: dc1, rate_pps: 200 }', '  - { id: o2-o1, from: o2, to: o1, rate_pps: 200 }', '  - { id: o1-dc2, from: o1, to: dc2, rate_pps: 200 }'].join('\n'),
    timing: { duration_s: 15 },
  });
  const r = await runScenario(s);
  // o1 -> dc2 went o1 > dc1 > dc2 (10 + 5 < 20): the office's backup is its direct tunnel.
  const through = demand(r, 'o1-dc2');
  assert.equal(through.pathStart, ['o1-gw', 'dc1-gw', 'dc2-gw']);
  assert.is(through.episodes.length, 1);
  assert.is(through.episodes[0]!.kind, 'outage');
  assert.is(through.episodes[0]!.restoredBy, 'local-failover');
  assert.ok(through.outageMs <= 300 + 10, `outage ${through.outageMs}`);
  assert.equal(through.episodes[0]!.pathAfter, ['o1-gw', 'dc2-gw']);
  // o2 reaches o1 over dc2 > dc1 > o1: dc2 detects dc1 gone and uses its backup (the office tunnel).
  const transit = demand(r, 'o2-o1');
  assert.equal(transit.pathStart, ['o2-gw', 'dc2-gw', 'dc1-gw', 'o1-gw']);
  assert.ok(transit.episodes.every((e) => e.kind === 'outage' && e.restoredBy !== 'not-restored'));
  // To the lost datacenter: unreachable for the 5 s it is gone, then back after the hold time.
  const to = demand(r, 'o1-dc1');
  assert.is(to.outageMs, 0, 'not counted as an outage');
  assert.is(to.episodes.length, 1);
  const e = to.episodes[0]!;
  assert.is(e.kind, 'unreachable');
  assert.is(e.reason, 'no-path');
  assert.is(e.split.repairMs, 5000, 'the 5 s without a path');
  assert.ok(e.durationMs >= 10_000 && e.durationMs < 10_600, `back ${e.durationMs} ms after the loss (5 s down + 5 s hold)`);
  assert.is(to.status, 'unreachable');
  const gw = r.gateways.find((g) => g.id === 'dc1-gw')!;
  assert.is(gw.downMs, 5000);
});

sc('the example scenario: Frankfurt lost, offices fail over through Amsterdam', async () => {
  const r = await runScenario(loadScenario('examples/scenario-dc-loss.yaml'));
  for (const d of r.demands) {
    if (d.to === 'fra') assert.is(d.status, 'unreachable', d.id);
    else if (d.pathStart.some((g) => g.startsWith('fra-'))) {
      assert.is(d.status, 'disrupted', d.id);
      assert.ok(d.outageMs > 0 && d.outageMs <= 300 + 60, `${d.id}: outage ${d.outageMs} ms`);
      assert.ok(d.episodes.every((e) => e.restoredBy === 'local-failover'), d.id);
    } else assert.is(d.status, 'ok', d.id);
  }
});

sc('a partition alone changes nothing for traffic (fail-static); the agent is reported cut off', async () => {
  const r = await runScenario(officeScenario({ events: '  - { at_ms: 2000, partition: o1-gw }\n  - { at_ms: 6000, heal: o1-gw }', timing: { duration_s: 8 } }));
  assert.is(demand(r, 'o1-dc1').status, 'ok');
  const gw = r.gateways.find((g) => g.id === 'o1-gw')!;
  assert.is(gw.controlUnreachableMs, 4000);
});

sc('a partition that isolates an office: reported unreachable, not as a long outage', async () => {
  // The office's access line (both tunnels) fails while its control channel is cut.
  const r = await runScenario(
    officeScenario({
      events: ['  - { at_ms: 2000, partition: o1-gw }', '  - { at_ms: 2000, srlg_down: o1-line }', '  - { at_ms: 9000, srlg_up: o1-line }', '  - { at_ms: 9000, heal: o1-gw }'].join('\n'),
      demands: '  - { id: o1-dc1, from: o1, to: dc1, rate_pps: 200 }\n  - { id: o2-o1, from: o2, to: o1, rate_pps: 200 }',
      timing: { duration_s: 16 },
    }),
  );
  for (const id of ['o1-dc1', 'o2-o1']) {
    const d = demand(r, id);
    assert.is(d.outageMs, 0, `${id}: no outage`);
    assert.ok(d.unreachableMs >= 7000, `${id}: unreachable ${d.unreachableMs} ms`);
    assert.ok(d.episodes.every((e) => e.kind === 'unreachable'), id);
    assert.equal(d.pathEnd, id === 'o1-dc1' ? ['o1-gw', 'dc1-gw'] : ['o2-gw', 'dc2-gw', 'dc1-gw', 'o1-gw'], 'home again');
  }
});

sc('a failure the controller must fix, at an office it cannot reach, is unreachable until the partition heals', async () => {
  const r = await runScenario(
    officeScenario({
      events: ['  - { at_ms: 2000, partition: o1-gw }', '  - { at_ms: 3000, link_down: dc1-gw--o1-gw }', '  - { at_ms: 7000, heal: o1-gw }'].join('\n'),
      timing: { duration_s: 10, local_failover: false },
    }),
  );
  const e = demand(r, 'o1-dc1').episodes[0]!;
  assert.is(e.kind, 'unreachable');
  assert.is(e.reason, 'control-partition:o1-gw');
  assert.is(e.restoredBy, 'controller');
  // Restored after the heal: session up (20 ms), state report, table pushed back (20 ms).
  assert.ok(e.endMs > 7000 && e.endMs < 7200, `restored at ${e.endMs}`);
});

sc('a gray failure (data dropped, probes answered) is degraded service that probes do not see', async () => {
  const r = await runScenario(
    officeScenario({
      events: '  - { at_ms: 2000, gray: { link: dc1-gw--o1-gw, drop_pct: 30 } }\n  - { at_ms: 6000, gray: { link: dc1-gw--o1-gw, drop_pct: 0 } }',
      demands: '  - { id: o1-dc1, from: o1, to: dc1, rate_pps: 500 }',
      timing: { duration_s: 8 },
    }),
  );
  const d = demand(r, 'o1-dc1');
  assert.ok(r.timeline.every((e) => e.kind !== 'peer-down'), 'no tunnel declared down');
  assert.equal(d.pathEnd, d.pathStart, 'no route change');
  // 30% of 4 s x 500 pps = 600 packets, give or take the dice.
  assert.ok(d.packetsLost > 480 && d.packetsLost < 720, `lost ${d.packetsLost}`);
  assert.ok(d.episodes.length >= 1 && d.episodes.every((e) => e.kind === 'degraded'), d.episodes.map((e) => e.kind).join());
  assert.is(d.outageMs, 0);
  assert.ok(d.episodes.every((e) => e.lossReasons['gray on dc1-gw--o1-gw']! > 0));
});

sc('a gray failure that also eats probes is eventually detected and routed around', async () => {
  const r = await runScenario(
    officeScenario({
      events: '  - { at_ms: 2000, gray: { link: dc1-gw--o1-gw, drop_pct: 60, probe_drop_pct: 60 } }',
      demands: '  - { id: o1-dc1, from: o1, to: dc1, rate_pps: 500 }',
      timing: { duration_s: 14 },
    }),
  );
  const d = demand(r, 'o1-dc1');
  assert.ok(r.timeline.some((e) => e.kind === 'peer-down' && e.subject === 'o1-gw'), 'the office declared the tunnel down');
  assert.equal(d.pathEnd, ['o1-gw', 'dc2-gw', 'dc1-gw']);
});

sc('the controller down: reports are lost, agents keep their tables, local failover still works; it resyncs on return', async () => {
  const r = await runScenario(
    officeScenario({
      events: ['  - { at_ms: 1000, controller_down: true }', '  - { at_ms: 2000, link_down: dc1-gw--o1-gw }', '  - { at_ms: 5000, controller_up: true }'].join('\n'),
      timing: { duration_s: 8 },
    }),
  );
  const e = demand(r, 'o1-dc1').episodes[0]!;
  assert.is(e.restoredBy, 'local-failover');
  assert.ok(e.durationMs <= 310);
  assert.ok(r.controller.reportsLost > 0);
  assert.is(r.controller.epochs, 2);
  // After the restart the agents' session start reports the link down and the tables follow.
  const journal = r.timeline.filter((x) => x.kind === 'journal' && x.atMs >= 5000);
  assert.ok(journal.some((x) => x.text.includes('dc1-gw') && x.text.includes('down')), journal.map((x) => x.text).join('; '));
  const o1 = r.gateways.find((g) => g.id === 'o1-gw')!;
  assert.ok(o1.tablesApplied >= 1);
  assert.ok(r.timeline.some((x) => x.kind === 'table' && x.subject === 'o1-gw' && x.text.includes('epoch 2')));
});

sc.run();
