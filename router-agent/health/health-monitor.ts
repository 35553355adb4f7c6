// Probes every tunnel peer of the agent's current table and says when one
// goes down or comes back. Clock-driven and I/O-free: time comes from the
// Clock handed in, probes leave through the `sendProbe` port and replies come
// back through `onProbeReply`, so the agent runs it over real sockets and the
// simulator over in-memory links, unchanged.
//
// Peers with the same interval share one timer (a "tick group"): at every
// tick each peer of the group ends its interval (state machine in
// probe-state.ts) and then sends its next probe. A peer that joins between
// ticks sends its first probe at the next tick. Detection is exact: when an
// UP peer's deadline (last reply + multiplier x interval) falls before the
// next tick, a timer is set for that instant; a peer that keeps answering
// never needs one (its deadline stays ahead of the ticks), so a healthy
// network costs one timer per interval per monitor, not one per peer.
//
// Peers are keyed by the gateway at the far end (the data plane's
// setPeerState takes a gateway id); with two parallel links to one gateway
// the first by link id is probed.

import type { Clock, TimerHandle } from '../../common/clock.js';
import { invalid } from '../../common/errors.js';
import { DEFAULT_PROBE_CONFIG, resolveProbeConfig, type ProbeConfig } from './probe-config.js';
import { PeerProbe, type PeerFigures, type PeerState, type ProbePayload } from './probe-state.js';

export type { ProbePayload, PeerState };

/** A tunnel peer as the monitor needs it (a table Peer fits). */
export interface MonitoredPeer {
  gatewayId: string;
  linkId: string;
  /** The tunnel's underlay MTU, the upper bound of a path-MTU search (0: the configured maximum). */
  mtu?: number;
}

export interface PeerStats {
  peerId: string;
  linkId: string;
  state: PeerState;
  /** Smoothed RTT and jitter in microseconds (0 before the first reply). */
  rttUs: number;
  jitterUs: number;
  /** Loss over the window, parts per million. */
  lossPpm: number;
  pathMtu: number;
  sent: number;
  received: number;
  badReplies: number;
}

export type HealthEvent =
  /** `multiplier` consecutive intervals passed without a reply. */
  | { type: 'peer-down'; peerId: string; linkId: string; atMs: number; missed: number; silentMs: number }
  /** Replies were seen in every interval for the hold time. */
  | { type: 'peer-up'; peerId: string; linkId: string; atMs: number; downForMs: number }
  /** Periodic figures of one peer (for the agent's link reports). */
  | ({ type: 'stats'; atMs: number } & PeerStats);

export type HealthListener = (e: HealthEvent) => void;

export interface HealthMonitorOptions {
  clock: Clock;
  sendProbe: (peerId: string, payload: ProbePayload) => void;
  /** Defaults for every peer (see DEFAULT_PROBE_CONFIG). */
  config?: Partial<ProbeConfig>;
  /** Per-peer settings over the defaults, keyed by link id or, failing that, gateway id. */
  overrides?: ReadonlyMap<string, Partial<ProbeConfig>>;
  /** A `stats` event per peer this often (ms); 0 turns them off. Default 1000. */
  statsIntervalMs?: number;
  /** The state a new peer starts in. The table lists it, so 'up' by default. */
  initialState?: PeerState;
  /** Delay of the first tick of a new tick group (ms), to spread agents that start together. */
  phaseMs?: number;
}

interface Entry {
  probe: PeerProbe;
  linkId: string;
  group: Group;
  /** Joined after the group's last tick: first probe at the next one. */
  fresh: boolean;
  detectTimer: TimerHandle | undefined;
}

interface Group {
  intervalMs: number;
  peers: Map<string, Entry>;
  /** `peers` as an array, rebuilt when membership changes (ticks are far more frequent). */
  list: [string, Entry][] | undefined;
  timer: TimerHandle | undefined;
}

