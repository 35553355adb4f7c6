// Both metrics endpoints scraped and parsed with a strict Prometheus
// text-format parser: a real controller process, and two real agents (data
// plane, health probes over an in-memory underlay, a gRPC control session to
// that controller) serving their registry over HTTP as `switchback agent` does.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { SystemClock } from '../../common/clock.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { Agent } from '../../router-agent/agent.js';
import { attachAgentHealth, type AgentHealth } from '../../router-agent/agent-health.js';
import { createControlClient } from '../../router-agent/control/control-config.js';
import type { ControlClient } from '../../router-agent/control/control-client.js';
import { MemoryTableStore } from '../../router-agent/control/local-table-store.js';
import { MemoryHub } from '../../router-agent/io/memory-underlay.js';
import { agentRegistry, agentStatusMetrics, serveMetrics } from '../../router-agent/metrics.js';
import { until } from '../helpers/async-assert.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { parsePromText, sampleValue, type MetricFamily } from '../helpers/prom-text.js';

const m = suite('metrics endpoints');
let dir: string;
let proc: ControllerProcess;
let admin: AdminClient;
const hub = new MemoryHub();
const clock = new SystemClock();
type Running = { id: string; agent: Agent; health: AgentHealth; client: ControlClient; server: Server; url: string };
const agents: Running[] = [];
// Two gateways of the example topology with a link between them.
const GATEWAYS = [
  { id: 'fra-gw1', endpoint: { host: '203.0.113.10', port: 4789 } },
  { id: 'ams-gw1', endpoint: { host: '203.0.113.20', port: 4789 } },
];

/** Every series name seen in any scrape (histograms with their _bucket/_sum/_count). */
const exported = new Set<string>();

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const r = await fetch(url);
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const fams = parsePromText(await r.text());
  for (const f of fams.values()) {
    exported.add(f.name);
    for (const s of f.samples) exported.add(s.name);
  }
  return fams;
}

const controllerMetrics = () => scrape(`${proc.dashboardUrl}metrics`);

m.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-metrics-'));
  proc = await startControllerProcess(['--data-dir', join(dir, 'data'), '--insecure']);
  admin = new AdminClient(proc.adminAddress, { actor: 'metrics-test' });
  const southbound = /southbound\s+grpc\s+(\S+)/.exec(proc.output())![1]!;
  for (const g of GATEWAYS) {
    const agent = new Agent({ gatewayId: g.id, clock, underlay: hub.open(g.endpoint) });
    const client = createControlClient({ gatewayId: g.id, transport: 'grpc', grpc: { address: southbound, insecure: true } }, new MemoryTableStore(), { clock });
    const health = attachAgentHealth(agent, { clock, probe: { intervalMs: 50, multiplier: 3, holdMs: 0 }, reports: client });
    client.on((e) => {
      if (e.type === 'table') agent.applyTable(e.table);
    });
    client.start();
    const registry = agentRegistry({ snapshot: () => agent.snapshot(), extra: agentStatusMetrics({ health, control: { client, transport: 'grpc' } }) }, g.id);
    const { server, address } = await serveMetrics(registry, '127.0.0.1:0');
    agents.push({ id: g.id, agent, health, client, server, url: `http://${address}/metrics` });
  }
});

