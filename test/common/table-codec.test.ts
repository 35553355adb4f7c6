import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { encodeFlowTable, encodeRules, encodeTableSnapshot, patchRulesEncoding, spliceRules } from '../../common/table-codec.js';
import { TableSnapshot } from '../../proto/gen/switchback/v1/session.js';
import { FlowTable, type FlowRule, type NextHop, type Peer } from '../../common/model.js';

const codec = suite('table codec: byte for byte the generated FlowTable encoder');

const plain = { noNullPrototype: true } as const;
// ASCII ids as the model has them, plus non-ASCII, empty and long strings
// (a length of 128 or more needs a two-byte length).
const text = fc.oneof(fc.constantFrom('', 'gw-a', 'o0001--dc-a', '10.1.0.0/16', 'zürich', 'ü€😀', '\ud800'), fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 40 }));
const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 0xffffffff), fc.nat());

const hopArb: fc.Arbitrary<NextHop> = fc.record({ gatewayId: text, linkId: text }, plain);
const ruleArb: fc.Arbitrary<FlowRule> = fc.record(
  {
    vrf: u32,
    prefix: text,
    action: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: -5, max: 1000 })),
    primary: fc.array(hopArb, { maxLength: 12 }),
    backup: fc.option(hopArb, { nil: undefined }),
    destSiteId: text,
  },
  plain,
);
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const peerArb: fc.Arbitrary<Peer> = fc.record(
  {
    gatewayId: text,
    nodeId: u32,
    linkId: text,
    endpoints: fc.array(fc.record({ host: text, port: u32 }, plain), { maxLength: 3 }),
    mtu: u32,
    key: bytes,
    keyId: u32,
    previousKey: bytes,
    previousKeyId: u32,
    nextKey: bytes,
    nextKeyId: u32,
  },
  plain,
);
const tableArb: fc.Arbitrary<FlowTable> = fc.record(
  {
    gatewayId: text,
    nodeId: u32,
    version: fc.oneof(fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1), fc.nat()),
    epoch: fc.oneof(fc.constantFrom(0, 7, 2 ** 40), fc.nat()),
    rules: fc.array(ruleArb, { maxLength: 20 }),
    peers: fc.array(peerArb, { maxLength: 5 }),
  },
  plain,
);

const generated = (t: FlowTable) => Buffer.from(FlowTable.encode(t).finish());

codec('any table encodes to the same bytes as FlowTable.encode, and decodes back', () => {
  fc.assert(
    fc.property(tableArb, (t) => {
      const fast = encodeFlowTable(t);
      assert.equal(fast.toString('hex'), generated(t).toString('hex'));
      assert.equal(FlowTable.decode(fast).rules.length, t.rules.length);
    }),
    { numRuns: 400 },
  );
});

codec('a large table (nested lengths past one byte, buffer growth) matches', () => {
  const hops = Array.from({ length: 40 }, (_, i) => ({ gatewayId: `gw-${i}`, linkId: `link-${i}-with-a-long-name` }));
  const rules: FlowRule[] = Array.from({ length: 3000 }, (_, i) => ({ vrf: 1 + (i % 3), prefix: `10.${i >> 8}.${i & 255}.0/24`, action: 2, primary: i % 100 === 0 ? hops : hops.slice(0, 1), backup: hops[2], destSiteId: `site-${i}` }));
  const peers: Peer[] = [{ gatewayId: 'gw-x', nodeId: 9, linkId: 'l', endpoints: [{ host: 'h', port: 1 }], mtu: 1400, key: Buffer.alloc(200, 7), keyId: 2, previousKey: Buffer.alloc(0), previousKeyId: 0, nextKey: Buffer.alloc(0), nextKeyId: 0 }];
  const t: FlowTable = { gatewayId: 'gw-big', nodeId: 300, version: 123_456_789_012, epoch: 44, rules, peers };
  const fast = encodeFlowTable(t);
  assert.ok(fast.length > 1 << 17, 'larger than the initial buffer');
  assert.ok(fast.equals(generated(t)));
  // The shared buffer is reused: a second, smaller table is not polluted by the first.
  const small: FlowTable = { ...t, rules: rules.slice(0, 2), peers: [] };
  assert.ok(encodeFlowTable(small).equals(generated(small)));
  assert.ok(encodeFlowTable(t).equals(fast));
});

const outcome = (f: () => Buffer) => {
  try {
    return f().toString('hex');
  } catch (err) {
    return `throws ${(err as Error).message}`;
  }
};

