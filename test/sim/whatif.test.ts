// What-if sweeps on a small topology, with hand-checked rankings and
// predictions, and a cross-check against the simulator.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { runScenario } from '../../sim/run-scenario.js';
import { whatIf, type FailureImpact, type WhatIfResult } from '../../sim/whatif.js';
import { optionsFrom } from '../../sim/whatif-cli.js';
import { officeScenario } from './fixtures.js';

const wi = suite('sim: what-if');

const sweep = (dcCost = 5, demands?: string) => {
  const s = officeScenario({ events: '  []', dcCost, ...(demands ? { demands } : {}) });
  return { s, r: whatIf(s.topology, optionsFrom(s)) };
};
const failure = (r: WhatIfResult, name: string): FailureImpact => {
  const f = r.failures.find((x) => x.name === name);
  assert.ok(f, name);
  return f!;
};

wi('every link, gateway, site and SRLG once; 4 sites give 12 site pairs', async () => {
  const { r } = sweep();
  assert.equal(r.topology, { sites: 4, gateways: 4, links: 4, srlgs: 1, sitePairs: 12 });
  assert.is(r.failures.length, 4 + 4 + 4 + 1);
  assert.is(r.baseline.connectedPairs, 12);
  assert.equal(r.predictions.localFailoverMs, 300);
  assert.equal(r.predictions.controllerMs, 300 + 20 + 50 + 20);
});

wi('losing the primary tunnel: the office is covered by its loop-free backup; traffic towards it is not', async () => {
  const f = failure(sweep().r, 'link dc1-gw--o1-gw');
  assert.is(f.disconnectedPairs, 0);
  // o1 -> dc1, and o1 -> dc2 and o1 -> o2 (both through dc1), switch to the tunnel to dc2 at detection.
  assert.is(f.coveredLocally, 3);
  // dc1, dc2 and o2 reach o1 through dc1, and dc1 has no loop-free alternate
  // towards o1 (dc2's own path to o1 runs through dc1): they wait for the controller.
  assert.is(f.needController, 3);
  assert.is(f.predictedOutageMs, 390);
  // 10 -> 25 (over dc2) both ways between o1 and dc1; the first pair in site order is named.
  assert.equal(f.worstStretch, { from: 'dc1', to: 'o1', costBefore: 10, costAfter: 25, stretch: 2.5 });
});

wi('without a loop-free backup the same failure waits for the controller', async () => {
  const f = failure(sweep(100).r, 'link dc1-gw--o1-gw');
  assert.ok(f.needController > 0);
  assert.is(f.predictedOutageMs, 390);
});

wi('the office access line (an SRLG) cuts the office off: 6 site pairs, ranked first', async () => {
  const { r } = sweep();
  const f = failure(r, 'srlg o1-line');
  assert.is(f.disconnectedPairs, 6);
  assert.is(f.lostWithFailure, 0);
  const site = failure(r, 'site dc1');
  assert.is(site.lostWithFailure, 6, 'pairs to and from dc1 go with it');
  assert.ok(site.coveredLocally > 0, 'o1 -> dc2 went through dc1');
  // Everything that loses 6 pairs comes before everything that loses none.
  const firstZero = r.failures.findIndex((x) => x.disconnectedPairs + x.lostWithFailure === 0);
  assert.ok(r.failures.slice(0, firstZero).every((x) => x.disconnectedPairs + x.lostWithFailure > 0));
});

wi('demands: a failure that moves 40 Mbit/s onto a 10 Mbit/s tunnel flags the overload', async () => {
  const { r } = sweep(5, '  - { id: big, from: o1, to: dc1, rate_pps: 5000 }');
  assert.equal(r.baseline.demands, [{ id: 'big', path: ['o1-gw', 'dc1-gw'], latencyMs: 5, connected: true }]);
  const f = failure(r, 'link dc1-gw--o1-gw');
  assert.equal(f.overloadedLinks, [{ id: 'dc2-gw--o1-gw', loadMbps: 40, capacityMbps: 10, utilisationPct: 400 }]);
  assert.equal(f.demands[0]!.pathAfter, ['o1-gw', 'dc2-gw', 'dc1-gw']);
  assert.is(f.demands[0]!.latencyAfterMs, 11);
  assert.is(f.demands[0]!.stretch, 2.2);
  assert.equal(failure(r, 'srlg o1-line').disconnectedDemands, ['big']);
  assert.equal(failure(r, 'site o1').demandsGoneWithFailure, ['big']);
});

wi('pairs of failures on request, bounded', async () => {
  const s = officeScenario({ events: '  []' });
  const r = whatIf(s.topology, { pairs: true });
  assert.is(r.failures.length, 13 + (13 * 12) / 2);
  const both = failure(r, 'link dc1-gw--o1-gw + link dc2-gw--o1-gw');
  assert.is(both.disconnectedPairs, 6);
  try {
    whatIf(s.topology, { pairs: true, maxPairs: 10 });
    assert.unreachable();
  } catch (err) {
    assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'));
    assert.match((err as Error).message, /78 pairs, more than the limit of 10/);
  }
});

wi('the prediction matches what the simulator measures', async () => {
  for (const [dcCost, localFailover] of [[5, true], [100, true], [5, false]] as const) {
    const s = officeScenario({ events: '  - { at_ms: 3000, link_down: dc1-gw--o1-gw }', dcCost, timing: { duration_s: 5, local_failover: localFailover } });
    const predicted = failure(whatIf(s.topology, optionsFrom(s)), 'link dc1-gw--o1-gw').demands[0]!.predictedOutageMs!;
    assert.is(predicted, dcCost === 5 ? 300 : 390);
    const measured = (await runScenario(s)).demands[0]!.outageMs;
    if (!localFailover) {
      // What-if assumes local failover; without it the controller path applies.
      assert.ok(measured <= 390 + 6 && measured > 390 - 100 - 10, `measured ${measured} ms without local failover`);
      continue;
    }
    // Detection is at most multiplier x interval after the failure, plus the packet in flight (5 ms) and spacing (1 ms).
    assert.ok(measured <= predicted + 6 && measured > predicted - 100 - 10, `dc cost ${dcCost}: predicted ${predicted}, measured ${measured}`);
  }
});

wi.run();