m.after(async () => {
  for (const a of agents) {
    a.server.close();
    a.health.close();
    await a.client.stop();
    await a.agent.close();
  }
  admin?.close();
  await proc?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function family(fams: Map<string, MetricFamily>, name: string, type: MetricFamily['type'], labels: string[]): MetricFamily {
  const f = fams.get(name);
  assert.ok(f, `metric ${name} is exported`);
  assert.is(f.type, type, `${name} is a ${type}`);
  assert.ok(f.help && f.help.length > 10, `${name} has a help text`);
  for (const s of f.samples) {
    const got = Object.keys(s.labels).filter((l) => l !== 'le').sort();
    assert.equal(got, [...labels].sort(), `${s.name} labels`);
  }
  return f;
}

m('the controller exports its figures in scrapable form, following the naming rules', async () => {
  const fams = await controllerMetrics();
  for (const name of fams.keys()) {
    assert.match(name, /^switchback_controller_[a-z0-9_]+$/, `${name}: prefix`);
    const f = fams.get(name)!;
    if (f.type === 'counter') assert.match(name, /_total$/, `${name}: counters end in _total`);
    else assert.not.match(name, /_total$/, `${name}: only counters end in _total`);
  }
  family(fams, 'switchback_controller_agents_connected', 'gauge', ['transport']);
  family(fams, 'switchback_controller_agents_in_sync', 'gauge', ['transport']);
  family(fams, 'switchback_controller_table_version', 'gauge', ['gateway']);
  family(fams, 'switchback_controller_table_acked_version', 'gauge', ['gateway']);
  family(fams, 'switchback_controller_push_ack_latency_seconds', 'histogram', ['transport']);
  family(fams, 'switchback_controller_route_computations_total', 'counter', []);
  family(fams, 'switchback_controller_route_computation_duration_seconds', 'histogram', []);
  family(fams, 'switchback_controller_journal_entries', 'gauge', []);
  family(fams, 'switchback_controller_links', 'gauge', ['admin_state', 'oper_state']);
  // Every gateway's current version, as the admin API lists it.
  const { tables } = await admin.call('listTables', {});
  assert.is(tables.length, 11);
  for (const t of tables) assert.is(sampleValue(fams, 'switchback_controller_table_version', { gateway: t.gatewayId }), t.version, t.gatewayId);
  const topo = (await admin.call('getTopology', {})).topology!;
  const links = fams.get('switchback_controller_links')!.samples.reduce((n, s) => n + s.value, 0);
  assert.is(links, topo.links.length, 'every link counted once');
  const { entries } = await admin.call('listEvents', { afterSeq: 0, limit: 10_000 });
  assert.is(sampleValue(fams, 'switchback_controller_journal_entries'), entries.length);
});

m('agents connect: connected and in-sync per transport, acked versions and push->ack latency', async () => {
  let fams = await controllerMetrics();
  await until(
    async () => {
      fams = await controllerMetrics();
      return sampleValue(fams, 'switchback_controller_agents_in_sync', { transport: 'grpc' }) === 2;
    },
    'both agents in sync',
    20_000,
  );
  assert.is(sampleValue(fams, 'switchback_controller_agents_connected', { transport: 'grpc' }), 2);
  assert.is(sampleValue(fams, 'switchback_controller_agents_connected', { transport: 'nats' }), 0);
  for (const g of GATEWAYS) {
    const v = sampleValue(fams, 'switchback_controller_table_version', { gateway: g.id });
    assert.ok(v && v >= 1);
    assert.is(sampleValue(fams, 'switchback_controller_table_acked_version', { gateway: g.id }), v, `${g.id} acked its version`);
  }
  const count = (f: Map<string, MetricFamily>) => sampleValue(f, 'switchback_controller_push_ack_latency_seconds', { transport: 'grpc' }, 'switchback_controller_push_ack_latency_seconds_count') ?? 0;
  const computations = (f: Map<string, MetricFamily>) => sampleValue(f, 'switchback_controller_route_computations_total')!;
  const before = fams;
  assert.ok(count(before) >= 2, `the first acks were timed: ${count(before)}`);

  // A drain moves both gateways' tables: more computations, new acks timed.
  await admin.call('drainLink', { id: 'ams-gw1--fra-gw1', reason: 'metrics test' });
  await until(
    async () => {
      fams = await controllerMetrics();
      return GATEWAYS.every((g) => sampleValue(fams, 'switchback_controller_table_acked_version', { gateway: g.id }) === sampleValue(fams, 'switchback_controller_table_version', { gateway: g.id }));
    },
    'the new versions acknowledged',
    20_000,
  );
  assert.ok(computations(fams) > computations(before), 'route computations counted');
  await until(async () => count((fams = await controllerMetrics())) >= count(before) + 2, 'the new acks timed', 10_000);
  const dur = sampleValue(fams, 'switchback_controller_route_computation_duration_seconds', {}, 'switchback_controller_route_computation_duration_seconds_count');
  assert.is(dur, computations(fams), 'one duration per computation');
  assert.ok((sampleValue(fams, 'switchback_controller_links', { admin_state: 'drained', oper_state: 'up' }) ?? 0) + (sampleValue(fams, 'switchback_controller_links', { admin_state: 'drained', oper_state: 'down' }) ?? 0) + (sampleValue(fams, 'switchback_controller_links', { admin_state: 'drained', oper_state: 'unknown' }) ?? 0) === 1, 'one drained link');
  await admin.call('undrainLink', { id: 'ams-gw1--fra-gw1' });
});

m('each agent exports data plane, probe and control session figures', async () => {
  const [fra, ams] = agents;
  let fams = await scrape(fra!.url);
  // Probes cross the in-memory underlay between the two running agents.
  await until(
    async () => {
      fams = await scrape(fra!.url);
      return (sampleValue(fams, 'switchback_agent_peer_rtt_seconds', { gateway: 'fra-gw1', peer: 'ams-gw1', link: 'ams-gw1--fra-gw1' }) ?? 0) > 0;
    },
    'an RTT to ams-gw1',
    10_000,
  );
  for (const name of fams.keys()) {
    assert.match(name, /^switchback_agent_[a-z0-9_]+$/, `${name}: prefix`);
    if (fams.get(name)!.type === 'counter') assert.match(name, /_total$/, `${name}: counters end in _total`);
  }
  const agentFamily = (name: string, type: MetricFamily['type'], labels: string[]) => {
    const f = family(fams, name, type, [...labels, 'gateway']);
    for (const s of f.samples) assert.is(s.labels.gateway, 'fra-gw1', `${s.name} carries the gateway label`);
    return f;
  };
  agentFamily('switchback_agent_table_version', 'gauge', []);
  agentFamily('switchback_agent_drops_total', 'counter', ['reason']);
  agentFamily('switchback_agent_peer_tx_packets_total', 'counter', ['peer', 'link']);
  agentFamily('switchback_agent_peer_rx_bytes_total', 'counter', ['peer', 'link']);
  agentFamily('switchback_agent_peer_up', 'gauge', ['peer', 'link']);
  agentFamily('switchback_agent_rule_packets_total', 'counter', ['vrf', 'prefix', 'action']);
  agentFamily('switchback_agent_peer_rtt_seconds', 'gauge', ['peer', 'link']);
  agentFamily('switchback_agent_peer_jitter_seconds', 'gauge', ['peer', 'link']);
  agentFamily('switchback_agent_peer_loss_ratio', 'gauge', ['peer', 'link']);
  agentFamily('switchback_agent_probes_sent_total', 'counter', ['peer', 'link']);
  agentFamily('switchback_agent_failovers_total', 'counter', []);
  agentFamily('switchback_agent_control_connected', 'gauge', ['transport']);
  agentFamily('switchback_agent_control_epoch', 'gauge', []);
  agentFamily('switchback_agent_control_sessions_total', 'counter', []);

  const g = { gateway: 'fra-gw1' };
  assert.is(sampleValue(fams, 'switchback_agent_control_connected', { ...g, transport: 'grpc' }), 1);
  assert.is(sampleValue(fams, 'switchback_agent_control_epoch', g), 1);
  assert.ok(sampleValue(fams, 'switchback_agent_control_sessions_total', g)! >= 1);
  // The agents' own link reports keep moving the controller's tables for a
  // while (peers without an agent go down): compare with its version now.
  await until(async () => {
    const { tables } = await admin.call('listTables', {});
    const current = tables.find((t) => t.gatewayId === 'fra-gw1')!.version;
    return sampleValue((fams = await scrape(fra!.url)), 'switchback_agent_table_version', g) === current;
  }, 'the table version of the controller');
  // The peer that runs answers probes; the ones that do not run lose them all.
  const peer = { ...g, peer: 'ams-gw1', link: 'ams-gw1--fra-gw1' };
  assert.ok(sampleValue(fams, 'switchback_agent_probes_sent_total', peer)! > 0);
  assert.ok(sampleValue(fams, 'switchback_agent_probes_received_total', peer)! > 0);
  assert.ok(sampleValue(fams, 'switchback_agent_peer_rtt_seconds', peer)! < 1, 'RTT in seconds, not microseconds');
  const dead = fams.get('switchback_agent_peer_loss_ratio')!.samples.find((s) => s.labels.peer === 'ber-gw1');
  assert.ok(dead, 'a peer with no agent is listed');
  await until(async () => {
    const f = await scrape(fra!.url);
    return (sampleValue(f, 'switchback_agent_peer_loss_ratio', dead.labels) ?? 0) > 0.5 && sampleValue(f, 'switchback_agent_peer_up', dead.labels) === 0;
  }, 'the silent peer loses its probes and is down', 10_000);
  // Every peer health declared down switched its traffic to backups once at least.
  const now = await scrape(fra!.url);
  const down = now.get('switchback_agent_peer_up')!.samples.filter((s) => s.value === 0).length;
  assert.ok(down >= 1);
  assert.ok(sampleValue(now, 'switchback_agent_failovers_total', g)! >= down, `failovers ${sampleValue(now, 'switchback_agent_failovers_total', g)} >= peers down ${down}`);
  // The other agent's figures are its own.
  const amsFams = await scrape(ams!.url);
  assert.ok(amsFams.get('switchback_agent_table_version')!.samples.every((s) => s.labels.gateway === 'ams-gw1'));
});

m('the docs, the scrape config and the Grafana dashboard name only metrics that exist', () => {
  const root = new URL('../../', import.meta.url);
  const docs = readFileSync(new URL('docs/operations.md', root), 'utf8');
  const section = docs.slice(docs.indexOf('## Metrics'));
  const sources = {
    'docs/operations.md': section,
    'examples/prometheus.yml': readFileSync(new URL('examples/prometheus.yml', root), 'utf8'),
    'examples/grafana-dashboard.json': readFileSync(new URL('examples/grafana-dashboard.json', root), 'utf8'),
  };
  for (const [file, text] of Object.entries(sources)) {
    const names = new Set(text.match(/switchback_(controller|agent)_[a-z0-9_]*[a-z0-9](?![a-z0-9_])/g) ?? []);
    assert.ok(names.size >= 4, `${file} names metrics`);
    for (const n of names) assert.ok(exported.has(n), `${file} names ${n}, which is not exported`);
  }
  // And the docs list every metric exported.
  for (const n of exported) if (!/_(bucket|sum|count)$/.test(n)) assert.ok(section.includes(`\`${n}\``), `docs/operations.md lists ${n}`);
});

m.run();
