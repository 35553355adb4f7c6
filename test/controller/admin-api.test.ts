// The admin API over real gRPC: every mutation kind, status codes, the
// journal stream, and that a request failing validation changes nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { AdminState, OperState, SiteKind, Action } from '../../common/model.js';
import type { JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import { startController, type RunningController } from '../../controller/main.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const api = suite('admin API');
let dir: string;
let running: RunningController;
let client: AdminClient;
const clock = new ManualClock(0, 1_800_000_000_000);

api.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-admin-'));
  running = await startController(
    { dataDir: dir, adminListen: '127.0.0.1:0', bootstrapTopology: join(root, 'examples/topology.yaml') },
    clock,
  );
  client = new AdminClient(running.adminAddress, { actor: 'alice' });
});
api.after(async () => {
  client.close();
  await running.close();
  rmSync(dir, { recursive: true, force: true });
});

const rejects = async (p: Promise<unknown>, code: string, re: RegExp) => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SwitchbackError, String(e));
    assert.is(e.code, code, e.message);
    assert.match(e.message, re);
    return e;
  }
  assert.unreachable(`expected ${code}`);
};

const lastSeq = async () => (await client.call('listEvents', { afterSeq: 0, limit: 100000 })).entries.at(-1)!.seq;

api('create site, gateway, link and prefix; each is journaled with its actor', async () => {
  const s0 = await lastSeq();
  await client.call('putSite', { site: { id: 'lab', name: 'Lab', kind: SiteKind.OFFICE, region: 'eu' } });
  const topo = (await client.call('getTopology', {})).topology!;
  const dc = topo.gateways.find((g) => topo.sites.find((s) => s.id === g.siteId)!.kind === SiteKind.DATACENTER)!;
  await client.call('putGateway', { gateway: { id: 'lab-gw1', siteId: 'lab', nodeId: 0, endpoints: [{ host: '192.0.2.99', port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 } });
  await client.call('putLink', { link: { id: 'lab-gw1--x', a: 'lab-gw1', b: dc.id, cost: 5, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: AdminState.UNSPECIFIED, operState: OperState.DOWN, rttUs: 0, lossPpm: 0, changedUnixMs: 0 } });
  const vrf = 'corp';
  await client.call('putPrefix', { prefix: { siteId: 'lab', vrf, cidr: '10.250.0.0/24' } });
  const events = (await client.call('listEvents', { afterSeq: s0, limit: 10 })).entries;
  assert.equal(events.map((e) => e.action), ['site.put', 'gateway.put', 'link.put', 'prefix.put']);
  assert.ok(events.every((e) => e.actor.startsWith('alice@')), 'the journal names who');
  const after = (await client.call('getTopology', {})).topology!;
  const gw = after.gateways.find((g) => g.id === 'lab-gw1')!;
  assert.ok(gw.nodeId > 0, 'a node id is assigned');
  const link = after.links.find((l) => l.id === 'lab-gw1--x')!;
  assert.is(link.adminState, AdminState.UP);
  assert.is(link.operState, OperState.UNSPECIFIED, 'operational state is not settable through the API');
  const routes = await client.call('getRoutes', { gatewayId: dc.id });
  const r = routes.routes.find((x) => x.rule!.prefix === '10.250.0.0/24')!;
  assert.is(r.rule!.action, Action.FORWARD);
  assert.equal(r.primaryPaths[0]!.gateways, [dc.id, 'lab-gw1']);
});

api('validation failures map to INVALID_ARGUMENT naming the field, and change nothing', async () => {
  const s0 = await lastSeq();
  const tables0 = await client.call('listTables', {});
  await rejects(client.call('putPrefix', { prefix: { siteId: 'lab', vrf: 'corp', cidr: '10.0.0.0/33' } }), 'INVALID_ARGUMENT', /33/);
  await rejects(client.call('putPrefix', { prefix: { siteId: 'lab', vrf: 'no-such-vrf', cidr: '10.9.0.0/24' } }), 'INVALID_ARGUMENT', /vrf/i);
  await rejects(client.call('putLink', { link: { id: 'self', a: 'lab-gw1', b: 'lab-gw1', cost: 1, capacityMbps: 1, mtu: 1500, srlgs: [], adminState: 0, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 } }), 'INVALID_ARGUMENT', /itself|same/i);
  await rejects(client.call('putLink', { link: { id: 'neg', a: 'lab-gw1', b: 'fra-gw1', cost: 0, capacityMbps: 1, mtu: 1500, srlgs: [], adminState: 0, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 } }), 'INVALID_ARGUMENT', /cost/);
  await rejects(client.call('putGateway', { gateway: { id: 'orphan', siteId: 'nowhere', nodeId: 0, endpoints: [], underlayMtu: 1500, lastSeenUnixMs: 0 } }), 'INVALID_ARGUMENT', /nowhere/);
  await rejects(client.call('putSite', {}), 'INVALID_ARGUMENT', /site/);
  await rejects(client.call('applyTopology', { yaml: 'sites: [', source: 'inline.yaml', dryRun: false }), 'INVALID_ARGUMENT', /inline\.yaml:1/);
  assert.is(await lastSeq(), s0, 'nothing journaled');
  assert.equal(await client.call('listTables', {}), tables0, 'no table moved');
});

api('NOT_FOUND and FAILED_PRECONDITION', async () => {
  await rejects(client.call('drainLink', { id: 'nope', reason: '' }), 'NOT_FOUND', /link 'nope'/);
  await rejects(client.call('getRoutes', { gatewayId: 'nope' }), 'NOT_FOUND', /gateway 'nope'/);
  await rejects(client.call('undrainLink', { id: 'lab-gw1--x' }), 'FAILED_PRECONDITION', /not drained/);
  await rejects(client.call('deleteGateway', { id: 'lab-gw1' }), 'FAILED_PRECONDITION', /still has links/);
});

api('the journal stream replays what was missed, then follows live changes', async () => {
  const s0 = await lastSeq();
  const got: JournalEntry[] = [];
  const stop = client.watch(s0 - 2, (e) => got.push(e));
  await client.call('drainLink', { id: 'lab-gw1--x', reason: 'test' });
  await client.call('deleteLink', { id: 'lab-gw1--x' });
  const deadline = Date.now() + 5000;
  while (got.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  stop();
  assert.equal(got.map((e) => e.seq), [s0 - 1, s0, s0 + 1, s0 + 2]);
  assert.equal(got.slice(2).map((e) => e.action), ['link.drain', 'link.delete']);
});

api('tables carry versions that only grow; deletes remove a gateway table', async () => {
  const t0 = await client.call('listTables', {});
  assert.ok(t0.tables.some((t) => t.gatewayId === 'lab-gw1'));
  await client.call('deletePrefix', { prefix: { siteId: 'lab', vrf: 'corp', cidr: '10.250.0.0/24' } });
  await client.call('deleteGateway', { id: 'lab-gw1' });
  await client.call('deleteSite', { id: 'lab' });
  const t1 = await client.call('listTables', {});
  assert.not.ok(t1.tables.some((t) => t.gatewayId === 'lab-gw1'));
  for (const t of t1.tables) assert.ok(t.version >= t0.tables.find((x) => x.gatewayId === t.gatewayId)!.version);
});

api.run();
