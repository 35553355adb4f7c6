// A hundred agents per transport against a controller with its real admin
// API, mTLS southbound and a real nats-server running the generated
// authorization: every agent converges, and a link drained through the
// admin API reaches every affected agent as a delta that every agent acks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { startController, type RunningController } from '../../controller/main.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { FLEET_WIDE_LINK } from '../helpers/fleet-topology.js';
import { Agent, prepareFleet, waitFor, type PreparedFleet, type Via } from '../helpers/southbound-fleet.js';

const OFFICES = 98; // + 2 datacenters = 100 gateways, 100 agents

for (const transport of ['grpc', 'nats'] as const) {
  const f = suite(`100 agents over ${transport}`);
  let dir: string;
  let fleet: PreparedFleet;
  let nats: NatsServer | undefined;
  let running: RunningController;
  let admin: AdminClient;
  let store: LmdbTableStore;
  let agents: Agent[] = [];

  f.before(async () => {
    dir = mkdtempSync(join(tmpdir(), `sb-fleet-${transport}-`));
    fleet = await prepareFleet(join(dir, 'controller'), OFFICES);
    if (transport === 'nats') nats = await startNatsServer({ config: fleet.natsConfig });
    running = await startController({
      dataDir: join(dir, 'controller'),
      adminListen: '127.0.0.1:0',
      southboundListen: '127.0.0.1:0',
      natsUrls: nats ? [nats.url] : undefined,
    });
    admin = new AdminClient(running.adminAddress, { actor: 'fleet-test' });
    store = new LmdbTableStore(join(dir, 'agents'));
    const via: Via = nats ? { nats: nats.url } : { grpc: running.southbound.grpcAddress! };
    agents = fleet.gateways.map((gw) => new Agent(gw, fleet.creds.get(gw)!, via, store));
  });
  f.after(async () => {
    await Promise.all(agents.map((a) => a.client.stop()));
    admin.close();
    await running.close();
    await nats?.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const allInSync = async () => {
    const { agents: states } = await admin.call('listAgents', {});
    return states.length === 100 && states.every((s) => s.inSync && s.connected && s.transport === transport);
  };

  f('every agent converges to its current table version', async () => {
    for (const a of agents) a.client.start();
    await waitFor(allInSync, 'all 100 in sync', 60_000);
    const { agents: states } = await admin.call('listAgents', {});
    const current = new Map(states.map((s) => [s.gatewayId, s.version]));
    for (const a of agents) {
      assert.is(a.version, current.get(a.gatewayId), a.gatewayId);
      assert.is(a.client.stats.snapshots, 1, `${a.gatewayId}: one snapshot to start`);
    }
  });

  f('a link drained through the admin API reaches every affected agent as a delta, and every agent acks it', async () => {
    const before = new Map(agents.map((a) => [a.gatewayId, a.version]));
    const { journalSeq } = await admin.call('drainLink', { id: FLEET_WIDE_LINK, reason: 'fleet test' });
    const { entries } = await admin.call('listEvents', { afterSeq: journalSeq - 1, limit: 1 });
    const moved = new Map(entries[0]!.tables.map((t) => [t.gatewayId, t.version]));
    assert.is(moved.size, 100, `every table moves (the change names ${[...moved.keys()].join(',')})`);
    await waitFor(() => agents.every((a) => a.version === moved.get(a.gatewayId)), 'every agent at its new version', 30_000);
    await waitFor(allInSync, 'every ack recorded', 30_000);
    for (const a of agents) {
      assert.ok(a.version > before.get(a.gatewayId)!);
      assert.equal([a.client.stats.deltas, a.client.stats.snapshots], [1, 1], `${a.gatewayId}: the change came as a delta`);
    }
  });

  f.run();
}
