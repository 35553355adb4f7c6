// Link keys rotated under live traffic: two real agents with a real
// controller, a ping every 20 ms from host A to host B, and the controller
// rotating the tunnel's key several times (`switchback ctl rotate-keys`).
// Make-before-break: not one ping is lost, no packet fails authentication,
// and both agents' applied tables hold the new key afterwards. Then the
// revocation of gateway A: B's new key refuses everything A still seals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { waitFor } from '../helpers/agent-process.js';
import { pingSeries, startControlledNetwork, type ControlledNetwork } from '../helpers/controlled-network.js';
import { NetnsHarness, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { parsePromText } from '../helpers/prom-text.js';
import { linkId, type NetworkSpec } from '../helpers/tunnel-network.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`e2e needs root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');

const spec: NetworkSpec = {
  sites: [
    { id: 'a', kind: 'office', prefix24: '10.1.0' },
    { id: 'b', kind: 'datacenter', prefix24: '10.2.0' },
  ],
  gateways: [
    { id: 'gw-a', site: 'a', n: 1 },
    { id: 'gw-b', site: 'b', n: 2 },
  ],
  links: [{ a: 'gw-a', b: 'gw-b', cost: 10 }],
};
const LINK = linkId('gw-a', 'gw-b');
const ROTATIONS = 3;

const rot = suite('link key rotation end to end');
let h: NetnsHarness;
let cn: ControlledNetwork;

rot.before(async () => {
  h = new NetnsHarness();
  // Slow failure detection (2 s of silence): this test is about keys, and a
  // machine busy enough to starve the agents' probes for 300 ms must not
  // take the only tunnel down in the middle of it.
  cn = await startControlledNetwork(h, spec, { probeIntervalMs: 100, detectMultiplier: 20, holdMs: 1000 });
});
rot.after(async () => {
  await h?.cleanup();
  cn?.close();
});

/** The key ids the agent's applied (persisted, acknowledged) table holds for the link. */
function heldKeys(gw: string): { key: number; previous: number; next: number; version: number } | undefined {
  const store = new LmdbTableStore(join(cn.dir, `agent-${gw}`));
  try {
    const t = store.load(gw)?.table;
    const p = t?.peers.find((x) => x.linkId === LINK);
    if (!t || !p) return undefined;
    return { key: p.keyId, previous: p.previousKey.length ? p.previousKeyId : 0, next: p.nextKey.length ? p.nextKeyId : 0, version: t.version };
  } finally {
    void store.close();
  }
}

async function metrics(gw: string) {
  const ns = cn.net.gwNs.get(gw)!;
  const r = await h.exec(ns, process.execPath, ['-e', `fetch('http://${cn.net.endpoint(gw)}:9101/metrics').then(r => r.text()).then(console.log)`]);
  if (r.code !== 0 || !r.stdout.includes('switchback_agent_')) throw new Error(`metrics of ${gw}: ${r.stderr}`);
  return parsePromText(r.stdout);
}
/** Auth drops of an agent (whatever other labels the series carry). */
const authDrops = async (gw: string) =>
  (await metrics(gw)).get('switchback_agent_drops_total')?.samples.filter((x) => x.labels.reason === 'auth').reduce((n, x) => n + x.value, 0) ?? 0;

/** How often the controller journaled the tunnel down. */
const downs = async () => ((await cn.ctl('events', '--limit', '10000')).stdout.match(/link\.oper\s+link gw-a-gw-b down/g) ?? []).length;

async function pingOnce(): Promise<boolean> {
  const r = await h.exec(cn.net.hostNs.get('a')!, 'ping', ['-n', '-c', '1', '-W', '1', '10.2.0.10']);
  return r.code === 0;
}