export class HealthMonitor {
  private readonly clock: Clock;
  private readonly send: (peerId: string, payload: ProbePayload) => void;
  private readonly defaults: ProbeConfig;
  private readonly overrides: ReadonlyMap<string, ProbeConfig>;
  private readonly statsIntervalMs: number;
  private readonly initialState: PeerState;
  private readonly phaseMs: number;
  private readonly peers = new Map<string, Entry>();
  private readonly groups = new Map<number, Group>();
  private readonly listeners = new Set<HealthListener>();
  private statsTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(opts: HealthMonitorOptions) {
    this.clock = opts.clock;
    this.send = opts.sendProbe;
    this.defaults = resolveProbeConfig(opts.config, 'health');
    const ov = new Map<string, ProbeConfig>();
    for (const [key, partial] of opts.overrides ?? []) ov.set(key, resolveProbeConfig(partial, `health.overrides[${key}]`, this.defaults));
    this.overrides = ov;
    this.statsIntervalMs = opts.statsIntervalMs ?? 1000;
    if (!Number.isFinite(this.statsIntervalMs) || this.statsIntervalMs < 0) {
      throw invalid('statsIntervalMs', `must be a non-negative number, got ${opts.statsIntervalMs}`);
    }
    this.initialState = opts.initialState ?? 'up';
    this.phaseMs = Math.max(0, opts.phaseMs ?? 0);
  }

  get config(): ProbeConfig {
    return this.defaults;
  }

