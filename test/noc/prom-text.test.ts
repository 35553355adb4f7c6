// The strict Prometheus text-format parser the metrics tests rely on: it
// must accept what prom-client writes and refuse what a server would refuse.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Counter, Histogram, Registry } from 'prom-client';
import { SwitchbackError } from '../../common/errors.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

const p = suite('prom-text parser');

p('reads what prom-client writes: types, help, labels with escapes, histograms', async () => {
  const r = new Registry();
  const c = new Counter({ name: 'x_requests_total', help: 'Requests "served"\nby path', labelNames: ['path'], registers: [r] });
  c.inc({ path: 'a"b\\c\nd' }, 3);
  const h = new Histogram({ name: 'x_latency_seconds', help: 'Latency', buckets: [0.1, 1], registers: [r] });
  h.observe(0.05);
  h.observe(5);
  const f = parsePromText(await r.metrics());
  assert.is(f.get('x_requests_total')!.type, 'counter');
  assert.is(f.get('x_requests_total')!.help, 'Requests "served"\nby path');
  assert.is(sampleValue(f, 'x_requests_total', { path: 'a"b\\c\nd' }), 3);
  assert.is(f.get('x_latency_seconds')!.type, 'histogram');
  assert.is(sampleValue(f, 'x_latency_seconds', { le: '+Inf' }, 'x_latency_seconds_bucket'), 2);
  assert.is(sampleValue(f, 'x_latency_seconds', {}, 'x_latency_seconds_count'), 2);
  assert.is(sampleValue(f, 'x_latency_seconds', {}, 'x_latency_seconds_sum'), 5.05);
});

p('reads special values, timestamps, comments and untyped samples', () => {
  const f = parsePromText('# a comment\nup 1 1700000000000\nnan_gauge NaN\n# TYPE g gauge\ng{a="1",} -Inf\n');
  assert.is(f.get('up')!.type, 'untyped');
  assert.is(f.get('up')!.samples[0]!.timestampMs, 1_700_000_000_000);
  assert.ok(Number.isNaN(sampleValue(f, 'nan_gauge')));
  assert.is(sampleValue(f, 'g', { a: '1' }), -Infinity);
});

const bad: [string, string, RegExp][] = [
  ['no trailing newline', 'up 1', /newline/],
  ['a bad metric name', '1up 1\n', /no metric name/],
  ['a bad label name', 'up{1a="x"} 1\n', /bad label name/],
  ['an unquoted label value', 'up{a=x} 1\n', /no quoted value/],
  ['an unterminated label value', 'up{a="x} 1\n', /unterminated/],
  ['a bad escape', 'up{a="\\t"} 1\n', /bad escape/],
  ['a label given twice', 'up{a="1",a="2"} 1\n', /twice/],
  ['a bad value', 'up 1,5\n', /not a number/],
  ['no value', 'up\n', /no value/],
  ['trailing text', 'up 1 2 3\n', /trailing/],
  ['a duplicate series', 'up{a="1"} 1\nup{a="1"} 2\n', /duplicate/],
  ['a family in two places', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n', /two places/],
  ['TYPE after samples', 'a 1\n# TYPE a gauge\n', /after its samples/],
  ['two TYPE lines', '# TYPE a gauge\n# TYPE a gauge\n', /second TYPE/],
  ['an unknown type', '# TYPE a meter\n', /unknown type/],
  ['a negative counter', '# TYPE a_total counter\na_total -1\n', /counter/],
  ['buckets not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n', /cumulative/],
  ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
  ['+Inf bucket != count', '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n', /_count/],
  ['a bucket without le', '# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n', /without 'le'/],
];
for (const [what, text, why] of bad) {
  p(`refuses ${what}`, () => {
    try {
      parsePromText(text);
    } catch (err) {
      assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'), String(err));
      assert.match((err as Error).message, why);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(text)}`);
  });
}

p.run();
