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
  new Counter({
    name: 'switchback_agent_fast_path_total',
    help: 'The native fast path: packets it sealed (egress) and delivered (ingress) without JS, packets it left to the JS data plane (access_punts, underlay_punts), and sealed or opened packets a socket or TUN refused',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      const f = snap()?.fastPath;
      if (!f) return;
      const kinds = { egress: f.egress, ingress: f.ingress, access_punts: f.accessPunts, underlay_punts: f.underlayPunts, udp_drops: f.udpDrops, tun_errors: f.tunErrors };
      for (const [kind, v] of Object.entries(kinds)) setCounter(this, { kind }, v);
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

/** What the health monitor and the control session expose to metrics (structural: the real ones fit). */
export interface AgentStatusSource {
  health?: {
    readonly monitor: { allStats(): readonly { peerId: string; linkId: string; rttUs: number; jitterUs: number; lossPpm: number; pathMtu: number; sent: number; received: number }[] };
    failovers(): number;
  };
  /** The access-side TUN devices. */
  tuns?: readonly {
    readonly name: string;
    readonly counters: { rxPackets: number; txPackets: number; rxErrors: number; txDrops: Record<string, number> };
    offloadStats(): Record<string, number>;
  }[];
  control?: {
    readonly transport: string;
    readonly client: { readonly connected: boolean; readonly epoch: number; readonly stats: { readonly sessions: number; readonly refused: number } };
  };
}

/** Probe figures per peer, failovers and the control session: the `extra` of an agent's registry. */
export function agentStatusMetrics(src: AgentStatusSource): (registry: Registry) => void {
  return (registry) => {
    const stats = () => src.health?.monitor.allStats() ?? [];
    const peerGauge = (name: string, help: string, pick: (p: ReturnType<typeof stats>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['peer', 'link'],
        registers: [registry],
        collect() {
          this.reset();
          for (const p of stats()) this.set({ peer: p.peerId, link: p.linkId }, pick(p));
        },
      });
    peerGauge('switchback_agent_peer_rtt_seconds', 'Smoothed probe round-trip time to a peer (0 before the first reply)', (p) => p.rttUs / 1e6);
    peerGauge('switchback_agent_peer_jitter_seconds', 'Probe round-trip jitter to a peer', (p) => p.jitterUs / 1e6);
    peerGauge('switchback_agent_peer_loss_ratio', 'Probe loss to a peer over the health window (0-1)', (p) => p.lossPpm / 1e6);
    peerGauge('switchback_agent_peer_path_mtu_bytes', 'Path MTU to a peer as probed (0: not probed yet)', (p) => p.pathMtu);
    const peerCounter = (name: string, help: string, pick: (p: ReturnType<typeof stats>[number]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['peer', 'link'],
        registers: [registry],
        collect() {
          this.reset();
          for (const p of stats()) setCounter(this, { peer: p.peerId, link: p.linkId }, pick(p));
        },
      });
    peerCounter('switchback_agent_probes_sent_total', 'Health probes sent to a peer', (p) => p.sent);
    peerCounter('switchback_agent_probes_received_total', 'Health probe replies received from a peer', (p) => p.received);
    new Counter({
      name: 'switchback_agent_failovers_total',
      help: 'Peers declared down by health, each switching its traffic to backups (local fast failover)',
      registers: [registry],
      collect() {
        this.reset();
        setCounter(this, {}, src.health?.failovers() ?? 0);
      },
    });
    const tunCounter = (name: string, help: string, label: string, pick: (t: NonNullable<AgentStatusSource['tuns']>[number]) => Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: ['device', label],
        registers: [registry],
        collect() {
          this.reset();
          for (const t of src.tuns ?? []) for (const [k, v] of Object.entries(pick(t))) setCounter(this, { device: t.name, [label]: k }, v);
        },
      });
    tunCounter('switchback_agent_tun_packets_total', 'Packets read from (rx) and written to (tx) a TUN device', 'direction', (t) => ({ rx: t.counters.rxPackets, tx: t.counters.txPackets }));
    tunCounter('switchback_agent_tun_drops_total', 'Packets a TUN device did not take, by reason; read_error counts failed reads', 'reason', (t) => ({ ...t.counters.txDrops, read_error: t.counters.rxErrors }));
    tunCounter('switchback_agent_tun_offload_total', 'TCP segmentation offload on a TUN device: super-packets read and the segments cut from them, super-packets written and the packets in them, and more (see docs/operations.md)', 'kind', (t) => t.offloadStats());
    const control = src.control;
    new Gauge({
      name: 'switchback_agent_control_connected',
      help: '1 while the control session to the controller is open (no label: no controller configured)',
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        this.reset();
        if (control) this.set({ transport: control.transport }, control.client.connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchback_agent_control_epoch',
      help: 'Highest controller epoch accepted (0: none yet)',
      registers: [registry],
      collect() {
        this.set(control?.client.epoch ?? 0);
      },
    });
    new Counter({
      name: 'switchback_agent_control_sessions_total',
      help: 'Control sessions opened to the controller',
      registers: [registry],
      collect() {
        this.reset();
        setCounter(this, {}, control?.client.stats.sessions ?? 0);
      },
    });
    new Counter({
      name: 'switchback_agent_control_refused_total',
      help: 'Controller messages refused (older epoch, wrong gateway, bad table hash)',
      registers: [registry],
      collect() {
        this.reset();
        setCounter(this, {}, control?.client.stats.refused ?? 0);
      },
    });
  };
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
