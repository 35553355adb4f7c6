// An emulation: the scenario's topology brought up in namespaces with real
// processes (network.ts, deployment.ts), the scenario's events played in
// real time against it while every demand runs as real pings, and a
// per-demand report in the shape of the simulator's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precondition } from '../common/errors.js';
import { parseIp, parsePrefix, prefixContains } from '../common/prefix.js';
import type { DemandResult } from '../sim/result.js';
import type { Demand, Scenario, ScenarioEvent } from '../sim/scenario.js';
import { Deployment, type AgentRow, type Transport } from './deployment.js';
import { NetnsHarness, netnsPrerequisites, requireCommand } from './netns.js';
import { buildEmulatedNetwork, type EmulatedNetwork } from './network.js';
import { pingSeries, timedLossRuns, type CutWindow, type PingRun } from './probes.js';

export interface EmulateOptions {
  transport?: Transport;
  /** Probe (ping) interval of the demand traffic. */
  pingIntervalMs?: number;
  log?: (line: string) => void;
}

export interface EmulatedDemand extends DemandResult {
  /** Why the demand was not run (no host for its source or destination ...). */
  skipped?: string;
  /** The simulator's prediction (with --compare). */
  predictedOutageMs?: number;
  predictedPathEnd?: string[];
}

export interface EmulatedEvent {
  atMs: number;
  event: string;
  /** Milliseconds late against the schedule. */
  lateMs?: number;
  skipped?: string;
}

export interface EmulateResult {
  scenario: { name: string; source: string; durationMs: number; transport: Transport; security: string; pingIntervalMs: number; timing: Record<string, number | boolean> };
  notes: string[];
  events: EmulatedEvent[];
  demands: EmulatedDemand[];
  agentsAtEnd: AgentRow[];
}

export const LATENCY_NOTE = 'link latency cannot be emulated here (this kernel has no netem): every underlay link has ~0 ms latency; latency and stretch are the simulator\'s job';

export function checkCanEmulate(): void {
  const missing = netnsPrerequisites();
  if (missing) throw precondition(`switchback emulate ${missing.replace('network namespace tests need', 'needs')}: run it as root on Linux`);
  requireCommand('ping', 'iputils-ping');
}

/** A running emulated deployment of a topology; close() always tears it down. */
export class Emulation {
  readonly h = new NetnsHarness();
  readonly dir = mkdtempSync(join(tmpdir(), 'sb-emulate-'));
  net!: EmulatedNetwork;
  dep!: Deployment;
  private closed = false;
  /** When the first end of a link went down during the current event (Unix ms). */
  private cutDoneMs: number | undefined;

  private constructor(
    readonly scenario: Scenario,
    readonly opts: EmulateOptions,
  ) {}

  static async start(scenario: Scenario, opts: EmulateOptions = {}): Promise<Emulation> {
    checkCanEmulate();
    const e = new Emulation(scenario, opts);
    try {
      await e.bringUp();
    } catch (err) {
      await e.close();
      throw err;
    }
    return e;
  }

  private async bringUp(): Promise<void> {
    const log = this.opts.log ?? (() => {});
    this.net = await buildEmulatedNetwork(this.h, this.scenario.topology);
    const t = this.scenario.timing;
    this.dep = new Deployment(this.h, this.net, this.dir, this.opts.transport ?? 'grpc', {
      probeIntervalMs: t.probeIntervalMs, detectMultiplier: t.detectMultiplier, holdMs: t.holdMs, localFailover: t.localFailover,
    }, log);
    await this.dep.bringUpControl();
    await this.dep.startAgents();
    // Agents that started before their peers reported those tunnels down;
    // they come back after answering probes for the hold time.
    await this.dep.waitLinksUp(Math.max(60_000, 3 * this.scenario.timing.holdMs));
    await this.dep.waitInSync();
  }

  /** The address a demand's pings go to, and the host namespace they start in, or why it cannot run. */
  demandEnds(d: Demand): { src: string; dst: string } | { skipped: string } {
    if (d.family !== 4) return { skipped: 'IPv6 demand (the emulator\'s hosts are IPv4)' };
    const src = this.net.hosts.get(d.from);
    if (!src) return { skipped: `site ${d.from} has no host` };
    if (src.vrf !== d.vrf) return { skipped: `site ${d.from}'s host is in VRF ${src.vrf}, the demand in ${d.vrf}` };
    const addr = parseIp(d.address).bytes;
    const owner = [...this.net.hosts.values()].find((h) => d.destSites.includes(h.site) && h.vrf === d.vrf && h.prefixes.some((p) => prefixContains(parsePrefix(p), addr)));
    if (!owner) return { skipped: `no host owns ${d.address} in VRF ${d.vrf}` };
    if (!owner.addresses.includes(d.address)) return { skipped: `${d.address} is not a host address (the hosts own the first address of each prefix)` };
    return { src: src.ns, dst: d.address };
  }

