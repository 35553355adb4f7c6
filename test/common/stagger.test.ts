import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { staggered } from '../../common/stagger.js';
import { officeId } from '../helpers/fleet-topology.js';

const stagger = suite('staggered');

stagger('depends only on the key, stays in range, and spreads a fleet over the range', () => {
  const counts = new Map<number, number>();
  for (let i = 1; i <= 1000; i++) {
    const v = staggered(officeId(i), 8, 16);
    assert.ok(Number.isInteger(v) && v >= 8 && v < 24, `${v} in [8, 24)`);
    assert.is(staggered(officeId(i), 8, 16), v);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  assert.is(counts.size, 16, 'every value is used');
  // A fleet-wide change reaches the end of a run for about a sixteenth of the gateways at once, never most of them.
  assert.ok(Math.max(...counts.values()) < 150, `at most ${Math.max(...counts.values())} gateways share a period`);
});

stagger.run();
