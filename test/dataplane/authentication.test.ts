import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { allocDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { PacketType, writeTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import { key, peer, udp } from './build-packets.js';
import { K_AB, gateway, sent, tableA, tableB } from './fixture.js';

const auth = suite('tunnel authentication and replay');

const pkt = (dst: string) => udp({ src: '10.1.0.10', dst }, new Uint8Array(40), 4);

auth('a tampered header, payload or tag is refused as auth, counted, and never forwarded', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  // 10.5/16 is transit at B (-> C): a forged packet must not be relayed.
  const good = sent(a.fromAccess(pkt('10.5.0.1'), 0));
  let refused = 0;
  for (let i = 0; i < good.length; i++) {
    if (i === 0 || i === 1 || i === 7 || (i >= 8 && i < 12)) continue; // version, type, reserved, sender: other checks first
    const t = Buffer.from(good);
    t[i] ^= 0x10;
    const v = b.fromUnderlay(t, 0);
    assert.equal(v, { type: 'drop', reason: 'auth' }, `byte ${i}`);
    refused++;
  }
  assert.is(b.snapshot().drops.auth, refused);
  assert.is(b.counters.transitPackets, 0);
  assert.is(b.snapshot().peers.find((p) => p.gatewayId === 'A')?.rxPackets, 0);
  // The untampered one still goes through: forgeries did not move the replay window.
  assert.is(b.fromUnderlay(good, 0).type, 'send');
});

auth('header fields checked before authentication are dropped as malformed or unknown peer', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const good = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  const version = Buffer.from(good);
  version[0] = 2;
  const type = Buffer.from(good);
  type[1] = 9;
  const reserved = Buffer.from(good);
  reserved[7] = 1;
  const sender = Buffer.from(good);
  sender[11] = 77;
  assert.equal(b.fromUnderlay(version, 0), { type: 'drop', reason: 'malformed' });
  assert.equal(b.fromUnderlay(type, 0), { type: 'drop', reason: 'malformed' });
  assert.equal(b.fromUnderlay(reserved, 0), { type: 'drop', reason: 'malformed' });
  assert.equal(b.fromUnderlay(sender, 0), { type: 'drop', reason: 'unknown_peer' });
  assert.equal(b.fromUnderlay(good.subarray(0, 35), 0), { type: 'drop', reason: 'malformed' });
  // A sender id of a real peer under the wrong key (C's id, A's key) fails authentication.
  const asC = Buffer.from(good);
  asC[11] = 3;
  assert.equal(b.fromUnderlay(asC, 0), { type: 'drop', reason: 'auth' });
});

auth('a key id that is neither current nor previous is auth', () => {
  const b = gateway(tableB());
  const p = pkt('10.2.0.1');
  const d = allocDatagram(p.length);
  writeTunnelHeader(d, PacketType.DATA, 16, 9, 10, 1, 0, 1);
  sealDatagram(K_AB, d, p);
  assert.equal(b.fromUnderlay(d, 0), { type: 'drop', reason: 'auth' });
});

auth('a replayed datagram is refused and counted; the original counted once', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const d = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  assert.is(b.fromUnderlay(d, 0).type, 'deliver');
  for (let i = 0; i < 3; i++) assert.equal(b.fromUnderlay(d, 0), { type: 'drop', reason: 'replay' });
  const s = b.snapshot();
  assert.is(s.drops.replay, 3);
  assert.is(s.deliveredPackets, 1);
  assert.is(s.peers.find((p) => p.gatewayId === 'A')?.rxPackets, 1);
});

auth('reordered datagrams within the window are accepted; ones far behind are replays', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const ds = Array.from({ length: 3000 }, () => sent(a.fromAccess(pkt('10.2.0.1'), 0)));
  assert.is(b.fromUnderlay(ds[2999], 0).type, 'deliver');
  assert.is(b.fromUnderlay(ds[1500], 0).type, 'deliver');
  assert.equal(b.fromUnderlay(ds[10], 0), { type: 'drop', reason: 'replay' });
});

auth('a restarted sender with a higher initial counter is accepted by a running receiver', () => {
  const b = gateway(tableB());
  const before = gateway(tableA(), { initialCounter: 1_000_000n });
  for (let i = 0; i < 10; i++) b.fromUnderlay(sent(before.fromAccess(pkt('10.2.0.1'), 0)), 0);
  const restarted = gateway(tableA(), { initialCounter: (1_700_000_000_000_000n << 12n) });
  assert.is(b.fromUnderlay(sent(restarted.fromAccess(pkt('10.2.0.1'), 0)), 0).type, 'deliver');
  // The same restart reusing the old counters would be refused: the reason the counter is seeded from the clock.
  const sloppy = gateway(tableA(), { initialCounter: 1_000_000n });
  assert.equal(b.fromUnderlay(sent(sloppy.fromAccess(pkt('10.2.0.1'), 0)), 0), { type: 'drop', reason: 'replay' });
});

