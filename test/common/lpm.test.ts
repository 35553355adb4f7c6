import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import v8 from 'node:v8';
import vm from 'node:vm';
import { SwitchbackError } from '../../common/errors.js';
import { LpmTable } from '../../common/lpm.js';
import { type Cidr, type IpFamily, cidrFromBytes, parseIp, parsePrefix, prefixContains } from '../../common/prefix.js';

const lpm = suite('LpmTable');

const ip4 = (text: string) => new DataView(parseIp(text).bytes.buffer).getUint32(0);
const ip6 = (text: string) => parseIp(text).bytes;

lpm('IPv4: the most specific prefix wins, /0 catches the rest', () => {
  const t = new LpmTable<string>();
  t.insert(1, '0.0.0.0/0', 'default');
  t.insert(1, '10.0.0.0/8', 'ten');
  t.insert(1, '10.1.0.0/16', 'ten-one');
  t.insert(1, '10.1.2.0/24', 'ten-one-two');
  t.insert(1, '10.1.2.3/32', 'host');
  assert.is(t.lookup4(1, ip4('10.1.2.3')), 'host');
  assert.is(t.lookup4(1, ip4('10.1.2.4')), 'ten-one-two');
  assert.is(t.lookup4(1, ip4('10.1.3.0')), 'ten-one');
  assert.is(t.lookup4(1, ip4('10.200.0.1')), 'ten');
  assert.is(t.lookup4(1, ip4('11.0.0.0')), 'default');
  assert.is(t.lookup4(1, ip4('255.255.255.255')), 'default');
  assert.is(t.size, 5);
});

lpm('IPv4: no match without a covering prefix; signed and unsigned addresses agree', () => {
  const t = new LpmTable<string>();
  t.insert(0, '192.168.0.0/16', 'lan');
  t.insert(0, '128.0.0.0/1', 'upper-half');
  assert.is(t.lookup4(0, ip4('10.0.0.1')), undefined);
  assert.is(t.lookup4(0, ip4('192.168.7.7')), 'lan');
  assert.is(t.lookup4(0, ip4('192.168.7.7') | 0), 'lan', 'as read by readInt32BE');
  assert.is(t.lookup4(0, ip4('200.0.0.1')), 'upper-half');
  assert.is(t.lookup4(0, ip4('127.255.255.255')), undefined);
});

