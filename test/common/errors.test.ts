import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError, invalid, asSwitchbackError } from '../../common/errors.js';

const errors = suite('SwitchbackError');

errors('carries a code and names the field and source line', () => {
  const e = invalid('links[2].cost', 'must be a positive integer', { source: 'topo.yaml', line: 14 });
  assert.ok(e instanceof SwitchbackError);
  assert.is(e.code, 'INVALID_ARGUMENT');
  assert.is(e.field, 'links[2].cost');
  assert.is(e.message, 'topo.yaml:14: links[2].cost: must be a positive integer');
  assert.ok(SwitchbackError.is(e, 'INVALID_ARGUMENT'));
  assert.not.ok(SwitchbackError.is(e, 'NOT_FOUND'));
});

errors('wraps foreign errors as INTERNAL, keeps family members', () => {
  const wrapped = asSwitchbackError(new TypeError('boom'));
  assert.is(wrapped.code, 'INTERNAL');
  assert.is(wrapped.message, 'boom');
  const own = invalid('x', 'bad');
  assert.is(asSwitchbackError(own), own);
});

errors.run();
