// Bad scenario files get one clear error naming the file, the line and the
// field; nothing runs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { loadScenario, parseScenario } from '../../sim/scenario.js';
import { officeTopology } from './fixtures.js';

const input = suite('sim: scenario files');

const good = (events: string, extra = '') => `${officeTopology()}
demands:
  - { id: d1, from: o1, to: dc1, rate_pps: 100 }
timing:
  duration_s: 10
${extra}
events:
${events}
`;

/** Parses, expecting a failure; returns the error. */
function refuse(text: string, files: Record<string, string> = {}): SwitchbackError {
  try {
    parseScenario(text, 'sc.yaml', { readFile: (p) => {
      const hit = Object.entries(files).find(([name]) => p.endsWith(name));
      if (!hit) throw new Error('ENOENT: no such file');
      return hit[1];
    } });
  } catch (err) {
    assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'), `a family error: ${String(err)}`);
    return err as SwitchbackError;
  }
  assert.unreachable('accepted');
  throw new Error('unreachable');
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

input('a good scenario reads into typed settings', () => {
  const s = parseScenario(good('  - { at_ms: 1000, link_down: dc1-gw--o1-gw }\n  - { at_ms: 2000, latency: { link: dc1-gw--dc2-gw, ms: 12.5 } }'), 'sc.yaml');
  assert.is(s.timing.durationMs, 10_000);
  assert.is(s.timing.probeIntervalMs, 100);
  assert.is(s.demands[0]!.prefix, '10.1.0.0/16');
  assert.is(s.demands[0]!.address, '10.1.0.1');
  assert.equal(s.demands[0]!.destSites, ['dc1']);
  assert.equal(s.events.map((e) => e.kind), ['link_down', 'latency']);
  assert.is(s.network.links.get('dc1-gw--o2-gw'), undefined);
  assert.is(s.network.links.get('dc1-gw--o1-gw')!.latencyMs, 5);
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.events));
});

input('an event naming an unknown link: file, line, field and a suggestion', () => {
  const text = good('  - { at_ms: 1000, link_down: dc1-gw--o1-gww }');
  const e = refuse(text);
  assert.is(e.source, 'sc.yaml');
  assert.is(e.line, lineOf(text, 'o1-gww'));
  assert.is(e.field, 'events[0].link_down');
  assert.match(e.message, /unknown link 'dc1-gw--o1-gww' \(did you mean 'dc1-gw--o1-gw'\?\)/);
  assert.match(e.message, new RegExp(`^sc\\.yaml:${e.line}: `));
});

input('events out of order are refused', () => {
  const text = good('  - { at_ms: 5000, link_down: dc1-gw--o1-gw }\n  - { at_ms: 4000, link_up: dc1-gw--o1-gw }');
  const e = refuse(text);
  assert.is(e.line, lineOf(text, 'at_ms: 4000'));
  assert.match(e.message, /out of order: 4000 ms comes after an event at 5000 ms/);
});

input('an event in the past or after the end is refused', () => {
  const past = refuse(good('  - { at_ms: -5, link_down: dc1-gw--o1-gw }'));
  assert.match(past.message, /in the past/);
  const late = refuse(good('  - { at_ms: 20000, link_down: dc1-gw--o1-gw }'));
  assert.match(late.message, /after the end of the simulation/);
});

input('negative latency is refused with the link named', () => {
  const text = good('  []').replace('dc1-gw--dc2-gw: { latency_ms: 3 }', 'dc1-gw--dc2-gw: { latency_ms: -3 }');
  const e = refuse(text);
  assert.is(e.field, 'network.links.dc1-gw--dc2-gw.latency_ms');
  assert.is(e.line, lineOf(text, 'latency_ms: -3'));
  assert.match(e.message, /cannot be negative/);
});

input('malformed YAML is refused with its line', () => {
  const e = refuse('topology:\n  sites: [\n  - x\ndemands: {');
  assert.is(e.source, 'sc.yaml');
  assert.ok(e.line !== undefined);
  assert.match(e.message, /malformed YAML/);
});

input('every problem is listed at once, in file order', () => {
  const text = good('  - { at_ms: 1000, link_down: nope }\n  - { at_ms: 2000, site_down: nowhere }', 'routing: { max_ecmp: 0 }').replace('rate_pps: 100', 'rate_pps: -1');
  const e = refuse(text);
  const lines = e.message.split('\n');
  assert.is(lines.length, 4, e.message);
  assert.match(lines[0]!, /rate_pps/);
  assert.match(lines[1]!, /max_ecmp/);
  assert.match(lines[2]!, /unknown link 'nope'/);
  assert.match(lines[3]!, /unknown site 'nowhere'/);
});

input('unknown keys, a demand to nowhere, an event with two actions, a bad gray', () => {
  assert.match(refuse(good('  []', 'timming: {}')).message, /unknown key 'timming' \(did you mean 'timing'\?\)/);
  assert.match(refuse(good('  []').replace('to: dc1', 'to: dc9')).message, /demands\[0\]\.to: unknown site 'dc9'/);
  assert.match(refuse(good('  []').replace('to: dc1', 'to: 172.16.0.0/12')).message, /no site announces a prefix containing '172\.16\.0\.0\/12'/);
  assert.match(refuse(good('  - { at_ms: 1, link_down: dc1-gw--o1-gw, link_up: dc1-gw--o1-gw }')).message, /has 2 actions/);
  assert.match(refuse(good('  - { at_ms: 1, gray: { link: dc1-gw--o1-gw, drop_pct: 150 } }')).message, /drop_pct: expected a number 0\.\.100, got 150/);
  assert.match(refuse(good('  - { at_ms: 1 }')).message, /says nothing happens/);
});

input('topology_file: resolved next to the scenario; its problems name the topology file and line', () => {
  const topo = officeTopology().trimStart().replace(/^topology:\n/, '').replace(/^  /gm, '').split('network:')[0]!;
  const body = `topology_file: topo.yaml\ndemands:\n  - { from: o1, to: dc2, rate_pps: 10 }\nevents: []\n`;
  const ok = parseScenario(body, 'dir/sc.yaml', { readFile: (p) => (p.endsWith('dir/topo.yaml') ? topo : '') });
  assert.is(ok.topology.links.length, 4);
  assert.ok(ok.topologySource.endsWith('dir/topo.yaml'));
  const broken = topo.replace('cost: 20', 'cost: twenty');
  const e = refuse(body, { 'topo.yaml': broken });
  assert.match(e.message, /topo\.yaml:\d+: links\[1\]\.cost/);
  assert.is(e.line, lineOf(broken, 'twenty'));
  assert.match(e.message, /sc\.yaml:1: topology_file: the topology it names is invalid/);
  assert.match(refuse(body).message, /cannot read 'topo\.yaml'/);
});

input('the example scenarios read', () => {
  for (const f of ['examples/scenario-dc-loss.yaml', 'examples/scenario-dc-link.yaml']) {
    const s = loadScenario(f);
    assert.ok(s.demands.length > 0 && s.events.length > 0, f);
  }
  const e = (() => {
    try {
      loadScenario('examples/no-such-scenario.yaml');
    } catch (err) {
      return err as SwitchbackError;
    }
  })();
  assert.ok(SwitchbackError.is(e, 'INVALID_ARGUMENT'));
  assert.match(e!.message, /cannot read scenario file/);
});

input.run();
