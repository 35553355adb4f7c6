// The controller's LMDB volume runs full: a real controller process keeps its
// data directory on a small tmpfs, a filler file takes the rest of it. Writes
// must fail with RESOURCE_EXHAUSTED naming the full store, reads and agent
// sessions keep working, the process stays up, and once the filler is gone
// writes work again and the store is consistent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchbackError } from '../../common/errors.js';
import { SystemClock } from '../../common/clock.js';
import { AdminState } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { FLEET_WIDE_LINK, fleetTopology } from '../helpers/fleet-topology.js';
import { freePort } from '../helpers/free-port.js';
import { Agent, prepareFleet, waitFor, type PreparedFleet } from '../helpers/southbound-fleet.js';
import { checkStoreInvariants } from '../helpers/store-invariants.js';

const OFFICES = 8;
const full = suite('controller store volume full');
let work: string;
let volume: string;
let mounted = false;
let fleet: PreparedFleet;
let proc: ControllerProcess | undefined;
let admin: AdminClient;
let agentStore: LmdbTableStore;
let agents: Agent[] = [];
let grpcAddress: string;
const dataDir = () => join(volume, 'controller');
const filler = () => join(volume, 'filler');

/** Writes zeros until the volume refuses; returns the bytes written. */
function fillVolume(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

full.before(async () => {
  assert.is(process.getuid?.(), 0, 'this fault test mounts a tmpfs: it runs as root (as .ci/run does)');
  work = mkdtempSync(join(tmpdir(), 'sb-volume-full-'));
  volume = join(work, 'volume');
  mkdirSync(volume);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', volume]);
  mounted = true;
  fleet = await prepareFleet(dataDir(), OFFICES);
  grpcAddress = `127.0.0.1:${await freePort()}`;
  proc = await startControllerProcess(['--data-dir', dataDir(), '--no-bootstrap', '--southbound', grpcAddress, '--http', 'off']);
  admin = new AdminClient(proc.adminAddress, { actor: 'volume-full-test' });
  agentStore = new LmdbTableStore(join(work, 'agents'));
  agents = fleet.gateways.map((gw) => new Agent(gw, fleet.creds.get(gw)!, { grpc: grpcAddress }, agentStore));
  for (const a of agents) a.client.start();
  await waitFor(async () => (await admin.call('listAgents', {})).agents.filter((a) => a.connected && a.inSync).length === agents.length, 'every agent in sync');
});

full.after(async () => {
  await Promise.all(agents.map((a) => a.client.stop()));
  admin?.close();
  await proc?.kill('SIGKILL');
  await agentStore?.close();
  // Unmount even when the test failed; lazily, should anything still hold a file.
  if (mounted) execFileSync('umount', ['-l', volume]);
  rmSync(work, { recursive: true, force: true });
});

full('writes fail with RESOURCE_EXHAUSTED, reads and sessions go on, writes work again when space returns', async () => {
  try {
    await whileFull();
  } catch (err) {
    // A controller that died says why.
    await new Promise((r) => setTimeout(r, 300));
    if (proc) process.stderr.write(`controller (exit ${proc.child.exitCode ?? proc.child.signalCode}) said:\n${proc.output()}\n`);
    throw err;
  }
});

async function whileFull(): Promise<void> {
  const fillerBytes = fillVolume(filler());
  assert.ok(fillerBytes > 0);

  // A drain or undrain moves every table of the fleet: a big commit that no longer fits.
  const before = await admin.call('getTopology', {});
  const drained = () => before.topology!.links.find((l) => l.id === FLEET_WIDE_LINK)!.adminState === AdminState.DRAINED;
  const flip = (t: { adminState: AdminState }) =>
    t.adminState === AdminState.DRAINED ? admin.call('undrainLink', { id: FLEET_WIDE_LINK }) : admin.call('drainLink', { id: FLEET_WIDE_LINK, reason: 'volume full' });
  const refused = await flip(before.topology!.links.find((l) => l.id === FLEET_WIDE_LINK)!).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(SwitchbackError.is(refused, 'RESOURCE_EXHAUSTED'), `a write on a full volume is RESOURCE_EXHAUSTED, got ${String(refused)}`);
  assert.match((refused as Error).message, /store is full/);
  // Other writes too: a topology change.
  const link = before.topology!.links.find((l) => l.id !== FLEET_WIDE_LINK)!;
  const put = await admin.call('putLink', { link: { ...link, cost: link.cost + 1 } }).then(() => undefined, (e: unknown) => e);
  assert.ok(SwitchbackError.is(put, 'RESOURCE_EXHAUSTED'), `putLink on a full volume: ${String(put)}`);

  // Reads answer from the state before the refused writes.
  const topo = await admin.call('getTopology', {});
  assert.equal(topo.topology, before.topology, 'a refused write left the model as it was');
  assert.is(drained(), topo.topology!.links.find((l) => l.id === FLEET_WIDE_LINK)!.adminState === AdminState.DRAINED);
  const tables = await admin.call('listTables', {});
  assert.is(tables.tables.length, agents.length);
  const held = new Map(agents.map((a) => [a.gatewayId, a.version]));

  // Sessions: an agent that restarts now says Hello and is served; its ack is
  // recorded in memory though it cannot be written.
  const again = agents[3]!;
  await again.client.stop();
  const fresh = new Agent(again.gatewayId, fleet.creds.get(again.gatewayId)!, { grpc: grpcAddress }, agentStore);
  agents[3] = fresh;
  fresh.client.start();
  await waitFor(() => fresh.client.connected, 'the restarted agent connected');
  await waitFor(
    async () => (await admin.call('listAgents', {})).agents.filter((a) => a.connected && a.inSync).length === agents.length,
    'every agent, the restarted one too, connected and in sync',
  );
  // Pause for the asynchronous ack writes to fail: the process must stay up.
  await new Promise((r) => setTimeout(r, 500));
  assert.is(proc!.child.exitCode, null, 'the controller is still running');
  assert.is(proc!.child.signalCode, null);
  for (const a of agents) assert.is(a.version, held.get(a.gatewayId), `${a.gatewayId} kept its table`);

  // Space returns: the next write goes through and reaches every agent.
  rmSync(filler());
  const t0 = performance.now();
  const ok = await flip(topo.topology!.links.find((l) => l.id === FLEET_WIDE_LINK)!);
  const writeMs = performance.now() - t0;
  const { entries } = await admin.call('listEvents', { afterSeq: ok.journalSeq - 1, limit: 1 });
  const target = new Map(entries[0]!.tables.map((t) => [t.gatewayId, t.version]));
  assert.is(target.size, agents.length, 'the change moved every table');
  await waitFor(() => agents.every((a) => a.version === target.get(a.gatewayId)), 'every agent at the new version');
  await waitFor(async () => (await admin.call('listAgents', {})).agents.every((a) => a.inSync && a.version === target.get(a.gatewayId)), 'every ack recorded');
  const put2 = await admin.call('putLink', { link: { ...link, cost: link.cost + 1 } });
  assert.ok(put2.journalSeq > ok.journalSeq);

  // At rest the store is consistent and holds both writes.
  await proc!.kill('SIGTERM');
  proc = undefined;
  const facts = await checkStoreInvariants(dataDir(), put2.journalSeq);
  assert.is(facts.tables, agents.length);
  process.stdout.write(`volume full: filler ${(fillerBytes / 2 ** 20).toFixed(1)} MiB; 2 writes refused with RESOURCE_EXHAUSTED; ${agents.length} sessions kept; first write after space returned took ${writeMs.toFixed(0)} ms\n`);
}

full('a store that grows onto a full volume refuses with RESOURCE_EXHAUSTED (not INTERNAL), keeps serving reads, takes writes when room returns', async () => {
  const small = join(work, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small]);
  try {
    // Some room to give back at the end.
    writeFileSync(join(small, 'filler'), Buffer.alloc(512 * 1024));
    const store = new LmdbStore({ path: join(small, 'controller') });
    const ctl = new Controller({ store, clock: new SystemClock() });
    ctl.applyTopology(fleetTopology(40), 'test');
    let refused: unknown;
    let writes = 0;
    for (; writes < 2000 && !refused; writes++) {
      try {
        const l = ctl.topology().links.find((x) => x.id === FLEET_WIDE_LINK)!;
        if (l.adminState === AdminState.DRAINED) ctl.undrainLink(l.id, 'test');
        else ctl.drainLink(l.id, 'grow', 'test');
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(SwitchbackError.is(refused, 'RESOURCE_EXHAUSTED'), `after ${writes} writes: ${String(refused)}`);
    assert.match((refused as Error).message, /store is full/);
    assert.is(store.tables().length, 42);
    assert.is(ctl.topology().links.length, 81);
    // Acks and link statistics are written in the background: on the full
    // volume they fail, are counted, and never surface as an unhandled
    // rejection (which ends a Node process).
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Pages freed inside the store may still take some writes (tables are
      // kept as small deltas): write until the volume refuses them too.
      for (let round = 0; round < 20 && store.backgroundWriteFailures === 0; round++) {
        for (let i = 0; i < 2000; i++) store.setAck(`gw-${round}-${i}`, { version: i + 1, atMs: Date.now(), transport: 'grpc' });
        for (const l of ctl.topology().links) store.setLinkStats(l.id, { rttUs: 1000 + round, lossPpm: 0, atMs: Date.now() });
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitFor(() => store.backgroundWriteFailures > 0, 'the background writes failed');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.equal(unhandled, [], 'no unhandled rejection');
    // Room again: the store takes writes (and can close, which flushes).
    rmSync(join(small, 'filler'));
    const l = ctl.topology().links.find((x) => x.id === FLEET_WIDE_LINK)!;
    const entry = l.adminState === AdminState.DRAINED ? ctl.undrainLink(l.id, 'test') : ctl.drainLink(l.id, 'room again', 'test');
    assert.is(entry.tables.length, 42);
    await store.close();
    process.stdout.write(`volume full: the store grew onto a 3 MiB volume and refused write ${writes} with RESOURCE_EXHAUSTED; ${store.backgroundWriteFailures} background writes failed, none unhandled; writes work once 512 KiB are free\n`);
  } finally {
    execFileSync('umount', ['-l', small]);
  }
});

full.run();
