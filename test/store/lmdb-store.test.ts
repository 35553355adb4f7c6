import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminState, OperState, SiteKind, type FlowTable, type Topology } from '../../common/model.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { ManualClock } from '../../common/clock.js';
import { tableHash } from '../../common/flow-table.js';
import { encodeFlowTable } from '../../common/table-codec.js';
import { Controller } from '../../controller/controller.js';
import { FLEET_WIDE_LINK, fleetTopology } from '../helpers/fleet-topology.js';
import { checkStoreInvariants } from '../helpers/store-invariants.js';

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

store('tables committed as deltas read back whole (current and history), across pruning and a reopen', async () => {
  const s = new LmdbStore({ path: dir });
  const ctl = new Controller({ store: s, clock: new ManualClock() });
  ctl.applyTopology(fleetTopology(6), 'test');
  // The controller carries each new table's hash with the change.
  const hashes = new Map<string, Map<number, Buffer>>();
  ctl.on((e) => {
    if (e.type !== 'journal') return;
    for (const [gw, t] of e.tables ?? []) {
      if (!hashes.has(gw)) hashes.set(gw, new Map());
      hashes.get(gw)!.set(t.table.version, t.hash);
    }
  });
  let deltas = 0;
  ctl.on((e) => e.type === 'journal' && (deltas += [...(e.tables ?? new Map()).values()].filter((t) => t.delta).length));
  for (let i = 0; i < 70; i++) {
    const l = ctl.topology().links.find((x) => x.id === FLEET_WIDE_LINK)!;
    if (l.adminState === AdminState.DRAINED) ctl.undrainLink(l.id, 'test');
    else ctl.drainLink(l.id, 'test');
  }
  assert.ok(deltas > 400, `changes carried deltas (${deltas})`);
  const check = (st: LmdbStore) => {
    for (const [gw, versions] of hashes) {
      const cur = st.table(gw)!;
      assert.ok(tableHash(cur).equals(versions.get(cur.version)!), `current table of ${gw}`);
      const kept = [...versions.keys()].sort((a, b) => a - b).slice(-32);
      for (const v of kept) {
        const t = st.tableAt(gw, v);
        assert.ok(t, `${gw} keeps version ${v}`);
        assert.is(t.version, v);
        assert.ok(tableHash(t).equals(versions.get(v)!), `${gw} version ${v}`);
      }
      assert.is(st.tableAt(gw, [...versions.keys()].sort((a, b) => a - b)[0]!), undefined, 'old versions are pruned');
    }
  };
  check(s);
  // The bytes the controller keeps (for the NATS bucket) are the stored table's.
  for (const gw of hashes.keys()) assert.ok(ctl.encodedTable(gw)!.bytes().equals(encodeFlowTable(s.table(gw)!)), `kept bytes of ${gw}`);
  await s.close();
  const again = new LmdbStore({ path: dir });
  check(again);
  assert.is(again.tables().length, 8);
  // A controller of a later epoch keeps the stored tables' bytes as stored (their epoch included).
  const later = new Controller({ store: again, clock: new ManualClock() });
  for (const gw of hashes.keys()) assert.ok(later.encodedTable(gw)!.bytes().equals(encodeFlowTable(again.table(gw)!)), `bytes of ${gw} after a restart`);
  await again.close();
  await checkStoreInvariants(dir, 0);
});

store.run();
