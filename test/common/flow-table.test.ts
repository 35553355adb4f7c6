import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { applyDelta, canonicalTable, diffTables, peersEqual, rulesEqual, tableHash } from '../../common/flow-table.js';
import { SwitchbackError } from '../../common/errors.js';
import { Action, FlowTable, type FlowRule, type NextHop, type Peer } from '../../common/model.js';
import { TableDelta } from '../../proto/gen/switchback/v1/flow.js';

const table = suite('flow tables: canonical form, hash, diff and apply');

// Plain objects, as decoded messages are (fast-check may otherwise make
// null-prototype records, which deep equality tells apart).
const plain = { noNullPrototype: true } as const;

const hopArb: fc.Arbitrary<NextHop> = fc.record(
  {
    gatewayId: fc.constantFrom('gw-a', 'gw-b', 'gw-c'),
    linkId: fc.constantFrom('l1', 'l2', 'l3'),
  },
  plain,
);

const ruleArb: fc.Arbitrary<FlowRule> = fc.record({
  vrf: fc.constantFrom(1, 2, 300),
  prefix: fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '192.168.1.0/24', '0.0.0.0/0', '2001:db8::/32', 'fd00::/8'),
  action: fc.constantFrom(Action.DELIVER, Action.FORWARD, Action.DROP),
  primary: fc.uniqueArray(hopArb, { maxLength: 3, selector: (h) => `${h.gatewayId}/${h.linkId}` }),
  backup: fc.option(hopArb, { nil: undefined }),
  destSiteId: fc.constantFrom('fra', 'ams', 'office-1'),
}, plain);

const peerArb: fc.Arbitrary<Peer> = fc.record({
  gatewayId: fc.constantFrom('gw-a', 'gw-b'),
  nodeId: fc.integer({ min: 1, max: 9 }),
  linkId: fc.constantFrom('l1', 'l2', 'l3', 'l4'),
  endpoints: fc.array(fc.record({ host: fc.constantFrom('192.0.2.1', 'gw.example.net'), port: fc.constantFrom(4789, 51820) }, plain), { maxLength: 2 }),
  mtu: fc.constantFrom(0, 1400, 1500),
  key: fc.uint8Array({ minLength: 0, maxLength: 4 }).map((b) => Buffer.from(b)),
  keyId: fc.nat(3),
  previousKey: fc.constant(Buffer.alloc(0)),
  previousKeyId: fc.constant(0),
  nextKey: fc.constant(Buffer.alloc(0)),
  nextKeyId: fc.constant(0),
}, plain);

const tableArb = (version: fc.Arbitrary<number>, epoch: fc.Arbitrary<number> = fc.constantFrom(1, 2)): fc.Arbitrary<FlowTable> =>
  fc.record({
    gatewayId: fc.constant('gw-x'),
    nodeId: fc.constant(7),
    version,
    epoch,
    rules: fc.uniqueArray(ruleArb, { maxLength: 12, selector: (r) => `${r.vrf}/${r.prefix}` }),
    peers: fc.uniqueArray(peerArb, { maxLength: 4, selector: (p) => p.linkId }),
  }, plain);

/** Freezes deeply, so any write to an input throws (ES modules are strict). */
function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !ArrayBuffer.isView(x)) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

table('apply(prev, diff(prev, next)) gives next, hashes match, inputs untouched', () => {
  fc.assert(
    fc.property(tableArb(fc.integer({ min: 1, max: 100 })), tableArb(fc.integer({ min: 101, max: 200 }), fc.constantFrom(2, 3)), (prev, next) => {
      const before = FlowTable.encode(prev).finish();
      deepFreeze(prev);
      deepFreeze(next);
      const delta = diffTables(prev, next);
      const applied = applyDelta(prev, delta);
      assert.equal(applied, canonicalTable(next));
      assert.equal(tableHash(applied), tableHash(next));
      assert.equal(delta.tableHash, tableHash(next));
      assert.is(delta.baseVersion, prev.version);
      assert.is(delta.version, next.version);
      assert.equal(Buffer.from(FlowTable.encode(prev).finish()), Buffer.from(before));
    }),
    { numRuns: 300 },
  );
});

