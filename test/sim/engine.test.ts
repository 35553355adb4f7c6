import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { SimEngine, SIM_WALL_START_MS } from '../../sim/engine.js';

const engine = suite('sim: discrete-event engine');

engine('events run in time order; ties in the order they were scheduled', () => {
  const e = new SimEngine();
  const seen: string[] = [];
  e.setTimeout(() => seen.push('b@10'), 10);
  e.setTimeout(() => seen.push('a@5'), 5);
  e.setTimeout(() => seen.push('c@10'), 10);
  e.at(10, () => seen.push('d@10'));
  for (let i = 0; i < 50; i++) e.setTimeout(() => seen.push(`x${i}@7`), 7);
  e.run(100);
  assert.equal(seen.slice(0, 1), ['a@5']);
  assert.equal(seen.slice(1, 51), Array.from({ length: 50 }, (_, i) => `x${i}@7`));
  assert.equal(seen.slice(51), ['b@10', 'c@10', 'd@10']);
  assert.is(e.now(), 100);
  assert.is(e.eventsRun, 54);
});

engine('events scheduled while running run in the same run when due; later ones wait', () => {
  const e = new SimEngine();
  const seen: number[] = [];
  e.setTimeout(() => {
    seen.push(e.now());
    e.setTimeout(() => seen.push(e.now()), 0);
    e.setTimeout(() => seen.push(e.now()), 50);
  }, 10);
  e.run(30);
  assert.equal(seen, [10, 10]);
  assert.is(e.pending, 1);
  e.run(60);
  assert.equal(seen, [10, 10, 60]);
});

engine('cancelled timers never run; the clock implements Clock with a fixed wall start', () => {
  const e = new SimEngine();
  let ran = false;
  const h = e.setTimeout(() => (ran = true), 5);
  e.clearTimeout(h);
  e.clearTimeout(h);
  assert.is(e.pending, 0);
  e.run(10);
  assert.not.ok(ran);
  assert.is(e.wallMs(), SIM_WALL_START_MS + 10);
  assert.throws(() => e.run(5), (err: unknown) => SwitchbackError.is(err, 'INVALID_ARGUMENT'));
  assert.throws(() => e.setTimeout(() => {}, NaN), (err: unknown) => SwitchbackError.is(err, 'INVALID_ARGUMENT'));
});

engine('the same seed gives the same random stream', () => {
  const a = new SimEngine({ seed: 9 });
  const b = new SimEngine({ seed: 9 });
  const c = new SimEngine({ seed: 10 });
  const draw = (e: SimEngine) => Array.from({ length: 5 }, () => e.random.next());
  const x = draw(a);
  assert.equal(x, draw(b));
  assert.not.equal(x, draw(c));
});

engine('a million events in order (heap property under load)', () => {
  const e = new SimEngine({ seed: 1 });
  let last = -1;
  let ok = true;
  for (let i = 0; i < 1_000_000; i++) {
    const at = e.random.int(0, 100_000);
    e.at(at, () => {
      if (e.now() < last) ok = false;
      last = e.now();
    });
  }
  e.run(100_000);
  assert.ok(ok);
  assert.is(e.eventsRun, 1_000_000);
});

engine.run();