lpm('IPv6: the most specific prefix wins, /0 catches the rest', () => {
  const t = new LpmTable<string>();
  t.insert(7, '::/0', 'default');
  t.insert(7, '2001:db8::/32', 'doc');
  t.insert(7, '2001:db8:1::/48', 'site');
  t.insert(7, '2001:db8:1:2::/64', 'lan');
  t.insert(7, '2001:db8:1:2::1/128', 'host');
  t.insert(7, '2001:db8:1:2:8000::/65', 'upper-lan');
  assert.is(t.lookup6(7, ip6('2001:db8:1:2::1')), 'host');
  assert.is(t.lookup6(7, ip6('2001:db8:1:2::2')), 'lan');
  assert.is(t.lookup6(7, ip6('2001:db8:1:2:8000::2')), 'upper-lan');
  assert.is(t.lookup6(7, ip6('2001:db8:1:3::')), 'site');
  assert.is(t.lookup6(7, ip6('2001:db8:ffff::')), 'doc');
  assert.is(t.lookup6(7, ip6('2001:db9::')), 'default');
  assert.is(t.lookup6(7, ip6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')), 'default');
  assert.is(t.lookup6(8, ip6('2001:db8::')), undefined);
});

lpm('IPv6: reads the address at an offset in a packet buffer; refuses short buffers', () => {
  const t = new LpmTable<string>();
  t.insert(1, '2001:db8::/32', 'doc');
  t.insert(1, '10.0.0.0/8', 'ten');
  const packet = new Uint8Array(64).fill(0xee);
  packet.set(ip6('2001:db8::9'), 24); // an IPv6 header's destination sits at byte 24
  assert.is(t.lookup6(1, packet, 24), 'doc');
  assert.is(t.lookup6(1, packet, 0), undefined);
  assert.is(t.lookup(1, packet, 24, 6), 'doc');
  assert.is(t.lookup6(1, packet, 49), undefined, 'only 15 bytes left');
  assert.is(t.lookup6(1, packet, -1), undefined);
  assert.is(t.lookup6(1, packet, 24.5), undefined);
  const v4 = new Uint8Array(20);
  v4.set([10, 9, 8, 7], 16); // an IPv4 header's destination sits at byte 16
  assert.is(t.lookup(1, v4, 16, 4), 'ten');
  assert.is(t.lookup(1, v4, 17, 4), undefined, 'only 3 bytes left');
  assert.is(t.lookup(1, v4, 16, 5 as IpFamily), undefined, 'no such family');
});

lpm('keeps VRFs apart', () => {
  const t = new LpmTable<string>();
  t.insert(1, '192.168.1.0/24', 'office-a');
  t.insert(2, '192.168.1.0/24', 'office-b');
  t.insert(0xffffff, '0.0.0.0/0', 'max-vrf');
  t.insert(2, '2001:db8::/32', 'b6');
  assert.is(t.size, 4);
  assert.is(t.lookup4(1, ip4('192.168.1.5')), 'office-a');
  assert.is(t.lookup4(2, ip4('192.168.1.5')), 'office-b');
  assert.is(t.lookup4(3, ip4('192.168.1.5')), undefined);
  assert.is(t.lookup4(0xffffff, ip4('192.168.1.5')), 'max-vrf');
  assert.is(t.lookup6(1, ip6('2001:db8::1')), undefined);
  assert.is(t.lookup6(2, ip6('2001:db8::1')), 'b6');
  assert.ok(t.delete(1, '192.168.1.0/24'));
  assert.is(t.lookup4(1, ip4('192.168.1.5')), undefined);
  assert.is(t.lookup4(2, ip4('192.168.1.5')), 'office-b');
});

lpm('IPv4 and IPv6 are kept apart: 0.0.0.0/0 does not match IPv6', () => {
  const t = new LpmTable<string>();
  t.insert(1, '0.0.0.0/0', 'v4');
  assert.is(t.lookup6(1, new Uint8Array(16)), undefined);
  t.insert(1, '::/0', 'v6');
  assert.is(t.lookup6(1, new Uint8Array(16)), 'v6');
  assert.is(t.lookup4(1, 0), 'v4');
  assert.is(t.size, 2);
});

lpm('delete: the less specific prefix matches again; absent keys give false', () => {
  const t = new LpmTable<string>();
  t.insert(1, '10.0.0.0/8', 'ten');
  t.insert(1, '10.1.0.0/16', 'ten-one');
  t.insert(1, '10.1.128.0/17', 'deep');
  assert.is(t.lookup4(1, ip4('10.1.200.1')), 'deep');
  assert.ok(t.delete(1, '10.1.128.0/17'));
  assert.is(t.lookup4(1, ip4('10.1.200.1')), 'ten-one');
  assert.ok(t.delete(1, parsePrefix('10.1.0.0/16')));
  assert.is(t.lookup4(1, ip4('10.1.200.1')), 'ten');
  assert.not.ok(t.delete(1, '10.1.0.0/16'), 'already gone');
  assert.not.ok(t.delete(1, '10.0.0.0/9'), 'never there');
  assert.not.ok(t.delete(2, '10.0.0.0/8'), 'other VRF');
  assert.not.ok(t.delete(1, '0.0.0.0/0'), 'the root holds no value');
  assert.is(t.size, 1);
  assert.ok(t.delete(1, '10.0.0.0/8'));
  assert.is(t.size, 0);
  assert.is(t.nodeCount, 0, 'every node released');
  assert.is(t.lookup4(1, ip4('10.1.200.1')), undefined);
  assert.equal([...t.entries()], []);
  t.insert(1, '10.0.0.0/8', 'again');
  assert.is(t.lookup4(1, ip4('10.1.200.1')), 'again');
});

lpm('delete of a prefix with children keeps the children reachable', () => {
  const t = new LpmTable<string>();
  for (const p of ['2001:db8::/32', '2001:db8::/48', '2001:db8:1::/48', '2001:db8:8000::/33']) t.insert(1, p, p);
  assert.ok(t.delete(1, '2001:db8::/32'));
  assert.is(t.lookup6(1, ip6('2001:db8::1')), '2001:db8::/48');
  assert.is(t.lookup6(1, ip6('2001:db8:1::1')), '2001:db8:1::/48');
  assert.is(t.lookup6(1, ip6('2001:db8:8000::1')), '2001:db8:8000::/33');
  assert.is(t.lookup6(1, ip6('2001:db8:2::1')), undefined);
  assert.is(t.get(1, '2001:db8::/32'), undefined);
  assert.is(t.size, 3);
});

lpm('insert on an equal key replaces the value', () => {
  const t = new LpmTable<number>();
  t.insert(1, '10.0.0.0/8', 1);
  t.insert(1, parsePrefix('10.0.0.0/8'), 2);
  assert.is(t.size, 1);
  assert.is(t.get(1, '10.0.0.0/8'), 2);
  assert.is(t.lookup4(1, ip4('10.0.0.1')), 2);
});

lpm('get is exact, not longest match', () => {
  const t = new LpmTable<string>();
  t.insert(1, '10.0.0.0/8', 'ten');
  t.insert(1, '2001:db8::/32', 'doc');
  assert.is(t.get(1, '10.0.0.0/8'), 'ten');
  assert.is(t.get(1, '10.0.0.0/16'), undefined);
  assert.is(t.get(1, '0.0.0.0/0'), undefined);
  assert.is(t.get(2, '10.0.0.0/8'), undefined);
  assert.is(t.get(1, '2001:db8::/32'), 'doc');
  assert.is(t.get(1, '2001:db8::/31'), undefined);
});

lpm('entries: IPv4 then IPv6, VRFs ascending, prefixes in address order', () => {
  const t = new LpmTable<number>();
  t.insert(2, '10.0.0.0/8', 1);
  t.insert(1, '2001:db8::/32', 2);
  t.insert(1, '10.128.0.0/9', 3);
  t.insert(1, '10.0.0.0/8', 4);
  t.insert(1, '0.0.0.0/0', 5);
  const list = [...t].map((e) => `${e.vrf} ${e.cidr.text} ${e.value}`);
  assert.equal(list, ['1 0.0.0.0/0 5', '1 10.0.0.0/8 4', '1 10.128.0.0/9 3', '2 10.0.0.0/8 1', '1 2001:db8::/32 2']);
  const first = t.entries().next().value as { cidr: Cidr };
  assert.equal(first.cidr, parsePrefix('0.0.0.0/0'));
});

lpm('refuses a bad VRF or prefix with a clear error', () => {
  const t = new LpmTable<string>();
  const refuses = (fn: () => unknown, field: string, fragment: string) =>
    assert.throws(fn, (e: unknown) => SwitchbackError.is(e, 'INVALID_ARGUMENT') && e.field === field && e.message.includes(fragment));
  refuses(() => t.insert(-1, '10.0.0.0/8', 'x'), 'vrf', 'must be an integer 0-16777215');
  refuses(() => t.insert(0x1000000, '10.0.0.0/8', 'x'), 'vrf', '24 bits');
  refuses(() => t.insert(1.5, '10.0.0.0/8', 'x'), 'vrf', 'got 1.5');
  refuses(() => t.insert(1, '10.0.0.0/33', 'x'), 'prefix', 'out of range');
  refuses(() => t.get(1, 'garbage'), 'prefix', 'not an IPv4 or IPv6 address');
  refuses(() => t.delete(1, '10.0.0.1/8'), 'prefix', "did you mean '10.0.0.0/8'?");
  const forged = { family: 4, bytes: Uint8Array.from([10, 0, 0, 1]), length: 8, text: '10.0.0.1/8' } as Cidr;
  refuses(() => t.insert(1, forged, 'x'), 'prefix', 'host bits');
  const wrongWidth = { family: 6, bytes: new Uint8Array(4), length: 8, text: '' } as Cidr;
  refuses(() => t.insert(1, wrongWidth, 'x'), 'prefix', 'Cidr from parsePrefix');
  assert.is(t.size, 0);
  assert.is(t.lookup4(-1, 0), undefined);
});

lpm('grows past its first allocation and reuses freed nodes', () => {
  const t = new LpmTable<number>();
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 1000; i++) t.insert(round, `10.${i >> 8}.${i & 255}.0/24`, i);
    for (let i = 0; i < 1000; i += 2) assert.ok(t.delete(round, `10.${i >> 8}.${i & 255}.0/24`));
  }
  assert.is(t.size, 1500);
  assert.is(t.lookup4(2, ip4('10.3.231.9')), 999);
  assert.is(t.lookup4(2, ip4('10.3.230.9')), undefined);
});

