import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { Action, type FlowTable } from '../../common/model.js';
import { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import { deliver, forward, key, peer, table, udp } from './build-packets.js';
import { K_AB, K_AC, gateway, sent, tableA, unseal } from './fixture.js';

const tables = suite('table validation and swap');

const pkt = (dst: string, sport = 5000) => udp({ src: '10.1.0.10', dst }, new Uint8Array(20), 4, sport);

function refused(t: unknown, field: string | RegExp): void {
  const a = gateway(tableA());
  const before = a.fromAccess(pkt('10.2.0.1'), 0);
  let err: unknown;
  try {
    a.setTable(t as FlowTable);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SwitchbackError, `expected a SwitchbackError, got ${String(err)}`);
  const e = err as SwitchbackError;
  assert.is(e.code, 'INVALID_ARGUMENT');
  if (typeof field === 'string') assert.is(e.field, field, e.message);
  else assert.match(e.message, field);
  // The old table is still the one in use.
  assert.is(a.tableVersion, 1);
  const after = a.fromAccess(pkt('10.2.0.1'), 0);
  assert.is(after.type, before.type);
  assert.is(after.type === 'send' && after.peer.gatewayId, 'B');
}

const withRules = (...extra: FlowTable['rules']) => ({ ...tableA(2), rules: [...tableA(2).rules, ...extra] });
const withPeer = (i: number, change: object) => {
  const t = tableA(2);
  t.peers[i] = { ...t.peers[i], ...change };
  return t;
};

tables('duplicate rules (same VRF and prefix, even written differently) are refused', () => {
  refused(withRules(forward(10, '10.2.0.0/16', ['C'])), 'rules[9].prefix');
  refused(withRules({ ...deliver(10, '10.1.0.0/16') }), /duplicate rule for 10\.1\.0\.0\/16 in VRF 10 \(also rules\[0\]\)/);
  refused(withRules(forward(10, 'fd00:2:0::/32', ['B'])), /duplicate rule for fd00:2::\/32/);
});

tables('the same prefix in two VRFs, and nested prefixes, are fine', () => {
  const a = gateway(withRules(forward(30, '10.2.0.0/16', ['B']), forward(10, '10.2.3.0/24', ['C'])));
  unseal(K_AC, sent(a.fromAccess(pkt('10.2.3.4'), 0), 'C'));
  unseal(K_AB, sent(a.fromAccess(pkt('10.2.4.4'), 0), 'B'));
});

tables('bad prefixes, VRFs, actions and next hops are refused, naming the field', () => {
  refused(withRules(forward(10, '10.7.0.1/16', ['B'])), 'rules[9].prefix');
  refused(withRules(forward(10, '10.7.0.0', ['B'])), 'rules[9].prefix');
  refused(withRules(forward(10, 'banana', ['B'])), 'rules[9].prefix');
  refused(withRules(forward(0x1000000, '10.7.0.0/16', ['B'])), 'rules[9].vrf');
  refused(withRules(forward(-1, '10.7.0.0/16', ['B'])), 'rules[9].vrf');
  refused(withRules({ ...deliver(10, '10.7.0.0/16'), action: Action.UNSPECIFIED }), 'rules[9].action');
  refused(withRules({ ...deliver(10, '10.7.0.0/16'), action: Action.UNRECOGNIZED }), 'rules[9].action');
  refused(withRules(forward(10, '10.7.0.0/16', ['Z'])), 'rules[9].primary[0].gatewayId');
  refused(withRules(forward(10, '10.7.0.0/16', ['B'], 'Z')), 'rules[9].backup.gatewayId');
  refused(withRules(forward(10, '10.7.0.0/16', [])), 'rules[9].primary');
  refused(withRules(forward(10, '10.7.0.0/16', ['B', 'B'])), 'rules[9].primary[1].gatewayId');
  refused(withRules(null as never), 'rules[9]');
});

tables('bad peers are refused: keys, ids, node ids, MTU, endpoints, key id clash', () => {
  refused(withPeer(0, { key: Buffer.alloc(16) }), 'peers[0].key');
  refused(withPeer(0, { key: 'secret' }), 'peers[0].key');
  refused(withPeer(0, { previousKey: Buffer.alloc(31), previousKeyId: 2 }), 'peers[0].previousKey');
  refused(withPeer(0, { previousKey: key(9), previousKeyId: 257 }), /low 8 bits/);
  refused(withPeer(0, { nextKey: Buffer.alloc(31), nextKeyId: 2 }), 'peers[0].nextKey');
  refused(withPeer(0, { nextKey: 'secret' as never, nextKeyId: 2 }), 'peers[0].nextKey');
  refused(withPeer(0, { nextKey: key(9), nextKeyId: 257 }), 'peers[0].nextKeyId');
  refused(withPeer(0, { nextKey: key(9), nextKeyId: 3, previousKey: key(8), previousKeyId: 259 }), 'peers[0].nextKeyId');
  refused(withPeer(0, { nextKey: key(9), nextKeyId: -1 }), 'peers[0].nextKeyId');
  refused(withPeer(1, { gatewayId: 'B' }), 'peers[1].gatewayId');
  refused(withPeer(1, { nodeId: 2 }), 'peers[1].nodeId');
  refused(withPeer(0, { nodeId: 1 }), /own node id/);
  refused(withPeer(0, { nodeId: 0 }), 'peers[0].nodeId');
  refused(withPeer(0, { nodeId: 2 ** 32 }), 'peers[0].nodeId');
  refused(withPeer(0, { mtu: 500 }), 'peers[0].mtu');
  refused(withPeer(0, { endpoints: [{ host: '', port: 1 }] }), 'peers[0].endpoints[0].host');
  refused(withPeer(0, { endpoints: [{ host: '192.0.2.1', port: 70000 }] }), 'peers[0].endpoints[0].port');
  refused(withPeer(0, { gatewayId: '' }), 'peers[0].gatewayId');
  refused({ ...tableA(2), nodeId: 0 }, 'nodeId');
  refused({ ...tableA(2), rules: 'x' }, 'rules');
  refused(null, 'table');
});

tables('construction options are validated', () => {
  assert.throws(() => new DataPlane({ accessVrf: 1 << 24, initialCounter: 0n }), /accessVrf/);
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 1n << 64n }), /initialCounter/);
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 5 as never }), /initialCounter/);
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 0n, hopLimit: 0 }), /hopLimit/);
  assert.throws(() => new DataPlane({ accessVrf: 1, initialCounter: 0n, underlay: 'ipip' as never }), /underlay/);
});

