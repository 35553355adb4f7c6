import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GRE_PROTO_IPV4, GRE_PROTO_IPV6, encodeGre } from '../../router-agent/dataplane/gre.js';
import { ipv6, peer, refChecksum, udp } from './build-packets.js';
import { gateway, sent, tableA, tableB } from './fixture.js';

const gre = suite('GRE mode');

const greA = () => gateway(tableA(), { underlay: 'gre' });
const greB = () => gateway(tableB(), { underlay: 'gre' });
const pkt = (dst: string, ttl = 64) => udp({ src: '10.1.0.10', dst, ttl }, new Uint8Array(30), 4);

gre('access packets leave as plain GRE: key = VRF, protocol by family, inner packet untouched', () => {
  const a = greA();
  const p = pkt('10.2.0.7');
  const d = sent(a.fromAccess(p.slice(), 0), 'B');
  assert.equal(Array.from(d.subarray(0, 8)), [0x20, 0, 0x08, 0x00, 0, 0, 0, 10]);
  assert.equal(Array.from(d.subarray(8)), Array.from(p));
  const p6 = udp({ src: 'fd00:1::1', dst: 'fd00:2::2' }, new Uint8Array(3), 6);
  assert.equal(Array.from(sent(a.fromAccess(p6, 0)).subarray(0, 4)), [0x20, 0, 0x86, 0xdd]);
  assert.is(a.accessMtu, 1500 - 28);
  assert.is(a.peer('B')?.tunnelMtu, 1500 - 28);
});

gre('a peer is known by its source address; others are unknown_peer', () => {
  const a = greA();
  const b = greB();
  const d = sent(a.fromAccess(pkt('10.2.0.7'), 0));
  assert.is(b.fromGre(d, '192.0.2.1', 0).type, 'deliver');
  assert.equal(b.fromGre(d, '192.0.2.99', 0), { type: 'drop', reason: 'unknown_peer' });
  assert.equal(b.fromGre(d, 'not an address', 0), { type: 'drop', reason: 'unknown_peer' });
  assert.is(b.snapshot().peers.find((x) => x.gatewayId === 'A')?.rxPackets, 1);
});

gre('IPv6 source addresses match in any spelling', () => {
  const t = tableB();
  t.peers[0] = peer('A', 1, t.peers[0].key, { endpoints: [{ host: '2001:db8::1', port: 4789 }] });
  const b = gateway(t, { underlay: 'gre' });
  const d = encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 10);
  assert.is(b.fromGre(d, '2001:DB8:0:0::1', 0).type, 'deliver');
});

gre('transit decrements the inner TTL (GRE hop = IP hop) with a valid header checksum; TTL 1 is dropped', () => {
  const b = greB();
  const v = b.fromGre(encodeGre(pkt('10.5.0.9', 9), GRE_PROTO_IPV4, 10), '192.0.2.1', 0);
  const out = sent(v, 'C');
  const inner = out.subarray(8);
  assert.is(inner[8], 8);
  assert.is(refChecksum(inner.subarray(0, 20)), 0);
  assert.equal(b.fromGre(encodeGre(pkt('10.5.0.9', 1), GRE_PROTO_IPV4, 10), '192.0.2.1', 0), { type: 'drop', reason: 'hop_limit' });
  const v6 = ipv6({ src: 'fd00:1::1', dst: 'fd00:2::2', hopLimit: 1 });
  // fd00:2::/32 is local at B: delivery spends no hop.
  assert.is(b.fromGre(encodeGre(v6, GRE_PROTO_IPV6, 10), '192.0.2.1', 0).type, 'deliver');
});

gre('no key means the access VRF; a key naming no VRF here is no_route', () => {
  const b = greB();
  const keyless = Uint8Array.of(0, 0, 0x08, 0x00, ...pkt('10.2.0.7'));
  assert.is(b.fromGre(keyless, '192.0.2.1', 0).type, 'deliver');
  assert.equal(b.fromGre(encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 0x01000000), '192.0.2.1', 0), { type: 'drop', reason: 'no_route' });
  assert.equal(b.fromGre(encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 20), '192.0.2.1', 0), { type: 'drop', reason: 'no_route' });
});

gre('bad GRE, a protocol that does not match the inner packet, or a bad inner packet are malformed', () => {
  const b = greB();
  const good = encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 10);
  const version = good.slice();
  version[1] = 1;
  const cks = encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 10, true);
  cks[20] ^= 1;
  for (const d of [version, cks, encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV6, 10), good.subarray(0, 20), good.subarray(0, 3)]) {
    assert.equal(b.fromGre(d, '192.0.2.1', 0), { type: 'drop', reason: 'malformed' });
  }
});

gre('in UDP mode no GRE packet is accepted: GRE needs the explicit mode', () => {
  const b = gateway(tableB());
  assert.equal(b.fromGre(encodeGre(pkt('10.2.0.7'), GRE_PROTO_IPV4, 10), '192.0.2.1', 0), { type: 'drop', reason: 'unknown_peer' });
});

gre('two peers at one address are refused in GRE mode (the address is the identity)', () => {
  const t = tableA();
  t.peers[1] = { ...t.peers[1], endpoints: t.peers[0].endpoints };
  assert.throws(() => gateway(t, { underlay: 'gre' }), /also peer 'B'/);
  gateway(t); // fine for UDP, where the sender id is the identity
});

gre.run();
