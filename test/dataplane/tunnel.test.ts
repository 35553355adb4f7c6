import { createDecipheriv } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SEAL_OVERHEAD, TAG_LENGTH, allocDatagram, openDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { REPLAY_WINDOW, ReplayWindow } from '../../router-agent/dataplane/replay-window.js';
import {
  PacketType,
  TUNNEL_HEADER_LENGTH,
  checkTunnelHeader,
  readTunnelHeader,
  writeTunnelHeader,
} from '../../router-agent/dataplane/tunnel-header.js';
import { key } from './build-packets.js';

const header = suite('tunnel header');

header('writes the documented layout, big-endian', () => {
  const b = new Uint8Array(TUNNEL_HEADER_LENGTH);
  writeTunnelHeader(b, PacketType.PROBE_REPLY, 9, 0x1a7, 0xabcdef, 0x01020304, 0x05060708, 0x090a0b0c);
  assert.equal(Array.from(b), [1, 3, 9, 0xa7, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(readTunnelHeader(b), {
    type: 3,
    hopLimit: 9,
    keyId: 0xa7,
    vrf: 0xabcdef,
    sender: 0x01020304,
    counterHi: 0x05060708,
    counterLo: 0x090a0b0c,
  });
});

header('pre-authentication checks: length, version, type, reserved byte', () => {
  const b = new Uint8Array(TUNNEL_HEADER_LENGTH + TAG_LENGTH);
  writeTunnelHeader(b, PacketType.DATA, 16, 1, 0, 1, 0, 0);
  assert.is(checkTunnelHeader(b, TAG_LENGTH), null);
  assert.is(checkTunnelHeader(b.subarray(0, 35), TAG_LENGTH), 'short');
  assert.is(checkTunnelHeader(Uint8Array.of(2, ...b.subarray(1)), TAG_LENGTH), 'version');
  for (const t of [0, 4, 255]) assert.is(checkTunnelHeader(Uint8Array.of(1, t, ...b.subarray(2)), TAG_LENGTH), 'type');
  const r = b.slice();
  r[7] = 1;
  assert.is(checkTunnelHeader(r, TAG_LENGTH), 'reserved');
});

header.run();

const aead = suite('AEAD seal/open');

function sealed(k: Buffer, payload: Uint8Array, counterLo = 1): Buffer {
  const d = allocDatagram(payload.length);
  writeTunnelHeader(d, PacketType.DATA, 16, 1, 42, 7, 0, counterLo);
  sealDatagram(k, d, payload);
  return d;
}

aead('round trip; the datagram is header + ciphertext + 16-byte tag', () => {
  const payload = Buffer.from('the quick brown fox jumps over the lazy dog');
  const d = sealed(key(1), payload);
  assert.is(d.length, payload.length + SEAL_OVERHEAD);
  assert.is(SEAL_OVERHEAD, 36);
  assert.not.equal(Array.from(d.subarray(20, 20 + payload.length)), Array.from(payload));
  assert.equal(openDatagram(key(1), d), payload);
});

aead('is AES-256-GCM with the header as AAD and header bytes 8-19 as nonce (decrypts with node:crypto directly)', () => {
  const payload = Buffer.from('interop');
  const d = sealed(key(3), payload, 0x55);
  const dec = createDecipheriv('aes-256-gcm', key(3), d.subarray(8, 20));
  dec.setAAD(d.subarray(0, 20));
  dec.setAuthTag(d.subarray(d.length - 16));
  const out = Buffer.concat([dec.update(d.subarray(20, d.length - 16)), dec.final()]);
  assert.equal(out, payload);
});

aead('an empty payload seals and opens', () => {
  const d = sealed(key(1), new Uint8Array(0));
  assert.is(d.length, 36);
  assert.equal(openDatagram(key(1), d), Buffer.alloc(0));
});

aead('any altered bit of header, ciphertext or tag, or a wrong key, is refused', () => {
  const d = sealed(key(1), Buffer.from('0123456789abcdef0123'));
  for (let i = 0; i < d.length; i++) {
    for (const bit of [0, 7]) {
      const t = Buffer.from(d);
      t[i] ^= 1 << bit;
      assert.is(openDatagram(key(1), t), null, `byte ${i} bit ${bit}`);
    }
  }
  assert.is(openDatagram(key(2), d), null);
  assert.is(openDatagram(key(1), d.subarray(0, d.length - 1)), null);
});

aead.run();

const replay = suite('replay window');

replay('accepts each counter once, in any order within the window', () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(0, 100));
  assert.not.ok(w.accept(0, 100));
  assert.ok(w.accept(0, 99));
  assert.ok(w.accept(0, 102));
  assert.ok(w.accept(0, 101));
  assert.not.ok(w.accept(0, 101));
  assert.not.ok(w.accept(0, 99));
});

replay('refuses what fell behind the window, keeps exact judgment up to its edge', () => {
  const w = new ReplayWindow();
  const top = 10_000;
  assert.ok(w.accept(0, top));
  assert.ok(w.accept(0, top - REPLAY_WINDOW));
  assert.not.ok(w.accept(0, top - REPLAY_WINDOW));
  assert.not.ok(w.accept(0, top - REPLAY_WINDOW - 1));
});

replay('a jump forward clears the old bits: counters re-used by nobody are accepted after a big jump', () => {
  const w = new ReplayWindow();
  for (let i = 0; i < 100; i++) assert.ok(w.accept(0, i));
  assert.ok(w.accept(0, 5000));
  for (let i = 5000 - 1; i > 5000 - 1000; i--) assert.ok(w.accept(0, i), `${i}`);
  assert.not.ok(w.accept(0, 50));
});

replay('works across the 32-bit boundary of the 64-bit counter, and far apart', () => {
  const w = new ReplayWindow();
  assert.ok(w.accept(0, 0xffffffff - 1));
  assert.ok(w.accept(1, 1)); // three ahead
  assert.ok(w.accept(0, 0xffffffff));
  assert.ok(w.accept(1, 0));
  assert.not.ok(w.accept(0, 0xffffffff));
  assert.not.ok(w.accept(1, 1));
  assert.ok(w.accept(0x7fffffff, 5)); // a restart seeded from the clock: far ahead
  assert.not.ok(w.accept(1, 2));
  assert.not.ok(w.accept(0x7fffffff, 5));
});

replay('every counter accepted exactly once under random reordering (against a Set)', () => {
  const w = new ReplayWindow();
  const seen = new Set<number>();
  let top = 0;
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < 50_000; i++) {
    const c = Math.max(0, top + (rnd() % 3000) - 2500);
    const fresh = !seen.has(c) && c + REPLAY_WINDOW >= top;
    assert.is(w.accept(0, c), fresh, `counter ${c} top ${top}`);
    if (fresh) seen.add(c);
    top = Math.max(top, c);
  }
});

replay('the floor refuses counters below it, from the first packet on', () => {
  const w = new ReplayWindow(2, 0);
  assert.not.ok(w.accept(1, 0xffffffff));
  assert.ok(w.accept(2, 0));
});

replay.run();
