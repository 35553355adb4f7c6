import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FlowTable } from '../../common/model.js';
import { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import { IpPacket, parseIpPacket } from '../../router-agent/dataplane/packet.js';
import type { Verdict } from '../../router-agent/dataplane/verdict.js';
import { ipv4, ipv6, refChecksum, refTransportChecksum, storedTransportChecksum, udp } from './build-packets.js';
import { K_AB, gateway, sent, tableA, tableB, unseal } from './fixture.js';

/** A with its tunnel to B limited to a 1400-byte underlay: tunnel MTU 1400 - 64 = 1336. */
function narrowA(opts = {}): DataPlane {
  const t = tableA();
  t.peers[0] = { ...t.peers[0], mtu: 1400 };
  return gateway(t, opts);
}
const TUNNEL_MTU = 1336;

function filled(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

const u16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

function reply(v: Verdict): Uint8Array {
  if (v.type !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(v)}`);
  return v.bytes;
}

const icmp = suite('ICMP errors for oversize packets');

icmp('IPv4 with DF: fragmentation needed, laid out as RFC 792 / RFC 1191 say', () => {
  const a = narrowA();
  const orig = udp({ src: '10.1.0.10', dst: '10.2.0.7', df: true }, filled(1372), 4); // 1400 bytes
  assert.is(orig.length, 1400);
  const r = reply(a.fromAccess(orig, 0));
  // IPv4 header
  assert.is(r.length, 576, 'RFC 1812: no more than 576 bytes');
  assert.is(r[0], 0x45, 'version 4, IHL 5');
  assert.is(u16(r, 2), 576, 'total length');
  assert.is(u16(r, 6) & 0x1fff, 0, 'not a fragment');
  assert.is(r[8], 64, 'TTL');
  assert.is(r[9], 1, 'protocol ICMP');
  assert.is(refChecksum(r.subarray(0, 20)), 0, 'header checksum valid');
  assert.equal(Array.from(r.subarray(12, 16)), [10, 2, 0, 7], 'source: the unreachable-by-size destination');
  assert.equal(Array.from(r.subarray(16, 20)), [10, 1, 0, 10], 'destination: the sender');
  // ICMP message
  assert.is(r[20], 3, 'type 3 destination unreachable');
  assert.is(r[21], 4, 'code 4 fragmentation needed and DF set');
  assert.is(refChecksum(r.subarray(20)), 0, 'ICMP checksum valid');
  assert.is(u16(r, 24), 0, 'unused');
  assert.is(u16(r, 26), TUNNEL_MTU, 'next-hop MTU');
  assert.equal(Array.from(r.subarray(28)), Array.from(orig.subarray(0, 548)), 'the original header and data, as much as fits');
  const s = a.snapshot();
  assert.is(s.drops.mtu, 1);
  assert.is(s.icmpErrors, 1);
  const p = new IpPacket();
  assert.ok(parseIpPacket(r, p), 'the reply is a valid packet');
});

icmp('a packet that fits, DF or not, is sent; the limit is the tunnel MTU exactly', () => {
  const a = narrowA();
  sent(a.fromAccess(udp({ src: '10.1.0.10', dst: '10.2.0.7', df: true }, filled(TUNNEL_MTU - 28), 4), 0), 'B');
  assert.is(a.fromAccess(udp({ src: '10.1.0.10', dst: '10.2.0.7', df: true }, filled(TUNNEL_MTU - 27), 4), 0).type, 'reply');
});

icmp('IPv6: packet too big, laid out as RFC 4443 3.2 says, checksum over the pseudo-header', () => {
  const t = tableA();
  t.peers[0] = { ...t.peers[0], mtu: 1400 };
  const a = gateway(t);
  const orig = udp({ src: 'fd00:1::10', dst: 'fd00:2::20' }, filled(1352), 6); // 1400 bytes
  const r = reply(a.fromAccess(orig, 0));
  assert.is(r.length, 1280, 'no more than the IPv6 minimum MTU');
  assert.is(r[0] >>> 4, 6, 'version 6');
  assert.is(((r[0] & 0x0f) << 4) | (r[1] >>> 4), 0, 'traffic class');
  assert.is(u32(r, 0) & 0xfffff, 0, 'flow label');
  assert.is(u16(r, 4), 1240, 'payload length');
  assert.is(r[6], 58, 'next header ICMPv6');
  assert.is(r[7], 64, 'hop limit');
  assert.equal(Array.from(r.subarray(8, 24)), Array.from(orig.subarray(24, 40)), 'source: the original destination');
  assert.equal(Array.from(r.subarray(24, 40)), Array.from(orig.subarray(8, 24)), 'destination: the sender');
  assert.is(r[40], 2, 'type 2 packet too big');
  assert.is(r[41], 0, 'code 0');
  assert.is(storedTransportChecksum(r, 2), refTransportChecksum(r, 2), 'checksum with pseudo-header');
  assert.is(u32(r, 44), TUNNEL_MTU, 'MTU');
  assert.equal(Array.from(r.subarray(48)), Array.from(orig.subarray(0, 1232)), 'as much of the packet as fits');
});

icmp('no ICMP error about an ICMP error, nor about a later fragment', () => {
  const a = narrowA();
  const icmpError = ipv4({ src: '10.1.0.10', dst: '10.2.0.7', protocol: 1, df: true, payload: Uint8Array.of(3, 1, ...filled(1400)) });
  assert.equal(a.fromAccess(icmpError, 0), { type: 'drop', reason: 'mtu' });
  const echo = ipv4({ src: '10.1.0.10', dst: '10.2.0.7', protocol: 1, df: true, payload: Uint8Array.of(8, 0, ...filled(1400)) });
  assert.is(a.fromAccess(echo, 0).type, 'reply', 'an oversize echo request does get one');
  const later = ipv4({ src: '10.1.0.10', dst: '10.2.0.7', df: true, fragOffset: 1480, payload: filled(1400) });
  assert.equal(a.fromAccess(later, 0), { type: 'drop', reason: 'mtu' });
  const v6err = ipv6({ src: 'fd00:1::10', dst: 'fd00:2::20', nextHeader: 58, payload: Uint8Array.of(1, 0, ...filled(1400)) });
  const t6 = tableA();
  t6.peers[0] = { ...t6.peers[0], mtu: 1400 };
  assert.equal(gateway(t6).fromAccess(v6err, 0), { type: 'drop', reason: 'mtu' });
});

icmp('ICMP errors are rate limited by a token bucket on the time handed in', () => {
  const a = narrowA({ icmpBurst: 2, icmpPerSecond: 1 });
  const big = udp({ src: '10.1.0.10', dst: '10.2.0.7', df: true }, filled(1400), 4);
  assert.is(a.fromAccess(big, 0).type, 'reply');
  assert.is(a.fromAccess(big, 10).type, 'reply');
  assert.equal(a.fromAccess(big, 20), { type: 'drop', reason: 'mtu' });
  assert.is(a.fromAccess(big, 1100).type, 'reply');
  const s = a.snapshot();
  assert.is(s.drops.mtu, 4, 'every oversize packet is a drop');
  assert.is(s.icmpErrors, 3);
});

icmp('in transit, the error is routed back through the tunnels to the sender', () => {
  const a = gateway(tableA());
  const tb: FlowTable = tableB();
  tb.peers[1] = { ...tb.peers[1], mtu: 1400 };
  const b = gateway(tb);
  const orig = udp({ src: '10.1.0.10', dst: '10.5.0.9', df: true }, filled(1400), 4);
  const back = sent(b.fromUnderlay(sent(a.fromAccess(orig, 0), 'B'), 0), 'A');
  const { payload } = unseal(K_AB, back);
  assert.is(payload[20], 3);
  assert.is(payload[21], 4);
  assert.is(u16(payload, 26), TUNNEL_MTU);
  assert.equal(Array.from(payload.subarray(16, 20)), [10, 1, 0, 10]);
  const v = a.fromUnderlay(back, 0);
  assert.is(v.type, 'deliver', 'A writes the error to its TUN, toward the sender');
});

icmp.run();

const frag = suite('IPv4 fragmentation without DF');

function reassemble(fragments: Uint8Array[]): { payload: Uint8Array; ids: Set<number> } {
  const parts: Array<[number, Uint8Array]> = [];
  const ids = new Set<number>();
  let end = 0;
  for (const f of fragments) {
    const p = new IpPacket();
    assert.ok(parseIpPacket(f, p), 'each fragment is a valid IPv4 packet');
    ids.add(u16(f, 4));
    parts.push([p.fragmentOffset, f.subarray(p.headerLength, p.totalLength)]);
    if (!p.moreFragments) end = p.fragmentOffset + p.totalLength - p.headerLength;
  }
  const payload = new Uint8Array(end);
  for (const [off, bytes] of parts) payload.set(bytes, off);
  return { payload, ids };
}

frag('an oversize packet without DF is split into fragments that fit and reassemble to the original', () => {
  const a = narrowA();
  const b = gateway(tableB());
  const orig = udp({ src: '10.1.0.10', dst: '10.2.0.7', id: 0x4242 }, filled(3000), 4);
  const v = a.fromAccess(orig, 0);
  assert.is(v.type, 'send-fragments');
  if (v.type !== 'send-fragments') return;
  assert.is(v.peer.gatewayId, 'B');
  assert.is(v.datagrams.length, 3);
  const delivered: Uint8Array[] = [];
  for (const d of v.datagrams) {
    const inner = unseal(K_AB, d).payload;
    assert.ok(inner.length <= TUNNEL_MTU, `fragment of ${inner.length}`);
    const r = b.fromUnderlay(d, 0);
    assert.is(r.type, 'deliver');
    if (r.type === 'deliver') delivered.push(r.bytes);
  }
  const { payload, ids } = reassemble(delivered);
  assert.equal([...ids], [0x4242]);
  assert.equal(Array.from(payload), Array.from(orig.subarray(20)));
  assert.is(a.snapshot().fragmented, 1);
  assert.is(a.snapshot().drops.mtu, 0);
});

frag('options with the copied flag go into every fragment, the others only into the first', () => {
  const a = narrowA();
  // router alert (type 0x94, copied) + record route (type 7, not copied), 8 bytes in all
  const orig = ipv4({ src: '10.1.0.10', dst: '10.2.0.7', options: [0x94, 4, 0, 0, 7, 3, 4, 0], payload: filled(2000) });
  const v = a.fromAccess(orig, 0);
  assert.is(v.type, 'send-fragments');
  if (v.type !== 'send-fragments') return;
  const inners = v.datagrams.map((d) => unseal(K_AB, d).payload);
  assert.is(inners[0][0] & 0x0f, 7, 'first fragment keeps all options (28-byte header)');
  assert.equal(Array.from(inners[0].subarray(20, 28)), [0x94, 4, 0, 0, 7, 3, 4, 0]);
  for (const f of inners.slice(1)) {
    assert.is(f[0] & 0x0f, 6, 'later fragments: 24-byte header');
    assert.equal(Array.from(f.subarray(20, 24)), [0x94, 4, 0, 0]);
  }
  assert.equal(Array.from(reassemble(inners).payload), Array.from(orig.subarray(28)));
});

frag.run();
