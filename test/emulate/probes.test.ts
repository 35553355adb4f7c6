// Probe accounting on ping's own output, without a network: a ping stopped
// by its deadline cannot have waited for the replies of its last probes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withoutUnjudgedTail, type PingRun } from '../../emulate/probes.js';

/** A run of `sent` probes 10 ms apart from t=0, answered except `lost`. */
function run(sent: number, lost: number[] = []): PingRun {
  const answered = new Set<number>();
  const sentAtMs = new Map<number, number>();
  for (let s = 1; s <= sent; s++) {
    if (lost.includes(s)) continue;
    answered.add(s);
    sentAtMs.set(s, (s - 1) * 10);
  }
  return { sent, answered, sentAtMs, errors: 0, unjudged: 0 };
}

const t = suite('emulate probes: the tail of a stopped ping');

t('the last probe, sent just before the deadline, is neither answered nor lost', () => {
  const r = withoutUnjudgedTail(run(100, [100]), 995);
  assert.is(r.sent, 99);
  assert.is(r.unjudged, 1);
});

t('a fully answered run is left as it is', () => {
  const r = run(100);
  assert.is(withoutUnjudgedTail(r, 995), r);
});

t('a loss before the tail still counts', () => {
  const r = withoutUnjudgedTail(run(100, [50, 100]), 995);
  assert.is(r.sent - r.answered.size, 1, 'probe 50 is lost');
  assert.is(r.unjudged, 1);
});

t('an outage at the end counts, except its last reply timeout', () => {
  // Answered up to probe 100 (sent at 990 ms), then 300 probes lost over 3 s.
  const lost = Array.from({ length: 300 }, (_, i) => 101 + i);
  const r = withoutUnjudgedTail(run(400, lost), 990 + 3010);
  // Spread evenly over 3,020 ms: those sent in the last 1,000 ms are unjudged.
  assert.ok(r.unjudged >= 95 && r.unjudged <= 105, `unjudged ${r.unjudged}`);
  assert.is(r.sent - r.answered.size + r.unjudged, 300);
});

t('nothing answered: nothing to place the tail by, all of it counts as lost', () => {
  const r = withoutUnjudgedTail(run(10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 100);
  assert.is(r.sent, 10);
  assert.is(r.unjudged, 0);
});

t.run();
