import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { DEFAULT_COST_POLICY, nextCost, rttDerivedCost, type CostPolicy } from '../../controller/routing/link-cost.js';
import { SwitchbackError } from '../../common/errors.js';

const cost = suite('RTT-derived link cost with hysteresis');
const on: CostPolicy = { rttCost: true, usPerCostUnit: 1000, hysteresisPct: 20 };

cost('off by default: the configured cost, whatever the RTT', () => {
  assert.is(DEFAULT_COST_POLICY.rttCost, false);
  assert.is(nextCost(10, 37, 80_000), 10);
  assert.is(nextCost(10, 37, 80_000, { ...on, rttCost: false }), 10);
});

cost('jitter inside the band keeps the current cost; a real change moves it', () => {
  // current 50 (50 ms); 20% band = 40..60 stays
  assert.is(nextCost(10, 50, 58_000, on), 50);
  assert.is(nextCost(10, 50, 42_400, on), 50);
  assert.is(nextCost(10, 50, 60_000, on), 50); // exactly 20%: not more than the band
  assert.is(nextCost(10, 50, 61_000, on), 61);
  assert.is(nextCost(10, 50, 39_000, on), 39);
});

cost('never below the configured cost; raising the configured cost applies at once', () => {
  assert.is(nextCost(30, 50, 5_000, on), 30); // rtt says 5, floor is 30: 30 vs 50 is a 40% move
  assert.is(nextCost(45, 50, 5_000, on), 50); // 45 vs 50 is within the band
  assert.is(nextCost(80, 50, 10_000, on), 80); // current below the new floor
  assert.is(rttDerivedCost(10, 12_345, on), 12);
});

cost('no measurement keeps the current cost (but not below the floor); unknown current restarts from configured', () => {
  assert.is(nextCost(10, 50, undefined, on), 50);
  assert.is(nextCost(60, 50, undefined, on), 60);
  assert.is(nextCost(10, 0, 50_000, on), 50);
});

cost('a noisy RTT around a steady value does not flap the cost', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 45_000, max: 55_000 }), { minLength: 1, maxLength: 50 }), (samples) => {
      let c = 50;
      for (const rtt of samples) c = nextCost(10, c, rtt, on);
      assert.is(c, 50);
    }),
  );
});

cost('the result is a cost in range whatever comes in', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.option(fc.integer({ min: 0, max: 2 ** 31 }), { nil: undefined }),
      fc.integer({ min: 0, max: 100 }),
      (configured, current, rtt, pct) => {
        const c = nextCost(configured, current, rtt, { ...on, hysteresisPct: pct });
        assert.ok(Number.isInteger(c) && c >= configured && c <= 0xffffffff);
      },
    ),
  );
});

cost('bad input is a SwitchbackError naming the field', () => {
  const field = (fn: () => unknown) => {
    try {
      fn();
      return 'accepted';
    } catch (e) {
      assert.ok(SwitchbackError.is(e, 'INVALID_ARGUMENT'));
      return (e as SwitchbackError).field;
    }
  };
  assert.is(field(() => nextCost(0, 5, 1000, on)), 'cost');
  assert.is(field(() => nextCost(1.5, 5, 1000, on)), 'cost');
  assert.is(field(() => nextCost(5, 5, -1, on)), 'rttUs');
  assert.is(field(() => nextCost(5, 5, Number.NaN, on)), 'rttUs');
  assert.is(field(() => nextCost(5, 5, 1000, { ...on, usPerCostUnit: 0 })), 'usPerCostUnit');
  assert.is(field(() => nextCost(5, 5, 1000, { ...on, hysteresisPct: -1 })), 'hysteresisPct');
});

cost.run();
