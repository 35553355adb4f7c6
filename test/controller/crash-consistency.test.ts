// SIGKILL the controller in the middle of a stream of admin changes, restart
// it on the same data directory, and check that the store is consistent:
// the journal's last entry matches the stored model and tables, and
// versions never go backwards.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableHash } from '../../common/flow-table.js';
import { AdminState, type FlowTable } from '../../common/model.js';
import { computeRoutes } from '../../controller/routing/index.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { startControllerProcess } from '../helpers/controller-process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples/topology.yaml');

/** What the store must satisfy at rest, whatever moment the crash hit. */
async function checkInvariants(dir: string, seenSeq: number): Promise<number> {
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
          const k = keys.get(p.linkId)!;
          return { ...p, key: k.key, keyId: k.keyId, previousKey: k.previousKey ?? Buffer.alloc(0), previousKeyId: k.previousKeyId ?? 0 };
        }),
      };
      assert.ok(tableHash(t).equals(tableHash(expected)), `table of ${t.gatewayId} matches the stored model`);
      assert.ok(t.version <= last, 'no table is newer than the journal');
    }
    // The versions the last entry names are the stored ones.
    for (const tv of entry.tables) assert.is(s.table(tv.gatewayId)!.version, tv.version);
    return last;
  } finally {
    await s.close();
  }
}

const crash = suite('controller crash consistency');
let dir: string;
crash.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-crash-'));
});
crash.after(() => rmSync(dir, { recursive: true, force: true }));

crash('SIGKILL during a stream of admin changes, three times, never loses or tears a change', async () => {
  let ctl = await startControllerProcess(['--data-dir', dir, '--no-bootstrap']);
  let client = new AdminClient(ctl.adminAddress);
  const applied = await client.call('applyTopology', { yaml: readFileSync(example, 'utf8'), source: example, dryRun: false });
  let seen = applied.journalSeq;
  const links = (await client.call('listLinks', {})).links.map((l) => l.id);
  let lastSeq = 0;
  for (let round = 0; round < 3; round++) {
    // Fire changes without waiting, so the kill lands mid-stream.
    let i = 0;
    const inflight: Promise<void>[] = [];
    const stop = Date.now() + 400 + round * 150;
    while (Date.now() < stop) {
      const id = links[i++ % links.length]!;
      const drained = (i >> 4) % 2 === 0;
      inflight.push(
        client.call(drained ? 'drainLink' : 'undrainLink', { id, reason: 'crash test' }).then(
          (r) => void (seen = Math.max(seen, r.journalSeq)),
          () => undefined, // precondition failures and the kill itself
        ),
      );
      await new Promise((r) => setTimeout(r, 2));
    }
    await ctl.kill('SIGKILL');
    await Promise.allSettled(inflight);
    client.close();
    const last = await checkInvariants(dir, seen);
    assert.ok(last >= lastSeq, 'versions never go backwards');
    lastSeq = last;
    ctl = await startControllerProcess(['--data-dir', dir, '--no-bootstrap']);
    client = new AdminClient(ctl.adminAddress);
    const tables = await client.call('listTables', {});
    assert.ok(tables.tables.every((t) => t.version <= lastSeq), "a consistent store needs no recompute at restart");
  }
  client.close();
  await ctl.kill('SIGTERM');
});

crash.run();
