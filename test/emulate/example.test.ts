// The multi-datacenter example (examples/topology.yaml: 3 datacenters, 6
// offices) emulated once with real agents, a real controller and real pings,
// then put through: reachability, a datacenter link failure, an agent
// restarted while the controller is down, the controller killed for 30 s
// (not one probe lost), a revoked gateway.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { Emulation } from '../../emulate/emulation.js';
import { waitFor } from '../../emulate/deployment.js';
import { reaches } from '../../emulate/probes.js';
import { officeReachability } from '../helpers/office-reachability.js';
import { harnessNamespaces, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { parseScenario, type ScenarioEvent } from '../../sim/scenario.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`emulate tests need root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');

const topologyFile = fileURLToPath(new URL('../../examples/topology.yaml', import.meta.url));
const scenario = parseScenario(
  `name: example
topology_file: ${JSON.stringify(topologyFile)}
demands:
  - { id: ber-fra, from: ber, to: fra, rate_pps: 100 }
  - { id: ber-muc, from: ber, to: muc, rate_pps: 100 }
  - { id: nyc-ams, from: nyc, to: ams, rate_pps: 100 }
  - { id: rtm-ber, from: rtm, to: ber, rate_pps: 100 }
timing: { duration_s: 10, probe_interval_ms: 100, detect_multiplier: 3, hold_ms: 2000 }
`,
  '/tmp/example-scenario.yaml',
);
const at = (atMs: number, e: Record<string, string>) => ({ ...e, atMs }) as unknown as ScenarioEvent;

const t = suite('emulate: the multi-datacenter example');
let e: Emulation;
const deadline = setTimeout(() => {
  console.error('emulate example: over 320 s, giving up');
  process.exit(1);
}, 320_000);

t.before(async () => {
  e = await Emulation.start(scenario);
});
t.after(async () => {
  const mine = e?.h.namespaces() ?? [];
  await e?.close();
  clearTimeout(deadline);
  const left = harnessNamespaces().filter((n) => mine.includes(n));
  assert.equal(left, [], 'every namespace removed');
});

t('every office reaches every datacenter and office host of its VRF; the 192.168.1.0/24 twins stay apart', async () => {
  const { misses, checked } = await officeReachability(e);
  assert.equal(misses, [], 'unreached');
  assert.ok(checked >= 30, `pairs checked: ${checked}`);
  // Berlin (corp) reaches the datacenters; Rotterdam (acquired, the same
  // 192.168.1.0/24) reaches no corp service: the VRFs keep them apart.
  const ber = e.net.hosts.get('ber')!;
  const rtm = e.net.hosts.get('rtm')!;
  assert.equal(ber.addresses, rtm.addresses);
  for (const dc of ['fra', 'ams', 'ash']) assert.ok(await reaches(e.h, ber.ns, e.net.hosts.get(dc)!.addresses[0]!), `ber reaches ${dc}`);
  assert.not.ok(await reaches(e.h, rtm.ns, e.net.hosts.get('fra')!.addresses[0]!, 3), 'rtm (acquired) does not reach the corp datacenter');
  // Amsterdam serves both VRFs (one TUN each on ams-gw1): Rotterdam reaches
  // the acquired company's service there, Berlin with the same address does not.
  const acquired = e.net.hosts.get('ams/acquired')!;
  assert.equal(acquired.addresses, ['172.20.0.1']);
  assert.is(acquired.vrf, 'acquired');
  assert.ok(await reaches(e.h, rtm.ns, '172.20.0.1'), 'rtm reaches the acquired service at ams');
  assert.ok(await reaches(e.h, acquired.ns, '192.168.1.1'), 'the acquired service reaches rtm');
  assert.not.ok(await reaches(e.h, ber.ns, '172.20.0.1', 3), 'ber (corp) does not reach the acquired service');
  assert.not.ok(await reaches(e.h, acquired.ns, e.net.hosts.get('ams')!.addresses[0]!, 2), 'the acquired LAN does not reach the corp LAN through the gateway');
  assert.not.ok(e.net.notes.some((n) => n.includes('ams')), `every VRF at ams has a host: ${e.net.notes.join('; ')}`);
});

