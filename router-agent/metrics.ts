// The agent's Prometheus metrics: read from the data plane's counters at
// scrape time (nothing extra on the packet path), served over HTTP.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { SwitchbackError } from '../common/errors.js';
import type { CountersSnapshot } from './dataplane/index.js';

export interface AgentMetricsSource {
  snapshot(): CountersSnapshot | undefined;
  /** Extra figures other parts add (health, control session). */
  extra?: (registry: Registry) => void;
}

/**
 * prom-client counters only grow by inc(); at scrape time each one is reset
 * and set to the data plane's running total, which is itself monotonic.
 */
function setCounter(c: Counter<string>, labels: Record<string, string | number>, value: number): void {
  c.inc(labels, value);
}

export function agentRegistry(src: AgentMetricsSource, gatewayId: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ gateway: gatewayId });
  const snap = () => src.snapshot();
  new Gauge({
    name: 'switchback_agent_table_version',
    help: 'Version of the flow table the data plane forwards with (0 before the first table)',
    registers: [registry],
    collect() {
      this.set(snap()?.tableVersion ?? 0);
    },
  });
  new Counter({
    name: 'switchback_agent_drops_total',
    help: 'Packets dropped by the data plane, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const s = snap();
      if (s) for (const [reason, v] of Object.entries(s.drops)) setCounter(this, { reason }, v);
    },
  });
  const peerCounter = (name: string, help: string, pick: (p: CountersSnapshot['peers'][number]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['peer', 'link'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of snap()?.peers ?? []) setCounter(this, { peer: p.gatewayId, link: p.linkId }, pick(p));
      },
    });
  peerCounter('switchback_agent_peer_tx_packets_total', 'Tunnel packets sent to a peer', (p) => p.txPackets);
  peerCounter('switchback_agent_peer_tx_bytes_total', 'Tunnel bytes sent to a peer (tunnel header and tag included)', (p) => p.txBytes);
  peerCounter('switchback_agent_peer_rx_packets_total', 'Authenticated tunnel packets received from a peer', (p) => p.rxPackets);
  peerCounter('switchback_agent_peer_rx_bytes_total', 'Authenticated tunnel bytes received from a peer', (p) => p.rxBytes);
  new Gauge({
    name: 'switchback_agent_peer_up',
    help: '1 while the tunnel to a peer is up as health sees it',
    labelNames: ['peer', 'link'],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of snap()?.peers ?? []) this.set({ peer: p.gatewayId, link: p.linkId }, p.up ? 1 : 0);
    },
  });
  const ruleCounter = (name: string, help: string, pick: (r: CountersSnapshot['rules'][number]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['vrf', 'prefix', 'action'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of snap()?.rules ?? []) setCounter(this, { vrf: r.vrf, prefix: r.prefix, action: r.action }, pick(r));
      },
    });
  ruleCounter('switchback_agent_rule_packets_total', 'Packets that matched a rule', (r) => r.packets);
  ruleCounter('switchback_agent_rule_bytes_total', 'Bytes that matched a rule', (r) => r.bytes);
  const simple = (name: string, help: string, pick: (s: CountersSnapshot) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const s = snap();
        if (s) setCounter(this, {}, pick(s));
      },
    });
  simple('switchback_agent_delivered_packets_total', 'Packets written to the access side', (s) => s.deliveredPackets);
  simple('switchback_agent_transit_packets_total', 'Packets forwarded from one tunnel into another', (s) => s.transitPackets);
  simple('switchback_agent_icmp_errors_total', 'ICMP fragmentation-needed / packet-too-big errors generated', (s) => s.icmpErrors);
  simple('switchback_agent_mss_clamped_total', 'TCP SYNs whose MSS was lowered to fit the tunnel', (s) => s.mssClamped);
  src.extra?.(registry);
  return registry;
}

/** Serves /metrics (Prometheus text format) and /healthz. */
export function serveMetrics(registry: Registry, listen: string): Promise<{ server: Server; address: string }> {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(i + 1));
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new SwitchbackError('UNAVAILABLE', `cannot serve metrics on ${listen}: ${err.message}`)));
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ server, address: typeof a === 'object' && a ? `${host}:${a.port}` : listen });
    });
  });
}
