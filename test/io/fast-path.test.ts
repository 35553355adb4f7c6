// The native fast path against the JS data plane it stands in for: every
// packet goes to a gateway with the fast path and to an identical one
// without. Whatever the fast path takes must come out byte for byte as the
// JS data plane makes it (same nonce, same datagram, same delivered
// packet); whatever it leaves, the JS side then handles exactly as the
// reference does; and in the end every counter, the send counter and the
// replay windows agree. Seeded: fixed seeds, their mutations and random
// bytes, 20,000 packets each way; then 1,000,000 cheap mutations through
// both directions for robustness alone.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRandom, type Random } from '../../common/random.js';
import type { FlowTable } from '../../common/model.js';
import type { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import type { Verdict } from '../../router-agent/dataplane/verdict.js';
import { FastPath, fastPathUnavailable } from '../../router-agent/io/fast-path.js';
import { NativeAead, loadNativeAead } from '../../router-agent/io/native-aead.js';
import { NativeUdpUnderlay } from '../../router-agent/io/native-udp-underlay.js';
import { ACK, SYN, ipv4, ipv6, key, peer, tcp, udp } from '../dataplane/build-packets.js';
import { K_AB, K_AC, gateway, tableA, tableB, tableC } from '../dataplane/fixture.js';

const why = fastPathUnavailable();
if (why) throw new Error(`the fast path is not built: ${why}`);
const loaded = loadNativeAead();
if (!(loaded instanceof NativeAead)) throw new Error('the native AEAD did not load');
const aead: NativeAead = loaded;

const NOW = 1_000;
const t = suite('native fast path: the same bytes as the JS data plane');
let sock: NativeUdpUnderlay;
let open: FastPath[] = [];

t.before(async () => {
  sock = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
});
t.after.each(() => {
  for (const fp of open) fp.close();
  open = [];
});
t.after(async () => {
  await sock.close();
});

/** A gateway with the fast path on this table, and its JS-only twin. */
function pair(table: FlowTable): { fast: DataPlane; ref: DataPlane; fp: FastPath } {
  const fast = gateway(table, { aead });
  const ref = gateway(table, { aead });
  const fp = FastPath.open(sock, [], fast.nonce);
  open.push(fp);
  fast.attachFastPath(fp, 4);
  return { fast, ref, fp };
}

/** What a verdict says, in comparable form. */
function said(v: Verdict): unknown {
  switch (v.type) {
    case 'send':
      return ['send', v.peer.gatewayId, Buffer.from(v.bytes).toString('hex')];
    case 'send-fragments':
      return ['fragments', v.peer.gatewayId, v.datagrams.map((d) => Buffer.from(d).toString('hex'))];
    case 'deliver':
    case 'reply':
      return [v.type, v.vrf, Buffer.from(v.bytes).toString('hex')];
    case 'drop':
      return ['drop', v.reason];
    default:
      return [v.type, v.peer.gatewayId, Buffer.from(v.payload).toString('hex')];
  }
}

/** Both snapshots, the fast path's own tally left out. */
function sameCounters(fast: DataPlane, ref: DataPlane): void {
  const { fastPath, ...a } = fast.snapshot();
  assert.ok(fastPath, 'a fast path is attached');
  assert.equal(a, ref.snapshot());
}

function mutate(r: Random, p: Uint8Array): Uint8Array {
  const out = Uint8Array.from(p);
  if (out.length === 0) return out;
  switch (r.int(0, 6)) {
    case 0:
    case 1:
    case 2:
      return out;
    case 3: {
      out[r.int(0, out.length - 1)] ^= 1 << r.int(0, 7);
      return out;
    }
    case 4:
      return out.subarray(0, r.int(0, out.length));
    case 5: {
      // Random bytes with a plausible first byte (IPv4, IPv6 or tunnel version 1).
      const junk = Uint8Array.from({ length: r.int(1, 1600) }, () => r.int(0, 255));
      junk[0] = [0x45, 0x60, 0x01][r.int(0, 2)];
      return junk;
    }
    default: {
      const grown = new Uint8Array(out.length + r.int(1, 8));
      grown.set(out);
      return grown;
    }
  }
}

function accessSeeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dsts4 = ['10.1.0.5', '10.2.0.7', '10.3.1.1', '10.4.0.1', '10.5.0.9', '10.9.0.1', '192.168.1.1'];
  for (const dst of dsts4) {
    out.push(udp({ dst }, new Uint8Array(40)));
    out.push(udp({ dst, df: true }, new Uint8Array(1400)));
    out.push(udp({ dst, df: true }, new Uint8Array(1450))); // over the tunnel MTU: ICMP from JS
    out.push(udp({ dst }, new Uint8Array(2500))); // fragmented by JS
    out.push(tcp({ dst }, { flags: SYN, options: [2, 4, 0x05, 0xb4, 1, 3, 3, 7] })); // clamped by JS
    out.push(tcp({ dst }, { flags: ACK, payload: new Uint8Array(1000) }));
    out.push(ipv4({ dst, protocol: 1, payload: Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1) }));
    out.push(ipv4({ dst, mf: true, protocol: 6, payload: new Uint8Array(64) }));
    out.push(ipv4({ dst, options: [1, 1, 1, 0], payload: new Uint8Array(30) }));
  }
  for (const dst of ['fd00:2::7', 'fd00:1::5', '2001:db8::1']) {
    out.push(udp({ src: 'fd00:1::1', dst }, new Uint8Array(100), 6));
    out.push(tcp({ src: 'fd00:1::1', dst }, { flags: SYN, options: [2, 4, 0x05, 0xb4] }, 6));
    out.push(tcp({ src: 'fd00:1::1', dst }, { flags: ACK, payload: new Uint8Array(500) }, 6));
    out.push(ipv6({ src: 'fd00:1::1', dst, nextHeader: 58, payload: new Uint8Array(8) }));
  }
  return out;
}