rot('pings every 20 ms across three key rotations: none lost, no authentication failure, new key id on both agents', async () => {
  await waitFor(pingOnce, 'host A reaches host B through the tunnel', 20_000);
  const start = heldKeys('gw-a')!;
  assert.equal([start.key, start.previous, start.next], [1, 0, 0]);
  assert.equal(heldKeys('gw-b')!.key, 1);
  const authBefore = { a: await authDrops('gw-a'), b: await authDrops('gw-b') };

  const downsBefore = await downs();
  const ping = pingSeries(h, cn.net.hostNs.get('a')!, '10.2.0.10', 100_000, 20);
  await new Promise((r) => setTimeout(r, 1_000));
  const seen: string[] = [];
  for (let i = 1; i <= ROTATIONS; i++) {
    const r = await cn.ctl('rotate-keys', LINK);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`key rotation started on 1 link\\(s\\): ${LINK}`));
    const want = 1 + i;
    // Done when both agents hold (applied, persisted, acknowledged) the new
    // key alone: announce, switch and retire have all reached them.
    await waitFor(() => {
      const a = heldKeys('gw-a');
      const b = heldKeys('gw-b');
      for (const x of [a, b]) if (x && !seen.includes(`${x.key}/${x.previous}/${x.next}`)) seen.push(`${x.key}/${x.previous}/${x.next}`);
      return [a, b].every((x) => x?.key === want && x.previous === 0 && x.next === 0);
    }, `rotation ${i}: both agents hold key ${want} alone`, 30_000);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  ping.stop();
  const run = await ping.done;

  // A ping still in flight when ping was stopped is not a loss: count up to the last answer.
  const last = Math.max(...run.answered);
  const lost = [...Array(last).keys()].map((i) => i + 1).filter((s) => !run.answered.has(s));
  console.log(`  ${ROTATIONS} rotations: ${last} pings sent (20 ms apart) up to the last answer, ${run.answered.size} answered, ${lost.length} lost; states seen: ${seen.join(' ')}`);
  assert.ok(last > 500, `pings ran through the rotations (${last})`);
  if (lost.length) console.log((await cn.ctl('events', '--limit', '1000')).stdout);
  assert.equal(lost, [], 'no ping lost across the rotations');
  assert.is(await downs(), downsBefore, 'the tunnel never went down meanwhile');
  assert.is(run.errors, 0);
  // Every phase reached the agents, in order, for each rotation: announce (K/-/K+1), switch (K+1/K/-), retire (K+1/-/-).
  for (let k = 1; k <= ROTATIONS; k++) {
    assert.ok(seen.includes(`${k + 1}/${k}/0`), `switch to key ${k + 1} seen on an agent: ${seen.join(' ')}`);
  }
  assert.is(await authDrops('gw-a'), authBefore.a, 'no packet to A failed authentication');
  assert.is(await authDrops('gw-b'), authBefore.b, 'no packet to B failed authentication');

  const events = await cn.ctl('events', '--limit', '1000');
  const rotationEntries = events.stdout.split('\n').filter((l) => / link\.key-rotate /.test(l));
  assert.is(rotationEntries.length, ROTATIONS * 3, `announce, switch and retire journaled per rotation:\n${rotationEntries.join('\n')}`);
  await cn.waitInSync();
});

rot('after revoking gateway A, B has a new key for the link and refuses what A still seals (auth drops), so A reaches nothing', async () => {
  assert.ok(await pingOnce(), 'the path works before the revocation');
  const keyBefore = heldKeys('gw-b')!.key;
  const r = await cn.ctl('revoke', 'gw-a');
  assert.is(r.code, 0, r.stderr);
  // B's new table: a new key, nothing old kept.
  await waitFor(() => {
    const b = heldKeys('gw-b');
    return !!b && b.key !== keyBefore && b.previous === 0 && b.next === 0;
  }, 'gw-b holds a fresh key for the revoked gateway alone', 20_000);
  // A keeps forwarding on its last table (fail-static), sealed with the old key.
  assert.is(heldKeys('gw-a')!.key, keyBefore, 'the revoked gateway got no new table');
  const dropsBefore = await authDrops('gw-b');
  const run = await pingSeries(h, cn.net.hostNs.get('a')!, '10.2.0.10', 20, 20).done;
  assert.is(run.answered.size, 0, 'nothing from the revoked gateway gets through');
  let dropsNow = dropsBefore;
  await waitFor(async () => (dropsNow = await authDrops('gw-b')) >= dropsBefore + 20, `gw-b counts the revoked gateway's packets as auth drops (${dropsBefore} -> ${dropsNow}); gw-a: ${JSON.stringify((await metrics('gw-a')).get('switchback_agent_drops_total')?.samples)}`, 10_000);
  const events = await cn.ctl('events', '--limit', '1000');
  assert.match(events.stdout, /link\.key-replace\s+link keys replaced after revoking gw-a/);
});

rot.run();