lpm('keeps every prefix while its storage grows', () => {
  // Nested chains: each insert attaches one node below the last, so every
  // growth of the node storage happens in the middle of an insert.
  const t = new LpmTable<string>();
  const ones = new Uint8Array(16).fill(0xff);
  for (let vrf = 0; vrf < 5; vrf++) {
    for (let len = 1; len <= 32; len++) t.insert(vrf, cidrFromBytes(4, masked(ones.subarray(0, 4), len), len), `${vrf}/${len}`);
    for (let len = 1; len <= 128; len++) t.insert(vrf, cidrFromBytes(6, masked(ones, len), len), `${vrf}/${len}`);
  }
  assert.is(t.size, 5 * (32 + 128));
  for (let vrf = 0; vrf < 5; vrf++) {
    for (let len = 1; len <= 32; len++) assert.is(t.get(vrf, cidrFromBytes(4, masked(ones.subarray(0, 4), len), len)), `${vrf}/${len}`);
    for (let len = 1; len <= 128; len++) assert.is(t.get(vrf, cidrFromBytes(6, masked(ones, len), len)), `${vrf}/${len}`);
    assert.is(t.lookup4(vrf, -1), `${vrf}/32`);
    assert.is(t.lookup4(vrf, 0xfffffffe), `${vrf}/31`);
    assert.is(t.lookup6(vrf, ones), `${vrf}/128`);
  }
});

