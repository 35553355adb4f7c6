import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { commands } from '../../cli/commands.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sb = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/switchback.mjs'), ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });

const cli = suite('switchback command');

cli('--help lists every subcommand and exits 0', () => {
  const r = sb('--help');
  assert.is(r.status, 0, r.stderr);
  for (const c of commands) assert.match(r.stdout, new RegExp(`^  ${c.name}\\s`, 'm'));
});

cli('an unknown subcommand prints usage and exits non-zero', () => {
  const r = sb('frobnicate');
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  assert.match(r.stderr, /usage: switchback/);
});

cli('bad options give a one-line error and a non-zero exit', () => {
  const r = sb('ctl', '--no-such-flag', 'topology');
  assert.is(r.status, 2);
  assert.match(r.stderr, /^switchback: .*no-such-flag/);
  const r2 = sb('controller', '--listen', 'nonsense');
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /--listen/);
});

const readme = suite('README and CI agree');

readme('.ci/run runs exactly the test command the README quickstart gives', () => {
  const ci = readFileSync(join(root, '.ci/run'), 'utf8');
  const cmd = /^TEST_COMMAND="([^"]+)"$/m.exec(ci)?.[1];
  assert.ok(cmd, '.ci/run declares TEST_COMMAND');
  const md = readFileSync(join(root, 'README.md'), 'utf8');
  const quickstart = md.slice(md.indexOf('## Quickstart'));
  assert.match(quickstart, new RegExp(`^${cmd}\\b`, 'm'));
  assert.match(quickstart, /^npm install\b/m);
  assert.match(quickstart, /^npm start\b/m);
});

readme('package.json approves the install scripts the project needs', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const p of ['lmdb', 'msgpackr-extract', 'raw-socket', '@bufbuild/buf']) assert.ok(pkg.allowScripts[p], p);
});

cli.run();
readme.run();