tables('rule counters carry over to the next version for rules that stay', () => {
  const a = gateway(tableA());
  for (let i = 0; i < 3; i++) a.fromAccess(pkt('10.2.0.1'), 0);
  a.setTable(tableA(2));
  a.fromAccess(pkt('10.2.0.1'), 0);
  assert.is(a.snapshot().rules.find((r) => r.prefix === '10.2.0.0/16' && r.vrf === 10)?.packets, 4);
  assert.is(a.tableVersion, 2);
});

tables('atomic swap under load: every packet is decided wholly by the old or the new table, none lost', () => {
  // T1: 10.2/16 -> B, 10.3/16 -> ECMP B,C. T2: 10.2/16 -> C, 10.3/16 dropped, 10.6/16 local.
  const t1 = table(1, [peer('B', 2, K_AB), peer('C', 3, K_AC)], [forward(10, '10.2.0.0/16', ['B']), forward(10, '10.3.0.0/16', ['B', 'C'])], 1);
  const t2 = table(
    1,
    [peer('B', 2, K_AB), peer('C', 3, K_AC)],
    [forward(10, '10.2.0.0/16', ['C']), { ...deliver(10, '10.3.0.0/16'), action: Action.DROP }, deliver(10, '10.6.0.0/16')],
    2,
  );
  const a = gateway(t1);
  const dsts = ['10.2.0.1', '10.3.0.1', '10.6.0.1'];
  const expect = (version: number, dst: string): string => {
    if (version === 1) return dst === '10.2.0.1' ? 'send:B' : dst === '10.3.0.1' ? 'send:B|C' : 'drop:no_route';
    return dst === '10.2.0.1' ? 'send:C' : dst === '10.3.0.1' ? 'drop:policy' : 'deliver';
  };
  const seenByVersion = [0, 0, 0];
  let swaps = 0;
  const N = 30_000;
  let s = 99;
  for (let i = 0; i < N; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    if (s % 53 === 0) {
      a.setTable(a.tableVersion === 1 ? t2 : t1);
      swaps++;
    }
    if (s % 211 === 0) {
      // An invalid table mid-stream changes nothing.
      assert.throws(() => a.setTable({ ...t2, version: 3, rules: [...t2.rules, forward(10, '10.6.0.0/16', ['B'])] }));
    }
    const version = a.tableVersion ?? 0;
    const dst = dsts[i % 3];
    const v = a.fromAccess(pkt(dst, 1024 + (i % 4000)), 0);
    const got = v.type === 'send' ? `send:${v.peer.gatewayId}` : v.type === 'drop' ? `drop:${v.reason}` : v.type;
    const want = expect(version, dst);
    const ok = want === 'send:B|C' ? got === 'send:B' || got === 'send:C' : got === want;
    assert.ok(ok, `packet ${i} v${version} ${dst}: ${got}, want ${want}`);
    seenByVersion[version]++;
  }
  assert.ok(swaps > 100, `${swaps} swaps`);
  assert.ok(seenByVersion[1] > 1000 && seenByVersion[2] > 1000);
  // Every packet got exactly one verdict and was counted once: by a rule, or as a drop with no rule.
  const snap = a.snapshot();
  assert.is(snap.drops.no_route + snap.drops.policy + snap.deliveredPackets + snap.peers.reduce((n, p) => n + p.txPackets, 0), N);
});

tables.run();
