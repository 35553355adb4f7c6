// One gateway's agent in the simulator, assembled from the production parts:
// the data plane (router-agent/dataplane: table application, peer state,
// forwarding decisions), the health monitor and local failover
// (router-agent/health). Only the I/O is simulated: probes and packets cross
// SimNetwork links, and the control session is the runner's delayed channel.
// Fail-static: the agent keeps the last table it applied, across its own
// restarts too.

import type { FlowTable, Peer } from '../common/model.js';
import { DataPlane } from '../router-agent/dataplane/forwarding.js';
import { HealthMonitor, wireLocalFailover, type HealthEvent, type LocalFailover, type ProbeConfig, type ProbePayload } from '../router-agent/health/index.js';
import type { SimEngine } from './engine.js';
import type { SimNetwork } from './network.js';

export interface AgentHooks {
  /** A peer state change or a stats figure, for the agent's reports and the run's timeline. */
  health(agent: SimAgent, e: HealthEvent): void;
  /** Whether the agent of `gateway` answers probes (it runs). */
  answers(gateway: string): boolean;
}

export interface AgentOptions {
  gatewayId: string;
  engine: SimEngine;
  network: SimNetwork;
  probe: Partial<ProbeConfig>;
  overrides: ReadonlyMap<string, Partial<ProbeConfig>>;
  localFailover: boolean;
  /** The access VRFs this gateway serves (one DataPlane serves them all, as in the agent). */
  vrfs: readonly number[];
  statsIntervalMs: number;
  hooks: AgentHooks;
}

export class SimAgent {
  readonly gatewayId: string;
  running = true;
  /** Cut from the controller by a partition. */
  partitioned = false;
  /**
   * The held table. Its rules matter only to data planes; an agent with none
   * (no demand traffic in the scenario) keeps the peers, version and epoch,
   * which is all the rest of it reads, so a thousand-gateway run does not
   * hold a million rules twice.
   */
  table: FlowTable | undefined;
  /** Virtual time the held table was applied. */
  appliedAt = -Infinity;
  /**
   * One data plane for every access VRF, as the real agent has: one send
   * counter and one replay window per peer, whatever port a packet uses.
   */
  private dp: DataPlane | undefined;
  private vrfs: number[] = [];
  monitor!: HealthMonitor;
  private failover: LocalFailover | undefined;
  private linkOfPeer = new Map<string, string>();
  private readonly opts: AgentOptions;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.gatewayId = opts.gatewayId;
    this.boot('up');
  }

  /**
   * The data plane, serving `vrf` (a VRF no demand announced is added on
   * first use: like restarting the agent with one more access port).
   */
  plane(vrf: number): DataPlane {
    if (this.dp && this.dp.servesVrf(vrf)) return this.dp;
    this.vrfs.push(vrf);
    this.dp = this.newPlane();
    this.failover?.resync();
    return this.dp;
  }

  /**
   * Applies a table pushed by the controller: refused when it is from an
   * older epoch or not newer than the held one (a late push), else applied
   * to every data plane and the peer set of health follows it.
   */
  applyTable(t: FlowTable): boolean {
    const held = this.table;
    if (held && (t.epoch < held.epoch || (t.epoch === held.epoch && t.version <= held.version))) return false;
    this.dp?.setTable(t);
    this.table = this.opts.vrfs.length > 0 ? t : { ...t, rules: [] };
    this.appliedAt = this.opts.engine.now();
    if (this.running) this.followPeers(t.peers);
    return true;
  }

  /** The gateway went down: everything stops; the table is kept (persisted). */
  stop(): void {
    this.running = false;
    this.monitor.stop();
    this.failover?.close();
  }

  /**
   * The gateway came back: a new process with the held table, peers DOWN
   * until each has answered for the hold time (a restarted agent does not
   * trust tunnels it has not seen work).
   */
  restart(): void {
    this.running = true;
    this.boot('down');
  }

  /** Every peer's current state, for the report sent when a control session starts. */
  peerStates(): { linkId: string; up: boolean }[] {
    return this.monitor.allStats().map((s) => ({ linkId: s.linkId, up: s.state === 'up' }));
  }

  linkTo(peerId: string): string | undefined {
    return this.linkOfPeer.get(peerId);
  }

  private boot(initialState: 'up' | 'down'): void {
    const o = this.opts;
    // A new process: new data planes (counters seeded from the clock, as the agent does).
    this.vrfs = [...new Set(o.vrfs)];
    this.dp = this.vrfs.length > 0 ? this.newPlane() : undefined;
    this.monitor = new HealthMonitor({
      clock: o.engine,
      sendProbe: (peerId, payload) => this.sendProbe(peerId, payload),
      config: o.probe,
      overrides: o.overrides,
      statsIntervalMs: o.statsIntervalMs,
      initialState,
      phaseMs: o.engine.random.next() * (o.probe.intervalMs ?? 100),
    });
    this.monitor.on((e) => o.hooks.health(this, e));
    this.failover = undefined;
    if (o.localFailover) {
      this.failover = wireLocalFailover(this.monitor, {
        setPeerState: (gw, up) => this.dp?.setPeerState(gw, up),
      });
    }
    if (this.table) this.followPeers(this.table.peers);
  }

  private followPeers(peers: readonly Peer[]): void {
    this.linkOfPeer = new Map();
    for (const p of [...peers].sort((a, b) => (a.linkId < b.linkId ? -1 : 1))) if (!this.linkOfPeer.has(p.gatewayId)) this.linkOfPeer.set(p.gatewayId, p.linkId);
    this.monitor.setPeers(peers);
    this.failover?.resync();
  }

  /** A new data plane for this.vrfs, with the held table. */
  private newPlane(): DataPlane {
    // Time-based counters, like the agent's: a restarted agent starts above
    // what it used before, so its peers' replay windows accept it.
    const counter = (BigInt(Math.floor(this.opts.engine.now() * 1000)) + 1n) << 12n;
    const [accessVrf = 0, ...extraAccessVrfs] = this.vrfs;
    const dp = new DataPlane({ accessVrf, extraAccessVrfs, initialCounter: counter, hashSeed: hashOf(this.gatewayId) });
    if (this.table) dp.setTable(this.table);
    return dp;
  }

  private sendProbe(peerId: string, payload: ProbePayload): void {
    const linkId = this.linkOfPeer.get(peerId);
    if (!linkId || !this.running) return;
    // The echo goes to the monitor that sent the probe: a restarted agent's new one ignores it.
    const monitor = this.monitor;
    this.opts.network.roundTrip(this.gatewayId, linkId, this.opts.hooks.answers, () => {
      if (this.running) monitor.onProbeReply(peerId, payload);
    });
  }
}

function hashOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}