// --- randomized cross-check against a linear scan --------------------------

type Ref = { vrf: number; cidr: Cidr; value: number };

function reference(entries: Ref[], vrf: number, family: IpFamily, addr: Uint8Array): number | undefined {
  let best: Ref | undefined;
  for (const e of entries) {
    if (e.vrf !== vrf || e.cidr.family !== family || !prefixContains(e.cidr, addr)) continue;
    if (!best || e.cidr.length > best.cidr.length) best = e;
  }
  return best?.value;
}

/** Addresses clustered around a few bases, so random prefixes nest and collide. */
function clustered(width: 4 | 16): fc.Arbitrary<Uint8Array> {
  const bases = [new Uint8Array(width), new Uint8Array(width).fill(0xff), Uint8Array.from({ length: width }, (_, i) => (i * 37 + 10) & 0xff)];
  return fc
    .tuple(fc.constantFrom(...bases), fc.uint8Array({ minLength: width, maxLength: width }), fc.integer({ min: 0, max: width * 8 }))
    .map(([base, noise, keep]) => {
      const out = Uint8Array.from(base);
      for (let bit = keep; bit < width * 8; bit++) {
        const m = 0x80 >> (bit & 7);
        out[bit >> 3] = (out[bit >> 3] & ~m) | (noise[bit >> 3] & m);
      }
      return out;
    });
}

function masked(addr: Uint8Array, length: number): Uint8Array {
  return addr.map((b, i) => b & ((0xff << (8 - Math.max(0, Math.min(8, length - 8 * i)))) & 0xff));
}

