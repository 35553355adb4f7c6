// What a controller's LMDB store must satisfy at rest, whatever moment a
// crash hit: the journal's last entry matches the stored model and tables,
// every table is what routing computes from the stored model, and nothing
// acknowledged to a client is missing.
import * as assert from 'uvu/assert';
import { tableHash } from '../../common/flow-table.js';
import { AdminState, type FlowTable } from '../../common/model.js';
import { computeRoutes } from '../../controller/routing/index.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import type { LinkKey } from '../../controller/store/store.js';

export interface StoreFacts {
  lastSeq: number;
  tables: number;
  /** Highest table version per gateway. */
  versions: Map<string, number>;
}

/** Opens the store at `dir`, checks it, closes it; `seenSeq` is the highest journal seq a client was told. */
export async function checkStoreInvariants(dir: string, seenSeq: number): Promise<StoreFacts> {
  const s = new LmdbStore({ path: dir });
  try {
    const last = s.lastSeq();
    assert.ok(last >= seenSeq, `journal seq ${last} must not be behind an acknowledged change ${seenSeq}`);
    const entry = s.journal(last - 1, 1)[0];
    assert.ok(entry && entry.seq === last, 'the last journal entry is the last sequence number');
    const topo = s.topology();
    // The model the journal describes: a drain/undrain entry's link is in that state.
    if (entry.action === 'link.drain') assert.is(topo.links.find((l) => l.id === entry.subject)!.adminState, AdminState.DRAINED);
    if (entry.action === 'link.undrain') assert.is(topo.links.find((l) => l.id === entry.subject)!.adminState, AdminState.UP);
    // Every table is exactly what routing computes from the stored model.
    const keys = s.linkKeys();
    const routes = computeRoutes(topo);
    const tables = s.tables();
    assert.equal(tables.map((t) => t.gatewayId).sort(), [...routes.keys()].sort());
    for (const t of tables) {
      const r = routes.get(t.gatewayId)!;
      const expected: FlowTable = {
        gatewayId: t.gatewayId, nodeId: r.nodeId, version: 0, epoch: 0, rules: r.rules,
        peers: r.peers.map((p) => {
          // Every key field the store keeps (current, previous, next) goes into the peer.
          const { createdMs: _, ...k } = keys.get(p.linkId)! as LinkKey & Record<string, unknown>;
          return { ...p, ...k };
        }),
      };
      assert.ok(tableHash(t).equals(tableHash(expected)), `table of ${t.gatewayId} matches the stored model`);
      assert.ok(t.version <= last, 'no table is newer than the journal');
      // The history holds the current version: a reconnecting agent gets a delta to it.
      assert.ok(s.tableAt(t.gatewayId, t.version), `history of ${t.gatewayId} holds its current version ${t.version}`);
    }
    // The versions the last entry names are the stored ones.
    for (const tv of entry.tables) assert.is(s.table(tv.gatewayId)!.version, tv.version);
    return { lastSeq: last, tables: tables.length, versions: new Map(tables.map((t) => [t.gatewayId, t.version])) };
  } finally {
    await s.close();
  }
}
