#!/usr/bin/env node
// Runs every uvu suite file under test/ in its own Node process (native
// handles, LMDB environments and network namespaces never leak between
// files), bounded in time, then prints one closing line "N passed, N failed".
//
//   node test/run.mjs                 # everything
//   node test/run.mjs common routing  # only files whose path contains a word
//   SWITCHBACK_TEST_TIMEOUT=300 node test/run.mjs   # per-file limit, seconds
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);
const limitS = Number(process.env.SWITCHBACK_TEST_TIMEOUT ?? 600);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // uvu prints its summary on stdout; logs go to stderr and may interleave
    // with it on a terminal, so only stdout is read for the figures.
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => process.stderr.write(d));
    const timer = setTimeout(() => {
      process.stdout.write(`\n${relative(root, file)}: killed after ${limitS}s\n`);
      child.kill('SIGKILL');
    }, limitS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label) => {
        const all = [...out.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
        return Number(all.at(-1)?.[1] ?? 0);
      };
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped');
      // A file that exits non-zero, or without uvu's summary, failed as a whole.
      const counted = Math.max(0, total - passed - skipped);
      const failed = code === 0 && total > 0 ? counted : Math.max(1, counted);
      resolve({ file, passed, failed, skipped, ms: Date.now() - started, code });
    });
  });
}

const results = [];
for (const f of files) {
  console.log(`\n# ${relative(root, f)}`);
  results.push(await runFile(f));
}

const sum = (k) => results.reduce((a, r) => a + r[k], 0);
console.log('\n# files');
for (const r of results) {
  console.log(`${r.failed ? 'FAIL' : 'ok  '} ${relative(root, r.file).padEnd(56)} ${String(r.passed).padStart(4)} passed ${(r.ms / 1000).toFixed(1).padStart(6)}s`);
}
const failed = sum('failed');
const skipped = sum('skipped');
console.log(`\n${sum('passed')} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || results.some((r) => r.failed > 0 || r.code !== 0) || files.length === 0 ? 1 : 0;
