// The transport-independent session: what a gateway is sent for each Hello,
// Ack, change and refusal, with a real Controller over the in-memory store
// and an in-memory sink standing in for the transport.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { applyDelta, tableHash } from '../../common/flow-table.js';
import { setLogSink } from '../../common/log.js';
import { OperState, type FlowTable } from '../../common/model.js';
import type { SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { Controller } from '../../controller/controller.js';
import { SessionCore, type SessionSink } from '../../controller/southbound/session-core.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { FLEET_WIDE_LINK, fleetTopology } from '../helpers/fleet-topology.js';

class Sink implements SessionSink {
  readonly transport = 'test';
  sent: SessionResponse[] = [];
  closedWith: SwitchbackError | undefined;
  busy = false;
  send(m: SessionResponse): boolean {
    this.sent.push(m);
    return !this.busy;
  }
  close(err: SwitchbackError): void {
    this.closedWith = err;
  }
  last(): SessionResponse {
    return this.sent.at(-1)!;
  }
}

const hello = (gatewayId: string, t?: FlowTable) => ({
  gatewayId,
  heldVersion: t?.version ?? 0,
  heldEpoch: t?.epoch ?? 0,
  tableHash: t ? tableHash(t) : Buffer.alloc(0),
  agentVersion: 'test',
});
const ackOf = (t: FlowTable) => ({ body: { $case: 'ack' as const, ack: { gatewayId: t.gatewayId, epoch: t.epoch, version: t.version, tableHash: tableHash(t) } } });

let clock: ManualClock;
let ctl: Controller;
let core: SessionCore;
let revoked: Set<string>;
let logs: string[];
let restoreLog: (l: string) => void;

const s = suite('session core');
s.before.each(() => {
  clock = new ManualClock();
  ctl = new Controller({ store: new MemoryStore(), clock });
  ctl.applyTopology(fleetTopology(4), 'test');
  revoked = new Set();
  core = new SessionCore(ctl, { clock, isRevoked: (gw) => revoked.has(gw), ackTimeoutMs: 1000 });
  logs = [];
  restoreLog = setLogSink((l) => logs.push(l));
});
s.after.each(() => {
  core.close();
  setLogSink(restoreLog);
});

const current = (gw: string) => ctl.store.table(gw)!;
/** One change for the whole fleet. */
const flap = (n: number) => (n % 2 ? ctl.drainLink(FLEET_WIDE_LINK, 'test') : ctl.undrainLink(FLEET_WIDE_LINK, 'test'));
/** Pushes are built on the next turns of the event loop, after the change returned. */
const tick = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

s('a first Hello gets a snapshot with the controller epoch; its Ack is recorded', () => {
  const sink = new Sink();
  core.open(hello('o0001'), undefined, sink);
  const m = sink.last();
  assert.is(m.epoch, ctl.epoch);
  assert.is(m.body?.$case, 'snapshot');
  const snap = (m.body as { snapshot: { table: FlowTable; tableHash: Buffer } }).snapshot;
  assert.ok(tableHash(snap.table).equals(snap.tableHash));
  core.session('o0001')!.receive(ackOf(snap.table));
  assert.is(ctl.store.ack('o0001')?.version, current('o0001').version);
  assert.is(ctl.store.ack('o0001')?.transport, 'test');
});

s('a Hello holding the current table is answered InSync and counts as an ack', () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  assert.equal(sink.sent.map((m) => m.body?.$case), ['inSync']);
  assert.is(ctl.store.ack('o0001')?.version, current('o0001').version);
});

s('a Hello holding a kept older version gets a delta that yields the current table', () => {
  const old = current('o0001');
  flap(1);
  flap(2);
  flap(3);
  const sink = new Sink();
  core.open(hello('o0001', old), undefined, sink);
  const m = sink.last();
  assert.is(m.body?.$case, 'delta');
  const d = (m.body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(d.baseVersion, old.version);
  assert.ok(tableHash(applyDelta(old, d)).equals(tableHash(current('o0001'))));
});

s('a Hello whose hash does not match its version gets a snapshot', () => {
  const old = current('o0001');
  flap(1);
  const sink = new Sink();
  core.open({ ...hello('o0001', old), tableHash: Buffer.alloc(32, 7) }, undefined, sink);
  assert.is(sink.last().body?.$case, 'snapshot');
});

s('one push in flight: changes meanwhile coalesce into one delta from the acknowledged version', async () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  const session = core.session('o0001')!;
  const v0 = current('o0001');
  flap(1);
  assert.is(sink.sent.length, 1, 'nothing is built inside the change');
  await tick();
  assert.is(sink.sent.length, 2, 'the first change is pushed at once');
  const first = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(first.baseVersion, v0.version);
  flap(2);
  flap(3);
  flap(4);
  await tick();
  assert.is(sink.sent.length, 2, 'nothing more until the push is acknowledged');
  const v1 = applyDelta(v0, first);
  session.receive(ackOf(v1));
  assert.is(sink.sent.length, 3);
  const next = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(next.baseVersion, v1.version, 'delta base is the acknowledged version');
  assert.is(next.version, current('o0001').version, 'the newest table, not each step');
  assert.ok(tableHash(applyDelta(v1, next)).equals(tableHash(current('o0001'))));
});

