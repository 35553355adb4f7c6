// A gateway with access ports in several VRFs (one TUN each) served by ONE
// data plane: packets are looked up in the VRF of the port they came from,
// delivered to the port of their VRF, and every port seals from the one
// counter (two counters under one link key would repeat AES-GCM nonces).
//
//   A (node 1) and B (node 2) both serve VRF 10 and VRF 20, and both VRFs use
//   the same prefixes: 10.1/16 behind A, 10.2/16 behind B.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import type { Verdict } from '../../router-agent/dataplane/verdict.js';
import { deliver, forward, peer, table, udp } from './build-packets.js';
import { K_AB, gateway, sent, unseal } from './fixture.js';

const tableA = () =>
  table(1, [peer('B', 2, K_AB)], [deliver(10, '10.1.0.0/16'), deliver(20, '10.1.0.0/16'), forward(10, '10.2.0.0/16', ['B']), forward(20, '10.2.0.0/16', ['B'])]);
const tableB = () =>
  table(2, [peer('A', 1, K_AB)], [deliver(10, '10.2.0.0/16'), deliver(20, '10.2.0.0/16'), forward(10, '10.1.0.0/16', ['A']), forward(20, '10.1.0.0/16', ['A'])]);

const both = { accessVrf: 10, extraAccessVrfs: [20] };
const pkt = (src: string, dst: string, body = 7) => udp({ src, dst }, new Uint8Array(32).fill(body));

function delivered(v: Verdict): { vrf: number; bytes: number[] } {
  if (v.type !== 'deliver') throw new Error(`expected a delivery, got ${JSON.stringify(v.type === 'drop' ? v : v.type)}`);
  return { vrf: v.vrf, bytes: Array.from(v.bytes) };
}

const t = suite('data plane: access ports in several VRFs');

t('the same prefix in two VRFs on one gateway is delivered to the port of its VRF', () => {
  const a = gateway(tableA(), both);
  const b = gateway(tableB(), { ...both, initialCounter: 5000n });
  const p10 = pkt('10.1.0.10', '10.2.0.7', 10);
  const p20 = pkt('10.1.0.10', '10.2.0.7', 20);
  const d10 = sent(a.fromAccess(p10.slice(), 0, 10), 'B');
  const d20 = sent(a.fromAccess(p20.slice(), 0, 20), 'B');
  assert.is(unseal(K_AB, d10).header.vrf, 10);
  assert.is(unseal(K_AB, d20).header.vrf, 20);
  assert.equal(delivered(b.fromUnderlay(d10, 0)), { vrf: 10, bytes: Array.from(p10) });
  assert.equal(delivered(b.fromUnderlay(d20, 0)), { vrf: 20, bytes: Array.from(p20) });
  // The answer from B's VRF-20 port comes back to A's VRF-20 port.
  const back = sent(b.fromAccess(pkt('10.2.0.7', '10.1.0.10', 21), 0, 20), 'A');
  assert.is(delivered(a.fromUnderlay(back, 0)).vrf, 20);
  assert.is(b.counters.deliveredPackets, 2);
});

t('the default port is the access VRF, as for a single-VRF gateway', () => {
  const a = gateway(tableA(), both);
  assert.is(unseal(K_AB, sent(a.fromAccess(pkt('10.1.0.10', '10.2.0.7'), 0), 'B')).header.vrf, 10);
  assert.equal(a.accessVrfs, [10, 20]);
  assert.ok(a.servesVrf(20));
  assert.not.ok(a.servesVrf(30));
});

t('every port seals from one counter: no nonce is used twice under the link key', () => {
  const a = gateway(tableA(), both);
  const counters: number[] = [];
  for (let i = 0; i < 6; i++) {
    const d = sent(a.fromAccess(pkt('10.1.0.10', '10.2.0.7'), 0, i % 2 === 0 ? 10 : 20));
    counters.push(unseal(K_AB, d).header.counterLo);
  }
  assert.equal(counters, [1000, 1001, 1002, 1003, 1004, 1005]);
  // And the peer's one replay window accepts them all, in either VRF.
  const b = gateway(tableB(), both);
  const a2 = gateway(tableA(), { ...both, initialCounter: 9000n });
  for (let i = 0; i < 6; i++) assert.is(b.fromUnderlay(sent(a2.fromAccess(pkt('10.1.0.10', '10.2.0.7'), 0, i % 2 === 0 ? 10 : 20)), 0).type, 'deliver');
});

t('a VRF without a port here is neither read from nor delivered to', () => {
  const a = gateway(tableA(), both);
  assert.equal(a.fromAccess(pkt('10.1.0.10', '10.2.0.7'), 0, 30), { type: 'drop', reason: 'no_route' });
  // B serves only VRF 10: A's VRF-20 packet for B's 10.2/16 is not written to B's VRF-10 port.
  const b10 = gateway(tableB(), { accessVrf: 10 });
  assert.equal(b10.fromUnderlay(sent(a.fromAccess(pkt('10.1.0.10', '10.2.0.7'), 0, 20)), 0), { type: 'drop', reason: 'no_route' });
  assert.is(b10.counters.deliveredPackets, 0);
});

t('an ICMP error for an oversize packet goes back to the port it came from', () => {
  const narrow = tableA();
  narrow.peers[0] = { ...narrow.peers[0]!, mtu: 1400 };
  const a = gateway(narrow, both);
  const big = udp({ src: '10.1.0.10', dst: '10.2.0.7', df: true }, new Uint8Array(1372));
  const v = a.fromAccess(big, 0, 20);
  assert.is(v.type, 'reply');
  if (v.type === 'reply') assert.is(v.vrf, 20);
});

t('bad extra VRFs are refused, repeats folded', () => {
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 0n, extraAccessVrfs: [1 << 24] }), /extraAccessVrfs\[0\]/);
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 0n, extraAccessVrfs: 2 as never }), /extraAccessVrfs/);
  assert.equal(new DataPlane({ accessVrf: 1, initialCounter: 0n, extraAccessVrfs: [2, 1, 2] }).accessVrfs, [1, 2]);
});

t.run();
