// The southbound session over a real nats-server whose authorization is the
// one `switchback ctl nats-config` generates: the transport contract, then
// what only NATS has (the tables bucket, subject permissions, garbage on a
// report subject).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, nkeyAuthenticator, type NatsConnection } from 'nats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../common/clock.js';
import { tableHash } from '../../common/flow-table.js';
import { setLogSink } from '../../common/log.js';
import { Controller } from '../../controller/controller.js';
import { startNatsSouthbound, type NatsSouthbound } from '../../controller/southbound/nats-session.js';
import { subjects } from '../../controller/southbound/nats-subjects.js';
import { Southbound } from '../../controller/southbound/southbound.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { NatsTransport } from '../../router-agent/control/nats-transport.js';
import type { TableDelta } from '../../common/model.js';
import type { SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { fleetTopology } from '../helpers/fleet-topology.js';
import { CONTRACT_GATEWAYS, OFFICES, runTransportContract, until } from './transport-contract.js';

interface Running {
  ctl: Controller;
  sb: Southbound;
  nats: NatsSouthbound;
  server: NatsServer;
  store: LmdbStore;
  dir: string;
  seeds: Map<string, string>;
}

async function startNatsController(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nats-'));
  const clock = new SystemClock();
  const store = new LmdbStore({ path: dir });
  const ctl = new Controller({ store, clock });
  ctl.applyTopology(fleetTopology(OFFICES), 'test');
  const sb = await Southbound.start(ctl, store, {}, clock);
  const seeds = new Map<string, string>();
  for (const gw of CONTRACT_GATEWAYS) seeds.set(gw, (await sb.ca.enroll(gw)).natsSeed);
  // The server runs exactly the authorization the ctl command generates.
  const server = await startNatsServer({ config: sb.natsConfig().config });
  const nats = await startNatsSouthbound(sb.core, ctl.store, { servers: server.url, nkeySeed: sb.ca.controllerNatsSeed, clock, beatMs: 200, isRevoked: (gw) => sb.ca.isRevoked(gw) });
  return { ctl, sb, nats, server, store, dir, seeds };
}

async function stopNatsController(r: Running): Promise<void> {
  await r.nats.close();
  await r.sb.close();
  await r.server.stop();
  await r.store.close();
  rmSync(r.dir, { recursive: true, force: true });
}

runTransportContract('NATS', async () => {
  const r = await startNatsController();
  return {
    ctl: r.ctl,
    southbound: r.sb,
    transportName: 'nats',
    transport: (gw, credentialsOf = gw) => new NatsTransport({ servers: r.server.url, gatewayId: gw, nkeySeed: r.seeds.get(credentialsOf)!, helloTimeoutMs: 1500 }),
    close: () => stopNatsController(r),
  };
});

const n = suite('NATS southbound edges');
let r: Running;
let logs: string[];
let restore: (l: string) => void;
const conns: NatsConnection[] = [];
const as = async (gw: string) => {
  const nc = await connect({ servers: r.server.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(r.seeds.get(gw)!)), inboxPrefix: subjects(gw).inboxPrefix });
  conns.push(nc);
  return nc;
};
n.before(async () => {
  r = await startNatsController();
  logs = [];
  restore = setLogSink((l) => logs.push(l));
});
n.after(async () => {
  setLogSink(restore);
  await Promise.all(conns.map((c) => c.close()));
  await stopNatsController(r);
});

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
async function eventually(cond: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.unreachable(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

// First in this suite: no other session may have a push waiting for its ack.
n('the bucket is written once the pushes are acknowledged; without the ack it follows a while later', async () => {
  const gw = 'o0005';
  const t = new NatsTransport({ servers: r.server.url, gatewayId: gw, nkeySeed: r.seeds.get(gw)! });
  const bucketVersion = async () => (await t.fetchLatest())?.table?.version;
  const held = r.ctl.store.table(gw)!;
  const got: SessionResponse[] = [];
  const s = await t.open({ gatewayId: gw, heldVersion: held.version, heldEpoch: held.epoch, tableHash: tableHash(held), agentVersion: '' }, { message: (m) => got.push(m), closed: () => {} });
  await until(() => got.length === 1, 'the answer to the Hello');
  assert.is(got[0]!.body?.$case, 'inSync');
  assert.is(await bucketVersion(), held.version);
  const ack = (m: SessionResponse) => {
    assert.is(m.body?.$case, 'delta');
    const d = (m.body as { delta: TableDelta }).delta;
    s.send({ body: { $case: 'ack', ack: { gatewayId: gw, epoch: m.epoch, version: d.version, tableHash: Buffer.from(d.tableHash) } } });
  };

  r.ctl.drainLink(`${gw}--dc-a`, 'test');
  const second = r.ctl.store.table(gw)!.version;
  await until(() => got.length === 2, 'the push');
  // Well past the delay that coalesces changes (250 ms): the bucket waits for the ack.
  await sleep(700);
  assert.is(await bucketVersion(), held.version, 'not written while the push waits for its ack');
  ack(got[1]!);
  await eventually(async () => (await bucketVersion()) === second, 'the bucket written after the ack', 2000);

  r.ctl.undrainLink(`${gw}--dc-a`, 'test');
  const third = r.ctl.store.table(gw)!.version;
  await until(() => got.length === 3, 'the second push');
  await eventually(async () => (await bucketVersion()) === third, 'the bucket written without the ack', 6000);
  assert.ok(r.sb.core.session(gw)?.awaitingAck, 'the push is still not acknowledged');
  // Leave no push waiting for the tests after this one.
  ack(got[2]!);
  await until(() => !r.sb.core.session(gw)?.awaitingAck, 'the ack recorded');
  s.close();
  await t.close();
});

n("a gateway's credentials cannot subscribe to or publish on another gateway's subjects", async () => {
  const nc = await as('o0001');
  const errors: string[] = [];
  (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  const theirs = subjects('o0002');
  const received: string[] = [];
  const subErrors: string[] = [];
  const cb = (e: Error | null, m: { subject: string }) => (e ? subErrors.push(e.message) : received.push(m.subject));
  nc.subscribe(theirs.control, { callback: cb });
  nc.subscribe('sb.>', { callback: cb });
  nc.publish(theirs.report, new Uint8Array([1]));
  await nc.flush();
  // The controller pushes to o0002: its table, which holds link keys.
  r.ctl.drainLink('o0003--dc-a', 'test');
  const probe = await as('o0002');
  probe.publish(theirs.hello, new Uint8Array(0));
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(received, [], 'nothing of o0002 reached o0001');
  assert.is(subErrors.length, 2, 'both subscriptions refused');
  assert.ok(subErrors.every((e) => /Permissions Violation for Subscription/.test(e)), subErrors.join(' | '));
  assert.ok(errors.length >= 2, `server refused: ${errors.join(' | ')}`);
  assert.ok(errors.every((e) => /PERMISSIONS_VIOLATION|Permissions Violation/i.test(e)), errors.join(' | '));
  r.ctl.undrainLink('o0003--dc-a', 'test');
});

n('the tables bucket holds every gateway\'s newest table; a gateway may read only its own key', async () => {
  const t = new NatsTransport({ servers: r.server.url, gatewayId: 'o0004', nkeySeed: r.seeds.get('o0004')! });
  const before = r.ctl.store.table('o0004')!;
  let snap = await t.fetchLatest();
  assert.ok(snap?.table && tableHash(snap.table).equals(tableHash(before)));
  r.ctl.drainLink('o0004--dc-a', 'test');
  const after = r.ctl.store.table('o0004')!;
  assert.ok(after.version > before.version);
  for (let i = 0; i < 100 && snap?.table?.version !== after.version; i++) {
    await new Promise((res) => setTimeout(res, 20));
    snap = await t.fetchLatest();
  }
  assert.is(snap?.table?.version, after.version, 'the bucket follows the journal');
  await t.close();
  const nc = await as('o0004');
  try {
    await nc.request(subjects('o0005').kvDirectGet, new Uint8Array(0), { timeout: 1000 });
    assert.unreachable("read another gateway's table");
  } catch (e) {
    assert.match(String((e as Error).message), /Permissions Violation|TIMEOUT|timeout/i);
  }
  r.ctl.undrainLink('o0004--dc-a', 'test');
});

n('garbage on a report subject is refused with a log line; the session and the store stay as they were', async () => {
  const t = new NatsTransport({ servers: r.server.url, gatewayId: 'o0001', nkeySeed: r.seeds.get('o0001')! });
  const got: string[] = [];
  const s = await t.open({ gatewayId: 'o0001', heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' }, { message: (m) => got.push(m.body?.$case ?? ''), closed: () => got.push('closed') });
  await until(() => got.length === 1, 'snapshot');
  const refused = r.sb.core.stats.refused;
  const seq = r.ctl.store.lastSeq();
  const ack = r.ctl.store.ack('o0001');
  const nc = await as('o0001');
  nc.publish(subjects('o0001').report, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
  nc.publish(subjects('o0001').hello, new Uint8Array([0x0a, 0x80]));
  await nc.flush();
  await until(() => r.sb.core.stats.refused === refused + 2, 'two refusals');
  assert.ok(logs.some((l) => l.includes('refused message') && l.includes('corrupt SessionRequest')), logs.join('\n'));
  assert.is(r.ctl.store.lastSeq(), seq);
  assert.equal(r.ctl.store.ack('o0001'), ack);
  assert.ok(r.sb.core.session('o0001'), 'the session is still open');
  assert.not.ok(got.includes('closed'));
  s.close();
  await t.close();
});

// Revocation replaces the revoked gateway's link keys on its peers. Until
// nats-server reloads its authorization the revoked credentials still log
// in, so the bucket must not hold a table for it with the replacement keys.
n("a revoked gateway's bucket entry is purged, so it cannot read the keys that replaced its own", async () => {
  const t = new NatsTransport({ servers: r.server.url, gatewayId: 'o0006', nkeySeed: r.seeds.get('o0006')! });
  assert.ok((await t.fetchLatest())?.table, 'the bucket holds its table before the revocation');
  r.sb.revoke('o0006', 'test');
  let snap = await t.fetchLatest();
  for (let i = 0; i < 100 && snap; i++) {
    await new Promise((res) => setTimeout(res, 20));
    snap = await t.fetchLatest();
  }
  assert.is(snap, undefined, 'no table in the bucket for a revoked gateway');
  assert.ok(r.ctl.store.table('o0005'), 'others keep theirs');
  const other = new NatsTransport({ servers: r.server.url, gatewayId: 'o0005', nkeySeed: r.seeds.get('o0005')! });
  assert.ok((await other.fetchLatest())?.table);
  await other.close();
  await t.close();
});

n.run();