s('a busy transport keeps only a dirty bit; the newest table goes out when it drains', async () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  const session = core.session('o0001')!;
  const v0 = current('o0001');
  sink.busy = true;
  flap(1);
  await tick();
  const first = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  const v1 = applyDelta(v0, first);
  for (let i = 2; i <= 20; i++) flap(i);
  await tick();
  session.receive(ackOf(v1));
  assert.is(sink.sent.length, 2, 'still blocked: nothing queued, nothing sent');
  sink.busy = false;
  session.writable();
  assert.is(sink.sent.length, 3);
  const d = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(d.baseVersion, v1.version);
  assert.is(d.version, current('o0001').version);
});

s('an unacknowledged push is sent again after the ack timeout, from the acknowledged base', async () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  const v0 = current('o0001');
  flap(1);
  await tick();
  assert.is(sink.sent.length, 2);
  clock.advance(999);
  assert.is(sink.sent.length, 2);
  clock.advance(1);
  assert.is(sink.sent.length, 3);
  const d = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(d.baseVersion, v0.version);
  clock.advance(1999);
  assert.is(sink.sent.length, 3, 'the wait doubles');
  clock.advance(1);
  assert.is(sink.sent.length, 4);
});

s('a SnapshotRequest is answered with a snapshot', () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  core.session('o0001')!.receive({ body: { $case: 'snapshotRequest', snapshotRequest: { gatewayId: 'o0001', reason: 'test' } } });
  assert.is(sink.last().body?.$case, 'snapshot');
});

s('a link report that changes oper state moves routes and reaches the affected sessions', async () => {
  const a = new Sink();
  const b = new Sink();
  core.open(hello('dc-a', current('dc-a')), undefined, a);
  core.open(hello('o0003', current('o0003')), undefined, b);
  core.session('dc-a')!.receive({ body: { $case: 'linkReport', linkReport: { gatewayId: 'dc-a', peerGatewayId: 'dc-b', linkId: FLEET_WIDE_LINK, state: OperState.DOWN, rttUs: 900, jitterUs: 0, lossPpm: 0, pathMtu: 0, observedUnixMs: 0 } } });
  assert.is(ctl.topology().links.find((l) => l.id === FLEET_WIDE_LINK)!.operState, OperState.DOWN);
  await tick();
  assert.is(a.last().body?.$case, 'delta');
  assert.is(b.last().body?.$case, 'delta', 'o0003 reaches dc-b another way now');
});

s('bad input is refused with a log line and changes nothing in the store', () => {
  const sink = new Sink();
  core.open(hello('o0001', current('o0001')), undefined, sink);
  const session = core.session('o0001')!;
  const ackBefore = ctl.store.ack('o0001');
  const seqBefore = ctl.store.lastSeq();
  const t = current('o0001');
  session.receive({ body: { $case: 'ack', ack: { gatewayId: 'o0001', epoch: t.epoch, version: t.version + 100, tableHash: tableHash(t) } } });
  session.receive({ body: { $case: 'ack', ack: { gatewayId: 'o0001', epoch: t.epoch, version: t.version, tableHash: Buffer.alloc(32) } } });
  session.receive({ body: { $case: 'ack', ack: { gatewayId: 'o0002', epoch: t.epoch, version: t.version, tableHash: tableHash(t) } } });
  const report = { peerGatewayId: '', state: OperState.DOWN, rttUs: 0, jitterUs: 0, lossPpm: 0, pathMtu: 0, observedUnixMs: 0 };
  session.receive({ body: { $case: 'linkReport', linkReport: { ...report, gatewayId: 'o0001', linkId: 'no-such-link' } } });
  session.receive({ body: { $case: 'linkReport', linkReport: { ...report, gatewayId: 'o0001', linkId: FLEET_WIDE_LINK } } });
  session.receive({ body: { $case: 'linkReport', linkReport: { ...report, gatewayId: 'o0001', linkId: 'o0001--dc-a', state: 9 as OperState } } });
  session.receive({ body: { $case: 'hello', hello: hello('o0001') } });
  session.receive({ body: undefined });
  assert.equal(ctl.store.ack('o0001'), ackBefore);
  assert.is(ctl.store.lastSeq(), seqBefore);
  assert.is(core.stats.refused, 8);
  assert.is(logs.filter((l) => l.includes('WARN') && l.includes('refused')).length, 8, logs.join('\n'));
  assert.ok(logs.some((l) => /never issued/.test(l)));
  assert.ok(logs.some((l) => /not an end of link/.test(l)));
  assert.is(core.session('o0001'), session, 'the session stays open');
});