t('from an access port: sealed exactly as JS seals, with the same nonces; the rest is JS verbatim', () => {
  const { fast, ref, fp } = pair(tableA());
  const r = createRandom(0xfa57);
  const seeds = accessSeeds();
  let took = 0;
  let left = 0;
  for (let i = 0; i < 20_000; i++) {
    if (i === 2000) for (const dp of [fast, ref]) dp.setPeerState('B', false); // 10.2 has no backup, 10.4 falls to C
    if (i === 3000) for (const dp of [fast, ref]) dp.setPeerPathMtu('C', 1300);
    if (i === 4000) for (const dp of [fast, ref]) dp.setPeerState('B', true);
    if (i === 5000) for (const dp of [fast, ref]) dp.setTable(tableA(2));
    const pkt = mutate(r, seeds[r.int(0, seeds.length - 1)]);
    const want = ref.fromAccess(Uint8Array.from(pkt), NOW);
    const got = fp.sealFromAccess(0, Uint8Array.from(pkt));
    if (got !== null) {
      took++;
      assert.equal(['send', want.type === 'send' ? want.peer.gatewayId : '?', got.toString('hex')], said(want), `packet ${i}: ${Buffer.from(pkt).toString('hex')}`);
    } else {
      left++;
      assert.equal(said(fast.fromAccess(Uint8Array.from(pkt), NOW)), said(want), `packet ${i} (left to JS): ${Buffer.from(pkt).toString('hex')}`);
    }
    assert.equal([...fast.nonce], [...ref.nonce], `nonce after packet ${i}`);
  }
  assert.ok(took > 500 && left > 1000, `taken ${took}, left to JS ${left}`);
  sameCounters(fast, ref);
});

