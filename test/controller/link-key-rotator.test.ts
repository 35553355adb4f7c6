// Link key rotation driven through the controller: each phase is a journaled
// change whose tables carry the keys to the link's ends, in order, and a
// phase moves on only when both ends acknowledged the one before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { AdminState, SiteKind, type Peer, type Topology } from '../../common/model.js';
import { parseControllerConfig } from '../../controller/config.js';
import { Controller } from '../../controller/controller.js';
import { LinkKeyRotator } from '../../controller/link-keys/link-key-rotator.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { Southbound } from '../../controller/southbound/southbound.js';

const gw = (id: string, n: number) => ({ id, siteId: id, nodeId: n, endpoints: [{ host: `192.0.2.${n}`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 });
const link = (a: string, b: string) => ({ id: `${a}--${b}`, a, b, cost: 1, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 });
const topology: Topology = {
  vrfs: [{ name: 'corp', id: 1 }],
  sites: ['a', 'b', 'c'].map((id) => ({ id, name: id, kind: SiteKind.DATACENTER, region: 'eu' })),
  gateways: [gw('a', 1), gw('b', 2), gw('c', 3)],
  links: [link('a', 'b'), link('a', 'c'), link('b', 'c')],
  prefixes: [{ siteId: 'b', vrf: 'corp', cidr: '10.2.0.0/24' }],
};

let n = 0;
const newKey = () => Buffer.alloc(32, ++n);

function setup(periodMs = 0) {
  const clock = new ManualClock(0, 1_700_000_000_000);
  const c = new Controller({ store: new MemoryStore(), clock });
  c.applyTopology(topology, 'test');
  const r = new LinkKeyRotator(c, { clock, periodMs, policy: { overlapMs: 5_000, ackTimeoutMs: 30_000 }, newKey });
  const ackAll = (...gws: string[]) => {
    for (const g of gws) c.recordAck(g, c.store.table(g)!.version, 'test');
    clock.advance(0);
  };
  return { clock, c, r, ackAll };
}

/** What gateway `g` holds for its peer over `linkId` (at a version, or the current table). */
function peerOf(c: Controller, g: string, linkId: string, version?: number): Peer {
  const t = version === undefined ? c.store.table(g)! : c.store.tableAt(g, version)!;
  return t.peers.find((p) => p.linkId === linkId)!;
}
const ids = (p: Peer) => ({ key: p.keyId, previous: p.previousKey.length ? p.previousKeyId : 0, next: p.nextKey.length ? p.nextKeyId : 0 });

const rot = suite('link key rotation through the controller');

rot('rotate: announce, switch after both acks, retire after both acks and the overlap; tables carry the keys in order', () => {
  const { clock, c, r, ackAll } = setup();
  ackAll('a', 'b', 'c');
  const k1 = Buffer.from(peerOf(c, 'a', 'a--b').key);
  assert.equal(r.rotate(['a--b'], 'alice'), ['a--b']);
  const announce = c.store.lastSeq();
  const entry = c.store.journal(announce - 1, 1)[0]!;
  assert.equal([entry.actor, entry.action, entry.subject], ['alice', 'link.key-rotate', 'a--b']);
  assert.equal(entry.tables.map((t) => t.gatewayId), ['a', 'b'], 'only the two ends get new tables');
  for (const g of ['a', 'b']) {
    const p = peerOf(c, g, 'a--b', announce);
    assert.equal(ids(p), { key: 1, previous: 0, next: 2 }, `${g} holds the announced key`);
    assert.ok(Buffer.from(p.key).equals(k1));
  }
  const k2 = Buffer.from(peerOf(c, 'a', 'a--b').nextKey);
  assert.ok(!k2.equals(k1));
  assert.ok(Buffer.from(peerOf(c, 'b', 'a--b').nextKey).equals(k2), 'both ends announce the same key');
  assert.equal(ids(peerOf(c, 'a', 'a--c')), { key: 1, previous: 0, next: 0 }, 'other links untouched');

  // One end acknowledged: the link waits, however long.
  ackAll('a');
  clock.advance(60_000);
  assert.is(c.store.lastSeq(), announce);
  assert.is(c.store.linkKeys().get('a--b')!.phase, 'announce');
  // The other end too: switch.
  ackAll('b');
  const sw = c.store.lastSeq();
  assert.is(sw, announce + 1);
  for (const g of ['a', 'b']) {
    const p = peerOf(c, g, 'a--b', sw);
    assert.equal(ids(p), { key: 2, previous: 1, next: 0 }, `${g} sends with the new key`);
    assert.ok(Buffer.from(p.key).equals(k2) && Buffer.from(p.previousKey).equals(k1));
  }
  // Acknowledged at once, but the overlap holds the previous key for 5 s.
  ackAll('a', 'b');
  clock.advance(4_000);
  assert.is(c.store.lastSeq(), sw);
  clock.advance(1_500);
  const retire = c.store.lastSeq();
  assert.is(retire, sw + 1);
  for (const g of ['a', 'b']) assert.equal(ids(peerOf(c, g, 'a--b', retire)), { key: 2, previous: 0, next: 0 });
  assert.equal(c.store.linkKeys().get('a--b')!.phase, undefined);
  const actions = c.store.journal(announce - 1, 10).map((e) => `${e.actor} ${e.action}`);
  assert.equal(actions, ['alice link.key-rotate', 'controller link.key-rotate', 'controller link.key-rotate']);
  // Settled: no more changes.
  ackAll('a', 'b');
  clock.advance(60_000);
  assert.is(c.store.lastSeq(), retire);
  r.close();
});

rot('the switch waits for an end that is away, without a time limit, and moves on when it acknowledges', () => {
  const { clock, c, r, ackAll } = setup();
  r.rotate(['b--c'], 'alice');
  ackAll('b');
  clock.advance(10 * 60_000); // c disconnected for ten minutes: logged overdue, phase kept
  assert.is(c.store.linkKeys().get('b--c')!.phase, 'announce');
  // Its reconnect resyncs it to the newest table, which carries the phase.
  ackAll('c');
  assert.is(c.store.linkKeys().get('b--c')!.phase, 'switch');
  r.close();
});

rot('rotate with no ids rotates every link; links already rotating are not restarted; unknown links are refused', () => {
  const { c, r } = setup();
  assert.equal(r.rotate(['a--b'], 'alice'), ['a--b']);
  const seq = c.store.lastSeq();
  assert.equal(r.rotate([], 'alice').sort(), ['a--c', 'b--c']);
  assert.is(c.store.lastSeq(), seq + 1, 'one change for all');
  assert.equal(r.rotate(['a--b'], 'alice'), []);
  assert.throws(() => r.rotate(['a--b', 'nope'], 'alice'), (e: { code?: string }) => e.code === 'NOT_FOUND');
  r.close();
});

rot('a drained link rotates without waiting: its ends hold no peer for it', () => {
  const { clock, c, r } = setup();
  c.drainLink('a--b', 'test');
  r.rotate(['a--b'], 'alice');
  clock.advance(0);
  // Announce, switch and retire in one go: no end holds the old key to overlap with.
  const k = c.store.linkKeys().get('a--b')!;
  assert.equal([k.phase, k.keyId, k.previousKey], [undefined, 2, undefined]);
  // Undrained, the ends get the new key.
  c.undrainLink('a--b', 'test');
  assert.equal(ids(peerOf(c, 'a', 'a--b')), { key: 2, previous: 0, next: 0 });
  r.close();
});

rot('the schedule rotates keys older than the period by itself', () => {
  const { clock, c, r, ackAll } = setup(3_600_000);
  ackAll('a', 'b', 'c');
  clock.advance(3_599_000);
  assert.equal([...c.store.linkKeys().values()].map((k) => k.phase), [undefined, undefined, undefined]);
  clock.advance(61_000);
  assert.equal([...c.store.linkKeys().values()].map((k) => k.phase), ['announce', 'announce', 'announce']);
  assert.match(c.store.journal(c.store.lastSeq() - 1, 1)[0]!.summary, /scheduled/);
  ackAll('a', 'b', 'c');
  ackAll('a', 'b', 'c');
  clock.advance(5_000);
  assert.equal([...c.store.linkKeys().values()].map((k) => [k.keyId, k.phase]), [[2, undefined], [2, undefined], [2, undefined]]);
  r.close();
});

rot('revocation through the southbound: every link of the gateway gets a new key at once on its peers, nothing old accepted', async () => {
  const clock = new ManualClock(0, 1_700_000_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'sb-keys-'));
  const store = new LmdbStore({ path: dir });
  const c = new Controller({ store, clock });
  c.applyTopology(topology, 'test');
  const sb = await Southbound.start(c, store, {}, clock);
  try {
    assert.equal(sb.rotateLinkKeys(['a--b'], 'alice').linkIds, ['a--b']); // mid-rotation when the revocation comes
    const before = new Map([...c.store.linkKeys()].map(([id, k]) => [id, k.keyId]));
    sb.revoke('a', 'root');
    const e = c.store.journal(c.store.lastSeq() - 1, 1)[0]!;
    assert.equal([e.actor, e.action], ['root', 'link.key-replace']);
    for (const id of ['a--b', 'a--c']) {
      const other = id === 'a--b' ? 'b' : 'c';
      const p = peerOf(c, other, id);
      assert.equal(ids(p).previous, 0, `${other} keeps no old key for ${id}`);
      assert.equal(ids(p).next, 0);
      // a--b was announcing key 2 over key 1: the new id is neither; a--c held key 1 only.
      assert.is(p.keyId, id === 'a--b' ? 3 : 2, `${id} key id moved past every id the revoked end knew`);
      assert.ok(p.keyId !== before.get(id));
    }
    assert.equal(c.store.linkKeys().get('b--c')!.keyId, before.get('b--c'), 'links of other gateways keep their keys');
    // A rotation that touches the revoked gateway does not wait for it.
    sb.rotateLinkKeys(['a--c'], 'alice');
    c.recordAck('c', c.store.table('c')!.version, 'test');
    clock.advance(0);
    assert.is(c.store.linkKeys().get('a--c')!.phase, 'switch');
  } finally {
    await sb.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

rot('a restarted controller carries on a rotation from its stored phase', () => {
  const { clock, c, r, ackAll } = setup();
  r.rotate(['a--b'], 'alice');
  ackAll('a', 'b');
  assert.is(c.store.linkKeys().get('a--b')!.phase, 'switch');
  r.close();
  const store = (c.store as MemoryStore).reopen();
  const c2 = new Controller({ store, clock });
  const r2 = new LinkKeyRotator(c2, { clock, policy: { overlapMs: 5_000, ackTimeoutMs: 30_000 }, newKey });
  for (const g of ['a', 'b']) c2.recordAck(g, c2.store.table(g)!.version, 'test');
  clock.advance(5_000);
  const k = c2.store.linkKeys().get('a--b')!;
  assert.equal([k.keyId, k.previousKey, k.phase], [2, undefined, undefined]);
  r2.close();
});

rot('controller.yaml: link_key_rotation and link_key_overlap are durations; 24h by default, 0 turns the schedule off', () => {
  assert.is(parseControllerConfig('', 'c.yaml').linkKeyRotationMs, 24 * 3600_000);
  const cfg = parseControllerConfig('link_key_rotation: 12h\nlink_key_overlap: 1500ms\n', 'c.yaml');
  assert.equal([cfg.linkKeyRotationMs, cfg.linkKeyOverlapMs], [12 * 3600_000, 1_500]);
  assert.is(parseControllerConfig('link_key_rotation: 0\n', 'c.yaml').linkKeyRotationMs, 0);
  for (const bad of ['banana', '-5s', '12', 'true', '400d']) {
    assert.throws(() => parseControllerConfig(`link_key_rotation: ${bad}\n`, 'c.yaml'), (e: { code?: string; field?: string; message: string }) => e.code === 'INVALID_ARGUMENT' && /link_key_rotation/.test(e.message + (e.field ?? '')));
  }
});

rot.run();
