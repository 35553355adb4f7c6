// The TUN offload codec (router-agent/io/tun/offload.c) on bytes: cutting
// the kernel's TCP super-packets into segments, finishing partial
// checksums, and coalescing segments back into super-packets the kernel can
// resegment. Checksums are checked with the from-scratch ones of
// build-packets.ts; the kernel side is in tun-port.test.ts and e2e/dataplane.
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { offloadCodec } from '../../router-agent/io/tun-port.js';
import { ACK, refChecksum, refTransportChecksum, storedTransportChecksum, tcp, udp } from '../dataplane/build-packets.js';

const codec = offloadCodec();
const PSH = 0x08;
const FIN = 0x01;
const CWR = 0x80;
const NEEDS_CSUM = 1;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;

interface Vnet {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

// The device uses host byte order; every Linux this runs on is little-endian.
function vnetBytes(v: Vnet): Buffer {
  const b = Buffer.alloc(10);
  b[0] = v.flags;
  b[1] = v.gsoType;
  b.writeUInt16LE(v.hdrLen, 2);
  b.writeUInt16LE(v.gsoSize, 4);
  b.writeUInt16LE(v.csumStart, 6);
  b.writeUInt16LE(v.csumOffset, 8);
  return b;
}

function parseVnet(b: Uint8Array): Vnet {
  const v = Buffer.from(b.buffer, b.byteOffset, 10);
  return { flags: v[0], gsoType: v[1], hdrLen: v.readUInt16LE(2), gsoSize: v.readUInt16LE(4), csumStart: v.readUInt16LE(6), csumOffset: v.readUInt16LE(8) };
}

const l4Of = (p: Uint8Array) => (p[0] >> 4 === 4 ? (p[0] & 15) * 4 : 40);
const tcpHl = (p: Uint8Array) => (p[l4Of(p) + 12] >> 4) * 4;
const seqOf = (p: Uint8Array) => Buffer.from(p).readUInt32BE(l4Of(p) + 4);
const payloadOf = (p: Uint8Array) => p.subarray(l4Of(p) + tcpHl(p));

/** A valid, complete IP packet: header checksum (IPv4), length fields, transport checksum. */
function assertValid(p: Uint8Array, what: string): void {
  const v4 = p[0] >> 4 === 4;
  if (v4) {
    assert.is(refChecksum(p.subarray(0, l4Of(p))), 0, `${what}: IPv4 header checksum`);
    assert.is(Buffer.from(p).readUInt16BE(2), p.length, `${what}: IPv4 total length`);
  } else {
    assert.is(Buffer.from(p).readUInt16BE(4), p.length - 40, `${what}: IPv6 payload length`);
  }
  const at = (v4 ? p[9] : p[6]) === 6 ? 16 : 6;
  const want = refTransportChecksum(p, at);
  assert.is(storedTransportChecksum(p, at), at === 6 ? want || 0xffff : want, `${what}: transport checksum`);
}

interface Flow {
  family: 4 | 6;
  src?: string;
  dst?: string;
  sport?: number;
  ttl?: number;
  ack?: number;
  options?: number[];
  ipOptions?: number[];
}

function ipOf(f: Flow, id: number) {
  return f.family === 4
    ? { src: f.src ?? '10.1.0.10', dst: f.dst ?? '10.2.0.10', id, df: true, ttl: f.ttl ?? 64, options: f.ipOptions }
    : { src: f.src ?? 'fd00:1::10', dst: f.dst ?? 'fd00:2::10', hopLimit: f.ttl ?? 64 };
}

/** One segment of a flow. */
function segment(f: Flow, seq: number, payload: Uint8Array, flags = ACK, id = 7): Uint8Array {
  return tcp(ipOf(f, id), { sport: f.sport ?? 40000, dport: 5001, seq, ackNo: f.ack ?? 77, flags, options: f.options, payload }, f.family);
}

/**
 * What the kernel hands over with TSO: one packet holding the whole payload,
 * its TCP checksum field holding only the pseudo-header sum, and hdr_len the
 * whole linear buffer (which the forwarding path reports and must not be trusted).
 */
function superRead(f: Flow, seq: number, payload: Uint8Array, mss: number, flags = ACK | PSH): Buffer {
  const p = Buffer.from(segment(f, seq, payload, flags, 100));
  const l4 = l4Of(p);
  p.writeUInt16BE(pseudoSum(p, 6), l4 + 16);
  const v = vnetBytes({ flags: NEEDS_CSUM, gsoType: f.family === 4 ? GSO_TCPV4 : GSO_TCPV6, hdrLen: p.length, gsoSize: mss, csumStart: l4, csumOffset: 16 });
  return Buffer.concat([v, p]);
}

/** The folded pseudo-header sum, which CHECKSUM_PARTIAL leaves in the checksum field. */
function pseudoSum(p: Uint8Array, protocol: number): number {
  const len = p.length - l4Of(p);
  const words = p[0] >> 4 === 4 ? [...p.subarray(12, 20), 0, protocol, len >> 8, len & 255] : [...p.subarray(8, 40), 0, 0, len >> 8, len & 255, 0, 0, 0, protocol];
  return ~refChecksum(words) & 0xffff;
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

const TIMESTAMPS = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; // NOP NOP TS(1, 2)

// --- reads ------------------------------------------------------------------

const reads = suite('TUN offload: reads');

for (const family of [4, 6] as const) {
  reads(`an IPv${family} TSO super-packet is cut into MSS-sized segments with valid headers`, () => {
    const f: Flow = { family, options: TIMESTAMPS };
    const data = bytes(5000, family);
    const segs = codec.splitRead(superRead(f, 0xfffff000, data, 1400, ACK | PSH | FIN | CWR));
    assert.equal(segs.map((s) => payloadOf(s).length), [1400, 1400, 1400, 800]);
    assert.equal(Buffer.concat(segs.map(payloadOf)), Buffer.from(data));
    segs.forEach((s, i) => {
      assertValid(s, `segment ${i}`);
      assert.is(seqOf(s), (0xfffff000 + i * 1400) >>> 0, 'sequence numbers follow the payload (and wrap)');
      const flags = s[l4Of(s) + 13];
      assert.is(flags & (PSH | FIN), i === 3 ? PSH | FIN : 0, 'PSH and FIN only on the last segment');
      assert.is(flags & CWR, i === 0 ? CWR : 0, 'CWR only on the first');
      assert.equal([...s.subarray(l4Of(s) + 20, l4Of(s) + 32)], TIMESTAMPS, 'options copied');
      if (family === 4) assert.is(Buffer.from(s).readUInt16BE(4), 100 + i, 'IPv4 IDs count up');
    });
  });
}

reads('a partial checksum without segmentation is finished; a plain read passes unchanged', () => {
  const u = Buffer.from(udp({ dst: '10.2.0.10' }, bytes(333, 1)));
  const partial = Buffer.from(u);
  partial.writeUInt16BE(pseudoSum(u, 17), 26);
  const [done] = codec.splitRead(Buffer.concat([vnetBytes({ flags: NEEDS_CSUM, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 }), partial]));
  assert.equal(done, u, 'the finished packet is the original');
  assertValid(done, 'udp');

  const plain = segment({ family: 6 }, 5, bytes(100, 2));
  assert.equal(codec.splitRead(Buffer.concat([Buffer.alloc(10), plain])), [Buffer.from(plain)]);
});

reads('a super-packet no longer than one MSS is passed on whole, checksum finished', () => {
  const [one] = codec.splitRead(superRead({ family: 4 }, 1, bytes(900, 3), 1400));
  assert.is(payloadOf(one).length, 900);
  assertValid(one, 'single');
});

reads('malformed reads are refused, never read past the buffer', () => {
  const good = superRead({ family: 4 }, 1, bytes(3000, 4), 1000);
  const bad = (mutate: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    mutate(b);
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ['shorter than the virtio header', good.subarray(0, 9)],
    ['checksum offset past the end', bad((b) => b.writeUInt16LE(4000, 6))],
    ['UDP segmentation (never enabled)', bad((b) => (b[1] = 5))],
    ['TCP GSO without the checksum at offset 16', bad((b) => b.writeUInt16LE(6, 8))],
    ['TCPv6 GSO on an IPv4 packet', bad((b) => (b[1] = GSO_TCPV6))],
    ['gso_size 0', bad((b) => b.writeUInt16LE(0, 4))],
    ['TCP GSO without NEEDS_CSUM', bad((b) => (b[0] = 0))],
    ['a TCP header longer than the packet', Buffer.concat([good.subarray(0, 10), bad((b) => (b[10 + 20 + 12] = 0xf0)).subarray(10, 10 + 40 + 10)])],
  ];
  for (const [what, b] of cases) assert.throws(() => codec.splitRead(b), /malformed/, what);
  assert.throws(() => codec.splitRead('x' as unknown as Uint8Array), /Uint8Array/);
});

// --- writes -----------------------------------------------------------------

const writes = suite('TUN offload: coalesced writes');

/** The packets a write stands for, as the kernel would resegment it. */
function resegment(w: Buffer): Buffer[] {
  return codec.splitRead(w);
}

/** Writes as lists of the input packets' indexes, found by splitting each write back. */
function groups(packets: Uint8Array[]): number[][] {
  const out = codec.coalesceWrites(packets);
  return out.map((w) =>
    resegment(w).map((p) => {
      const i = packets.findIndex((q) => Buffer.from(q).equals(p));
      assert.ok(i >= 0, `a resegmented packet is one of the inputs: ${p.toString('hex').slice(0, 80)}`);
      return i;
    }),
  );
}

/** n consecutive segments of `size` bytes of a flow, IPv4 IDs counting up as a sender's do. */
function run(f: Flow, seq: number, sizes: number[], firstId = 1): Uint8Array[] {
  let s = seq;
  return sizes.map((n, i) => {
    const p = segment(f, s, bytes(n, i), ACK, firstId + i);
    s += n;
    return p;
  });
}

writes('consecutive segments of one flow become one super-packet the kernel can resegment', () => {
  for (const family of [4, 6] as const) {
    const segs = run({ family, options: TIMESTAMPS }, 1000, [1200, 1200, 1200, 700]);
    const out = codec.coalesceWrites(segs);
    assert.is(out.length, 1);
    const v = parseVnet(out[0]);
    assert.equal(v, { flags: NEEDS_CSUM, gsoType: family === 4 ? GSO_TCPV4 : GSO_TCPV6, hdrLen: l4Of(segs[0]) + 32, gsoSize: 1200, csumStart: l4Of(segs[0]), csumOffset: 16 });
    assert.equal(resegment(out[0]), segs.map((s) => Buffer.from(s)));
  }
});

writes('each connection stays in order; only what the kernel can resegment is merged', () => {
  const A: Flow = { family: 4 };
  const B: Flow = { family: 4, sport: 40001 };
  const [a1, a2, a3] = run(A, 1, [1000, 1000, 1000]);
  const [b1, b2] = run(B, 9, [1000, 1000]);
  assert.equal(groups([a1, b1, a2, b2, a3]), [[0, 2, 4], [1, 3]], 'interleaved flows: one write each, in order of their first packet');

  const pureAck = segment(A, 2001, new Uint8Array(0), ACK);
  assert.equal(groups([a1, a2, pureAck, a3]), [[0, 1], [2], [3]], 'a packet of the flow that cannot merge closes its group');
  assert.equal(groups([a1, a3]), [[0], [1]], 'a gap in the sequence');
  assert.equal(groups([a2, a1]), [[0], [1]], 'out of order');

  const corrupt = Uint8Array.from(a2);
  corrupt[corrupt.length - 1] ^= 0xff;
  assert.equal(codec.coalesceWrites([a1, corrupt, a3]).length, 3, 'a bad checksum is written alone, for the kernel to drop');

  const [p1, p2, p3] = run(A, 1, [1000, 1000, 1000]);
  const withPsh = (p: Uint8Array) => segment(A, seqOf(p), payloadOf(p), ACK | PSH, Buffer.from(p).readUInt16BE(4));
  assert.equal(groups([withPsh(p1), p2]), [[0], [1]], 'nothing follows PSH');
  assert.equal(groups([p1, withPsh(p2), p3]).map((g) => g.length), [2, 1], 'PSH ends a super-packet');

  const [s1, s2, s3] = run(A, 1, [1000, 500, 1000]);
  assert.equal(groups([s1, s2, s3]), [[0, 1], [2]], 'a short segment ends a super-packet');
  assert.equal(groups([segment(A, 1, bytes(500, 0)), segment(A, 501, bytes(1000, 1), ACK, 8)]), [[0], [1]], 'nothing larger after a smaller one');

  const [t1] = run({ ...A, ttl: 63 }, 1001, [1000], 2);
  assert.equal(groups([a1, t1]), [[0], [1]], 'a different TTL');
  const [k1] = run({ ...A, ack: 78 }, 1001, [1000], 2);
  assert.equal(groups([a1, k1]), [[0], [1]], 'a different ACK number');
  const [o1, o2] = run({ ...A, options: TIMESTAMPS }, 1, [1000, 1000]);
  const otherTs = segment({ ...A, options: [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2] }, 1001, bytes(1000, 1), ACK, 2);
  assert.equal(groups([o1, o2]), [[0, 1]]);
  assert.equal(groups([o1, otherTs]), [[0], [1]], 'different TCP options');

  const u = udp({ dst: '10.2.0.10' }, bytes(100, 9));
  assert.equal(groups([a1, u, a2]), [[0, 2], [1]], 'other protocols do not split a flow');
  const [i1, i2] = run(A, 1, [1000, 1000], 50);
  const sameId = segment(A, 1001, payloadOf(i2), ACK, 50);
  assert.equal(groups([i1, i2]), [[0, 1]]);
  assert.equal(groups([i1, sameId]), [[0], [1]], 'IPv4 IDs that do not count up (the kernel would resegment with new ones)');
  const badHeader = Uint8Array.from(i2);
  badHeader[10] ^= 0xff;
  assert.is(codec.coalesceWrites([i1, badHeader]).length, 2, 'a bad IPv4 header checksum is written alone, for the kernel to drop');
  const rr = [7, 7, 4, 0, 0, 0, 0, 0]; // record route, room for one address
  assert.equal(groups(run({ ...A, ipOptions: rr }, 1, [1000, 1000])), [[0], [1]], 'IPv4 options');
});

writes('anything that is not a TCP segment is written unchanged behind an empty virtio header', () => {
  const junk = [new Uint8Array([0x45, 1, 2]), udp({ dst: '10.2.0.10' }, bytes(10, 1)), segment({ family: 6 }, 1, new Uint8Array(0), 0x02)];
  const out = codec.coalesceWrites(junk);
  assert.equal(out, junk.map((p) => Buffer.concat([Buffer.alloc(10), p])));
  assert.throws(() => codec.coalesceWrites([new Uint8Array(0)]), /non-empty/);
  assert.throws(() => codec.coalesceWrites(new Array(257).fill(junk[0])), /at most 256/);
});

writes('property: any super-packet cut and coalesced again gives back the same segments', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(4 as const, 6 as const),
      fc.integer({ min: 500, max: 1460 }),
      fc.integer({ min: 1, max: 60_000 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 0xffffffff }),
      (family, mss, length, ts, seq) => {
        const f: Flow = { family, options: ts ? TIMESTAMPS : undefined };
        const segs = codec.splitRead(superRead(f, seq, bytes(length, mss), mss));
        for (const s of segs) assertValid(s, 'segment');
        const out = codec.coalesceWrites(segs);
        assert.equal(out.flatMap(resegment), segs, 'the round trip is exact');
        for (const w of out) assert.ok(resegment(w).length <= 64, 'at most 64 packets a write');
        if (segs.length > 1) assert.ok(out.length < segs.length, 'something was coalesced');
        assert.equal(Buffer.concat(segs.map(payloadOf)), Buffer.from(bytes(length, mss)));
      },
    ),
    { numRuns: 150 },
  );
});

