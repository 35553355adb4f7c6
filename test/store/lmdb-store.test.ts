import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminState, OperState, SiteKind, type FlowTable, type Topology } from '../../common/model.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';

const topo: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: [
    { id: 'a', name: 'A', kind: SiteKind.DATACENTER, region: 'eu' },
    { id: 'b', name: 'B', kind: SiteKind.OFFICE, region: 'eu' },
  ],
  gateways: [
    { id: 'a1', siteId: 'a', nodeId: 1, endpoints: [{ host: '192.0.2.1', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
    { id: 'b1', siteId: 'b', nodeId: 2, endpoints: [{ host: '192.0.2.2', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
  ],
  links: [
    { id: 'a1--b1', a: 'a1', b: 'b1', cost: 10, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: AdminState.UP, operState: OperState.UNSPECIFIED, rttUs: 0, lossPpm: 0, changedUnixMs: 0 },
  ],
  prefixes: [{ siteId: 'a', vrf: 'corp', cidr: '10.1.0.0/16' }],
};

const table = (gw: string, n: number): FlowTable => ({
  gatewayId: gw, nodeId: 1, version: 0, epoch: 0, peers: [],
  rules: [{ vrf: 1, prefix: `10.${n}.0.0/16`, action: 1, primary: [], destSiteId: 'a' }],
});

const store = suite('LmdbStore');
let dir: string;
store.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-store-'));
});
store.after.each(() => rmSync(dir, { recursive: true, force: true }));

store('a commit writes model, tables and journal together; versions are journal seqs', async () => {
  const s = new LmdbStore({ path: dir });
  const e = s.commit({ actor: 'alice', action: 'topology.apply', subject: 'topology', summary: 'x', atMs: 5, topology: topo, tables: new Map([['a1', table('a1', 1)], ['b1', table('b1', 1)]]) });
  assert.is(e.seq, 1);
  assert.equal(e.tables.map((t) => [t.gatewayId, t.version]), [['a1', 1], ['b1', 1]]);
  assert.is(s.table('a1')!.version, 1);
  assert.is(s.table('a1')!.epoch, s.epoch);
  assert.equal(s.topology().sites.map((x) => x.id), ['a', 'b']);
  assert.equal(s.journal(0, 10).map((j) => j.actor), ['alice']);
  await s.close();
});

store('epoch grows on every open; versions keep growing across restarts', async () => {
  let s = new LmdbStore({ path: dir });
  const e1 = s.epoch;
  s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs: 1, tables: new Map([['a1', table('a1', 1)]]) });
  await s.close();
  s = new LmdbStore({ path: dir });
  assert.ok(s.epoch > e1);
  const e = s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs: 2, tables: new Map([['a1', table('a1', 2)]]) });
  assert.is(e.seq, 2);
  assert.is(s.table('a1')!.version, 2);
  assert.is(s.tableAt('a1', 1)!.rules[0]!.prefix, '10.1.0.0/16', 'history kept for deltas');
  await s.close();
});

store('history is bounded per gateway; removing a gateway removes its table, history and ack', async () => {
  const s = new LmdbStore({ path: dir });
  for (let i = 1; i <= 40; i++) s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs: i, tables: new Map([['a1', table('a1', i)]]) });
  assert.is(s.tableAt('a1', 1), undefined);
  assert.ok(s.tableAt('a1', 40));
  assert.ok(s.tableAt('a1', 9));
  s.setAck('a1', { version: 40, atMs: 1, transport: 'grpc' });
  s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs: 41, removedTables: ['a1'] });
  assert.is(s.table('a1'), undefined);
  assert.is(s.tableAt('a1', 40), undefined);
  assert.is(s.ack('a1'), undefined);
  await s.close();
});

store('a failing transaction leaves nothing behind', async () => {
  const s = new LmdbStore({ path: dir });
  const bad = { ...topo, sites: [{ get id(): string { throw new Error('boom'); } } as never] };
  assert.throws(() => s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs: 1, topology: bad, tables: new Map([['a1', table('a1', 1)]]) }), /boom/);
  assert.is(s.lastSeq(), 0);
  assert.is(s.table('a1'), undefined);
  assert.equal(s.journal(0, 10), []);
  await s.close();
});

store.run();