table('a delta holds only what changed', () => {
  fc.assert(
    fc.property(tableArb(fc.constant(1)), fc.nat(), (prev, pick) => {
      const same = diffTables(prev, { ...prev, version: 2 });
      assert.equal([same.removedRules, same.upsertedRules, same.removedPeers, same.upsertedPeers], [[], [], [], []]);
      if (prev.rules.length === 0) return;
      const i = pick % prev.rules.length;
      const changed = prev.rules.map((r, k) => (k === i ? { ...r, destSiteId: `${r.destSiteId}-moved` } : r));
      const d = diffTables(prev, { ...prev, version: 2, rules: changed.slice(1) });
      // the first rule is gone; rule i (if not the first) changed
      assert.equal(d.removedRules, [{ vrf: prev.rules[0]!.vrf, prefix: prev.rules[0]!.prefix }]);
      assert.is(d.upsertedRules.length, i === 0 ? 0 : 1);
      if (i > 0) assert.ok(rulesEqual(d.upsertedRules[0]!, changed[i]!));
    }),
    { numRuns: 200 },
  );
});

table('hash covers content, not version or epoch, nor input order', () => {
  fc.assert(
    fc.property(tableArb(fc.constant(1)), (t) => {
      const shuffled = { ...t, version: 99, epoch: 5, rules: [...t.rules].reverse(), peers: [...t.peers].reverse() };
      assert.equal(tableHash(shuffled), tableHash(t));
      assert.is(tableHash(t).length, 32);
      if (t.rules.length) {
        const other = { ...t, rules: t.rules.map((r, i) => (i === 0 ? { ...r, action: r.action === Action.DROP ? Action.DELIVER : Action.DROP } : r)) };
        assert.not.equal(tableHash(other), tableHash(t));
      }
    }),
    { numRuns: 200 },
  );
});

const base: FlowTable = {
  gatewayId: 'gw-x',
  nodeId: 7,
  version: 4,
  epoch: 2,
  rules: [{ vrf: 1, prefix: '10.0.0.0/8', action: Action.FORWARD, primary: [{ gatewayId: 'gw-a', linkId: 'l1'}], backup: undefined, destSiteId: 'fra' }],
  peers: [],
};
const next: FlowTable = { ...base, version: 5, rules: [{ ...base.rules[0]!, primary: [{ gatewayId: 'gw-b', linkId: 'l2'}] }] };

table('apply refuses a delta for another base version, gateway or epoch, or whose hash does not match', () => {
  const d = diffTables(base, next);
  const code = (fn: () => unknown) => {
    try {
      fn();
      return 'accepted';
    } catch (e) {
      assert.ok(e instanceof SwitchbackError);
      return (e as SwitchbackError).code;
    }
  };
  assert.is(code(() => applyDelta({ ...base, version: 3 }, d)), 'FAILED_PRECONDITION');
  assert.is(code(() => applyDelta({ ...base, gatewayId: 'gw-y' }, d)), 'FAILED_PRECONDITION');
  assert.is(code(() => applyDelta(base, { ...d, tableHash: Buffer.alloc(32) })), 'FAILED_PRECONDITION');
  assert.is(code(() => applyDelta(base, { ...d, tableHash: Buffer.alloc(0) })), 'FAILED_PRECONDITION');
  assert.is(code(() => applyDelta(base, { ...d, upsertedRules: [] })), 'FAILED_PRECONDITION');
  assert.is(code(() => applyDelta({ ...base, epoch: 3 }, d)), 'STALE_EPOCH');
  assert.is(code(() => diffTables(base, { ...next, nodeId: 8 })), 'FAILED_PRECONDITION');
  assert.is(applyDelta(base, d).version, 5);
});

table('a decoded delta (Uint8Array fields from the wire) applies as well', () => {
  const d = diffTables(base, next);
  const wire = TableDelta.decode(TableDelta.encode(d).finish());
  assert.equal(applyDelta(base, wire), canonicalTable(next));
  assert.equal(applyDelta(base, { ...d, tableHash: new Uint8Array(d.tableHash) as Buffer }), canonicalTable(next));
});

table('equality helpers: next hops compare as a set, peers field by field', () => {
  const r = next.rules[0]!;
  const two = { ...r, primary: [r.primary[0]!, { gatewayId: 'gw-a', linkId: 'l1'}] };
  assert.ok(rulesEqual(two, { ...two, primary: [...two.primary].reverse() }));
  assert.not.ok(rulesEqual(two, { ...two, backup: { gatewayId: 'gw-c', linkId: 'l3'} }));
  const p: Peer = { gatewayId: 'gw-a', nodeId: 1, linkId: 'l1', endpoints: [{ host: 'h', port: 1 }], mtu: 1400, key: Buffer.from([1]), keyId: 1, previousKey: Buffer.alloc(0), previousKeyId: 0, nextKey: Buffer.alloc(0), nextKeyId: 0 };
  assert.ok(peersEqual(p, { ...p, key: Buffer.from([1]) }));
  assert.not.ok(peersEqual(p, { ...p, key: Buffer.from([2]) }));
  assert.not.ok(peersEqual(p, { ...p, endpoints: [{ host: 'h', port: 2 }] }));
});

table.run();