  /** The controller's primary path for a demand from its source site's gateway. */
  async pathOf(d: Demand): Promise<string[]> {
    const via = this.net.hosts.get(d.from)?.via;
    if (!via || !this.dep.controllerRunning()) return [];
    try {
      const routes = await this.dep.routes(via);
      const addr = parseIp(d.address).bytes;
      let best: { len: number; path: string[] } | undefined;
      for (const r of routes) {
        if (r.rule.vrf !== d.vrfId) continue;
        const c = parsePrefix(r.rule.prefix);
        if (c.family !== d.family || !prefixContains(c, addr) || (best && best.len >= c.length)) continue;
        const p = r.primaryPaths[0]?.gateways ?? [];
        best = { len: c.length, path: p.length && p[0] !== via ? [via, ...p] : p.length ? p : [via] };
      }
      return best?.path ?? [];
    } catch {
      return [];
    }
  }

  async linkState(id: string, state: 'up' | 'down'): Promise<void> {
    const l = this.net.linkIf.get(id);
    if (!l) throw precondition(`link ${id} is not in the emulated network`);
    for (const [ns, ifname, route] of [l.a, l.b]) {
      await this.h.setLink(ns, ifname, state);
      // One end down is a cut (the other loses carrier): that is when the link failed.
      this.cutDoneMs ??= Date.now();
      // The kernel drops routes through a device that goes down: put the /32 back.
      if (state === 'up') await this.h.exec(ns, 'ip', route);
    }
  }

  async partition(gw: string, state: 'up' | 'down'): Promise<void> {
    await this.h.setLink(this.net.gwNs.get(gw)!, 'mgmt', state);
  }

  /** Applies one scenario event; returns why it was skipped, if it was. */
  async apply(e: ScenarioEvent): Promise<string | undefined> {
    const topo = this.net.topology;
    switch (e.kind) {
      case 'link_down':
      case 'link_up':
        await this.linkState(e.link, e.kind === 'link_down' ? 'down' : 'up');
        return;
      case 'srlg_down':
      case 'srlg_up':
        for (const l of topo.links.filter((x) => x.srlgs.includes(e.srlg))) await this.linkState(l.id, e.kind === 'srlg_down' ? 'down' : 'up');
        return;
      case 'gateway_down':
        await this.dep.killAgent(e.gateway);
        return;
      case 'gateway_up':
        if (!this.dep.agentRunning(e.gateway)) await this.dep.startAgent(e.gateway);
        return;
      case 'site_down':
      case 'site_up':
        for (const g of topo.gateways.filter((x) => x.siteId === e.site)) {
          if (e.kind === 'site_down') await this.dep.killAgent(g.id);
          else if (!this.dep.agentRunning(g.id)) await this.dep.startAgent(g.id);
        }
        return;
      case 'controller_down':
        await this.dep.killController();
        return;
      case 'controller_up':
        if (!this.dep.controllerRunning()) await this.dep.startController();
        return;
      case 'partition':
      case 'heal':
        await this.partition(e.gateway, e.kind === 'partition' ? 'down' : 'up');
        return;
      case 'latency':
      case 'loss':
      case 'gray':
        return `${e.kind} changes need netem, which this kernel lacks`;
    }
  }

