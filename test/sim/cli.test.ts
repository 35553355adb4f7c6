// `switchback sim` and `switchback whatif` as a user runs them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTopologyYaml } from '../../controller/topology/topology-yaml.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sb = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/switchback.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });

const cli = suite('sim: command line');
let dir: string;
cli.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-sim-cli-'));
});
cli.after(() => rmSync(dir, { recursive: true, force: true }));

cli('sim prints the report; --json is byte-identical across runs; --seed changes it; --report writes self-contained HTML', () => {
  const text = sb('sim', 'examples/scenario-dc-link.yaml');
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout, /^Timeline$/m);
  assert.match(text.stdout, /ber-fra .* disrupted/);
  assert.match(text.stdout, /local-failover/);
  const html = join(dir, 'r.html');
  const a = sb('sim', 'examples/scenario-dc-link.yaml', '--json', '--report', html);
  const b = sb('sim', 'examples/scenario-dc-link.yaml', '--json');
  assert.is(a.status, 0, a.stderr);
  assert.ok(a.stdout === b.stdout, 'byte-identical JSON');
  const c = sb('sim', 'examples/scenario-dc-link.yaml', '--json', '--seed', '99');
  assert.is(JSON.parse(c.stdout).scenario.seed, 99);
  assert.ok(c.stdout !== a.stdout);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(page, /<svg[^>]*aria-label="topology map"/);
  assert.match(page, /<svg[^>]*aria-label="timeline"/);
  assert.not.match(page, /<script|<link |src=|@import|url\(/i, 'nothing loaded from anywhere');
});

cli('a bad scenario: one line naming file and line, exit 2, nothing runs', () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'topology_file: missing/topology.yaml\nevents:\n  - { at_ms: 5, link_down: nope }\n');
  const r = sb('sim', f);
  assert.is(r.status, 2);
  assert.match(r.stderr, /^switchback: .*bad\.yaml:1: topology_file: cannot read 'missing\/topology\.yaml'/);
  assert.is(r.stdout, '');
  const g = join(dir, 'bad2.yaml');
  writeFileSync(g, `topology_file: ${join(root, 'examples/topology.yaml')}\nevents:\n  - { at_ms: 5, link_down: nope }\n`);
  const r2 = sb('sim', g);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /bad2\.yaml:3: events\[0\]\.link_down: unknown link 'nope'/);
});

cli('sim --generate writes a topology that ctl apply accepts; same seed, same file', () => {
  const out = join(dir, 'gen.yaml');
  const r = sb('sim', '--generate', '60', '--seed', '5', '--out', out);
  assert.is(r.status, 0, r.stderr);
  const t = parseTopologyYaml(readFileSync(out, 'utf8'), out);
  assert.is(t.gateways.length, 60);
  assert.ok(new Set(t.sites.map((s) => s.region)).size >= 2, 'multi-region');
  const again = sb('sim', '--generate', '60', '--seed', '5');
  assert.is(again.stdout, readFileSync(out, 'utf8'));
  assert.is(sb('sim', '--generate', 'many').status, 2);
});

cli('whatif ranks failures from a topology or a scenario; --json and --report', () => {
  const t = sb('whatif', 'examples/topology.yaml', '--top', '5');
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /^What-if: \d+ failures \(single\)/);
  assert.match(t.stdout, /Ranked by impact \(top 5 of \d+/);
  const html = join(dir, 'w.html');
  const j = sb('whatif', 'examples/scenario-dc-loss.yaml', '--json', '--report', html);
  assert.is(j.status, 0, j.stderr);
  const r = JSON.parse(j.stdout);
  assert.ok(r.baseline.demands.length > 0, 'the scenario demands are used');
  assert.ok(r.failures.length > 0);
  assert.match(readFileSync(html, 'utf8'), /Failures ranked by impact/);
  const bad = sb('whatif', join(dir, 'nothing.yaml'));
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /cannot read/);
});

cli.run();
