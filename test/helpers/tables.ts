// Computes the real controller's tables for a topology (in-process controller
// on a temporary LMDB store) and writes each as the JSON `switchback agent
// --table` reads.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { FlowTable, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';

export async function writeTables(topology: Topology, dir: string): Promise<Map<string, string>> {
  const storeDir = mkdtempSync(join(tmpdir(), 'sb-tables-'));
  const store = new LmdbStore({ path: storeDir });
  try {
    const ctl = new Controller({ store, clock: new ManualClock(0, Date.now()) });
    ctl.applyTopology(topology, 'test');
    const files = new Map<string, string>();
    for (const t of store.tables()) {
      const file = join(dir, `${t.gatewayId}.json`);
      writeFileSync(file, JSON.stringify(FlowTable.toJSON(t)), { mode: 0o600 });
      files.set(t.gatewayId, file);
    }
    return files;
  } finally {
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
  }
}
