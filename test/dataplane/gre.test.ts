import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GRE_PROTO_IPV4, GRE_PROTO_IPV6, GreHeader, decodeGre, encodeGre } from '../../router-agent/dataplane/gre.js';
import { ipv4, ipv6 } from './build-packets.js';

const gre = suite('GRE');

gre('encodes RFC 2784/2890 with the key: K bit, version 0, protocol, key = VRF', () => {
  const inner = ipv4({ dst: '10.2.0.1' });
  const b = encodeGre(inner, GRE_PROTO_IPV4, 0x00abcdef);
  assert.equal(Array.from(b.subarray(0, 8)), [0x20, 0x00, 0x08, 0x00, 0x00, 0xab, 0xcd, 0xef]);
  assert.equal(Array.from(b.subarray(8)), Array.from(inner));
});

gre('decodes what it encodes, with and without checksum, IPv4 and IPv6', () => {
  const h = new GreHeader();
  for (const [inner, proto] of [
    [ipv4({ dst: '10.2.0.1', payload: new Uint8Array(5) }), GRE_PROTO_IPV4],
    [ipv6({ dst: 'fd00::2', payload: new Uint8Array(3) }), GRE_PROTO_IPV6],
  ] as const) {
    for (const checksum of [false, true]) {
      const b = encodeGre(inner, proto, 77, checksum);
      assert.ok(decodeGre(b, h), h.error ?? '');
      assert.is(h.protocol, proto);
      assert.ok(h.hasKey);
      assert.is(h.key, 77);
      assert.not.ok(h.hasSequence);
      assert.equal(Array.from(b.subarray(h.payloadOffset)), Array.from(inner));
    }
  }
});

gre('decodes the sequence number extension and a keyless header (RFC 2784 minimal)', () => {
  const h = new GreHeader();
  const withSeq = Uint8Array.of(0x30, 0, 0x08, 0x00, 0, 0, 0, 5, 0, 0, 0, 9, 0x45);
  assert.ok(decodeGre(withSeq, h));
  assert.is(h.key, 5);
  assert.is(h.sequence, 9);
  assert.is(h.payloadOffset, 12);
  assert.ok(decodeGre(Uint8Array.of(0, 0, 0x86, 0xdd, 0x60), h));
  assert.not.ok(h.hasKey);
  assert.is(h.payloadOffset, 4);
});

gre('refuses short headers, versions, flags of RFC 1701, other protocols and a wrong checksum', () => {
  const h = new GreHeader();
  const bad: Array<[number[], string]> = [
    [[0x20, 0], 'short'],
    [[0x20, 0, 0x08, 0x00, 0, 0, 0], 'short'], // K set, key cut
    [[0x80, 0, 0x08, 0x00, 0, 0], 'short'], // C set, checksum cut
    [[0x00, 0x01, 0x08, 0x00], 'version'],
    [[0x00, 0x07, 0x08, 0x00], 'version'],
    [[0x40, 0x00, 0x08, 0x00], 'flags'], // routing present
    [[0x08, 0x00, 0x08, 0x00], 'flags'], // strict source route
    [[0x04, 0x00, 0x08, 0x00], 'flags'], // recursion control
    [[0x00, 0x00, 0x88, 0xbe], 'protocol'], // ERSPAN
    [[0x00, 0x00, 0x65, 0x58], 'protocol'], // transparent Ethernet bridging
  ];
  for (const [bytes, why] of bad) {
    assert.not.ok(decodeGre(Uint8Array.from(bytes), h), why);
    assert.is(h.error, why);
  }
  const c = encodeGre(ipv4({ dst: '10.2.0.1' }), GRE_PROTO_IPV4, 1, true);
  c[c.length - 1] ^= 0x40;
  assert.not.ok(decodeGre(c, h));
  assert.is(h.error, 'checksum');
});

gre('ignores reserved bits 6-12 on receipt (RFC 2784 2.3)', () => {
  const h = new GreHeader();
  assert.ok(decodeGre(Uint8Array.of(0x23, 0xf8, 0x08, 0x00, 0, 0, 0, 1), h));
  assert.is(h.key, 1);
});

gre.run();
