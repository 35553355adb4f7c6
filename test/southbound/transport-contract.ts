// One contract for every southbound transport (as js-libp2p runs one
// interface suite against each of its transports): an environment provides
// a running controller with the transport's listener and agent-side
// transports holding a gateway's credentials; the cases below must pass for
// each. Files that run it: grpc-session.test.ts, nats-session.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchbackError } from '../../common/errors.js';
import { tableHash } from '../../common/flow-table.js';
import { OperState } from '../../common/model.js';
import type { Controller } from '../../controller/controller.js';
import { FLEET_WIDE_LINK } from '../helpers/fleet-topology.js';
import type { Southbound } from '../../controller/southbound/southbound.js';
import { ControlClient, type ControlEvent } from '../../router-agent/control/control-client.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import type { ControlTransport } from '../../router-agent/control/transport.js';

export interface ContractEnv {
  readonly ctl: Controller;
  readonly southbound: Southbound;
  readonly transportName: string;
  /** An agent-side transport holding `credentialsOf`'s credentials (default: the gateway's own). */
  transport(gatewayId: string, credentialsOf?: string): ControlTransport;
  close(): Promise<void>;
}

/** Gateways the environment must have credentials for before it starts. */
export const CONTRACT_GATEWAYS = ['o0001', 'o0002', 'o0003', 'o0004', 'o0005', 'o0006', 'ghost'];
export const OFFICES = 6;

