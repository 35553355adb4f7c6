// `switchback ctl` against a real controller process, as a NOC engineer uses it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { sb } from '../helpers/run-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));


const ctl = suite('switchback ctl');
let dir: string;
let proc: ControllerProcess;
let c: (...args: string[]) => ReturnType<typeof sb>;

ctl.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-ctl-'));
  proc = await startControllerProcess(['--data-dir', join(dir, 'data')]);
  c = (...args) => sb('ctl', '--controller', proc.adminAddress, ...args);
});
ctl.after(async () => {
  await proc?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

ctl('the bootstrapped example topology is there: sites, gateways, links', async () => {
  const r = await c('topology');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^SITE\s+KIND\s+REGION/m);
  const json = JSON.parse((await c('--json', 'topology')).stdout);
  assert.ok(json.sites.filter((s: { kind: number }) => s.kind === 1).length >= 3, 'three datacenters');
  assert.ok(json.sites.filter((s: { kind: number }) => s.kind === 2).length >= 6, 'six offices');
  for (const s of json.sites) assert.match(r.stdout, new RegExp(`^${s.id}\\s`, 'm'));
});

ctl('routes of a gateway show primary and backup paths with costs', async () => {
  const topo = JSON.parse((await c('--json', 'topology')).stdout);
  const office = topo.sites.find((s: { kind: number }) => s.kind === 2);
  const gw = topo.gateways.find((g: { siteId: string }) => g.siteId === office.id).id;
  const r = await c('routes', gw);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`routes of ${gw} \\(table version \\d+\\)`));
  assert.match(r.stdout, /forward\s+\S+>\S+ \(\d+\)/, 'a forwarded prefix with a path and its cost');
  assert.match(r.stdout, /deliver/, 'its own prefixes are delivered locally');
  const json = JSON.parse((await c('--json', 'routes', gw)).stdout);
  assert.ok(json.routes.some((x: { backupPath?: unknown }) => x.backupPath), 'a dual-homed office has backups');
});

ctl('drain moves routes, journals who did it, and undrain brings them back', async () => {
  const before = JSON.parse((await c('--json', 'tables')).stdout);
  const link = JSON.parse((await c('--json', 'links')).stdout)[0];
  const d = await c('drain', link.id, '--reason', 'fibre work');
  assert.is(d.status, 0, d.stderr);
  assert.match(d.stdout, new RegExp(`drained ${link.id} \\(journal #\\d+\\)`));
  const links = await c('links');
  assert.match(links.stdout, new RegExp(`^${link.id}\\s.*drained`, 'm'));
  const after = JSON.parse((await c('--json', 'tables')).stdout);
  const moved = after.tables.filter((t: { gatewayId: string; version: number }) => t.version > before.tables.find((b: { gatewayId: string }) => b.gatewayId === t.gatewayId).version);
  assert.ok(moved.length > 0, 'some tables changed');
  const ev = await c('events');
  assert.match(ev.stdout, new RegExp(`link\\.drain\\s+drained link ${link.id} \\(fibre work\\)`));
  const again = await c('drain', link.id);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already drained/);
  assert.is((await c('undrain', link.id)).status, 0);
});

ctl('export then apply of the export changes nothing', async () => {
  const file = join(dir, 'exported.yaml');
  const e = await c('export', '--output', file);
  assert.is(e.status, 0, e.stderr);
  const r = await c('apply', file);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^no changes/);
});

ctl('apply --dry-run lists changes and applies nothing; apply applies them', async () => {
  const file = join(dir, 'changed.yaml');
  const text = readFileSync(join(root, 'examples/topology.yaml'), 'utf8');
  const exported = (await c('export')).stdout;
  const changed = exported.replace(/cost: (\d+)/, (_m, n) => `cost: ${Number(n) + 7}`);
  assert.is.not(changed, exported);
  writeFileSync(file, changed);
  const seq = async () => Number(/#(\d+)/.exec((await c('events', '--limit', '100000')).stdout.trim().split('\n').at(-1)!)![1]);
  const s0 = await seq();
  const dry = await c('apply', '--dry-run', file);
  assert.is(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /would apply 1 change/);
  assert.is(await seq(), s0, 'dry run journals nothing');
  const real = await c('apply', file);
  assert.match(real.stdout, /applied 1 change/);
  assert.is(await seq(), s0 + 1);
  assert.ok(text.length > 0);
});

ctl('whatif sweeps the live topology with the simulator and ranks the failures', async () => {
  const r = await c('whatif', '--top', '5');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^What-if: \d+ failures \(single\) on \d+ sites/);
  assert.match(r.stdout, /Ranked by impact \(top 5 of \d+/);
  const json = JSON.parse((await c('--json', 'whatif')).stdout);
  const topo = JSON.parse((await c('--json', 'topology')).stdout);
  assert.is(json.topology.links, topo.links.length, 'the sweep ran on the controller\'s topology');
  assert.ok(json.failures.some((f: { name: string }) => f.name.startsWith('site ')), 'sites are failed in turn');
});

ctl('bad input: a clear one-line error, non-zero exit, nothing applied', async () => {
  const seqOf = async () => (await c('--json', 'events', '--limit', '100000')).stdout.trim().split('\n').length;
  const n0 = await seqOf();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'sites:\n  - id: x\n    kind: datacenter\n    region: eu\n    name: X\nlinks:\n  - { a: nope, b: x, cost: 1 }\n');
  const r = await c('apply', bad);
  assert.is(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 2, 'one line per problem: the unknown gateway on each end');
  for (const l of lines) assert.match(l, new RegExp(`^switchback: ${bad.replace(/[/.]/g, '\\$&')}:7: links\\[0\\]\\.[ab]: unknown gateway`));
  writeFileSync(bad, 'sites: [ {id: x, kind: nonsense');
  const r2 = await c('apply', bad);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /bad\.yaml:1/);
  const r3 = await c('drain', 'no-such-link');
  assert.is(r3.status, 1);
  assert.match(r3.stderr, /link 'no-such-link' not found/);
  const r4 = await c('routes', 'no-such-gw');
  assert.match(r4.stderr, /not found/);
  const r5 = await c('apply', join(dir, 'missing.yaml'));
  assert.is(r5.status, 2);
  assert.match(r5.stderr, /cannot read/);
  assert.is(await seqOf(), n0, 'nothing journaled');
  const down = await sb('ctl', '--controller', '127.0.0.1:1', 'topology');
  assert.is(down.status, 1);
  assert.match(down.stderr, /controller unreachable/);
});

ctl.run();
