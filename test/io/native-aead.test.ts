// The agent's native AEAD (router-agent/io/tun/aead.c) against node:crypto:
// the same bytes on the wire for every size, nothing opened that was
// altered, bad arguments refused, and two data planes, one on each
// implementation, talking to each other.
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SEAL_OVERHEAD, allocDatagram, nodeCryptoAead, openDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { PacketType, writeTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import { loadNativeAead, selfTest } from '../../router-agent/io/native-aead.js';
import { ipv4, tcp, udp } from '../dataplane/build-packets.js';
import { gateway, sent, tableA, tableB } from '../dataplane/fixture.js';

const aead = suite('native AEAD');

const native = loadNativeAead();
if (native === null) throw new Error("the native AEAD did not load: build it with 'npm run install' (router-agent/io/tun/build/Release/io.node)");

function header(d: Uint8Array, counterLo: number): void {
  writeTunnelHeader(d, PacketType.DATA, 16, 3, 0x0a0b0c, 7, 0x01020304, counterLo);
}

aead('passes its own self-test against node:crypto', () => {
  assert.is(selfTest(native), null);
  assert.is(selfTest(nodeCryptoAead), null);
});

aead('seals byte for byte as node:crypto, and each opens the other, for every size 0-1500 and large ones', () => {
  const key = randomBytes(32);
  const sizes = [...Array.from({ length: 1501 }, (_, i) => i), 9000, 65000];
  for (const n of sizes) {
    const plain = randomBytes(n);
    const a = allocDatagram(n);
    const b = allocDatagram(n);
    header(a, n);
    header(b, n);
    native.seal(key, a, plain);
    sealDatagram(key, b, plain);
    if (!a.equals(b)) assert.unreachable(`size ${n}: native and node:crypto sealed different bytes`);
    const opened = native.open(key, b);
    if (opened === null || !opened.equals(plain)) assert.unreachable(`size ${n}: native did not open node:crypto's datagram`);
    const back = openDatagram(key, a);
    if (back === null || !back.equals(plain)) assert.unreachable(`size ${n}: node:crypto did not open native's datagram`);
  }
});

aead('refuses every single-bit change of header, ciphertext and tag, a wrong key and a short datagram', () => {
  const key = randomBytes(32);
  const plain = randomBytes(48);
  const d = allocDatagram(plain.length);
  header(d, 1);
  native.seal(key, d, plain);
  const before = Buffer.from(d);
  for (let i = 0; i < d.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const t = Buffer.from(d);
      t[i] ^= 1 << bit;
      if (native.open(key, t) !== null) assert.unreachable(`opened with byte ${i} bit ${bit} flipped`);
    }
  }
  assert.is(native.open(randomBytes(32), d), null, 'wrong key');
  assert.is(native.open(key, d.subarray(0, d.length - 1)), null, 'one byte short');
  assert.is(native.open(key, d.subarray(0, SEAL_OVERHEAD - 1)), null, 'shorter than header + tag');
  assert.is(native.open(key, new Uint8Array(0)), null, 'empty');
  assert.equal(d, before, 'opening never changes the datagram');
  assert.equal(native.open(key, d), plain);
});

aead('an empty payload seals to header + tag and opens to an empty buffer', () => {
  const key = randomBytes(32);
  const d = allocDatagram(0);
  header(d, 9);
  native.seal(key, d, new Uint8Array(0));
  assert.is(d.length, SEAL_OVERHEAD);
  assert.equal(native.open(key, d), Buffer.alloc(0));
});

aead('a datagram of the wrong length for the payload is a thrown error, not a wrong seal', () => {
  const key = randomBytes(32);
  const d = allocDatagram(10);
  header(d, 1);
  assert.throws(() => native.seal(key, d, new Uint8Array(11)), /refused to seal/);
  // The payload inside the datagram it would write: overlapping buffers are refused.
  assert.throws(() => native.seal(key, d, d.subarray(4, 14)), /refused to seal/);
});

aead('keys are kept apart: a context per key, including keys with equal bytes in distinct buffers', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const plain = randomBytes(100);
  const d1 = allocDatagram(100);
  const d2 = allocDatagram(100);
  header(d1, 5);
  header(d2, 5);
  native.seal(k1, d1, plain);
  native.seal(k2, d2, plain);
  assert.not.equal(d1, d2);
  assert.is(native.open(k2, d1), null);
  assert.equal(native.open(Buffer.from(k1), d1), plain);
});

aead('a data plane on the native AEAD and one on node:crypto forward to each other', () => {
  const a = gateway(tableA(), { aead: native });
  const b = gateway(tableB());
  for (const pkt of [
    udp({ src: '10.1.0.5', dst: '10.2.0.9' }, randomBytes(1200)),
    tcp({ src: '10.1.0.5', dst: '10.2.0.9' }, { sport: 40000, dport: 443, flags: 0x10, payload: randomBytes(300) }),
    ipv4({ src: '10.1.0.5', dst: '10.2.0.9', protocol: 17, payload: new Uint8Array(0) }),
  ]) {
    const there = b.fromUnderlay(sent(a.fromAccess(Uint8Array.from(pkt), 0), 'B'), 0);
    assert.is(there.type, 'deliver');
    if (there.type === 'deliver') assert.equal(Buffer.from(there.bytes), Buffer.from(pkt));
    const back = udp({ src: '10.2.0.9', dst: '10.1.0.5' }, randomBytes(64));
    const here = a.fromUnderlay(sent(b.fromAccess(Uint8Array.from(back), 0), 'A'), 0);
    assert.is(here.type, 'deliver');
  }
  assert.is(a.snapshot().drops.auth, 0);
  assert.is(b.snapshot().drops.auth, 0);
});

aead.run();