export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.unreachable(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function runTransportContract(name: string, setup: () => Promise<ContractEnv>): void {
  const t = suite(`${name} transport contract`);
  let env: ContractEnv;
  let dir: string;
  let store: LmdbTableStore;
  const clients: ControlClient[] = [];

  t.before(async () => {
    env = await setup();
    dir = mkdtempSync(join(tmpdir(), 'sb-contract-'));
    store = new LmdbTableStore(dir);
  });
  t.after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await env.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const agent = (gw: string) => {
    const c = new ControlClient({ gatewayId: gw, transport: env.transport(gw), store, backoff: { initialMs: 50, maxMs: 200 } });
    const events: ControlEvent[] = [];
    c.on((e) => events.push(e));
    clients.push(c);
    return { c, events };
  };
  const stop = async (c: ControlClient) => {
    await c.stop();
    clients.splice(clients.indexOf(c), 1);
  };
  /** Opens one session by hand (no client) and closes it again; resolves with the refusal, if any. */
  const tryOpen = async (gw: string, credentialsOf?: string): Promise<SwitchbackError | undefined> => {
    const tr = env.transport(gw, credentialsOf);
    try {
      const s = await tr.open({ gatewayId: gw, heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' }, { message: () => {}, closed: () => {} });
      s.close();
      return undefined;
    } catch (e) {
      assert.ok(e instanceof SwitchbackError, String(e));
      return e;
    } finally {
      await tr.close();
    }
  };
  const current = (gw: string) => env.ctl.store.table(gw)!.version;
  const acked = (gw: string) => env.ctl.store.ack(gw)?.version;

  t('a first session gets a snapshot; the ack is recorded with the transport', async () => {
    const { c } = agent('o0001');
    c.start();
    await until(() => acked('o0001') === current('o0001'), 'ack of the current version');
    assert.is(c.stats.snapshots, 1);
    assert.is(env.ctl.store.ack('o0001')!.transport, env.transportName);
    assert.ok(tableHash(c.table!).equals(tableHash(env.ctl.store.table('o0001')!)));
    const a = env.southbound.agents().agents.find((x) => x.gatewayId === 'o0001')!;
    assert.equal([a.connected, a.inSync, a.transport], [true, true, env.transportName]);
  });

  t('a drained link reaches the agent as a delta, and the agent acknowledges it', async () => {
    const { c } = agent('o0002');
    c.start();
    await until(() => acked('o0002') === current('o0002'), 'first ack');
    env.ctl.drainLink(FLEET_WIDE_LINK, 'test');
    await until(() => acked('o0002') === current('o0002') && acked('o0001') === current('o0001'), 'acks after the drain');
    assert.is(c.stats.deltas, 1);
    assert.is(c.stats.snapshots, 1);
    env.ctl.undrainLink(FLEET_WIDE_LINK, 'test');
    await until(() => acked('o0002') === current('o0002'), 'acks after the undrain');
  });

  t('a restarted agent serves its persisted table first, then resyncs with InSync or a delta', async () => {
    const first = agent('o0003');
    first.c.start();
    await until(() => acked('o0003') === current('o0003'), 'first ack');
    await stop(first.c);
    const again = agent('o0003');
    again.c.start();
    assert.equal(again.events[0]?.type === 'table' && again.events[0].source, 'local');
    await until(() => again.c.stats.inSync === 1, 'InSync');
    await stop(again.c);
    env.ctl.drainLink(FLEET_WIDE_LINK, 'test');
    const third = agent('o0003');
    third.c.start();
    await until(() => acked('o0003') === current('o0003'), 'ack after the missed change');
    assert.equal([third.c.stats.deltas, third.c.stats.snapshots], [1, 0]);
    env.ctl.undrainLink(FLEET_WIDE_LINK, 'test');
  });

  t('link reports reach the controller and move the link state', async () => {
    const { c } = agent('o0004');
    c.start();
    await until(() => acked('o0004') === current('o0004'), 'first ack');
    c.reportLink({ peerGatewayId: 'dc-b', linkId: 'o0004--dc-b', state: OperState.DOWN, rttUs: 1234, jitterUs: 0, lossPpm: 10, pathMtu: 1400, observedUnixMs: 0 });
    await until(() => env.ctl.topology().links.find((l) => l.id === 'o0004--dc-b')!.operState === OperState.DOWN, 'oper state down');
    await until(() => acked('o0004') === current('o0004'), 'ack of the recomputed table');
  });

  t('a Hello for an unknown gateway is refused with NOT_FOUND', async () => {
    const e = (await tryOpen('ghost'))!;
    assert.is(e?.code, 'NOT_FOUND');
    assert.match(e.message, /unknown gateway 'ghost'/);
  });

  t("a Hello with another gateway's credentials is refused; no session, no ack", async () => {
    const before = env.ctl.store.ack('o0006');
    const e = await tryOpen('o0006', 'o0005');
    assert.ok(e && ['PERMISSION_DENIED', 'UNAVAILABLE'].includes(e.code), e?.message);
    assert.is(env.southbound.core.session('o0006'), undefined);
    assert.equal(env.ctl.store.ack('o0006'), before);
  });

  t('a revoked gateway is closed within a second and its reconnection refused; others keep their sessions', async () => {
    const { c, events } = agent('o0006');
    c.start();
    await until(() => acked('o0006') === current('o0006'), 'first ack');
    const held = current('o0006');
    const revokedAt = Date.now();
    env.southbound.revoke('o0006', 'test');
    await until(() => events.some((e) => e.type === 'disconnected'), 'session closed', 1000);
    assert.ok(Date.now() - revokedAt < 1000);
    // The revocation replaced its links' keys (a new version it is not sent).
    assert.is(c.table?.version, held, 'the agent keeps its table (fail-static)');
    assert.ok(current('o0006') > held);
    const e = (await tryOpen('o0006'))!;
    assert.is(e?.code, 'PERMISSION_DENIED');
    assert.match(e.message, /revoked/);
    await stop(c);
    assert.ok(env.southbound.core.session('o0001'), 'o0001 still connected');
    env.ctl.drainLink(FLEET_WIDE_LINK, 'test');
    await until(() => acked('o0001') === current('o0001'), 'o0001 still served');
    env.ctl.undrainLink(FLEET_WIDE_LINK, 'test');
  });

  t.run();
}