auth('replayFloor refuses counters from before the receiver started', () => {
  const b = gateway(tableB(), { replayFloor: 5000n });
  const old = gateway(tableA(), { initialCounter: 4000n });
  assert.equal(b.fromUnderlay(sent(old.fromAccess(pkt('10.2.0.1'), 0)), 0), { type: 'drop', reason: 'replay' });
  const fresh = gateway(tableA(), { initialCounter: 6000n });
  assert.is(b.fromUnderlay(sent(fresh.fromAccess(pkt('10.2.0.1'), 0)), 0).type, 'deliver');
});

auth('key rotation: the previous key is accepted during the overlap, then refused', () => {
  const K2 = key(0x22);
  const a = gateway(tableA());
  const b = gateway(tableB());
  const oldKeyPacket = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  // B learns the new key first (id 2), keeping the old one (id 1) as previous.
  const rotating = tableB(2);
  rotating.peers[0] = peer('A', 1, K2, { keyId: 2, previousKey: K_AB, previousKeyId: 1 });
  b.setTable(rotating);
  assert.is(b.fromUnderlay(oldKeyPacket, 0).type, 'deliver');
  // A switches to the new key.
  const aNew = tableA(2);
  aNew.peers[0] = peer('B', 2, K2, { keyId: 2, previousKey: K_AB, previousKeyId: 1 });
  a.setTable(aNew);
  const newKeyPacket = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  assert.is(newKeyPacket[3], 2, 'key id byte');
  assert.is(b.fromUnderlay(newKeyPacket, 0).type, 'deliver');
  // Overlap over: the old key is gone.
  const done = tableB(3);
  done.peers[0] = peer('A', 1, K2, { keyId: 2 });
  b.setTable(done);
  const late = Buffer.from(oldKeyPacket);
  assert.equal(b.fromUnderlay(late, 0), { type: 'drop', reason: 'auth' });
  // The replay window survived the table changes: the new-key packet is still a replay.
  assert.equal(b.fromUnderlay(newKeyPacket, 0), { type: 'drop', reason: 'replay' });
});

auth('two-phase rotation: an announced next key is accepted on receive but never used to send', () => {
  const K2 = key(0x22);
  const a = gateway(tableA());
  const b = gateway(tableB());
  // Phase 1 on both ends: send K1 (id 1), accept K1 and K2 (id 2).
  const annA = tableA(2);
  annA.peers[0] = peer('B', 2, K_AB, { nextKey: K2, nextKeyId: 2 });
  const annB = tableB(2);
  annB.peers[0] = peer('A', 1, K_AB, { nextKey: K2, nextKeyId: 2 });
  a.setTable(annA);
  b.setTable(annB);
  const stillOld = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  assert.is(stillOld[3], 1, 'the next key is not used to send');
  assert.is(b.fromUnderlay(stillOld, 0).type, 'deliver');
  // Phase 2 reached A first: A sends with K2; B, still in phase 1, opens it with its next key.
  const swA = tableA(3);
  swA.peers[0] = peer('B', 2, K2, { keyId: 2, previousKey: K_AB, previousKeyId: 1 });
  a.setTable(swA);
  const early = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  assert.is(early[3], 2);
  assert.is(b.fromUnderlay(early, 0).type, 'deliver');
  assert.is(b.snapshot().drops.auth, 0);
  // Without the announcement the same packet would have been refused.
  const unaware = gateway(tableB());
  assert.equal(unaware.fromUnderlay(early, 0), { type: 'drop', reason: 'auth' });
});

auth('a revoked peer: its current and announced keys are refused once the new key replaced them', () => {
  const K2 = key(0x22);
  const K3 = key(0x33);
  // A (to be revoked) holds K1 and the announced K2 of a rotation in progress.
  const annA = tableA(2);
  annA.peers[0] = peer('B', 2, K_AB, { nextKey: K2, nextKeyId: 2 });
  const a = gateway(annA);
  const withK1 = sent(a.fromAccess(pkt('10.2.0.1'), 0));
  // A K2 packet, as A seals it once at phase 2.
  const swA = tableA(3);
  swA.peers[0] = peer('B', 2, K2, { keyId: 2, previousKey: K_AB, previousKeyId: 1 });
  const a2 = gateway(swA, { initialCounter: 1000n });
  const withK2 = sent(a2.fromAccess(pkt('10.2.0.1'), 0));
  // B's table after the revocation: key K3 (id 3), no previous, no next.
  const revoked = tableB(4);
  revoked.peers[0] = peer('A', 1, K3, { keyId: 3 });
  const b = gateway(revoked);
  assert.equal(b.fromUnderlay(withK1, 0), { type: 'drop', reason: 'auth' });
  assert.equal(b.fromUnderlay(withK2, 0), { type: 'drop', reason: 'auth' });
  // Even with its key id byte rewritten to the new id, the old key fails the AEAD.
  const relabeled = Buffer.from(withK1);
  relabeled[3] = 3;
  assert.equal(b.fromUnderlay(relabeled, 0), { type: 'drop', reason: 'auth' });
  assert.is(b.snapshot().drops.auth, 3);
  assert.is(b.snapshot().peers.find((p) => p.gatewayId === 'A')?.rxPackets, 0);
});

auth.run();
