import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';

const manual = suite('ManualClock');

manual('fires timers in time order, then creation order', () => {
  const c = new ManualClock();
  const seen: string[] = [];
  c.setTimeout(() => seen.push('b'), 20);
  c.setTimeout(() => seen.push('a'), 10);
  c.setTimeout(() => seen.push('c'), 20);
  c.advance(15);
  assert.equal(seen, ['a']);
  assert.is(c.now(), 15);
  c.advance(5);
  assert.equal(seen, ['a', 'b', 'c']);
});

manual('a timer set while advancing fires in the same advance when due', () => {
  const c = new ManualClock();
  const at: number[] = [];
  const tick = () => {
    at.push(c.now());
    if (at.length < 5) c.setTimeout(tick, 100);
  };
  c.setTimeout(tick, 100);
  c.advance(1000);
  assert.equal(at, [100, 200, 300, 400, 500]);
});

manual('clearTimeout cancels', () => {
  const c = new ManualClock();
  let fired = false;
  const h = c.setTimeout(() => (fired = true), 5);
  c.clearTimeout(h);
  c.advance(10);
  assert.is(fired, false);
  assert.is(c.timerCount, 0);
});

manual.run();
