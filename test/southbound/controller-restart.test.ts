// Fail-static across a controller crash: the controller is a real child
// process killed with SIGKILL. Agents (half over gRPC, half over NATS) keep
// their tables throughout, agents restarted meanwhile serve their persisted
// tables (and over NATS fetch a newer one from the tables bucket), and when
// the controller is back every agent reconnects by itself and resyncs with
// deltas, never a snapshot.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { NatsTransport } from '../../router-agent/control/nats-transport.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { freePort } from '../helpers/free-port.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { FLEET_WIDE_LINK } from '../helpers/fleet-topology.js';
import { Agent, prepareFleet, waitFor, type PreparedFleet } from '../helpers/southbound-fleet.js';

const OFFICES = 38; // 40 gateways: 20 agents over gRPC, 20 over NATS

const r = suite('controller killed and restarted');
let dir: string;
let fleet: PreparedFleet;
let nats: NatsServer;
let grpcAddress: string;
let proc: ControllerProcess;
let admin: AdminClient;
let store: LmdbTableStore;
let agents: Agent[] = [];
const viaOf = (i: number) => (i < 20 ? { grpc: grpcAddress } : { nats: nats.url });
const byId = (gw: string) => agents.find((a) => a.gatewayId === gw)!;

async function startProc(): Promise<void> {
  proc = await startControllerProcess(['--data-dir', join(dir, 'controller'), '--no-bootstrap', '--southbound', grpcAddress, '--nats', nats.url]);
  admin?.close();
  admin = new AdminClient(proc.adminAddress, { actor: 'restart-test' });
}

const inSync = async () => (await admin.call('listAgents', {})).agents.filter((a) => a.inSync && a.connected).length;

r.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-restart-'));
  fleet = await prepareFleet(join(dir, 'controller'), OFFICES);
  nats = await startNatsServer({ config: fleet.natsConfig });
  grpcAddress = `127.0.0.1:${await freePort()}`;
  await startProc();
  store = new LmdbTableStore(join(dir, 'agents'));
  agents = fleet.gateways.map((gw, i) => new Agent(gw, fleet.creds.get(gw)!, viaOf(i), store));
  for (const a of agents) a.client.start();
  await waitFor(async () => (await inSync()) === 40, 'all 40 agents in sync');
});
r.after(async () => {
  await Promise.all(agents.map((a) => a.client.stop()));
  admin.close();
  await proc.kill('SIGKILL');
  await nats.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

r('agents keep their tables while the controller is dead; agents restarted meanwhile serve their persisted table', async () => {
  // A NATS agent that stops before a change: its store holds the old table,
  // the bucket the new one.
  const late = byId(fleet.gateways[30]!);
  await late.client.stop();
  const oldVersion = late.version;
  await admin.call('drainLink', { id: FLEET_WIDE_LINK, reason: 'before the crash' });
  await waitFor(() => agents.filter((a) => a !== late).every((a) => a.client.stats.deltas === 1), 'the drain reached the running agents');
  await waitFor(async () => (await inSync()) === 39, 'their acks');
  // The bucket is written after the pushes: wait until it holds the late agent's new table.
  const probe = new NatsTransport({ servers: nats.url, gatewayId: late.gatewayId, nkeySeed: fleet.creds.get(late.gatewayId)!.natsSeed });
  const newest = (await admin.call('listAgents', {})).agents.find((a) => a.gatewayId === late.gatewayId)!.version;
  await waitFor(async () => (await probe.fetchLatest())?.table?.version === newest, 'the bucket holds the new table');
  await probe.close();

  const held = new Map(agents.map((a) => [a.gatewayId, a.version]));
  const snapshotsBefore = new Map(agents.map((a) => [a.gatewayId, a.client.stats.snapshots]));
  await proc.kill('SIGKILL');
  await waitFor(() => agents.filter((a) => a !== late).every((a) => !a.client.connected), 'every session noticed the loss', 15_000);
  for (const a of agents) assert.is(a.version, held.get(a.gatewayId), `${a.gatewayId} kept its table`);

  // Restarted agents while the controller is down: one per transport.
  const grpcAgain = new Agent(fleet.gateways[3]!, fleet.creds.get(fleet.gateways[3]!)!, viaOf(3), store);
  const natsAgain = new Agent(late.gatewayId, fleet.creds.get(late.gatewayId)!, viaOf(30), store);
  await byId(grpcAgain.gatewayId).client.stop();
  agents = agents.map((a) => (a.gatewayId === grpcAgain.gatewayId ? grpcAgain : a.gatewayId === late.gatewayId ? natsAgain : a));
  grpcAgain.client.start();
  natsAgain.client.start();
  assert.equal(grpcAgain.events[0], { type: 'table', table: grpcAgain.client.table!, source: 'local' });
  assert.is(grpcAgain.version, held.get(grpcAgain.gatewayId));
  assert.is(natsAgain.events[0]?.type === 'table' && natsAgain.events[0].source, 'local');
  assert.is(natsAgain.events[0]?.type === 'table' && natsAgain.events[0].table.version, oldVersion);
  await waitFor(() => natsAgain.tables('kv') === 1, 'the NATS agent found the newer table in the bucket', 15_000);
  assert.ok(natsAgain.version > oldVersion);
  assert.is(natsAgain.client.stats.snapshots, 0);

  // The controller comes back on the same data; agents reconnect by themselves.
  await startProc();
  const { journalSeq } = await admin.call('undrainLink', { id: FLEET_WIDE_LINK });
  const { entries } = await admin.call('listEvents', { afterSeq: journalSeq - 1, limit: 1 });
  const target = new Map(entries[0]!.tables.map((t) => [t.gatewayId, t.version]));
  await waitFor(() => agents.every((a) => a.version === target.get(a.gatewayId)), 'every agent at the version made after the restart', 30_000);
  await waitFor(async () => (await inSync()) === 40, 'every ack recorded by the new controller', 30_000);
  for (const a of agents) {
    const before = a === grpcAgain || a === natsAgain ? 0 : snapshotsBefore.get(a.gatewayId)!;
    assert.is(a.client.stats.snapshots, before, `${a.gatewayId}: resynced without a snapshot`);
    assert.ok(a.client.stats.deltas >= 1, `${a.gatewayId}: resynced with a delta`);
  }
  const { agents: states, epoch } = await admin.call('listAgents', {});
  assert.ok(epoch > 1, 'a new controller epoch');
  assert.equal(new Set(states.map((s) => s.transport)), new Set(['grpc', 'nats']));
});

r.run();