function crossCheck(family: IpFamily) {
  const width = family === 4 ? 4 : 16;
  const maxLen = width * 8;
  // Deletes mostly pick a present entry (random keys are rarely present), some a random key.
  const op = fc.record({
    kind: fc.constantFrom('insert', 'insert', 'delete-present', 'delete-random'),
    pick: fc.nat(),
    vrf: fc.integer({ min: 0, max: 2 }),
    addr: clustered(width),
    length: fc.integer({ min: 0, max: maxLen }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(clustered(width), { maxLength: 30 }), (ops, probes) => {
      const t = new LpmTable<number>();
      const ref: Ref[] = [];
      ops.forEach((o, i) => {
        const present = o.kind === 'delete-present' && ref.length > 0 ? ref[o.pick % ref.length] : undefined;
        const vrf = present?.vrf ?? o.vrf;
        const cidr = present?.cidr ?? cidrFromBytes(family, masked(o.addr, o.length), o.length);
        const at = ref.findIndex((e) => e.vrf === vrf && e.cidr.text === cidr.text);
        if (o.kind !== 'insert') {
          assert.is(t.delete(vrf, cidr), at >= 0);
          if (at >= 0) ref.splice(at, 1);
        } else {
          t.insert(vrf, cidr.text, i);
          if (at >= 0) ref[at] = { vrf, cidr, value: i };
          else ref.push({ vrf, cidr, value: i });
        }
      });
      assert.is(t.size, ref.length);
      assert.ok(t.nodeCount <= 2 * t.size + 3, `${t.nodeCount} nodes for ${t.size} entries: deletes must prune`);
      for (const e of ref) assert.is(t.get(e.vrf, e.cidr), e.value);
      const key = (e: { vrf: number; cidr: Cidr; value: number }) => `${e.vrf} ${e.cidr.text} ${e.value}`;
      assert.equal([...t.entries()].map(key).sort(), ref.map(key).sort());

      // Probe every network address, every last address and random ones, in a buffer at an offset.
      const hostBits = (c: Cidr) => masked(new Uint8Array(width).fill(0xff), c.length).map((b) => ~b & 0xff);
      const lastAddress = (c: Cidr) => c.bytes.map((b, i) => b | hostBits(c)[i]);
      const addrs = [...probes, ...ref.map((e) => e.cidr.bytes), ...ref.map((e) => lastAddress(e.cidr))];
      const buf = new Uint8Array(width + 3);
      for (const a of addrs) {
        buf.set(a, 3);
        for (let vrf = 0; vrf <= 2; vrf++) {
          const want = reference(ref, vrf, family, a);
          if (family === 4) assert.is(t.lookup4(vrf, new DataView(a.buffer, a.byteOffset).getUint32(0)), want);
          else assert.is(t.lookup6(vrf, buf, 3), want);
          assert.is(t.lookup(vrf, buf, 3, family), want);
        }
      }
    }),
    { seed: 0x5b1d, numRuns: 300 },
  );
}

lpm('matches a linear scan on random IPv4 tables (seeded)', () => crossCheck(4));
lpm('matches a linear scan on random IPv6 tables (seeded)', () => crossCheck(6));

/** A reference for larger tables: one Map per prefix length, longest first. */
class MapPerLength {
  private readonly maps = Array.from({ length: 129 }, () => new Map<string, number>());
  private key = (vrf: number, bytes: Uint8Array, length: number) => `${vrf}/${masked(bytes, length).join('.')}`;
  set(vrf: number, c: Cidr, value: number) {
    this.maps[c.length].set(this.key(vrf, c.bytes, c.length), value);
  }
  delete(vrf: number, c: Cidr) {
    this.maps[c.length].delete(this.key(vrf, c.bytes, c.length));
  }
  lookup(vrf: number, addr: Uint8Array): number | undefined {
    for (let len = addr.length * 8; len >= 0; len--) {
      const v = this.maps[len].get(this.key(vrf, addr, len));
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

function bigCheck(family: IpFamily) {
  // Thousands of entries per VRF: large directories, resized up on the way in
  // and down again as most entries are deleted.
  const width = family === 4 ? 4 : 16;
  let seed: number = family;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) | 0) >>> 24;
  const randomAddr = () => {
    const a = Uint8Array.from({ length: width }, next);
    if (next() & 1) a[0] = 10; // a dense cluster as well as spread-out prefixes
    return a;
  };
  const t = new LpmTable<number>();
  const ref = new MapPerLength();
  const live: { vrf: number; cidr: Cidr }[] = [];
  const compare = (note: string) => {
    for (let i = 0; i < 3000; i++) {
      const vrf = next() & 1;
      const a = i < live.length ? live[i].cidr.bytes : randomAddr();
      assert.is(t.lookup(vrf, a, 0, family), ref.lookup(vrf, a), `${note}: vrf ${vrf} ${a.join('.')}`);
    }
  };
  for (let i = 0; i < 12_000; i++) {
    const len = (next() % (width * 8 - 3)) + 4;
    const cidr = cidrFromBytes(family, masked(randomAddr(), len), len);
    const vrf = next() & 1;
    t.insert(vrf, cidr, i);
    ref.set(vrf, cidr, i);
    live.push({ vrf, cidr });
    if (i === 5) compare('tiny');
  }
  t.insert(0, family === 4 ? '0.0.0.0/0' : '::/0', -1);
  ref.set(0, parsePrefix(family === 4 ? '0.0.0.0/0' : '::/0'), -1);
  compare('full');
  for (let i = live.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [live[i], live[j]] = [live[j], live[i]];
  }
  while (live.length > 50) {
    const { vrf, cidr } = live.pop()!;
    t.delete(vrf, cidr);
    ref.delete(vrf, cidr);
    if (live.length === 6000) compare('half deleted');
  }
  compare('mostly deleted');
}

lpm('matches a Map-per-length reference on large IPv4 tables with deletes (seeded)', () => bigCheck(4));
lpm('matches a Map-per-length reference on large IPv6 tables with deletes (seeded)', () => bigCheck(6));

// --- allocation ------------------------------------------------------------

lpm('lookups do not allocate once warm (measured against an allocating control)', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!;

  const t = new LpmTable<number>();
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) | 0);
  for (let i = 0; i < 3000; i++) {
    const len = 8 + (i % 25);
    const a = next() & (0xffffffff << (32 - len));
    t.insert(i & 1, cidrFromBytes(4, Uint8Array.of(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255), len), i);
    const b = Uint8Array.from({ length: 16 }, () => next() & 0xff);
    t.insert(i & 1, cidrFromBytes(6, masked(b, 16 + (i % 49)), 16 + (i % 49)), i);
  }
  const packets = Uint8Array.from({ length: 4096 }, () => next() & 0xff);
  let sink = 0;
  let held: unknown;
  const lookups = (n: number) => {
    for (let i = 0; i < n; i++) {
      const vrf = i & 1;
      sink += t.lookup4(vrf, next()) ?? 0;
      sink += t.lookup(vrf, packets, (i * 4) & 4095, 4) ?? 0;
      sink += t.lookup6(vrf, packets, (i * 16) & 4079) ?? 0;
      sink += t.lookup(vrf, packets, (i * 16) & 4079, 6) ?? 0;
    }
  };
  const control = (n: number) => {
    for (let i = 0; i < n; i++) held = { i }; // one small object per call, kept alive
  };
  // Bytes allocated in new space by fn(n); n is kept small enough that even
  // 64 bytes per call stays below a scavenge, which would hide allocations.
  const allocated = (fn: (n: number) => void, n: number) => {
    gc();
    const before = newSpace().space_used_size;
    fn(n);
    return newSpace().space_used_size - before;
  };
  lookups(100_000); // warm up: optimised code, type feedback settled
  control(100_000);
  gc();
  const n = Math.min(20_000, Math.floor(newSpace().space_available_size / 64));
  assert.ok(n >= 5_000, `new space too small to measure (${n})`);
  const controlBytes = allocated(control, n);
  assert.ok(controlBytes >= n * 16, `the measurement must see the control's allocations (${controlBytes} bytes for ${n} objects)`);
  for (let round = 0; round < 3; round++) {
    const bytes = allocated(lookups, n);
    // 4n lookups: anything allocated per lookup would be >= 16 bytes each.
    assert.ok(bytes < n, `${4 * n} lookups allocated ${bytes} bytes`);
  }
  assert.ok(sink !== 0 && held !== undefined);
});

lpm.run();