const fuzz = suite('TUN offload: bad bytes');

fuzz('random and mutated reads: packets or a clear refusal, never a crash or a read past the end', () => {
  const base = [superRead({ family: 4 }, 1, bytes(4000, 1), 1000), superRead({ family: 6, options: TIMESTAMPS }, 9, bytes(3000, 2), 1200)];
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 6 }), fc.nat()).map(([b, flips, cut]) => {
      const m = Buffer.from(b);
      for (const [at, v] of flips) m[at % m.length] = v;
      return m.subarray(0, Math.max(0, m.length - (cut % 64)));
    })), (read) => {
      try {
        for (const p of codec.splitRead(read)) assert.ok(p.length > 0 && p.length <= read.length);
      } catch (err) {
        assert.match(String(err), /malformed/);
      }
    }),
    { numRuns: 3000 },
  );
});

fuzz('random and mutated packets to write: every packet is written exactly once, in per-flow order', () => {
  const flow = run({ family: 4 }, 1, [1000, 1000, 1000, 600]);
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 120 }), fc.constantFrom(...flow), fc.tuple(fc.constantFrom(...flow), fc.nat(), fc.nat({ max: 255 })).map(([p, at, v]) => {
        const m = Uint8Array.from(p);
        m[at % m.length] = v;
        return m;
      })), { minLength: 1, maxLength: 40 }),
      (packets) => {
        const out = codec.coalesceWrites(packets);
        // A write without segmentation carries one input packet unchanged;
        // a super-packet stands for its resegmented packets, which are inputs.
        const covered: Buffer[] = out.flatMap((w) => (parseVnet(w).gsoType === 0 ? [w.subarray(10)] : resegment(w)));
        assert.is(covered.length, packets.length, 'every packet once');
        const multiset = (xs: Uint8Array[]) => xs.map((x) => Buffer.from(x).toString('hex')).sort();
        assert.equal(multiset(covered), multiset(packets));
      },
    ),
    { numRuns: 1500 },
  );
});

reads.run();
writes.run();
fuzz.run();