s('Hellos for an unknown, revoked or other gateway are refused with a clear code', () => {
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      return e as SwitchbackError;
    }
    assert.unreachable('expected a refusal');
  };
  assert.is(refusal(() => core.open(hello('nope'), undefined, new Sink()))!.code, 'NOT_FOUND');
  assert.is(refusal(() => core.open(hello('Bad Id!'), undefined, new Sink()))!.code, 'INVALID_ARGUMENT');
  const other = refusal(() => core.open(hello('o0001'), 'o0002', new Sink()))!;
  assert.is(other.code, 'PERMISSION_DENIED');
  assert.match(other.message, /credentials are for gateway 'o0002'/);
  revoked.add('o0003');
  assert.is(refusal(() => core.open(hello('o0003'), 'o0003', new Sink()))!.code, 'PERMISSION_DENIED');
  assert.is(core.sessions().length, 0);
  assert.is(ctl.store.acks().size, 0);
  assert.is(logs.filter((l) => l.includes('refused hello')).length, 4);
});

s('a revoked event closes the session; a newer session supersedes an older one', () => {
  const a = new Sink();
  const b = new Sink();
  core.open(hello('o0001'), undefined, a);
  core.open(hello('o0001'), undefined, b);
  assert.is(a.closedWith?.code, 'UNAVAILABLE');
  assert.is(b.closedWith, undefined);
  ctl.emit({ type: 'revoked', gatewayId: 'o0001' });
  assert.is(b.closedWith?.code, 'PERMISSION_DENIED');
  assert.is(core.session('o0001'), undefined);
});

/**
 * Opens every gateway's session in sync, runs `change`, and checks that
 * each moved gateway got a delta built with no table read or decoded from
 * the store (neither the new table nor the agent's base version), and that
 * the delta applied to the table the agent held yields the stored table.
 */
async function pushesReadNoTable(change: () => { tables: readonly unknown[] }, moved: number): Promise<void> {
  const gws = fleetTopology(4).gateways.map((g) => g.id);
  const sinks = new Map(gws.map((gw) => [gw, new Sink()]));
  const held = new Map<string, FlowTable>();
  for (const gw of gws) {
    held.set(gw, current(gw));
    core.open(hello(gw, current(gw)), undefined, sinks.get(gw)!);
  }
  const store = ctl.store as MemoryStore;
  const read = store.table.bind(store);
  const readAt = store.tableAt.bind(store);
  let reads = 0;
  store.table = (gw: string) => {
    reads++;
    return read(gw);
  };
  store.tableAt = (gw: string, version: number) => {
    reads++;
    return readAt(gw, version);
  };
  const sentBefore = new Map(gws.map((gw) => [gw, sinks.get(gw)!.sent.length]));
  try {
    const entry = change();
    assert.is(entry.tables.length, moved, 'tables the change moves');
    await tick();
    assert.is(reads, 0, 'no table read back from the store');
  } finally {
    store.table = read;
    store.tableAt = readAt;
  }
  const pushed = gws.filter((gw) => sinks.get(gw)!.sent.length > sentBefore.get(gw)!);
  assert.is(pushed.length, moved);
  for (const gw of pushed) {
    const body = sinks.get(gw)!.last().body;
    assert.is(body?.$case, 'delta', gw);
    const next = applyDelta(held.get(gw)!, (body as { delta: Parameters<typeof applyDelta>[1] }).delta);
    assert.equal(next, { ...current(gw), rules: next.rules, peers: next.peers });
    assert.ok(tableHash(next).equals(tableHash(current(gw))), `${gw}: the delta yields the stored table`);
  }
}

s("a fleet-wide change's pushes are deltas built from what it carried: no table read or decoded from the store", async () => {
  await pushesReadNoTable(() => ctl.drainLink(FLEET_WIDE_LINK, 'test'), fleetTopology(4).gateways.length);
});

s("a key rotation's pushes are deltas from the tables built with the previous keys", async () => {
  const k = ctl.store.linkKeys().get(FLEET_WIDE_LINK)!;
  const rotated = { key: Buffer.alloc(32, 7), keyId: k.keyId + 1, previousKey: k.key, previousKeyId: k.keyId, createdMs: clock.wallMs() };
  await pushesReadNoTable(() => ctl.commitLinkKeys('test', 'link.rotate', FLEET_WIDE_LINK, 'rotated', new Map([[FLEET_WIDE_LINK, rotated]])), 2);
});

s('an agent that holds an older version than the one before the change gets a delta from it, read from the store', async () => {
  const sink = new Sink();
  const old = current('o0001');
  flap(1);
  await tick();
  core.open(hello('o0001', old), undefined, sink);
  const before = sink.sent.length;
  assert.is(sink.last().body?.$case, 'delta');
  flap(2);
  await tick();
  // The agent has not acknowledged the first push: the second waits for its ack.
  assert.is(sink.sent.length, before);
  const body = sink.last().body as { delta: Parameters<typeof applyDelta>[1] };
  core.session('o0001')!.receive(ackOf(applyDelta(old, body.delta)));
  const d = (sink.last().body as { delta: Parameters<typeof applyDelta>[1] }).delta;
  assert.is(sink.last().body?.$case, 'delta');
  assert.ok(tableHash(applyDelta(applyDelta(old, body.delta), d)).equals(tableHash(current('o0001'))));
});

s.run();