  on(l: HealthListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Makes the monitored set exactly `peers` (the peers of a newly applied
   * table): new ones start probing, gone ones stop, kept ones keep their
   * state and figures.
   */
  setPeers(peers: readonly MonitoredPeer[]): void {
    if (this.stopped) return;
    const wanted = new Map<string, MonitoredPeer>();
    for (const p of [...peers].sort((a, b) => (a.linkId < b.linkId ? -1 : a.linkId > b.linkId ? 1 : 0))) {
      if (!p || typeof p.gatewayId !== 'string' || !p.gatewayId) throw invalid('peers', 'every peer needs a gateway id');
      if (!wanted.has(p.gatewayId)) wanted.set(p.gatewayId, p);
    }
    for (const [id, e] of this.peers) {
      if (!wanted.has(id)) this.remove(id, e);
    }
    const now = this.clock.now();
    for (const p of [...wanted.values()].sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : 0))) {
      const cfg = this.overrides.get(p.linkId) ?? this.overrides.get(p.gatewayId) ?? this.defaults;
      const e = this.peers.get(p.gatewayId);
      if (e && e.group.intervalMs === cfg.intervalMs) {
        e.linkId = p.linkId;
        e.probe.config = cfg;
        if (p.mtu) e.probe.setMtuMax(p.mtu);
        continue;
      }
      const probe = e ? e.probe : new PeerProbe(p.gatewayId, cfg, now, this.initialState, p.mtu || cfg.pmtuMaxBytes);
      probe.config = cfg;
      if (e) this.remove(p.gatewayId, e);
      const group = this.group(cfg.intervalMs);
      const entry: Entry = { probe, linkId: p.linkId, group, fresh: true, detectTimer: undefined };
      group.peers.set(p.gatewayId, entry);
      group.list = undefined;
      this.peers.set(p.gatewayId, entry);
    }
    this.armStats();
  }

  /** A probe reply from `peerId`; false when it matches no probe in flight (counted). */
  onProbeReply(peerId: string, payload: ProbePayload, now = this.clock.now()): boolean {
    const e = this.peers.get(peerId);
    if (!e) return false;
    return e.probe.reply(payload, now);
  }

  state(peerId: string): PeerState | undefined {
    return this.peers.get(peerId)?.probe.state;
  }

  /** Figures of one peer now. */
  stats(peerId: string): PeerStats | undefined {
    const e = this.peers.get(peerId);
    return e ? toStats(peerId, e.linkId, e.probe.figures(this.clock.now())) : undefined;
  }

  /** Every peer's figures, in gateway-id order. */
  allStats(): PeerStats[] {
    return [...this.peers.keys()].sort().map((id) => this.stats(id)!);
  }

  /** Stops every timer; the monitor is inert afterwards. */
  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) if (g.timer) this.clock.clearTimeout(g.timer);
    this.groups.clear();
    this.peers.clear();
    if (this.statsTimer) this.clock.clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
  }

  private group(intervalMs: number): Group {
    let g = this.groups.get(intervalMs);
    if (!g) {
      g = { intervalMs, peers: new Map(), list: undefined, timer: undefined };
      this.groups.set(intervalMs, g);
      const grp = g;
      g.timer = this.clock.setTimeout(() => this.tick(grp), this.phaseMs);
    }
    return g;
  }

  private remove(id: string, e: Entry): void {
    if (e.detectTimer) this.clock.clearTimeout(e.detectTimer);
    e.detectTimer = undefined;
    this.peers.delete(id);
    e.group.peers.delete(id);
    e.group.list = undefined;
    if (e.group.peers.size === 0) {
      if (e.group.timer) this.clock.clearTimeout(e.group.timer);
      this.groups.delete(e.group.intervalMs);
    }
  }

  private tick(g: Group): void {
    if (this.stopped || this.groups.get(g.intervalMs) !== g) return;
    const now = this.clock.now();
    g.timer = this.clock.setTimeout(() => this.tick(g), g.intervalMs);
    // A snapshot: a listener may change the peer set (an agent applying a table).
    const entries = (g.list ??= [...g.peers.entries()]);
    for (const [id, e] of entries) {
      if (this.peers.get(id) !== e) continue;
      if (!e.fresh && e.probe.tick(now) === 'up') {
        this.emit({ type: 'peer-up', peerId: id, linkId: e.linkId, atMs: now, downForMs: now - downSince(e, now) });
      }
    }
    for (const [id, e] of entries) {
      if (this.peers.get(id) !== e || this.stopped) continue;
      e.fresh = false;
      this.send(id, e.probe.probe(now));
      this.armDetection(id, e, now, g.intervalMs);
      const m = e.probe.mtuProbe(now);
      if (m) this.send(id, m);
    }
  }

  /** Sets the detection timer when the deadline comes before the next tick (and none is set). */
  private armDetection(id: string, e: Entry, now: number, intervalMs: number): void {
    if (e.detectTimer || e.probe.state !== 'up') return;
    const dl = e.probe.deadline();
    if (dl === undefined || dl >= now + intervalMs) return;
    const deadline = dl;
    let graceUsed = false;
    const check = () => {
      e.detectTimer = undefined;
      if (this.stopped || this.peers.get(id) !== e) return;
      const t = this.clock.now();
      // Fired more than an interval late: this process was stalled (CPU
      // starved, a long GC), not the peer silent. Replies may be waiting in
      // the socket; timers run before I/O in an event-loop turn, so look
      // again once after the pending I/O has been handled. A stalled agent
      // must not declare every peer down and drop all its traffic.
      if (!graceUsed && t - deadline > intervalMs) {
        graceUsed = true;
        e.detectTimer = this.clock.setTimeout(check, 0);
        return;
      }
      if (e.probe.checkDetection(t) === 'down') {
        // silentMs: the detection time as it really ran (more than multiplier x interval when the timer fired late).
        this.emit({ type: 'peer-down', peerId: id, linkId: e.linkId, atMs: t, missed: e.probe.config.multiplier, silentMs: t - (e.probe.lastHeardAt() ?? t) });
        return;
      }
      // Past the deadline without `multiplier` probes sent since the last
      // reply: this agent fell behind, not the peer; the tick that sends the
      // next probe looks again.
      if (e.probe.awaitingProbes(t)) return;
      // Not down yet: either a reply moved the deadline (then this arms
      // nothing and the next tick looks again), or the timer fired a little
      // before the deadline, as Node's do (they run on a millisecond loop
      // clock that lags performance.now()): then look again at the deadline,
      // not a whole interval later at the next tick.
      this.armDetection(id, e, t, intervalMs);
    };
    e.detectTimer = this.clock.setTimeout(check, Math.max(0, dl - now));
  }

  private armStats(): void {
    if (this.statsIntervalMs === 0 || this.statsTimer || this.peers.size === 0) return;
    const fire = () => {
      this.statsTimer = undefined;
      if (this.stopped || this.peers.size === 0) return;
      const now = this.clock.now();
      for (const id of [...this.peers.keys()].sort()) {
        const e = this.peers.get(id);
        if (e) this.emit({ type: 'stats', atMs: now, ...toStats(id, e.linkId, e.probe.figures(now)) });
      }
      this.armStats();
    };
    this.statsTimer = this.clock.setTimeout(fire, this.statsIntervalMs);
  }

  private emit(e: HealthEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}

/** The time the peer went down (its state changed to up just now, so use the previous change). */
function downSince(e: Entry, now: number): number {
  return e.probe.previousChange ?? now;
}

function toStats(peerId: string, linkId: string, f: PeerFigures): PeerStats {
  return {
    peerId,
    linkId,
    state: f.state,
    rttUs: Math.round((f.rttMs ?? 0) * 1000),
    jitterUs: Math.round((f.jitterMs ?? 0) * 1000),
    lossPpm: Math.round(f.loss * 1_000_000),
    pathMtu: f.pathMtu,
    sent: f.sent,
    received: f.received,
    badReplies: f.badReplies,
  };
}

export { DEFAULT_PROBE_CONFIG };
