// Real packets through two agents: host A - gateway A - underlay veth -
// gateway B - host B, in network namespaces. Over AEAD-sealed UDP tunnels,
// then over GRE; a DF packet too big for the tunnel gets an ICMP error
// instead of vanishing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsHarness, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { buildTunnelNetwork, type BuiltNetwork } from '../helpers/tunnel-network.js';
import { startAgentProcess, waitFor } from '../helpers/agent-process.js';
import { writeTables } from '../helpers/tables.js';
import { parsePromText } from '../helpers/prom-text.js';

const e2e = suite('data plane end to end');
const missing = netnsPrerequisites();
if (missing) throw new Error(`e2e needs root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');

let h: NetnsHarness;
let net: BuiltNetwork;
let dir: string;
let tables: Map<string, string>;

e2e.before(async () => {
  h = new NetnsHarness();
  dir = mkdtempSync(join(tmpdir(), 'sb-e2e-'));
  net = await buildTunnelNetwork(h, {
    sites: [
      { id: 'a', kind: 'office', prefix24: '10.1.0' },
      { id: 'b', kind: 'datacenter', prefix24: '10.2.0' },
    ],
    gateways: [
      { id: 'gw-a', site: 'a', n: 1 },
      { id: 'gw-b', site: 'b', n: 2 },
    ],
    links: [{ a: 'gw-a', b: 'gw-b', cost: 10 }],
  });
  tables = await writeTables(net.topology, dir);
});
e2e.after(async () => {
  await h?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function startAgents(mode: 'udp' | 'gre', extra: string[] = []) {
  const agents = [];
  for (const gw of ['gw-a', 'gw-b']) {
    const ns = net.gwNs.get(gw)!;
    const underlay = mode === 'udp'
      ? ['--listen', `${net.endpoint(gw)}:4789`, ...extra]
      : ['--underlay', 'gre', '--gre-insecure', '--local-address', net.endpoint(gw)];
    agents.push(await startAgentProcess(h, ns, ['--id', gw, '--table', tables.get(gw)!, ...underlay, '--tun', 'sb0', '--metrics', `${net.endpoint(gw)}:9101`]));
  }
  // The agent installs the kernel routes for remote prefixes through its TUN.
  for (const [gw, remote] of [['gw-a', '10.2.0.0/24'], ['gw-b', '10.1.0.0/24']] as const) {
    await waitFor(async () => (await h.exec(net.gwNs.get(gw)!, 'ip', ['route', 'show', remote])).stdout.includes('dev sb0'), `route ${remote} via sb0 on ${gw}`);
  }
  // Each agent has heard its peer's probes (agents start one after the
  // other; until then the peer counts as down and packets are dropped).
  if (mode === 'udp') {
    for (const [gw, peer] of [['gw-a', 'gw-b'], ['gw-b', 'gw-a']] as const) {
      await waitFor(async () => new RegExp(`switchback_agent_peer_up\\{[^}]*peer="${peer}"[^}]*\\} 1`).test(await metricsOf(gw)), `${gw} sees ${peer} up`);
    }
  }
  return agents;
}

async function metricsOf(gw: string): Promise<string> {
  const r = await h.exec(net.gwNs.get(gw)!, process.execPath, ['-e', `fetch('http://${net.endpoint(gw)}:9101/metrics').then(r => r.text()).then(console.log, () => {})`]);
  return r.stdout;
}

async function stopAgents(agents: { child: import('node:child_process').ChildProcess }[]) {
  for (const a of agents) {
    const exited = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGTERM');
    await exited;
  }
}

async function tcpTransfer(bytes: number): Promise<{ sent: string; received: string }> {
  const server = h.spawn(net.hostNs.get('b')!, process.execPath, ['-e', `
    const c = require('node:crypto'); const s = require('node:net').createServer((sock) => {
      const h = c.createHash('sha256'); let n = 0;
      sock.on('data', (d) => { h.update(d); n += d.length; });
      sock.on('end', () => { sock.end(h.digest('hex') + ' ' + n); s.close(); });
    }); s.listen(5001, '10.2.0.10', () => console.log('listening'));
    setTimeout(() => process.exit(3), 20000);`]);
  await new Promise<void>((resolve) => server.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  const client = await h.exec(net.hostNs.get('a')!, process.execPath, ['-e', `
    const c = require('node:crypto'); const data = c.randomBytes(${bytes});
    const sock = require('node:net').connect(5001, '10.2.0.10', () => sock.end(data));
    let reply = ''; sock.on('data', (d) => reply += d);
    sock.on('end', () => console.log(c.createHash('sha256').update(data).digest('hex') + ' ${bytes}|' + reply));`], 25_000);
  const [sent, received] = client.stdout.trim().split('|');
  return { sent: sent ?? '', received: received ?? client.stderr };
}

e2e('UDP tunnels with AEAD: ping and a TCP transfer between the hosts', async () => {
  const agents = await startAgents('udp');
  try {
    for (const a of agents) assert.match(a.output(), /udp underlay \S+ \(native I\/O\)/, 'batched native UDP I/O by default');
    for (const a of agents) assert.match(a.output(), /tun sb0 mtu \d+ \(offload\)/, 'TCP segmentation offload on the TUN by default');
    const ping = await h.exec(net.hostNs.get('a')!, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', '-n', '10.2.0.10']);
    assert.match(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
    const t = await tcpTransfer(2_000_000);
    assert.is(t.received, t.sent, 'the server hashed exactly the bytes sent');
    // The packets really went through the agents: their counters moved.
    const metrics = await h.exec(net.gwNs.get('gw-a')!, process.execPath, ['-e', `fetch('http://${net.endpoint('gw-a')}:9101/metrics').then(r => r.text()).then(console.log)`]);
    const fams = parsePromText(metrics.stdout);
    const sum = (name: string, peer?: string) => fams.get(name)!.samples.filter((x) => !peer || x.labels.peer === peer).reduce((n, x) => n + x.value, 0);
    assert.is(fams.get('switchback_agent_peer_tx_packets_total')!.type, 'counter');
    assert.ok(sum('switchback_agent_peer_tx_packets_total', 'gw-b') > 1000, `gw-a sent tunnel packets to gw-b: ${sum('switchback_agent_peer_tx_packets_total', 'gw-b')}`);
    assert.ok(sum('switchback_agent_peer_rx_bytes_total', 'gw-b') > 0, 'and received from it');
    assert.ok(sum('switchback_agent_rule_packets_total') > 1000, 'rules matched the packets');
    assert.ok(sum('switchback_agent_delivered_packets_total') > 0, 'replies were delivered to the access side');
    // The data went host A -> gw-a -> gw-b -> host B: gw-a read TCP
    // super-packets from its TUN and cut them; gw-b wrote coalesced ones.
    const offload = async (gw: string, kind: string) =>
      parsePromText(await metricsOf(gw)).get('switchback_agent_tun_offload_total')!.samples.find((x) => x.labels.kind === kind)?.value ?? -1;
    assert.ok((await offload('gw-a', 'rxSuperPackets')) > 0, 'gw-a read super-packets');
    assert.ok((await offload('gw-a', 'rxSegments')) > (await offload('gw-a', 'rxSuperPackets')), 'and cut each into several packets');
    assert.ok((await offload('gw-b', 'txSuperPackets')) > 0, 'gw-b wrote coalesced super-packets');
    assert.is(await offload('gw-b', 'txFallbacks'), 0, 'the kernel took every one');
    assert.is(await offload('gw-a', 'rxMalformed'), 0);
    // The common case went through the native fast path, in both directions,
    // and the SYNs (MSS clamping) through the JS data plane.
    const fast = async (gw: string, kind: string) =>
      parsePromText(await metricsOf(gw)).get('switchback_agent_fast_path_total')!.samples.find((x) => x.labels.kind === kind)?.value ?? -1;
    assert.ok((await fast('gw-a', 'egress')) > 1000, `gw-a sealed in the fast path: ${await fast('gw-a', 'egress')}`);
    assert.ok((await fast('gw-b', 'ingress')) > 1000, `gw-b delivered from the fast path: ${await fast('gw-b', 'ingress')}`);
    assert.ok((await fast('gw-a', 'ingress')) > 0, 'and the replies');
    assert.ok((await fast('gw-a', 'access_punts')) > 0, 'a SYN was left to JS');
    assert.ok(sum('switchback_agent_mss_clamped_total') > 0, 'which clamped its MSS');
    for (const gw of ['gw-a', 'gw-b']) assert.is(await fast(gw, 'udp_drops') + (await fast(gw, 'tun_errors')), 0);
  } finally {
    await stopAgents(agents);
  }
  // A clean shutdown removes the TUN device and its routes.
  const links = await h.exec(net.gwNs.get('gw-a')!, 'ip', ['-o', 'link', 'show']);
  assert.not.match(links.stdout, /sb0/);
});

e2e('UDP tunnels over node:dgram and without TUN offload (the fallbacks): ping and a TCP transfer', async () => {
  const agents = await startAgents('udp', ['--udp-io', 'dgram', '--no-tun-offload']);
  try {
    for (const a of agents) assert.match(a.output(), /udp underlay \S+ \(dgram I\/O\)/);
    for (const a of agents) assert.match(a.output(), /tun sb0 mtu \d+,/, 'no offload');
    const ping = await h.exec(net.hostNs.get('a')!, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-n', '10.2.0.10']);
    assert.match(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
    const t = await tcpTransfer(1_000_000);
    assert.is(t.received, t.sent);
    const fams = parsePromText(await metricsOf('gw-a'));
    const work = fams.get('switchback_agent_tun_offload_total')!.samples.filter((x) => x.labels.kind !== 'txWrites');
    assert.ok(work.length > 0 && work.every((x) => x.value === 0), 'no offload work without offload');
    assert.is(fams.get('switchback_agent_fast_path_total')?.samples.length ?? 0, 0, 'no fast path without the native UDP socket');
  } finally {
    await stopAgents(agents);
  }
});

e2e('a 1,500-byte DF ping gets "fragmentation needed" with the tunnel MTU instead of a black hole', async () => {
  const agents = await startAgents('udp');
  try {
    const big = await h.exec(net.hostNs.get('a')!, 'ping', ['-c', '1', '-W', '2', '-n', '-M', 'do', '-s', '1472', '10.2.0.10']);
    assert.match(big.stdout + big.stderr, /Frag needed and DF set \(mtu = 1436\)|mtu=1436|message too long/i, big.stdout + big.stderr);
    // A packet that fits the tunnel exactly goes through.
    const fits = await h.exec(net.hostNs.get('a')!, 'ping', ['-c', '2', '-W', '2', '-n', '-M', 'do', '-s', String(1436 - 28), '10.2.0.10']);
    assert.match(fits.stdout, / 0% packet loss/, fits.stdout + fits.stderr);
  } finally {
    await stopAgents(agents);
  }
});

e2e('GRE mode (--gre-insecure): ping and a TCP transfer', async () => {
  const agents = await startAgents('gre');
  try {
    const ping = await h.exec(net.hostNs.get('a')!, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', '-n', '10.2.0.10']);
    assert.match(ping.stdout, / 0% packet loss/, ping.stdout + ping.stderr);
    const t = await tcpTransfer(1_000_000);
    assert.is(t.received, t.sent);
  } finally {
    await stopAgents(agents);
  }
});

e2e('GRE without the explicit flag is refused with a clear error', async () => {
  const r = await h.exec(net.gwNs.get('gw-a')!, process.execPath, ['bin/switchback.mjs', 'agent', '--id', 'gw-a', '--table', tables.get('gw-a')!, '--underlay', 'gre', '--local-address', net.endpoint('gw-a'), '--metrics', 'off']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--gre-insecure/);
});

e2e.run();