t('from the underlay: opened and delivered exactly as JS does; replays, forgeries and the rest go to JS', () => {
  const { fast, ref, fp } = pair(tableA());
  const b = gateway(tableB(), { aead, initialCounter: 5_000n });
  const c = gateway(tableC(), { aead, initialCounter: 9_000n });
  const r = createRandom(0x0be7);
  const toA = [
    udp({ src: '10.2.0.7', dst: '10.1.0.5' }, new Uint8Array(60)),
    tcp({ src: '10.2.0.7', dst: '10.1.0.5' }, { flags: ACK, payload: new Uint8Array(1200) }),
    tcp({ src: '10.2.0.7', dst: '10.1.0.5' }, { flags: SYN, options: [2, 4, 0x05, 0xb4] }),
    udp({ src: 'fd00:2::7', dst: 'fd00:1::5' }, new Uint8Array(80), 6),
    udp({ src: '10.5.0.9', dst: '10.1.0.77' }, new Uint8Array(20)),
  ];
  const sent: Uint8Array[] = [];
  let took = 0;
  let left = 0;
  for (let i = 0; i < 20_000; i++) {
    let d: Uint8Array | undefined;
    const pick = r.int(0, 9);
    if (pick < 6 || sent.length === 0) {
      const from = pick % 2 === 0 ? b : c;
      const v = from.fromAccess(Uint8Array.from(toA[r.int(0, toA.length - 1)]), NOW);
      if (v.type === 'send' && v.peer.gatewayId === 'A') d = v.bytes;
    } else if (pick === 6) {
      const v = b.sealProbe('A', new Uint8Array(16), 'probe', NOW);
      if (v.type === 'send') d = v.bytes;
    } else if (pick === 7) {
      d = sent[r.int(0, sent.length - 1)]; // a replay
    } else {
      d = mutate(r, sent[r.int(0, sent.length - 1)]);
    }
    if (!d) continue;
    sent.push(d);
    if (sent.length > 4000) sent.splice(0, 2000); // older than the replay window too, sometimes
    const want = ref.fromUnderlay(Uint8Array.from(d), NOW);
    const got = fp.openFromUnderlay(Uint8Array.from(d));
    if (got !== null) {
      took++;
      assert.equal(['deliver', got[0] === 0 ? 10 : -1, got[1].toString('hex')], said(want), `datagram ${i}`);
    } else {
      left++;
      assert.equal(said(fast.fromUnderlay(Uint8Array.from(d), NOW)), said(want), `datagram ${i} (left to JS): ${Buffer.from(d).toString('hex')}`);
    }
  }
  assert.ok(took > 1000 && left > 1000, `taken ${took}, left to JS ${left}`);
  sameCounters(fast, ref);
  // The windows moved alike: every datagram seen once more is refused by both.
  for (const d of sent.slice(-200)) {
    assert.is(fp.openFromUnderlay(Uint8Array.from(d)), null);
    assert.equal(said(fast.fromUnderlay(Uint8Array.from(d), NOW)), said(ref.fromUnderlay(Uint8Array.from(d), NOW)));
  }
});

t('during a key rotation it opens under the current, previous and next keys, and never an unknown one', () => {
  const prev = key(0x11);
  const next = key(0x33);
  const rotating = tableA();
  rotating.peers[0] = peer('B', 2, K_AB, { keyId: 2, previousKey: prev, previousKeyId: 1, nextKey: next, nextKeyId: 3 });
  const { fast, ref, fp } = pair(rotating);
  const senders = [
    [prev, 1],
    [K_AB, 2],
    [next, 3],
    [key(0x77), 4],
    [K_AC, 2], // the right id, the wrong key
  ].map(([k, id], i) => {
    const tb = tableB();
    tb.peers[0] = peer('A', 1, k as Buffer, { keyId: id as number });
    // One node id (B) for all: counters a few hundred apart stay inside one replay window.
    return gateway(tb, { aead, initialCounter: BigInt(100_000 + 200 * i) });
  });
  const opened = [0, 0, 0, 0, 0];
  for (let i = 0; i < 500; i++) {
    const s = i % senders.length;
    const v = senders[s].fromAccess(udp({ src: '10.2.0.7', dst: '10.1.0.5' }, Uint8Array.of(i & 255)), NOW);
    if (v.type !== 'send') throw new Error(`sender ${s} did not seal`);
    const want = ref.fromUnderlay(Uint8Array.from(v.bytes), NOW);
    const got = fp.openFromUnderlay(Uint8Array.from(v.bytes));
    if (got) {
      opened[s]++;
      assert.equal(['deliver', 10, got[1].toString('hex')], said(want));
    } else {
      assert.equal(said(fast.fromUnderlay(Uint8Array.from(v.bytes), NOW)), said(want));
    }
  }
  assert.equal(opened, [100, 100, 100, 0, 0], 'current, previous and next keys open; an unknown key id or a wrong key never');
  sameCounters(fast, ref);
});