codec('values outside the fast path (negative action, fractions, negatives) give what the generated encoder gives', () => {
  const rule: FlowRule = { vrf: 1, prefix: 'p', action: -1, primary: [], backup: undefined, destSiteId: '' };
  for (const t of [
    { gatewayId: 'g', nodeId: 1, version: 1, epoch: 1, rules: [rule], peers: [] },
    { gatewayId: 'g', nodeId: 1.5, version: 1, epoch: 1, rules: [], peers: [] },
    { gatewayId: 'g', nodeId: -2, version: 1, epoch: 1, rules: [], peers: [] },
    { gatewayId: 'g', nodeId: 1, version: -3, epoch: 1, rules: [], peers: [] },
  ]) {
    assert.equal(outcome(() => encodeFlowTable(t)), outcome(() => generated(t)), JSON.stringify(t));
  }
});

codec('a snapshot with its hash encodes as TableSnapshot.encode does', () => {
  fc.assert(
    fc.property(tableArb, fc.uint8Array({ maxLength: 200 }), (t, h) => {
      const hash = Buffer.from(h);
      assert.ok(encodeTableSnapshot(t, hash).equals(Buffer.from(TableSnapshot.encode({ table: t, tableHash: hash }).finish())));
    }),
    { numRuns: 200 },
  );
});

codec('a table kept as patches of an earlier encoding (rules replaced over many rounds) encodes as the generated encoder does', () => {
  fc.assert(
    fc.property(
      tableArb.filter((t) => t.rules.length > 0),
      fc.array(fc.array(fc.tuple(fc.nat(), ruleArb), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 40 }),
      (t0, rounds) => {
        let t = t0;
        encodeFlowTable(t);
        for (const round of rounds) {
          const rules = t.rules.slice();
          const at = new Set<number>();
          for (const [i, r] of round) {
            rules[i % rules.length] = r;
            at.add(i % rules.length);
          }
          patchRulesEncoding(t.rules, rules, [...at].sort((a, b) => a - b));
          t = { ...t, rules };
          assert.ok(encodeFlowTable(t).equals(generated(t)));
        }
      },
    ),
    { numRuns: 150 },
  );
});

codec('an array changed in place after it was encoded is encoded again', () => {
  const rule = (p: string): FlowRule => ({ vrf: 1, prefix: p, action: 1, primary: [], backup: undefined, destSiteId: 's' });
  const t: FlowTable = { gatewayId: 'g', nodeId: 1, version: 1, epoch: 1, rules: [rule('a'), rule('b')], peers: [] };
  encodeFlowTable(t);
  t.rules[1] = rule('c');
  t.rules.push(rule('d'));
  assert.ok(encodeFlowTable(t).equals(generated(t)));
  // Indices that do not name every replaced rule: the list is encoded whole.
  const next = [t.rules[0]!, rule('e'), rule('f')];
  patchRulesEncoding(t.rules, next, [1]);
  assert.ok(encodeFlowTable({ ...t, rules: next }).equals(generated({ ...t, rules: next })));
});

codec('rule indices out of order or out of range are refused', () => {
  const base = encodeRules([{ vrf: 1, prefix: 'a', action: 1, primary: [], backup: undefined, destSiteId: 's' }]);
  assert.throws(() => spliceRules(base, [1], [Buffer.alloc(2)]), RangeError);
  assert.throws(() => spliceRules(base, [0, 0], [Buffer.alloc(2), Buffer.alloc(2)]), RangeError);
});

codec('patches past the limit are folded into a new encoding, still the generated bytes', () => {
  const rule = (i: number, hop: string): FlowRule => ({ vrf: 1, prefix: `10.${i >> 8}.${i & 255}.0/24`, action: 2, primary: [{ gatewayId: hop, linkId: `${hop}-l` }], backup: undefined, destSiteId: `s${i}` });
  let t: FlowTable = { gatewayId: 'g', nodeId: 1, version: 1, epoch: 1, rules: Array.from({ length: 300 }, (_, i) => rule(i, 'a')), peers: [] };
  encodeFlowTable(t);
  for (let round = 0; round < 100; round++) {
    const at = [(round * 7) % 300, (round * 13 + 1) % 300, (round * 29 + 2) % 300].sort((a, b) => a - b).filter((x, i, xs) => xs.indexOf(x) === i);
    const rules = t.rules.slice();
    for (const i of at) rules[i] = rule(i, `h${round}`);
    patchRulesEncoding(t.rules, rules, at);
    t = { ...t, rules };
    assert.ok(encodeFlowTable(t).equals(generated(t)), `round ${round}`);
  }
});

codec.run();
