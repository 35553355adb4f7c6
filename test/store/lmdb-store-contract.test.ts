import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import type { Store } from '../../controller/store/store.js';
import { storeContract } from './store-contract.js';

const dirs: string[] = [];

const contract = storeContract('LmdbStore', {
  open() {
    const dir = mkdtempSync(join(tmpdir(), 'sb-store-contract-'));
    dirs.push(dir);
    return new LmdbStore({ path: dir });
  },
  async reopen(s: Store) {
    await s.close();
    return new LmdbStore({ path: dirs[dirs.length - 1]! });
  },
  async settle(s: Store) {
    // The root database's `committed` resolves once earlier asynchronous puts are visible.
    await (s as unknown as { env: { committed: Promise<boolean> } }).env.committed;
  },
  cleanup() {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  },
});

contract.run();
