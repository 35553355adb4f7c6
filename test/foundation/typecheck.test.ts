// The whole tree type-checks under strict TypeScript (tests run the sources
// through tsx, which strips types without checking them).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const typecheck = suite('typecheck');

typecheck('tsc --noEmit over the whole tree reports nothing', () => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.is(r.stdout + r.stderr, '', 'type errors');
  assert.is(r.status, 0);
});

typecheck.run();