t('ECMP: flows spread over the live primaries as JS spreads them, and move only off a peer that goes down', () => {
  const { fast, ref, fp } = pair(tableA());
  const flows = Array.from({ length: 64 }, (_, i) => udp({ dst: '10.3.1.1' }, new Uint8Array(20), 4, 1000 + i, 53));
  const peerOf = (d: Buffer) => (d.readUInt32BE(8) === 1 ? 'from A' : '?'); // sender id: A's node id
  const spread = () => {
    const to = new Map<string, number>();
    for (const f of flows) {
      const want = ref.fromAccess(Uint8Array.from(f), NOW);
      const got = fp.sealFromAccess(0, Uint8Array.from(f));
      assert.ok(got, 'an ECMP packet is taken');
      assert.is(peerOf(got), 'from A');
      assert.equal(['send', want.type === 'send' ? want.peer.gatewayId : '?', got.toString('hex')], said(want));
      if (want.type === 'send') to.set(want.peer.gatewayId, (to.get(want.peer.gatewayId) ?? 0) + 1);
    }
    return to;
  };
  const both = spread();
  assert.ok((both.get('B') ?? 0) > 8 && (both.get('C') ?? 0) > 8, `spread over B and C: ${JSON.stringify([...both])}`);
  for (const dp of [fast, ref]) dp.setPeerState('B', false);
  assert.equal([...spread()], [['C', 64]], 'all on C with B down');
  for (const dp of [fast, ref]) dp.setPeerState('C', false);
  assert.equal([...spread()], [['D', 64]], 'then the backup');
  sameCounters(fast, ref);
});

t('1,000,000 random and mutated packets through both directions: never a crash, and whatever it takes is well-formed', () => {
  const { fp } = pair(tableA());
  const b = gateway(tableB(), { aead, initialCounter: 1n << 40n });
  const r = createRandom(0xf022);
  const access = accessSeeds();
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const v = b.fromAccess(udp({ src: '10.2.0.7', dst: '10.1.0.5' }, new Uint8Array(r.int(0, 1300))), NOW);
    if (v.type === 'send') sealed.push(v.bytes);
  }
  const scratch = new Uint8Array(4096);
  let taken = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const fromAccess = (i & 1) === 0;
    const seed = fromAccess ? access[r.int(0, access.length - 1)] : sealed[r.int(0, sealed.length - 1)];
    // Cheap mutations in a scratch buffer: a few bytes changed, the length cut or grown.
    const len = r.int(0, 9) === 0 ? r.int(0, Math.min(seed.length + 40, scratch.length)) : seed.length;
    scratch.set(seed.subarray(0, Math.min(len, seed.length)));
    if (len > seed.length) scratch.fill(r.int(0, 255), seed.length, len);
    for (let k = r.int(0, 3); k > 0; k--) scratch[r.int(0, Math.max(0, len - 1))] = r.int(0, 255);
    const pkt = scratch.subarray(0, len);
    if (fromAccess) {
      const d = fp.sealFromAccess(0, pkt);
      if (d === null) continue;
      taken++;
      assert.ok(d.length >= 36 + 20 && d[0] === 1 && d[1] === 1 && d[7] === 0, `a well-formed datagram for packet ${i}`);
    } else {
      const got = fp.openFromUnderlay(pkt);
      if (got === null) continue;
      taken++;
      const ip = got[1];
      assert.ok(got[0] === 0 && ip.length >= 20 && (ip[0] >> 4 === 4 || ip[0] >> 4 === 6), `a delivered IP packet for datagram ${i}`);
    }
  }
  assert.ok(taken > 10_000, `taken ${taken}`);
});

t('detached, or before any table, it takes nothing', () => {
  const dp = gateway(tableA(), { aead });
  const fp = FastPath.open(sock, [], dp.nonce);
  open.push(fp);
  const pkt = udp({ dst: '10.2.0.7' }, new Uint8Array(40));
  assert.is(fp.sealFromAccess(0, pkt), null, 'no program yet');
  dp.attachFastPath(fp, 4);
  assert.ok(fp.sealFromAccess(0, pkt), 'programmed');
  dp.detachFastPath();
  assert.is(fp.sealFromAccess(0, pkt), null, 'detached');
  assert.not.ok(dp.snapshot().fastPath, 'no fast path tally once detached');
});

t('bad arguments are clear errors, and a second fast path on one socket is refused', () => {
  const dp = gateway(tableA(), { aead });
  const fp = FastPath.open(sock, [], dp.nonce);
  open.push(fp);
  assert.throws(() => FastPath.open(sock, [], dp.nonce), /already has a fast path/);
  assert.throws(() => fp.install({ bytes: new Uint8Array(12), windows: [], peerStates: new Uint32Array(0), peerIndex: new Map(), counters: new Float64Array(8), rules: [], peers: [] }), /malformed/);
  assert.throws(() => FastPath.open({ [Symbol.for('x')]: 1 } as never, [], dp.nonce), /cannot hook|not a function/);
  assert.throws(() => gateway(tableA(), { aead, underlay: 'gre' }).attachFastPath(fp, 4), /GRE/);
});

t.run();
