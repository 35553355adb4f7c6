// Connects the health monitor to a running agent: probes go out sealed in
// the tunnel format, replies come back through the data plane, peer state
// changes switch the data plane to backups at once (local fast failover),
// and every change and periodic figure goes to a report sink (the control
// session). Time comes from the clock handed in, as in the simulator.
import type { Clock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { OperState } from '../common/model.js';
import type { Agent } from './agent.js';
import { HealthMonitor, wireLocalFailover, type HealthEvent, type LocalFailover, type ProbeConfig } from './health/index.js';
import { decodeProbe, encodeProbe } from './health/probe-codec.js';

const log = createLogger('health');

export interface LinkReportSink {
  reportLink(r: { peerGatewayId: string; linkId: string; state: OperState; rttUs: number; jitterUs: number; lossPpm: number; pathMtu: number; observedUnixMs: number }): void;
}

export interface AgentHealthOptions {
  clock: Clock;
  probe?: Partial<ProbeConfig>;
  /** Switch to backups locally on peer-down (default true); off = wait for the controller. */
  localFailover?: boolean;
  statsIntervalMs?: number;
  reports?: LinkReportSink;
}

export interface AgentHealth {
  readonly monitor: HealthMonitor;
  /** Failovers done locally since start. */
  readonly failovers: () => number;
  close(): void;
}

export function attachAgentHealth(agent: Agent, opts: AgentHealthOptions): AgentHealth {
  let badProbes = 0;
  let failovers = 0;
  const monitor = new HealthMonitor({
    clock: opts.clock,
    config: opts.probe,
    statsIntervalMs: opts.statsIntervalMs ?? 1000,
    sendProbe: (peerId, payload) => agent.sendProbe(peerId, encodeProbe(payload)),
  });
  // Assigned after attachHealth: setPeers may run before it (when the agent already has a table).
  let failover: LocalFailover | undefined;
  agent.attachHealth({
    setPeers: (peers) => {
      monitor.setPeers(peers.map((p) => ({ gatewayId: p.gatewayId, linkId: p.linkId, mtu: p.underlayMtu })));
      failover?.resync();
    },
    onProbe: (peer, bytes) => {
      const p = decodeProbe(bytes);
      if (!p) return void badProbes++;
      agent.sendProbe(peer.gatewayId, encodeProbe(p, false), 'probe-reply');
    },
    onProbeReply: (peer, bytes, _len, now) => {
      const p = decodeProbe(bytes);
      if (!p || !monitor.onProbeReply(peer.gatewayId, p, now)) badProbes++;
    },
  });
  failover = opts.localFailover === false ? undefined : wireLocalFailover(monitor, agent);
  failover?.resync();
  const off = monitor.on((e: HealthEvent) => {
    if (e.type === 'peer-down' || e.type === 'peer-up') {
      if (e.type === 'peer-down') failovers++;
      log.info(`peer ${e.peerId} ${e.type === 'peer-down' ? 'down' : 'up'}`, e.type === 'peer-down' ? { link: e.linkId, silentMs: Math.round(e.silentMs) } : { link: e.linkId });
      const s = monitor.stats(e.peerId);
      opts.reports?.reportLink({
        peerGatewayId: e.peerId, linkId: e.linkId, state: e.type === 'peer-down' ? OperState.DOWN : OperState.UP,
        rttUs: s?.rttUs ?? 0, jitterUs: s?.jitterUs ?? 0, lossPpm: s?.lossPpm ?? 0, pathMtu: s?.pathMtu ?? 0, observedUnixMs: opts.clock.wallMs(),
      });
    } else if (e.type === 'stats') {
      opts.reports?.reportLink({
        peerGatewayId: e.peerId, linkId: e.linkId, state: e.state === 'up' ? OperState.UP : OperState.DOWN,
        rttUs: e.rttUs, jitterUs: e.jitterUs, lossPpm: e.lossPpm, pathMtu: e.pathMtu, observedUnixMs: opts.clock.wallMs(),
      });
    }
  });
  return {
    monitor,
    failovers: () => failovers,
    close: () => {
      off();
      failover?.close();
      monitor.stop();
      if (badProbes) log.debug('malformed or unmatched probes', { count: badProbes });
    },
  };
}
