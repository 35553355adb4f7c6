import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  finish,
  ipv4HeaderChecksumValid,
  onesSum,
  transportChecksum,
  updateChecksum16,
  write16WithChecksum,
  writeIpv4HeaderChecksum,
} from '../../router-agent/dataplane/checksum.js';
import { IpPacket, decrementTtl, parseIpPacket } from '../../router-agent/dataplane/packet.js';
import { ipv4, ipv6, refChecksum, refTransportChecksum, storedTransportChecksum, udp } from './build-packets.js';

const parse = suite('parseIpPacket');

parse('reads every IPv4 field, options included', () => {
  const pkt = ipv4({ src: '10.1.0.1', dst: '10.2.0.9', protocol: 6, ttl: 17, df: true, options: [1, 1, 1, 0], payload: new Uint8Array(10) });
  const p = new IpPacket();
  assert.ok(parseIpPacket(pkt, p));
  assert.is(p.family, 4);
  assert.is(p.headerLength, 24);
  assert.is(p.l4Offset, 24);
  assert.is(p.totalLength, 34);
  assert.is(p.protocol, 6);
  assert.is(p.ttl, 17);
  assert.ok(p.dontFragment);
  assert.not.ok(p.moreFragments);
  assert.is(p.fragmentOffset, 0);
  assert.is(p.srcOffset, 12);
  assert.is(p.dstOffset, 16);
  assert.is(p.error, null);
});

parse('reads IPv4 fragment fields', () => {
  const p = new IpPacket();
  assert.ok(parseIpPacket(ipv4({ dst: '10.2.0.1', mf: true, fragOffset: 1480, payload: new Uint8Array(8) }), p));
  assert.ok(p.moreFragments);
  assert.is(p.fragmentOffset, 1480);
  assert.not.ok(p.isFirstFragment);
  assert.ok(p.isFragment);
});

parse('reads IPv6 fields', () => {
  const p = new IpPacket();
  assert.ok(parseIpPacket(ipv6({ dst: 'fd00:2::5', nextHeader: 58, hopLimit: 3, payload: new Uint8Array(12) }), p));
  assert.is(p.family, 6);
  assert.is(p.totalLength, 52);
  assert.is(p.protocol, 58);
  assert.is(p.ttl, 3);
  assert.is(p.dstOffset, 24);
  assert.is(p.l4Offset, 40);
});

parse('refuses every out-of-bounds field with its reason', () => {
  const p = new IpPacket();
  const good4 = ipv4({ dst: '10.2.0.1', payload: new Uint8Array(8) });
  const cases: Array<[Uint8Array, string]> = [
    [new Uint8Array(0), 'empty'],
    [Uint8Array.of(0x50, ...new Uint8Array(30)), 'version'],
    [good4.subarray(0, 19), 'short_header'],
    [(() => { const b = good4.slice(); b[0] = 0x44; return b; })(), 'ihl'],
    [(() => { const b = good4.slice(); b[0] = 0x4f; return b; })(), 'short_header'], // IHL 60 bytes > 28
    [good4.subarray(0, 27), 'total_length'], // total length 28 > buffer
    [(() => { const b = good4.slice(); b[2] = 0; b[3] = 10; writeIpv4HeaderChecksum(b, 0, 20); return b; })(), 'total_length'], // below header
    [(() => { const b = good4.slice(); b[8] ^= 1; return b; })(), 'checksum'],
    [ipv6({ dst: 'fd00::1' }).subarray(0, 39), 'short_header'],
    [ipv6({ dst: 'fd00::1', payload: new Uint8Array(4) }).subarray(0, 43), 'payload_length'],
  ];
  for (const [buf, reason] of cases) {
    assert.not.ok(parseIpPacket(buf, p), reason);
    assert.is(p.error, reason);
    assert.is(p.family, 0);
  }
});

parse('accepts trailing bytes past the stated length (link padding) and reports the stated length', () => {
  const b = new Uint8Array(60);
  b.set(ipv4({ dst: '10.2.0.1', payload: new Uint8Array(4) }));
  const p = new IpPacket();
  assert.ok(parseIpPacket(b, p));
  assert.is(p.totalLength, 24);
});

parse('decrementTtl keeps the IPv4 header checksum valid', () => {
  for (const ttl of [64, 2, 1, 255]) {
    const b = ipv4({ dst: '10.2.0.1', ttl });
    const p = new IpPacket();
    parseIpPacket(b, p);
    decrementTtl(b, p);
    assert.is(b[8], ttl - 1);
    assert.ok(ipv4HeaderChecksumValid(b, 0, 20));
    assert.is((b[10] << 8) | b[11], refChecksum([...b.subarray(0, 10), 0, 0, ...b.subarray(12, 20)]));
  }
  const b6 = ipv6({ dst: 'fd00::1', hopLimit: 9 });
  const p6 = new IpPacket();
  parseIpPacket(b6, p6);
  decrementTtl(b6, p6);
  assert.is(b6[7], 8);
});

parse.run();

const cks = suite('checksum');

cks('RFC 1071 section 3 example sums to ddf2', () => {
  const bytes = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  let s = onesSum(bytes, 0, 8);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  assert.is(s, 0xddf2);
  assert.is(finish(onesSum(bytes, 0, 8)), ~0xddf2 & 0xffff);
});

cks('odd-length data is padded with a zero byte', () => {
  const bytes = Uint8Array.of(1, 2, 3);
  assert.is(finish(onesSum(bytes, 0, 3)), refChecksum([1, 2, 3]));
});

cks('transportChecksum matches a from-scratch computation for UDP over IPv4 and IPv6', () => {
  for (const [family, pkt] of [
    [4, udp({ dst: '10.2.0.7' }, new TextEncoder().encode('hello, odd'), 4)],
    [6, udp({ dst: 'fd00:2::7' }, new TextEncoder().encode('hello, odd!'), 6)],
  ] as const) {
    const l4 = family === 4 ? 20 : 40;
    assert.is(transportChecksum(pkt, family, 17, l4, pkt.length - l4, 6), refTransportChecksum(pkt, 6));
    assert.is(storedTransportChecksum(pkt, 6), refTransportChecksum(pkt, 6));
  }
});

cks('RFC 1624 incremental update equals recomputation, at even and odd offsets', () => {
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  for (let trial = 0; trial < 300; trial++) {
    const len = 8 + (rnd() % 40);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = rnd() & 0xff;
    b[0] = 0;
    b[1] = 0;
    const c = finish(onesSum(b, 0, len));
    b[0] = c >>> 8;
    b[1] = c & 0xff;
    const at = 2 + (rnd() % (len - 5));
    write16WithChecksum(b, 0, 0, at, rnd());
    assert.is(refChecksum(b), 0, `trial ${trial}: whole block must check to zero`);
  }
});

cks('RFC 1624 section 4 example: the result is 0x0000, not 0xffff', () => {
  // HC = 0xDD2F, m = 0x5555, m' = 0x3285 -> HC' = 0x0000 by eqn. 3
  assert.is(updateChecksum16(0xdd2f, 0x5555, 0x3285), 0x0000);
});

cks.run();
