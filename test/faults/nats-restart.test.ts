// The nats-server restarts under live NATS sessions: a real nats-server (with
// the generated authorization and JetStream) is stopped and started again on
// the same port and JetStream store, with the controller in its own process
// and agents over NATS. Nobody acts: the controller and the agents reconnect
// by themselves, a change made while the server was down reaches every agent
// once it is back, a change made after reaches them too, every agent acks,
// and no agent ever lost or rolled back its table meanwhile.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { FLEET_WIDE_LINK } from '../helpers/fleet-topology.js';
import { freePort } from '../helpers/free-port.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { Agent, prepareFleet, waitFor, type PreparedFleet } from '../helpers/southbound-fleet.js';

const OFFICES = 10; // 12 agents, all over NATS
const DOWN_MS = 2000;
const RESTARTS = 2;

const r = suite('nats-server restarted under live sessions');
let dir: string;
let fleet: PreparedFleet;
let nats: NatsServer | undefined;
let proc: ControllerProcess;
let admin: AdminClient;
let store: LmdbTableStore;
let agents: Agent[] = [];

r.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-nats-restart-'));
  fleet = await prepareFleet(join(dir, 'controller'), OFFICES);
  nats = await startNatsServer({ config: fleet.natsConfig });
  proc = await startControllerProcess(['--data-dir', join(dir, 'controller'), '--no-bootstrap', '--southbound', `127.0.0.1:${await freePort()}`, '--nats', nats.url, '--http', 'off']);
  admin = new AdminClient(proc.adminAddress, { actor: 'nats-restart-test' });
  store = new LmdbTableStore(join(dir, 'agents'));
  agents = fleet.gateways.map((gw) => new Agent(gw, fleet.creds.get(gw)!, { nats: nats!.url }, store));
  for (const a of agents) a.client.start();
  await waitFor(async () => (await admin.call('listAgents', {})).agents.filter((a) => a.connected && a.inSync).length === agents.length, 'every agent in sync');
});

r.after(async () => {
  await Promise.all(agents.map((a) => a.client.stop()));
  admin?.close();
  await proc?.kill('SIGKILL');
  await nats?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits until every agent holds and the controller has recorded the ack of the versions `seq`'s entry made. */
async function converged(seq: number, what: string): Promise<void> {
  const { entries } = await admin.call('listEvents', { afterSeq: seq - 1, limit: 1 });
  const target = new Map(entries[0]!.tables.map((t) => [t.gatewayId, t.version]));
  assert.is(target.size, agents.length, 'the change moved every table');
  await waitFor(() => agents.every((a) => a.version === target.get(a.gatewayId)), `${what}: every agent at the new version`, 30_000);
  await waitFor(
    async () => (await admin.call('listAgents', {})).agents.every((a) => a.connected && a.inSync && a.version === target.get(a.gatewayId)),
    `${what}: every ack recorded`,
    30_000,
  );
}

r(`${RESTARTS} restarts on the same port and store: sessions recover by themselves, changes reach and are acked by every agent, no table is lost`, async () => {
  // Sampled all along: an agent's table is never gone and never goes back.
  const last = new Map(agents.map((a) => [a.gatewayId, a.version]));
  const problems: string[] = [];
  const watch = setInterval(() => {
    for (const a of agents) {
      if (!a.client.table) problems.push(`${a.gatewayId} has no table`);
      else if (a.version < last.get(a.gatewayId)!) problems.push(`${a.gatewayId} went back from ${last.get(a.gatewayId)} to ${a.version}`);
      last.set(a.gatewayId, a.version);
    }
  }, 10);
  const recoveries: number[] = [];
  try {
    for (let i = 0; i < RESTARTS; i++) {
      const snapshots = agents.reduce((n, a) => n + a.client.stats.snapshots, 0);
      await nats!.stop(true);
      const port = nats!.port;
      const storeDir = nats!.storeDir;
      nats = undefined;
      await waitFor(() => agents.every((a) => !a.client.connected), 'every agent noticed the server is gone', 15_000);
      // A change while the server is down: committed, pushed to no one.
      const during = await admin.call('drainLink', { id: FLEET_WIDE_LINK, reason: `nats down ${i}` });
      await new Promise((res) => setTimeout(res, DOWN_MS));
      const t0 = performance.now();
      nats = await startNatsServer({ config: fleet.natsConfig, port, storeDir });
      await converged(during.journalSeq, `restart ${i}: the change made while the server was down`);
      recoveries.push(performance.now() - t0);
      // And a change made after the restart.
      const after = await admin.call('undrainLink', { id: FLEET_WIDE_LINK });
      await converged(after.journalSeq, `restart ${i}: the change made after the restart`);
      assert.is(agents.reduce((n, a) => n + a.client.stats.snapshots, 0), snapshots, 'agents resynced with deltas, never a snapshot');
    }
  } finally {
    clearInterval(watch);
  }
  assert.equal(problems, [], 'no agent lost or rolled back its table');
  assert.is(proc.child.exitCode, null, 'the controller stayed up');
  process.stdout.write(
    `nats restart: ${RESTARTS} restarts (down ${DOWN_MS} ms each), ${agents.length} NATS agents; server ready to every agent acked the change made while down: ${recoveries.map((x) => `${x.toFixed(0)} ms`).join(', ')}\n`,
  );
});

r.run();
