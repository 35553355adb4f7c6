import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseControllerConfig } from '../../controller/config.js';

const config = suite('controller.yaml');

config('defaults, relative paths resolved against the file, RTT cost policy', () => {
  const c = parseControllerConfig('data_dir: ./state\nadmin_listen: 127.0.0.1:9000\nrtt_cost: { enabled: true, hysteresis_pct: 30 }\n', '/etc/switchback/controller.yaml');
  assert.is(c.dataDir, '/etc/switchback/state');
  assert.is(c.adminListen, '127.0.0.1:9000');
  assert.equal(c.costPolicy, { rttCost: true, usPerCostUnit: 1000, hysteresisPct: 30 });
  assert.ok(Object.isFrozen(c));
});

config('bad input names the key and the file', () => {
  const bad: [string, RegExp][] = [
    ['admin_lisen: x', /admin_lisen: unknown key/],
    ['admin_listen: nonsense', /admin_listen: 'nonsense' is not host:port/],
    ['rtt_cost: yes', /rtt_cost: must be a mapping/],
    ['rtt_cost: { enabled: 1 }', /rtt_cost\.enabled: must be true or false/],
    ['rtt_cost: { hysteresis_pct: -5 }', /rtt_cost\.hysteresis_pct: must be a positive number/],
    ['rtt_cost: { cost: 1 }', /rtt_cost\.cost: unknown key/],
    ['[1, 2]', /must be a mapping/],
    ['data_dir: [', /c\.yaml/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseControllerConfig(text, 'c.yaml'), (e: Error) => re.test(e.message) && /c\.yaml/.test(e.message), text);
  }
});

config.run();