t('an agent killed and restarted while the controller is down forwards on its persisted table', async () => {
  await e.dep.killController();
  await e.dep.killAgent('ber-gw1');
  const fra = e.net.hosts.get('fra')!.addresses[0]!;
  const ber = e.net.hosts.get('ber')!;
  assert.not.ok(await reaches(e.h, ber.ns, fra, 2), 'no forwarding with the agent dead');
  await e.dep.startAgent('ber-gw1');
  await waitFor(() => reaches(e.h, ber.ns, fra, 2), 'ber reaches fra again with the controller down', 30_000, 200);
  assert.match(e.dep.agents.get('ber-gw1')!.output(), /held table \d+/);
  await e.dep.startController();
  await e.dep.waitInSync(60_000);
});

t('a datacenter link fails: Berlin keeps reaching Frankfurt via Amsterdam; the outage is measured', async () => {
  const r = await e.play(10, { durationMs: 6000, events: [at(2000, { kind: 'link_down', link: 'ber-gw1--fra-gw1' })] });
  const d = r.demands.find((x) => x.id === 'ber-fra')!;
  console.log(`  ber-fra: ${d.packetsLost} of ${d.packetsSent} lost, outage ${d.outageMs} ms; path ${d.pathStart.join('>')} -> ${d.pathEnd.join('>')}`);
  assert.ok(d.packetsLost > 0, 'the cut interrupted ber-fra');
  assert.ok(d.outageMs < 3000, `outage ${d.outageMs} ms`);
  assert.is(d.status, 'disrupted');
  assert.equal(d.pathStart, ['ber-gw1', 'fra-gw1']);
  assert.equal(d.pathEnd, ['ber-gw1', 'ams-gw1', 'fra-gw1'], 'zig-zag via Amsterdam');
  const last = d.episodes[d.episodes.length - 1]!;
  assert.is(last.restoredBy, 'repair');
  await e.linkState('ber-gw1--fra-gw1', 'up');
});

t('the controller killed for 30 s: no demand loses a single probe; restarted, every agent resyncs', async () => {
  await e.dep.waitLinksUp(60_000);
  await e.dep.waitInSync(60_000);
  const r = await e.play(10, { durationMs: 38_000, events: [at(3000, { kind: 'controller_down' }), at(33_000, { kind: 'controller_up' })] });
  const run = r.demands.filter((d) => !d.skipped);
  assert.ok(run.length >= 3, `demands run: ${run.map((d) => d.id).join(', ')}`);
  for (const d of run) {
    console.log(`  ${d.id}: ${d.packetsLost} of ${d.packetsSent} lost`);
    assert.ok(d.packetsSent > 1000, `${d.id} was probed throughout: ${d.packetsSent} probes`);
    assert.is(d.packetsLost, 0, `${d.id} lost ${d.packetsLost} probes: ${JSON.stringify(d.episodes.map((x) => [x.startMs, x.durationMs, x.cause]))}`);
  }
  await e.dep.waitInSync(60_000);
  // As an operator sees it: every gateway connected and in sync with the new epoch.
  const shown = await e.dep.ctl('agents');
  assert.is(shown.code, 0, shown.stderr);
  const rows = shown.stdout.split('\n').filter((l) => /^\s*[a-z]+-gw\d\s/.test(l));
  assert.is(rows.length, e.net.topology.gateways.length, shown.stdout);
  for (const row of rows) assert.match(row, /^\s*\S+\s+\d+\s+\d+\s+yes\s+grpc\s+yes\s/, `in sync and connected: ${row}`);
  assert.match(shown.stdout, /controller epoch \d+/);
});

t('a revoked gateway cannot rejoin', async () => {
  const r = await e.dep.ctl('revoke', 'rtm-gw1');
  assert.is(r.code, 0, r.stderr);
  await e.dep.killAgent('rtm-gw1');
  await e.dep.startAgent('rtm-gw1');
  await new Promise((res) => setTimeout(res, 4000));
  const rows = await e.dep.agentRows();
  const rtm = rows.find((x) => x.gatewayId === 'rtm-gw1')!;
  assert.not.ok(rtm.connected, `rtm-gw1 must stay out: ${JSON.stringify(rtm)}`);
  assert.ok(rows.filter((x) => x.gatewayId !== 'rtm-gw1').every((x) => x.connected), 'the others stay connected');
});

t.run();
