// The behaviour every Store must have, run against each implementation
// (LmdbStore on disk, MemoryStore in the simulator), so the simulator's
// controller sees exactly what the real one sees.
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { AdminState, OperState, SiteKind, type FlowTable, type Topology } from '../../common/model.js';
import type { Store } from '../../controller/store/store.js';

export interface StoreFactory {
  /** A fresh, empty store. */
  open(): Promise<Store> | Store;
  /** The same data after a restart (closes `s`). */
  reopen(s: Store): Promise<Store>;
  /** Called after each test. */
  cleanup?(): void;
  /**
   * Waits for writes the store batches (LmdbStore writes acks and link stats
   * asynchronously; they are readable once committed).
   */
  settle?(s: Store): Promise<void>;
}

export const contractTopology: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: [
    { id: 'b', name: 'B', kind: SiteKind.OFFICE, region: 'eu' },
    { id: 'a', name: 'A', kind: SiteKind.DATACENTER, region: 'eu' },
  ],
  gateways: [
    { id: 'b1', siteId: 'b', nodeId: 2, endpoints: [{ host: '192.0.2.2', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
    { id: 'a1', siteId: 'a', nodeId: 1, endpoints: [{ host: '192.0.2.1', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 },
  ],
  links: [
    { id: 'a1--b1', a: 'a1', b: 'b1', cost: 10, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: AdminState.UP, operState: OperState.UNSPECIFIED, rttUs: 0, lossPpm: 0, changedUnixMs: 0 },
  ],
  prefixes: [
    { siteId: 'b', vrf: 'corp', cidr: '10.2.0.0/16' },
    { siteId: 'a', vrf: 'corp', cidr: '10.1.0.0/16' },
  ],
};

const table = (gw: string, n: number): FlowTable => ({
  gatewayId: gw,
  nodeId: 1,
  version: 0,
  epoch: 0,
  peers: [],
  rules: [{ vrf: 1, prefix: `10.${n}.0.0/16`, action: 1, primary: [], destSiteId: 'a' }],
});

const commit = (s: Store, atMs: number, extra: Partial<Parameters<Store['commit']>[0]> = {}) =>
  s.commit({ actor: 'x', action: 'a', subject: 's', summary: '', atMs, ...extra });

export function storeContract(name: string, f: StoreFactory): Test {
  const t = suite(`Store contract: ${name}`);
  t.after.each(() => f.cleanup?.());

  t('an empty store has an empty model, no tables and an empty journal', async () => {
    const s = await f.open();
    assert.equal(s.topology(), { vrfs: [], sites: [], gateways: [], links: [], prefixes: [] });
    assert.equal(s.tables(), []);
    assert.is(s.lastSeq(), 0);
    assert.is(s.journalSize(), 0);
    assert.ok(s.epoch >= 1);
    await s.close();
  });

  t('a commit writes model, tables and journal together; versions are journal seqs', async () => {
    const s = await f.open();
    const e = s.commit({ actor: 'alice', action: 'topology.apply', subject: 'topology', summary: 'x', atMs: 5, topology: contractTopology, tables: new Map([['b1', table('b1', 1)], ['a1', table('a1', 1)]]) });
    assert.is(e.seq, 1);
    assert.is(e.atUnixMs, 5);
    assert.equal(e.tables.map((x) => [x.gatewayId, x.version]), [['a1', 1], ['b1', 1]]);
    assert.is(s.table('a1')!.version, 1);
    assert.is(s.table('a1')!.epoch, s.epoch);
    assert.is(s.lastSeq(), 1);
    assert.equal(s.journal(0, 10).map((j) => [j.seq, j.actor, j.action]), [[1, 'alice', 'topology.apply']]);
    await s.close();
  });

  t('the model reads back in key order and frozen; tables() in gateway order', async () => {
    const s = await f.open();
    commit(s, 1, { topology: contractTopology, tables: new Map([['b1', table('b1', 1)], ['a1', table('a1', 2)]]) });
    const t = s.topology();
    assert.equal(t.sites.map((x) => x.id), ['a', 'b']);
    assert.equal(t.gateways.map((x) => x.id), ['a1', 'b1']);
    assert.equal(t.prefixes.map((x) => x.siteId), ['a', 'b']);
    assert.ok(Object.isFrozen(t) && Object.isFrozen(t.sites[0]));
    assert.equal(s.tables().map((x) => x.gatewayId), ['a1', 'b1']);
    await s.close();
  });

  t('what a caller gets is a copy: changing it changes nothing stored', async () => {
    const s = await f.open();
    const input = table('a1', 1);
    const topo = JSON.parse(JSON.stringify(contractTopology)) as Topology;
    commit(s, 1, { topology: topo, tables: new Map([['a1', input]]) });
    input.rules[0]!.prefix = '10.99.0.0/16';
    topo.sites[0]!.name = 'changed';
    const got = s.table('a1')!;
    got.rules[0]!.prefix = '10.98.0.0/16';
    assert.is(s.table('a1')!.rules[0]!.prefix, '10.1.0.0/16');
    assert.ok(s.topology().sites.every((x) => x.name !== 'changed'));
    await s.close();
  });

  t('journal pages by sequence number', async () => {
    const s = await f.open();
    for (let i = 1; i <= 7; i++) commit(s, i, { summary: `c${i}` });
    assert.is(s.journalSize(), 7);
    assert.equal(s.journal(2, 3).map((e) => e.seq), [3, 4, 5]);
    assert.equal(s.journal(5, 10).map((e) => e.summary), ['c6', 'c7']);
    assert.equal(s.journal(7, 10), []);
    assert.equal(s.journal(0, 0), []);
    await s.close();
  });

  t('epoch grows on every open; versions keep growing across restarts', async () => {
    let s = await f.open();
    const e1 = s.epoch;
    commit(s, 1, { tables: new Map([['a1', table('a1', 1)]]) });
    s = await f.reopen(s);
    assert.ok(s.epoch > e1);
    const e = commit(s, 2, { tables: new Map([['a1', table('a1', 2)]]) });
    assert.is(e.seq, 2);
    assert.is(s.table('a1')!.version, 2);
    assert.is(s.table('a1')!.epoch, s.epoch);
    assert.is(s.tableAt('a1', 1)!.rules[0]!.prefix, '10.1.0.0/16', 'history kept for deltas');
    assert.is(s.tableAt('a1', 1)!.epoch, e1, 'an old version keeps the epoch it was written in');
    await s.close();
  });

  t('history is bounded at 32 versions per gateway; removing a gateway removes its table, history and ack', async () => {
    const s = await f.open();
    for (let i = 1; i <= 40; i++) commit(s, i, { tables: new Map([['a1', table('a1', i)]]) });
    assert.is(s.tableAt('a1', 8), undefined);
    assert.ok(s.tableAt('a1', 9));
    assert.ok(s.tableAt('a1', 40));
    s.setAck('a1', { version: 40, atMs: 1, transport: 'grpc' });
    await f.settle?.(s);
    commit(s, 41, { removedTables: ['a1'] });
    assert.is(s.table('a1'), undefined);
    assert.is(s.tableAt('a1', 40), undefined);
    assert.is(s.ack('a1'), undefined);
    await s.close();
  });

  t('acks, link stats and link keys are kept; removing a key removes its stats', async () => {
    const s = await f.open();
    s.setAck('b1', { version: 3, atMs: 9, transport: 'nats' });
    s.setLinkStats('a1--b1', { rttUs: 1200, lossPpm: 5, atMs: 3 });
    await f.settle?.(s);
    assert.equal(s.ack('b1'), { version: 3, atMs: 9, transport: 'nats' });
    assert.equal([...s.acks().keys()], ['b1']);
    assert.equal(s.linkStats().get('a1--b1'), { rttUs: 1200, lossPpm: 5, atMs: 3 });
    const key = Buffer.alloc(32, 7);
    commit(s, 1, { keys: new Map([['a1--b1', { key, keyId: 1, createdMs: 2 }]]) });
    const k = s.linkKeys().get('a1--b1')!;
    assert.ok(Buffer.from(k.key).equals(key));
    assert.is(k.keyId, 1);
    commit(s, 2, { removedKeys: ['a1--b1'] });
    assert.is(s.linkKeys().size, 0);
    assert.is(s.linkStats().get('a1--b1'), undefined);
    await s.close();
  });

  t('a link key keeps its rotation state: next and previous keys, phase, phase version and time', async () => {
    let s = await f.open();
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    commit(s, 1, { keys: new Map([['a1--b1', { key: k1, keyId: 1, createdMs: 2, nextKey: k2, nextKeyId: 2, phase: 'announce' as const, phaseVersion: 1, phaseMs: 5 }]]) });
    s = await f.reopen(s);
    const a = s.linkKeys().get('a1--b1')!;
    assert.ok(Buffer.from(a.nextKey!).equals(k2));
    assert.equal([a.nextKeyId, a.phase, a.phaseVersion, a.phaseMs, a.previousKey], [2, 'announce', 1, 5, undefined]);
    commit(s, 2, { keys: new Map([['a1--b1', { key: k2, keyId: 2, previousKey: k1, previousKeyId: 1, createdMs: 9, phase: 'switch' as const, phaseVersion: 2, phaseMs: 9 }]]) });
    const b = s.linkKeys().get('a1--b1')!;
    assert.ok(Buffer.from(b.key).equals(k2) && Buffer.from(b.previousKey!).equals(k1));
    assert.equal([b.keyId, b.previousKeyId, b.nextKey, b.nextKeyId, b.phase, b.phaseVersion, b.createdMs], [2, 1, undefined, undefined, 'switch', 2, 9]);
    commit(s, 3, { keys: new Map([['a1--b1', { key: k2, keyId: 2, createdMs: 9 }]]) });
    const c = s.linkKeys().get('a1--b1')!;
    assert.equal([c.previousKey, c.phase, c.phaseVersion, c.phaseMs], [undefined, undefined, undefined, undefined]);
    await s.close();
  });

  t('a failing commit leaves nothing behind', async () => {
    const s = await f.open();
    const bad = { ...contractTopology, sites: [{ get id(): string { throw new Error('boom'); } } as never] };
    assert.throws(() => commit(s, 1, { topology: bad, tables: new Map([['a1', table('a1', 1)]]) }), /boom/);
    assert.is(s.lastSeq(), 0);
    assert.is(s.table('a1'), undefined);
    assert.equal(s.journal(0, 10), []);
    assert.equal(s.topology().sites, []);
    await s.close();
  });

  return t;
}
