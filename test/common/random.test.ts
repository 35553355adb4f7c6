import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRandom } from '../../common/random.js';
import { SwitchbackError } from '../../common/errors.js';

const random = suite('seeded random');

const take = (seed: number, k = 20) => {
  const r = createRandom(seed);
  return Array.from({ length: k }, () => r.next());
};

random('the same seed gives the same stream; another seed another stream', () => {
  assert.equal(take(42), take(42));
  assert.not.equal(take(42), take(43));
  assert.equal(take(0), take(0));
});

random('values are in range and spread out', () => {
  const r = createRandom(7);
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    buckets[Math.floor(x * 10)]++;
  }
  for (const b of buckets) assert.ok(b > 850 && b < 1150, `bucket ${b}`);
  const ints = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const v = r.int(3, 6);
    assert.ok(Number.isInteger(v) && v >= 3 && v <= 6);
    ints.add(v);
  }
  assert.equal([...ints].sort(), [3, 4, 5, 6]);
});

random('shuffle returns a permutation and leaves its input alone; pick and fork', () => {
  const r = createRandom(1);
  const input = Object.freeze([1, 2, 3, 4, 5, 6, 7, 8]);
  const out = r.shuffle(input);
  assert.equal([...out].sort(), [...input]);
  assert.equal(input, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(input.includes(r.pick(input)));
  const a = createRandom(9);
  const b = createRandom(9);
  assert.equal(Array.from({ length: 5 }, () => a.fork().next()), Array.from({ length: 5 }, () => b.fork().next()));
});

random('bad arguments are SwitchbackErrors', () => {
  const r = createRandom(1);
  assert.throws(() => r.int(5, 4), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
  assert.throws(() => r.pick([]), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
  assert.throws(() => createRandom(Number.NaN), (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT'));
});

random.run();
