import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDelta, diffTables, tableHash } from '../../common/flow-table.js';
import { Action, type FlowRule, type FlowTable } from '../../common/model.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { open } from 'lmdb';

const store = suite('agent LmdbTableStore');

let dir: string;
store.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-agent-store-'));
});
store.after.each(() => rmSync(dir, { recursive: true, force: true }));

const rule = (i: number, hop: string): FlowRule => ({ vrf: 1, prefix: `10.0.${i}.0/24`, action: Action.FORWARD, primary: [{ gatewayId: hop, linkId: `${hop}-l` }], backup: undefined, destSiteId: `s${i}` });
const first: FlowTable = { gatewayId: 'g1', nodeId: 1, version: 1, epoch: 1, rules: Array.from({ length: 50 }, (_, i) => rule(i, 'a')), peers: [] };

/** The next version: a few rules moved, as a controller's delta would say. */
function step(t: FlowTable, n: number): { table: FlowTable; delta: ReturnType<typeof diffTables> } {
  const rules = t.rules.map((r, i) => (i % 7 === n % 7 ? { ...r, primary: [{ gatewayId: `h${n}`, linkId: `h${n}-l` }] } : r));
  const next = { ...t, rules, version: t.version + 1, epoch: n > 20 ? 2 : 1 };
  const delta = diffTables(t, next);
  return { table: applyDelta(t, delta), delta };
}

store('versions saved as deltas load back as the last table, across compactions and a reopen', async () => {
  let s = new LmdbTableStore(dir);
  await s.save('g1', { table: first, epoch: 1 });
  let t = first;
  for (let n = 1; n <= 40; n++) {
    const { table, delta } = step(t, n);
    await s.save('g1', { table, epoch: table.epoch }, delta);
    t = table;
    if (n === 25) {
      // A restart in the middle of a chain of deltas.
      await s.close();
      s = new LmdbTableStore(dir);
      const held = s.load('g1')!;
      assert.ok(tableHash(held.table).equals(tableHash(t)));
      assert.is(held.table.version, t.version);
    }
  }
  await s.close();
  const again = new LmdbTableStore(dir);
  const held = again.load('g1')!;
  assert.is(held.table.version, 41);
  assert.is(held.epoch, 2);
  assert.ok(tableHash(held.table).equals(tableHash(t)));
  await again.close();
});

store('a delta that does not start from the saved version is saved as the whole table', async () => {
  const s = new LmdbTableStore(dir);
  await s.save('g1', { table: first, epoch: 1 });
  const a = step(first, 1);
  const b = step(a.table, 2);
  // The version in between was never saved: b's delta cannot follow the record.
  await s.save('g1', { table: b.table, epoch: 1 }, b.delta);
  await s.close();
  const again = new LmdbTableStore(dir);
  const held = again.load('g1')!;
  assert.is(held.table.version, b.table.version);
  assert.ok(tableHash(held.table).equals(tableHash(b.table)));
  assert.is(again.load('g2'), undefined);
  await again.close();
});

store('a damaged delta ends the chain at the version before it; the next save writes the whole table', async () => {
  let s = new LmdbTableStore(dir);
  await s.save('g1', { table: first, epoch: 1 });
  const a = step(first, 1);
  const b = step(a.table, 2);
  await s.save('g1', { table: a.table, epoch: 1 }, a.delta);
  await s.save('g1', { table: b.table, epoch: 1 }, b.delta);
  await s.close();
  // Damage the second delta on disk.
  const env = open({ path: dir, maxDbs: 4 });
  await env.openDB({ name: 'applied-deltas' }).put(['g1', 2], { epoch: 1, delta: Buffer.from([0xff, 0xff, 0xff]) });
  await env.close();
  s = new LmdbTableStore(dir);
  const held = s.load('g1')!;
  assert.is(held.table.version, a.table.version, 'the version before the damaged delta');
  assert.ok(tableHash(held.table).equals(tableHash(a.table)));
  // A delta from there: saved whole, so that the broken chain is gone.
  const c = step(held.table, 3);
  await s.save('g1', { table: c.table, epoch: 1 }, c.delta);
  await s.close();
  s = new LmdbTableStore(dir);
  assert.ok(tableHash(s.load('g1')!.table).equals(tableHash(c.table)));
  await s.close();
});

store.run();
