// The multi-datacenter example over NATS: a real nats-server configured with
// the controller's `ctl nats-config` authorization, agents connecting with
// the NATS credentials of their enrollment bundles; reachability and a
// datacenter link failure, as over gRPC.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { Emulation } from '../../emulate/emulation.js';
import { findNatsServer } from '../../emulate/deployment.js';
import { reaches } from '../../emulate/probes.js';
import { officeReachability } from '../helpers/office-reachability.js';
import { harnessNamespaces, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { parseScenario, type ScenarioEvent } from '../../sim/scenario.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`emulate tests need root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');
findNatsServer();

const topologyFile = fileURLToPath(new URL('../../examples/topology.yaml', import.meta.url));
const scenario = parseScenario(
  `name: example over NATS
topology_file: ${JSON.stringify(topologyFile)}
demands:
  - { id: ber-fra, from: ber, to: fra, rate_pps: 100 }
  - { id: nyc-ams, from: nyc, to: ams, rate_pps: 100 }
timing: { duration_s: 10, probe_interval_ms: 100, detect_multiplier: 3, hold_ms: 2000 }
`,
  '/tmp/example-nats-scenario.yaml',
);

const t = suite('emulate: the example over NATS');
let e: Emulation;
const deadline = setTimeout(() => {
  console.error('emulate over NATS: over 200 s, giving up');
  process.exit(1);
}, 200_000);

t.before(async () => {
  e = await Emulation.start(scenario, { transport: 'nats' });
});
t.after(async () => {
  const mine = e?.h.namespaces() ?? [];
  await e?.close();
  clearTimeout(deadline);
  assert.equal(harnessNamespaces().filter((n) => mine.includes(n)), [], 'every namespace removed');
});

t('every agent holds its session over NATS, with mTLS-enrolled credentials', async () => {
  const rows = await e.dep.agentRows();
  assert.is(rows.length, e.net.topology.gateways.length);
  for (const r of rows) {
    assert.ok(r.connected && r.inSync, `${r.gatewayId} connected and in sync: ${JSON.stringify(r)}`);
    assert.is(r.transport, 'nats', `${r.gatewayId} transport`);
  }
  assert.is(e.dep.security, 'mtls');
});

t('every office reaches every datacenter and office host of its VRF', async () => {
  const { misses, checked } = await officeReachability(e);
  assert.equal(misses, [], 'unreached');
  assert.ok(checked >= 30, `pairs checked: ${checked}`);
  assert.not.ok(await reaches(e.h, e.net.hosts.get('rtm')!.ns, e.net.hosts.get('fra')!.addresses[0]!, 3), 'rtm (acquired) does not reach the corp datacenter');
});

t('a datacenter link fails: Berlin keeps reaching Frankfurt via Amsterdam; the controller moves the routes over NATS', async () => {
  const before = await e.dep.agentRows();
  const r = await e.play(10, { durationMs: 6000, events: [{ kind: 'link_down', link: 'ber-gw1--fra-gw1', atMs: 2000 } as ScenarioEvent] });
  const d = r.demands.find((x) => x.id === 'ber-fra')!;
  console.log(`  ber-fra: ${d.packetsLost} of ${d.packetsSent} lost, outage ${d.outageMs} ms; path ${d.pathStart.join('>')} -> ${d.pathEnd.join('>')}`);
  assert.ok(d.packetsLost > 0, 'the cut interrupted ber-fra');
  assert.ok(d.outageMs > 0 && d.outageMs < 3000, `outage ${d.outageMs} ms`);
  assert.is(d.status, 'disrupted');
  assert.equal(d.pathStart, ['ber-gw1', 'fra-gw1']);
  assert.equal(d.pathEnd, ['ber-gw1', 'ams-gw1', 'fra-gw1'], 'zig-zag via Amsterdam');
  // The new tables went out over NATS and were acknowledged.
  const after = await e.dep.waitInSync(30_000);
  const moved = after.filter((a) => a.version > (before.find((b) => b.gatewayId === a.gatewayId)?.version ?? 0));
  assert.ok(moved.some((a) => a.gatewayId === 'ber-gw1'), `ber-gw1 got a new table: ${JSON.stringify(after)}`);
  assert.ok(after.every((a) => a.transport === 'nats' && a.connected));
  await e.linkState('ber-gw1--fra-gw1', 'up');
});

t.run();