  /** Plays the scenario's events in real time while every demand is pinged. */
  async play(pingIntervalMs = this.opts.pingIntervalMs ?? 10, override: Partial<Pick<Scenario, 'events' | 'demands'>> & { durationMs?: number } = {}): Promise<EmulateResult> {
    const base = this.scenario;
    const s: Scenario = {
      ...base,
      events: override.events ?? base.events,
      demands: override.demands ?? base.demands,
      timing: { ...base.timing, durationMs: override.durationMs ?? base.timing.durationMs },
    };
    const log = this.opts.log ?? (() => {});
    // A deadline, not a count: ping falls behind its interval on a loaded machine.
    const count = Math.max(1, Math.ceil((2 * s.timing.durationMs) / pingIntervalMs));
    const runs = new Map<string, { done: Promise<PingRun> }>();
    const demands: EmulatedDemand[] = [];
    const pathStart = new Map<string, string[]>();
    for (const d of s.demands) pathStart.set(d.id, await this.pathOf(d));
    const t0 = Date.now();
    for (const d of s.demands) {
      const ends = this.demandEnds(d);
      if ('src' in ends) runs.set(d.id, pingSeries(this.h, ends.src, ends.dst, count, pingIntervalMs, { deadlineMs: s.timing.durationMs }));
    }
    const events: EmulatedEvent[] = [];
    const windows: CutWindow[] = [];
    for (const e of s.events) {
      const wait = t0 + e.atMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const lateMs = Math.max(0, Date.now() - t0 - e.atMs);
      const text = describe(e);
      this.cutDoneMs = undefined;
      const fromMs = Date.now();
      const skipped = await this.apply(e);
      windows.push({ fromMs, toMs: this.cutDoneMs ?? Date.now() });
      events.push({ atMs: e.atMs, event: text, lateMs, ...(skipped ? { skipped } : {}) });
      log(`${(e.atMs / 1000).toFixed(3).padStart(8)} s  ${text}${skipped ? `  SKIPPED: ${skipped}` : ''}`);
    }
    const results = new Map<string, PingRun>();
    for (const [id, r] of runs) results.set(id, await r.done);
    const endMs = Date.now();
    for (const d of s.demands) {
      const r = results.get(d.id);
      const base = demandBase(d);
      if (!r) {
        const ends = this.demandEnds(d);
        demands.push({ ...base, skipped: 'skipped' in ends ? ends.skipped : 'not run', status: 'unreachable', pathStart: pathStart.get(d.id) ?? [], pathEnd: [] });
        continue;
      }
      const lost = r.sent - r.answered.size;
      const mergeGap = Math.max(0, Math.round(s.timing.mergeGapMs / pingIntervalMs) - 1);
      const episodes = timedLossRuns(r, mergeGap, windows, endMs).map((run) => {
        const n = [...Array(run.last - run.first + 1).keys()].filter((i) => !r.answered.has(run.first + i)).length;
        const startMs = Math.round(run.startMs - t0);
        const durationMs = Math.round(run.durationMs);
        const ev = run.cause === undefined ? undefined : s.events[run.cause];
        return {
          kind: n === run.last - run.first + 1 || durationMs >= 50 ? ('outage' as const) : ('degraded' as const),
          startMs, endMs: startMs + durationMs, durationMs, packetsLost: n, packetsSent: run.last - run.first + 1,
          restoredBy: run.restoredMs === undefined ? ('not-restored' as const) : ('repair' as const),
          split: { detectionMs: 0, localFailoverMs: 0, reconvergenceMs: 0, repairMs: 0 },
          pathBefore: [], pathAfter: [], lossReasons: {},
          cause: ev ? `${describe(ev)} at ${ev.atMs} ms` : causeOf(s.events, startMs),
        };
      });
      const downAtEnd = !r.answered.has(r.sent) && !r.answered.has(r.sent - 1);
      demands.push({
        ...base,
        sampledPps: 1000 / pingIntervalMs,
        packetsSent: r.sent,
        packetsLost: lost,
        lossPct: Math.round((lost / r.sent) * 10000) / 100,
        status: r.answered.size === 0 ? 'unreachable' : downAtEnd ? 'down-at-end' : lost ? 'disrupted' : 'ok',
        outageMs: episodes.filter((x) => x.kind === 'outage').reduce((a, x) => a + x.durationMs, 0),
        pathStart: pathStart.get(d.id) ?? [],
        pathEnd: [],
        episodes,
      });
    }
    for (const d of demands) {
      const sd = s.demands.find((x) => x.id === d.id)!;
      d.pathEnd = await this.pathOf(sd);
    }
    let agentsAtEnd: AgentRow[] = [];
    if (this.dep.controllerRunning()) agentsAtEnd = await this.dep.agentRows().catch(() => []);
    const t = s.timing;
    return {
      scenario: {
        name: s.name, source: s.source, durationMs: t.durationMs, transport: this.dep.transport, security: this.dep.security, pingIntervalMs,
        timing: { probeIntervalMs: t.probeIntervalMs, detectMultiplier: t.detectMultiplier, holdMs: t.holdMs, localFailover: t.localFailover },
      },
      notes: [LATENCY_NOTE, 'gateway endpoints rewritten to the emulator\'s router ids 10.255.255.N (the topology\'s own addresses are not used)', ...this.net.notes],
      events,
      demands,
      agentsAtEnd,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.h.cleanup();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function demandBase(d: Demand): EmulatedDemand {
  return {
    id: d.id, from: d.from, to: d.to, vrf: d.vrf, prefix: d.prefix, address: d.address, ratePps: d.ratePps, sampledPps: 0, packetBytes: 84,
    packetsSent: 0, packetsLost: 0, lossPct: 0, status: 'ok', outageMs: 0, unreachableMs: 0, pathStart: [], pathEnd: [], episodes: [],
  };
}

export function describe(e: ScenarioEvent): string {
  switch (e.kind) {
    case 'link_down': case 'link_up': case 'latency': case 'loss': case 'gray':
      return `${e.kind} ${e.link}`;
    case 'gateway_down': case 'gateway_up': case 'partition': case 'heal':
      return `${e.kind} ${e.gateway}`;
    case 'site_down': case 'site_up':
      return `${e.kind} ${e.site}`;
    case 'srlg_down': case 'srlg_up':
      return `${e.kind} ${e.srlg}`;
    case 'controller_down': case 'controller_up':
      return e.kind;
  }
}

function causeOf(events: readonly ScenarioEvent[], atMs: number): string | undefined {
  const before = events.filter((e) => e.atMs <= atMs + 50);
  const e = before[before.length - 1];
  return e ? `${describe(e)} at ${e.atMs} ms` : undefined;
}

/** Brings the scenario up, plays it, tears it down (also on errors). */
export async function runEmulation(s: Scenario, opts: EmulateOptions = {}): Promise<EmulateResult> {
  const e = await Emulation.start(s, opts);
  try {
    return await e.play();
  } finally {
    await e.close();
  }
}
