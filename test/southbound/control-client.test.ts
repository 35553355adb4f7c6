// The agent's control client against a scripted controller (an in-memory
// transport): fail-static start, atomic apply, epochs, snapshot requests,
// reconnect backoff. Its real transports run the contract suite.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'lmdb';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { diffTables, tableHash } from '../../common/flow-table.js';
import { setLogSink } from '../../common/log.js';
import { Action, OperState, type FlowTable } from '../../common/model.js';
import type { Hello, SessionRequest, SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { backoffDelay, ControlClient, type ControlEvent } from '../../router-agent/control/control-client.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import type { ControlTransport, SessionHandlers } from '../../router-agent/control/transport.js';

const GW = 'gw1';
const table = (version: number, epoch: number, prefixes: string[]): FlowTable => ({
  gatewayId: GW, nodeId: 1, version, epoch, peers: [],
  rules: prefixes.map((prefix) => ({ vrf: 1, prefix, action: Action.DROP, primary: [], destSiteId: 'x' })),
});
const snapshot = (t: FlowTable, epoch = t.epoch): SessionResponse => ({ epoch, body: { $case: 'snapshot', snapshot: { table: t, tableHash: tableHash(t) } } });
const delta = (a: FlowTable, b: FlowTable, epoch = b.epoch): SessionResponse => ({ epoch, body: { $case: 'delta', delta: diffTables(a, b) } });

/** A controller scripted by the test: answers each Hello with `answer`, records what the agent sends. */
class Scripted implements ControlTransport {
  readonly name = 'scripted';
  hellos: Hello[] = [];
  sent: SessionRequest[] = [];
  handlers: SessionHandlers | undefined;
  closed = false;
  constructor(public answer: (h: Hello) => SessionResponse | SwitchbackError) {}
  async open(hello: Hello, handlers: SessionHandlers) {
    this.hellos.push(hello);
    const a = this.answer(hello);
    if (a instanceof SwitchbackError) throw a;
    this.handlers = handlers;
    setImmediate(() => handlers.message(a));
    return { send: (r: SessionRequest) => this.sent.push(r), close: () => (this.handlers = undefined) };
  }
  push(m: SessionResponse) {
    this.handlers!.message(m);
  }
  drop(why: string) {
    const h = this.handlers!;
    this.handlers = undefined;
    h.closed(new SwitchbackError('UNAVAILABLE', why));
  }
  kinds() {
    return this.sent.map((r) => r.body?.$case);
  }
  async close() {
    this.closed = true;
  }
}

const settle = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
/** Lets LMDB's asynchronous commit land. */
const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

let dir: string;
let store: LmdbTableStore;
let logs: string[];
let restoreLog: (l: string) => void;
const c = suite('control client');
c.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-agent-'));
  store = new LmdbTableStore(dir);
  logs = [];
  restoreLog = setLogSink((l) => logs.push(l));
});
c.after.each(async () => {
  setLogSink(restoreLog);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (t: ControlTransport, clock = new ManualClock()) => {
  const cl = new ControlClient({ gatewayId: GW, transport: t, store, clock, random: () => 0.5 });
  const events: ControlEvent[] = [];
  cl.on((e) => events.push(e));
  return { cl, events, clock };
};

c('applies a snapshot, persists it, then acknowledges it with its hash', async () => {
  const t1 = table(5, 2, ['10.0.0.0/8']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl, events } = client(tr);
  cl.start();
  await until(() => tr.kinds().includes('ack'), 'ack');
  assert.equal(tr.hellos[0], { gatewayId: GW, heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' });
  const ack = tr.sent.find((r) => r.body?.$case === 'ack')!.body as { ack: { version: number; epoch: number; tableHash: Buffer } };
  assert.is(ack.ack.version, 5);
  assert.is(ack.ack.epoch, 2);
  assert.ok(ack.ack.tableHash.equals(tableHash(t1)));
  assert.is(store.load(GW)?.table.version, 5, 'persisted before the ack');
  assert.equal(events.map((e) => e.type), ['table', 'connected']);
  await cl.stop();
  assert.ok(tr.closed, 'the client owns its transport');
});

c('a restarted agent hands its persisted table to the data plane before any controller contact', async () => {
  const t1 = table(7, 3, ['10.1.0.0/16']);
  await store.save(GW, { table: t1, epoch: 3 });
  let seenAtHello = -1;
  const tr = new Scripted(() => {
    seenAtHello = events.length;
    return new SwitchbackError('UNAVAILABLE', 'controller down');
  });
  const { cl, events } = client(tr);
  cl.start();
  assert.equal(events[0], { type: 'table', table: store.load(GW)!.table, source: 'local' });
  await settle();
  assert.is(seenAtHello, 1, 'the table was handed over before the first Hello');
  assert.is(tr.hellos[0]!.heldVersion, 7);
  assert.is(tr.hellos[0]!.heldEpoch, 3);
  assert.ok(tr.hellos[0]!.tableHash.equals(tableHash(t1)));
  assert.is(cl.table?.version, 7, 'kept while the controller is down');
  await cl.stop();
});

c('a delta is applied atomically; one whose base is not held makes the agent ask for a snapshot', async () => {
  const t1 = table(1, 1, ['10.0.0.0/8']);
  const t2 = table(2, 1, ['10.0.0.0/8', '10.2.0.0/16']);
  const t3 = table(3, 1, ['10.3.0.0/16']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 1, 'snapshot');
  tr.push(delta(t1, t2));
  await until(() => cl.table?.version === 2, 'delta');
  assert.equal(cl.table!.rules.map((r) => r.prefix), ['10.0.0.0/8', '10.2.0.0/16']);
  // A delta from version 1, but version 2 is held: refused whole, snapshot asked.
  tr.push(delta(t1, t3));
  await until(() => tr.kinds().includes('snapshotRequest'), 'snapshot request');
  assert.is(cl.table?.version, 2, 'nothing half-applied');
  assert.is(store.load(GW)?.table.version, 2);
  tr.push(snapshot(t3));
  await until(() => cl.table?.version === 3, 'snapshot after request');
  assert.equal(tr.kinds(), ['ack', 'ack', 'snapshotRequest', 'ack']);
  await cl.stop();
});

c('a delta whose result does not hash as announced is not applied', async () => {
  const t1 = table(1, 1, ['10.0.0.0/8']);
  const t2 = table(2, 1, ['10.2.0.0/16']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 1, 'snapshot');
  const bad = delta(t1, t2);
  (bad.body as { delta: { tableHash: Buffer } }).delta.tableHash = Buffer.alloc(32, 1);
  tr.push(bad);
  await until(() => tr.kinds().includes('snapshotRequest'), 'snapshot request');
  assert.is(cl.table?.version, 1);
  await cl.stop();
});

c('messages from a lower controller epoch are refused with a log line', async () => {
  const t1 = table(4, 5, ['10.0.0.0/8']);
  const older = table(9, 4, ['10.9.0.0/16']);
  const tr = new Scripted(() => snapshot(t1, 5));
  const { cl } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 4, 'snapshot');
  tr.push(snapshot(older, 4));
  tr.push(delta(t1, { ...older, epoch: 5 }, 4));
  await settle(20);
  assert.is(cl.table?.version, 4);
  assert.is(cl.stats.refused, 2);
  assert.is(logs.filter((l) => l.includes('older controller epoch')).length, 2);
  assert.equal(tr.kinds(), ['ack']);
  await cl.stop();
});

c('a snapshot for another gateway or with a wrong hash is refused', async () => {
  const t1 = table(1, 1, ['10.0.0.0/8']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 1, 'snapshot');
  tr.push(snapshot({ ...table(2, 1, []), gatewayId: 'gw2' }));
  tr.push({ epoch: 1, body: { $case: 'snapshot', snapshot: { table: table(3, 1, []), tableHash: Buffer.alloc(32) } } });
  await settle(20);
  assert.is(cl.table?.version, 1);
  assert.is(cl.stats.refused, 2);
  await cl.stop();
});

c('a repeated push of the held version is acknowledged again, not applied again', async () => {
  const t1 = table(1, 1, ['10.0.0.0/8']);
  const t2 = table(2, 1, ['10.2.0.0/16']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl, events } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 1, 'snapshot');
  tr.push(delta(t1, t2));
  tr.push(delta(t1, t2));
  await until(() => tr.kinds().filter((k) => k === 'ack').length === 3, 'three acks');
  assert.is(events.filter((e) => e.type === 'table').length, 2);
  assert.is(cl.stats.snapshotRequests, 0);
  await cl.stop();
});

c('the controller going away keeps the table; reconnects back off exponentially, jittered and capped', async () => {
  const t1 = table(1, 1, ['10.0.0.0/8']);
  let up = true;
  const tr = new Scripted((h) => (up ? (h.heldVersion === 1 ? { epoch: 1, body: { $case: 'inSync', inSync: { version: 1 } } } : snapshot(t1)) : new SwitchbackError('UNAVAILABLE', 'down')));
  const { cl, events, clock } = client(tr);
  cl.reportLink({ peerGatewayId: 'gw2', linkId: 'l1', state: OperState.UP, rttUs: 100, jitterUs: 0, lossPpm: 0, pathMtu: 1400, observedUnixMs: 0 });
  cl.start();
  await until(() => cl.table?.version === 1, 'snapshot');
  assert.ok(tr.kinds().includes('linkReport'), 'the latest link report goes out on a new session');
  up = false;
  tr.drop('controller killed');
  await settle();
  assert.is(cl.table?.version, 1, 'never cleared');
  assert.equal(events.at(-1), { type: 'disconnected', reason: 'controller killed' });
  // random() = 0.5: each wait is 3/4 of min(10 s, 100 ms * 2^attempt).
  const waits: number[] = [];
  for (let i = 0; i < 9; i++) {
    const before = tr.hellos.length;
    let waited = 0;
    while (tr.hellos.length === before && waited < 20_000) {
      clock.advance(25);
      waited += 25;
      await settle(2);
    }
    waits.push(waited);
  }
  assert.equal(waits, [75, 150, 300, 600, 1200, 2400, 4800, 7500, 7500]);
  assert.ok(tr.hellos.slice(1).every((h) => h.heldVersion === 1), 'every Hello names the held table');
  up = true;
  const sessions = cl.stats.sessions;
  clock.advance(7500);
  await until(() => cl.stats.sessions === sessions + 1, 'reconnect');
  assert.is(cl.stats.inSync, 1);
  assert.is(cl.stats.snapshots, 1, 'no second snapshot');
  await cl.stop();
});

c('a damaged stored table is no table: the agent starts empty with an error line and asks the controller', async () => {
  await store.save(GW, { table: table(3, 1, ['10.0.0.0/8']), epoch: 1 });
  await store.close();
  const raw = open({ path: dir });
  await raw.openDB({ name: 'applied-table' }).put(GW, { epoch: 1, table: new Uint8Array([0x2a, 0xff, 0xff]) });
  await raw.close();
  store = new LmdbTableStore(dir);
  const t1 = table(5, 1, ['10.5.0.0/16']);
  const tr = new Scripted(() => snapshot(t1));
  const { cl, events } = client(tr);
  cl.start();
  await until(() => cl.table?.version === 5, 'snapshot');
  assert.is(tr.hellos[0]!.heldVersion, 0);
  assert.equal(events.filter((e) => e.type === 'table').map((e) => (e as { source: string }).source), ['controller']);
  assert.ok(logs.some((l) => l.includes('ERROR') && l.includes('stored table is unreadable')), logs.join('\n'));
  await cl.stop();
});

c('backoff delay stays within [d/2, d) and is capped', () => {
  const b = { initialMs: 100, maxMs: 10_000 };
  assert.is(backoffDelay(0, b, () => 0), 50);
  assert.is(backoffDelay(3, b, () => 0.999999) < 800, true);
  assert.is(backoffDelay(60, b, () => 0), 5000);
  assert.is(backoffDelay(60, b, () => 0.999999) < 10_000, true);
});

c.run();
