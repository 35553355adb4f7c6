// 1,000,000 random and mutated packets (IPv4, IPv6, tunnel datagrams,
// authenticated tunnel datagrams with garbage inside, GRE) through the
// parser and every entry point of three gateways. Nothing may throw, every
// verdict must be well-formed, and every drop must be counted under its
// reason in the same call. Seeded, so a failure reproduces; the failing
// input is printed in hex.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRandom, type Random } from '../../common/random.js';
import { allocDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { DROP_INDEX, DROP_REASONS } from '../../router-agent/dataplane/counters.js';
import type { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import { encodeGre } from '../../router-agent/dataplane/gre.js';
import { IpPacket, parseIpPacket } from '../../router-agent/dataplane/packet.js';
import { writeTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import type { Verdict } from '../../router-agent/dataplane/verdict.js';
import { ACK, SYN, ipv4, ipv6, tcp, udp } from './build-packets.js';
import { K_AB, gateway, tableA, tableB } from './fixture.js';

const PACKETS = 1_000_000;
const SEED = 0x5eed_d47a;

const fuzz = suite('data plane fuzz');

function ipSeeds(): Uint8Array[] {
  const dsts4 = ['10.1.0.5', '10.2.0.7', '10.3.1.1', '10.4.0.1', '10.5.0.9', '10.9.0.1', '192.168.1.1', '224.0.0.1'];
  const dsts6 = ['fd00:1::5', 'fd00:2::7', '2001:db8::1', 'ff02::1'];
  const out: Uint8Array[] = [];
  for (const dst of dsts4) {
    const src = dst.startsWith('10.1') ? '10.2.0.9' : '10.1.0.10';
    out.push(udp({ src, dst }, new Uint8Array(40), 4));
    out.push(udp({ src, dst, df: true }, new Uint8Array(1450), 4));
    out.push(udp({ src, dst }, new Uint8Array(2500), 4));
    out.push(tcp({ src, dst }, { flags: SYN, options: [2, 4, 0x05, 0xb4, 1, 3, 3, 7] }));
    out.push(tcp({ src, dst }, { flags: SYN | ACK, options: [1, 2, 4, 0x05, 0xb4, 1, 1, 1] }));
    out.push(ipv4({ src, dst, protocol: 1, df: true, payload: Uint8Array.of(3, 4, 0, 0, 0, 0, 5, 0xdc, ...new Uint8Array(1500)) }));
    out.push(ipv4({ src, dst, options: [0x94, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0], payload: new Uint8Array(1800) }));
    out.push(ipv4({ src, dst, mf: true, fragOffset: 1480, payload: new Uint8Array(64) }));
  }
  for (const dst of dsts6) {
    const src = dst.startsWith('fd00:1') ? 'fd00:2::9' : 'fd00:1::10';
    out.push(udp({ src, dst }, new Uint8Array(30), 6));
    out.push(udp({ src, dst }, new Uint8Array(1500), 6));
    out.push(tcp({ src, dst }, { flags: SYN, options: [2, 4, 0x05, 0xa0] }, 6));
    out.push(ipv6({ src, dst, nextHeader: 58, payload: Uint8Array.of(128, 0, 0, 0, ...new Uint8Array(1400)) }));
    out.push(ipv6({ src, dst, nextHeader: 0, payload: new Uint8Array(16) }));
  }
  return out;
}

function mutate(r: Random, seed: Uint8Array): Uint8Array {
  let b: Uint8Array = seed.slice();
  const rounds = r.int(1, 3);
  for (let k = 0; k < rounds; k++) {
    switch (r.int(0, 5)) {
      case 0: {
        const flips = r.int(1, 8);
        for (let i = 0; i < flips && b.length > 0; i++) b[r.int(0, b.length - 1)] ^= 1 << r.int(0, 7);
        break;
      }
      case 1:
        b = b.subarray(0, r.int(0, b.length));
        break;
      case 2: {
        const more = new Uint8Array(b.length + r.int(1, 64));
        more.set(b);
        for (let i = b.length; i < more.length; i++) more[i] = r.int(0, 255);
        b = more;
        break;
      }
      case 3:
        if (b.length > 0) b[r.int(0, Math.min(b.length - 1, 60))] = r.pick([0, 1, 2, 4, 5, 0x0f, 0x40, 0x45, 0x4f, 0x60, 0x7f, 0x80, 0xff]);
        break;
      case 4: // a header field that decides offsets, set to an edge value
        if (b.length > 8) {
          const at = r.pick([0, 2, 3, 4, 5, 6, 7, 9, 20 + 12, 40 + 12]);
          if (at < b.length) b[at] = r.pick([0, 1, 0x20, 0x40, 0x50, 0xf0, 0xff]);
        }
        break;
      default: {
        const start = r.int(0, b.length);
        for (let i = start; i < Math.min(b.length, start + r.int(1, 16)); i++) b[i] = r.int(0, 255);
      }
    }
  }
  // Half the time make the IPv4 header checksum (and length) right again, so mutations reach past the parser.
  if (r.chance(0.5) && b.length >= 20 && b[0] >>> 4 === 4) {
    if (r.chance(0.5)) {
      b[2] = b.length >>> 8;
      b[3] = b.length & 0xff;
    }
    const hl = Math.min((b[0] & 15) * 4, b.length);
    b[10] = 0;
    b[11] = 0;
    let sum = 0;
    for (let i = 0; i + 1 < hl; i += 2) sum += (b[i] << 8) | b[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    b[10] = (~sum >>> 8) & 0xff;
    b[11] = ~sum & 0xff;
  }
  return b;
}

function randomBytes(r: Random, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.int(0, 255);
  return b;
}

const VERDICT_TYPES = new Set(['send', 'send-fragments', 'deliver', 'reply', 'probe', 'probe-reply', 'drop']);

class Checker {
  readonly prev = new Float64Array(DROP_REASONS.length);
  verdicts = 0;
  drops = 0;
  private readonly p = new IpPacket();

  constructor(readonly dp: DataPlane) {}

  before(): void {
    this.prev.set(this.dp.counters.drops);
  }

  after(v: Verdict, input: Uint8Array, where: string): void {
    this.verdicts++;
    const fail = (why: string) => {
      throw new Error(`${where}: ${why}; input ${Buffer.from(input).toString('hex')}`);
    };
    if (v === null || typeof v !== 'object' || !VERDICT_TYPES.has(v.type)) fail(`bad verdict ${JSON.stringify(v)}`);
    const d = this.dp.counters.drops;
    let delta = 0;
    for (let i = 0; i < d.length; i++) delta += d[i] - this.prev[i];
    if (v.type === 'drop') {
      this.drops++;
      const idx = DROP_INDEX[v.reason];
      if (idx === undefined) fail(`unknown drop reason ${v.reason}`);
      if (!(d[idx] > this.prev[idx])) fail(`drop '${v.reason}' not counted`);
    } else {
      // A packet replaced by an ICMP error (or fragments) is the only non-drop that counts one drop: 'mtu'.
      if (delta > 1 || (delta === 1 && d[DROP_INDEX.mtu] === this.prev[DROP_INDEX.mtu])) fail(`counted ${delta} drops for a ${v.type}`);
    }
    if (v.type === 'deliver' || v.type === 'reply') {
      if (!parseIpPacket(v.bytes, this.p)) fail(`${v.type} of an invalid packet (${this.p.error})`);
    }
    if (v.type === 'send' && !(v.bytes instanceof Uint8Array && v.bytes.length >= 8)) fail('send without bytes');
    if (v.type === 'send-fragments' && v.datagrams.length < 2) fail('fragments of fewer than two');
  }
}

fuzz(`${PACKETS.toLocaleString('en')} random and mutated packets: no exception, every drop counted`, () => {
  const r = createRandom(SEED);
  const a = gateway(tableA(), { icmpBurst: 1000, icmpPerSecond: 1_000_000 });
  const b = gateway(tableB());
  const bg = gateway(tableB(), { underlay: 'gre' });
  const checkA = new Checker(a);
  const checkB = new Checker(b);
  const checkG = new Checker(bg);
  const seeds = ipSeeds();
  // Genuine datagrams from A to B (data and probes): mutated, or replayed as they are.
  const sealedSeeds: Uint8Array[] = [];
  for (const s of seeds) {
    const v = a.fromAccess(s.slice(), 0);
    if (v.type === 'send') sealedSeeds.push(v.bytes);
  }
  for (let i = 0; i < 20; i++) {
    const v = a.sealProbe('B', randomBytes(r, r.int(0, 200)), i % 2 ? 'probe' : 'probe-reply', 0);
    if (v.type === 'send') sealedSeeds.push(v.bytes);
  }
  assert.ok(sealedSeeds.length > 30);
  let counter = 1n << 40n; // above anything A sealed with, so these authenticated inputs are fresh
  const parsed = new IpPacket();
  const kinds = [0, 0, 0, 0, 0, 0, 0];

  for (let n = 0; n < PACKETS; n++) {
    const now = n / 10;
    const kind = r.int(0, 99);
    let input: Uint8Array;
    if (kind < 10) {
      input = randomBytes(r, r.int(0, 1600));
      kinds[0]++;
    } else if (kind < 15) {
      input = randomBytes(r, r.int(0, 120));
      input[0] = r.pick([0x45, 0x46, 0x4f, 0x60, 0x01]);
      kinds[1]++;
    } else if (kind < 50) {
      input = mutate(r, r.pick(seeds));
      kinds[2]++;
    } else if (kind < 65) {
      input = r.chance(0.2) ? r.pick(sealedSeeds) : mutate(r, r.pick(sealedSeeds));
      kinds[3]++;
    } else if (kind < 82) {
      // Authenticated garbage: a mutated packet sealed under the real key, with random header fields.
      const inner = r.chance(0.8) ? mutate(r, r.pick(seeds)) : randomBytes(r, r.int(0, 300));
      const d = allocDatagram(inner.length);
      counter += BigInt(r.int(1, 3000)) - (r.chance(0.05) ? 5000n : 0n);
      writeTunnelHeader(d, r.pick([1, 1, 1, 2, 3]) as 1 | 2 | 3, r.pick([0, 1, 2, 16, 255]), 1, r.pick([10, 10, 20, 30, r.int(0, 0xffffff)]), 1, Number(counter >> 32n), Number(counter & 0xffffffffn));
      sealDatagram(K_AB, d, inner);
      input = d;
      kinds[4]++;
    } else {
      const inner = r.chance(0.7) ? r.pick(seeds) : mutate(r, r.pick(seeds));
      const g = encodeGre(inner, r.pick([0x0800, 0x86dd]), r.pick([10, 20, r.int(0, 0xffffffff)]), r.chance(0.3));
      input = r.chance(0.5) ? g : mutate(r, g);
      kinds[5]++;
    }
    if (r.chance(0.001)) {
      a.setPeerState(r.pick(['B', 'C', 'D']), r.chance(0.5));
      a.setTable(tableA(1 + (n % 7)));
    }

    checkB.before();
    checkB.after(b.fromUnderlay(input, now), input, 'fromUnderlay');
    checkG.before();
    checkG.after(bg.fromGre(input, '192.0.2.1', now), input, 'fromGre');
    if (parseIpPacket(input, parsed)) {
      if (parsed.totalLength > input.length || parsed.l4Offset > parsed.totalLength || parsed.headerLength < 20) {
        throw new Error(`parse accepted inconsistent offsets; input ${Buffer.from(input).toString('hex')}`);
      }
    } else if (parsed.error === null) {
      throw new Error('parse failed without a reason');
    }
    checkA.before();
    checkA.after(a.fromAccess(input, now), input, 'fromAccess');
  }

  const total = checkA.verdicts + checkB.verdicts + checkG.verdicts;
  assert.is(total, 3 * PACKETS);
  for (const [name, c] of [['A', checkA], ['B', checkB], ['B-gre', checkG]] as const) {
    const counted = c.dp.counters.dropTotal();
    assert.ok(counted >= c.drops, `${name}: ${c.drops} drop verdicts, ${counted} counted`);
  }
  // The fuzz reached deep: authenticated inputs were delivered, forwarded and refused for each reason.
  const sb = b.snapshot();
  assert.ok(sb.deliveredPackets > 1000, `B delivered ${sb.deliveredPackets}`);
  assert.ok(sb.transitPackets > 100, `B forwarded ${sb.transitPackets}`);
  for (const reason of ['auth', 'replay', 'malformed', 'unknown_peer', 'hop_limit', 'no_route'] as const) {
    assert.ok(sb.drops[reason] > 0, `B never dropped for ${reason}`);
  }
  const sa = a.snapshot();
  for (const reason of ['malformed', 'no_route', 'mtu', 'policy'] as const) assert.ok(sa.drops[reason] > 0, `A never dropped for ${reason}`);
  assert.ok(sa.icmpErrors > 0 && sa.fragmented > 0 && sa.mssClamped > 0, JSON.stringify({ icmp: sa.icmpErrors, frag: sa.fragmented, mss: sa.mssClamped }));
  assert.ok(bg.snapshot().deliveredPackets > 1000);
  assert.ok(kinds.every((k, i) => i > 5 || k > 10_000), JSON.stringify(kinds));
});

fuzz.run();
