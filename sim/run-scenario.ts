// Runs a scenario in virtual time with the production parts:
// - the real Controller (controller/controller.ts) over a MemoryStore, on the
//   engine's clock: it validates, recomputes routes and journals exactly as
//   in the NOC;
// - per gateway, the real agent logic (sim-agent.ts): data plane, health
//   monitor and local failover;
// - in between, simulated channels: tunnels are SimNetwork links; the
//   control channel delivers an agent's reports to the controller after
//   `control_delay_ms` and the controller's tables to the agent after
//   `compute_ms` + `control_delay_ms`.
// The controller down loses reports and sends nothing; a partition cuts one
// agent's control channel; agents are fail-static. When the controller comes
// back it is a restart (a new epoch over the same store) and every agent's
// session starts again: the agent reports its peers' states, and gets the
// current table if it holds another.

import { OperState } from '../common/model.js';
import { tableHash } from '../common/flow-table.js';
import { Controller } from '../controller/controller.js';
import { MemoryStore } from '../controller/store/memory-store.js';
import { describeEvent, type Scenario, type ScenarioEvent } from './scenario.js';
import { SimEngine } from './engine.js';
import { SimNetwork } from './network.js';
import { SimAgent } from './sim-agent.js';
import { startTraffic, type DemandRecord } from './traffic.js';
import { analyseDemand, type RunFacts } from './analyse.js';
import { ms3, type GatewayResult, type LinkResult, type SimResult, type TimelineEntry } from './result.js';
import { Reachability } from './reachability.js';
import type { HealthEvent } from '../router-agent/health/index.js';

export interface RunOptions {
  /** At most this many timeline entries are kept (default 5000). */
  maxTimeline?: number;
}

interface Interval {
  start: number;
  end: number;
}

/** Virtual time run between yields to the event loop. */
const SLICE_MS = 1000;

/**
 * Runs the scenario to its end. Asynchronous only so that it yields to the
 * event loop every virtual second: objects routing keeps through WeakRefs
 * (every gateway's rules after a recompute) are pinned until the current
 * job ends, and a thousand-gateway run would otherwise hold every table it
 * ever built. Nothing else depends on real time.
 */
export async function runScenario(s: Scenario, opts: RunOptions = {}): Promise<SimResult> {
  const t = s.timing;
  const engine = new SimEngine({ seed: t.seed });
  const topo = s.topology;
  const network = new SimNetwork(engine, topo, s.network);
  const maxTimeline = opts.maxTimeline ?? 5000;
  const timeline: TimelineEntry[] = [];
  let truncated = 0;
  const note = (kind: TimelineEntry['kind'], subject: string, text: string) => {
    if (timeline.length >= maxTimeline) truncated++;
    else timeline.push({ atMs: ms3(engine.now()), kind, subject, text });
  };

  // --- controller -----------------------------------------------------------
  let store = new MemoryStore();
  let controller = newController();
  let controllerUp = true;
  let generation = 0;
  let epochs = 1;
  const counters = { journalEntries: 0, reportsDelivered: 0, reportsLost: 0, tablesPushed: 0, pushesLost: 0 };
  controller.applyTopology(topo, 'sim');

  function newController(): Controller {
    const c = new Controller({ store, clock: engine, routing: s.routing });
    c.on((e) => {
      if (e.type !== 'journal') return;
      counters.journalEntries++;
      if (engine.now() > 0 || counters.journalEntries > 1) note('journal', e.entry.subject, e.entry.summary);
      // The commit is the end of the recompute: the new tables go out now.
      for (const { gatewayId } of e.entry.tables) sendTable(gatewayId);
    });
    return c;
  }

  function sendTable(gw: string): void {
    const agent = agents.get(gw);
    const table = store.table(gw);
    if (!agent || !table) return;
    if (agent.partitioned) {
      counters.pushesLost++;
      note('push-lost', gw, `table v${table.version} for ${gw} lost: control channel partitioned`);
      return;
    }
    counters.tablesPushed++;
    const gen = generation;
    engine.setTimeout(() => {
      if (agent.partitioned || !agent.running) {
        counters.pushesLost++;
        note('push-lost', gw, `table v${table.version} for ${gw} lost on the way`);
        return;
      }
      if (agent.applyTable(table)) {
        note('table', gw, `${gw} applied table v${table.version} (epoch ${table.epoch})`);
        // The ack travels back; the controller records it if it is still the same run.
        engine.setTimeout(() => {
          if (gen === generation && controllerUp && !agent.partitioned) controller.recordAck(gw, table.version, 'sim');
        }, t.controlDelayMs);
      }
    }, t.controlDelayMs);
  }

  interface ReportItem {
    linkId: string;
    state: OperState;
    rttUs?: number;
    lossPpm?: number;
  }

  function report(agent: SimAgent, items: ReportItem[]): void {
    if (items.length === 0) return;
    if (!controllerUp || agent.partitioned || !agent.running) {
      counters.reportsLost += items.length;
      if (items.some((i) => i.state !== OperState.UNSPECIFIED)) note('report-lost', agent.gatewayId, `link report from ${agent.gatewayId} lost: ${!controllerUp ? 'controller down' : 'control channel partitioned'}`);
      return;
    }
    const gen = generation;
    engine.setTimeout(() => {
      if (gen !== generation || !controllerUp || agent.partitioned) {
        counters.reportsLost += items.length;
        return;
      }
      for (const it of items) {
        if (it.state === OperState.UNSPECIFIED) deliver(agent.gatewayId, it);
        else queue.push({ gw: agent.gatewayId, item: it });
      }
      pump();
    }, t.controlDelayMs);
  }

  // State reports are handled one at a time; one that moves a link's state
  // costs compute_ms (the recompute), after which the commit sends tables.
  const queue: { gw: string; item: ReportItem }[] = [];
  let computing = false;
  function pump(): void {
    while (!computing && queue.length > 0) {
      const { gw, item } = queue[0]!;
      const link = store.topology().links.find((l) => l.id === item.linkId);
      if (!link || link.operState === item.state || t.computeMs === 0) {
        queue.shift();
        deliver(gw, item);
        continue;
      }
      computing = true;
      const gen = generation;
      engine.setTimeout(() => {
        computing = false;
        if (gen !== generation) return;
        queue.shift();
        deliver(gw, item);
        pump();
      }, t.computeMs);
    }
  }

  function deliver(gw: string, it: ReportItem): void {
    counters.reportsDelivered++;
    try {
      controller.reportLink({ gatewayId: gw, linkId: it.linkId, state: it.state, rttUs: it.rttUs, lossPpm: it.lossPpm });
    } catch {
      // A report about a link the controller no longer has: refused there, as in production.
    }
  }

  /** A control session (re)starts: Hello after the delay, then state report and table sync. */
  function connect(agent: SimAgent): void {
    if (!controllerUp || agent.partitioned || !agent.running) return;
    const gen = generation;
    engine.setTimeout(() => {
      if (gen !== generation || !controllerUp || agent.partitioned || !agent.running) return;
      for (const p of agent.peerStates()) queue.push({ gw: agent.gatewayId, item: { linkId: p.linkId, state: p.up ? OperState.UP : OperState.DOWN } });
      pump();
      // In sync when the held version has the current content (the agent's
      // table came from this store: compare the stored versions); else the
      // newest table goes out.
      const current = store.table(agent.gatewayId);
      const held = agent.table;
      if (!current) return;
      const heldContent = held && (held.version === current.version ? current : store.tableAt(agent.gatewayId, held.version));
      if (!heldContent || !tableHash(heldContent).equals(tableHash(current))) sendTable(agent.gatewayId);
    }, t.controlDelayMs);
  }

  // --- agents -----------------------------------------------------------------
  const siteGateways = new Map<string, string[]>();
  for (const g of topo.gateways) {
    const list = siteGateways.get(g.siteId) ?? [];
    list.push(g.id);
    siteGateways.set(g.siteId, list);
  }
  for (const list of siteGateways.values()) list.sort();
  const vrfs = [...new Set(s.demands.map((d) => d.vrfId))].sort((a, b) => a - b);
  const overrides = new Map<string, { intervalMs?: number; multiplier?: number; holdMs?: number }>();
  for (const [linkId, net] of s.network.links) if (net.probe) overrides.set(linkId, net.probe);
  const peerDownAt: { gw: string; peer: string; at: number }[] = [];
  const peerDownCount = new Map<string, number>();
  const tablesApplied = new Map<string, number>();

  const agents = new Map<string, SimAgent>();
  for (const g of [...topo.gateways].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    agents.set(
      g.id,
      new SimAgent({
        gatewayId: g.id,
        engine,
        network,
        probe: { intervalMs: t.probeIntervalMs, multiplier: t.detectMultiplier, holdMs: t.holdMs },
        overrides,
        localFailover: t.localFailover,
        vrfs,
        statsIntervalMs: t.reportIntervalMs,
        hooks: {
          health: (agent, e) => onHealth(agent, e),
          answers: (gw) => agents.get(gw)?.running === true,
        },
      }),
    );
  }
  for (const [id, agent] of agents) {
    const table = store.table(id);
    if (table) agent.applyTable(table);
  }

  function onHealth(agent: SimAgent, e: HealthEvent): void {
    if (e.type === 'stats') {
      report(agent, [{ linkId: e.linkId, state: OperState.UNSPECIFIED, rttUs: e.rttUs, lossPpm: e.lossPpm }]);
      return;
    }
    const down = e.type === 'peer-down';
    if (down) {
      peerDownAt.push({ gw: agent.gatewayId, peer: e.peerId, at: e.atMs });
      peerDownCount.set(agent.gatewayId, (peerDownCount.get(agent.gatewayId) ?? 0) + 1);
    }
    note(e.type, agent.gatewayId, `${agent.gatewayId}: peer ${e.peerId} (${e.linkId}) ${down ? 'DOWN' : 'UP'}${down ? ` after ${e.missed} missed probes` : ` after ${ms3(e.downForMs)} ms down`}`);
    report(agent, [{ linkId: e.linkId, state: down ? OperState.DOWN : OperState.UP }]);
  }

  // --- reachability, control reachability, down times ------------------------
  const reach = new Reachability(s.demands, network, siteGateways);
  const controlOff = new Map<string, Interval[]>(); // per gateway: running, but no controller to talk to
  const partitioned = new Map<string, Interval[]>(); // per gateway: its control channel cut
  const gatewayDown = new Map<string, Interval[]>();
  const linkDown = new Map<string, Interval[]>();
  const open = (m: Map<string, Interval[]>, key: string, now: number) => {
    const list = m.get(key) ?? [];
    if (list.length === 0 || list[list.length - 1]!.end !== Infinity) list.push({ start: now, end: Infinity });
    m.set(key, list);
  };
  const close = (m: Map<string, Interval[]>, key: string, now: number) => {
    const last = m.get(key)?.at(-1);
    if (last && last.end === Infinity) last.end = now;
  };
  const refreshStates = () => {
    const now = engine.now();
    for (const [id, agent] of agents) {
      if ((!controllerUp || agent.partitioned) && agent.running) open(controlOff, id, now);
      else close(controlOff, id, now);
      if (agent.partitioned) open(partitioned, id, now);
      else close(partitioned, id, now);
    }
    for (const [id, l] of network.links) {
      if (network.isUsable(l)) close(linkDown, id, now);
      else open(linkDown, id, now);
    }
    reach.update(now);
  };

  // --- scenario events ----------------------------------------------------------
  const gatewaysOfSite = (site: string) => siteGateways.get(site) ?? [];
  for (const ev of s.events) engine.at(ev.atMs, () => apply(ev));

  function apply(ev: ScenarioEvent): void {
    note('event', subjectOf(ev), describeEvent(ev));
    const now = engine.now();
    switch (ev.kind) {
      case 'link_down':
      case 'link_up':
        network.setFailed(network.link(ev.link), 'event', ev.kind === 'link_down');
        break;
      case 'srlg_down':
      case 'srlg_up':
        for (const l of network.links.values()) if (l.srlgs.includes(ev.srlg)) network.setFailed(l, `srlg:${ev.srlg}`, ev.kind === 'srlg_down');
        break;
      case 'gateway_down':
      case 'gateway_up':
        setGateway(ev.gateway, ev.kind === 'gateway_up', now);
        break;
      case 'site_down':
      case 'site_up':
        for (const gw of gatewaysOfSite(ev.site)) setGateway(gw, ev.kind === 'site_up', now);
        break;
      case 'controller_down':
        if (controllerUp) {
          controllerUp = false;
          generation++;
          queue.length = 0;
          computing = false;
        }
        break;
      case 'controller_up':
        if (!controllerUp) {
          controllerUp = true;
          generation++;
          store = store.reopen();
          controller = newController();
          epochs++;
          for (const a of agents.values()) connect(a);
        }
        break;
      case 'partition':
        agents.get(ev.gateway)!.partitioned = true;
        break;
      case 'heal': {
        const a = agents.get(ev.gateway)!;
        if (a.partitioned) {
          a.partitioned = false;
          connect(a);
        }
        break;
      }
      case 'latency':
        network.link(ev.link).latencyMs = ev.ms;
        break;
      case 'loss':
        network.link(ev.link).lossPct = ev.pct;
        break;
      case 'gray': {
        const l = network.link(ev.link);
        l.grayDropPct = ev.dropPct;
        l.grayProbeDropPct = ev.probeDropPct;
        break;
      }
    }
    refreshStates();
  }

  function setGateway(gw: string, up: boolean, now: number): void {
    const agent = agents.get(gw)!;
    if (up === network.isGatewayUp(gw)) return;
    network.setGatewayUp(gw, up);
    if (up) {
      close(gatewayDown, gw, now);
      agent.restart();
      connect(agent);
    } else {
      open(gatewayDown, gw, now);
      agent.stop();
    }
  }

  // --- traffic and the run --------------------------------------------------------
  const sourceAddress = (d: { from: string; vrf: string; family: 4 | 6 }) => {
    const p = topo.prefixes.find((x) => x.siteId === d.from && x.vrf === d.vrf && x.cidr.includes(':') === (d.family === 6));
    if (!p) return d.family === 4 ? '192.0.2.1' : '2001:db8::1';
    const [addr] = p.cidr.split('/');
    return d.family === 4 ? addr!.replace(/\.0$/, '.10') : `${addr!.replace(/::$/, '::')}a`;
  };
  refreshStates();
  const records = startTraffic({ engine, network, agents, siteGateways }, s.demands, t.durationMs, t.maxSamplePps, sourceAddress);
  // Count tables applied from here on (the initial ones are the steady state).
  for (const id of agents.keys()) tablesApplied.set(id, 0);
  for (let at = 0; at < t.durationMs; ) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    at = Math.min(t.durationMs, at + SLICE_MS);
    engine.run(at);
  }
  const end = t.durationMs;
  for (const m of [controlOff, partitioned, gatewayDown, linkDown]) for (const list of m.values()) for (const iv of list) if (iv.end === Infinity) iv.end = end;
  reach.finish(end);

  for (const e of timeline) if (e.kind === 'table') tablesApplied.set(e.subject, (tablesApplied.get(e.subject) ?? 0) + 1);

  // --- results ----------------------------------------------------------------------
  const facts: RunFacts = {
    events: s.events,
    peerDownAt,
    partitioned,
    unreachable: reach.intervals,
    timing: t,
    controllerDown: controllerDownIntervals(s.events, end),
  };
  const demands = records.map((r: DemandRecord) => analyseDemand(r, facts, end));
  const firstEventAt = s.events.length ? s.events[0]!.atMs : end;
  const links: LinkResult[] = [...network.links.values()]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((l) => {
      let peak = 0;
      let peakAt = 0;
      let baseline = 0;
      for (const sec of [...l.bytesPerSecond.keys()].sort((a, b) => a - b)) {
        if ((sec + 1) * 1000 > end) continue; // a partial last second is not a rate
        const mbps = (l.bytesPerSecond.get(sec)! * 8) / 1e6;
        if (mbps > peak) {
          peak = mbps;
          peakAt = sec * 1000;
        }
        if ((sec + 1) * 1000 <= firstEventAt && mbps > baseline) baseline = mbps;
      }
      const pct = l.capacityMbps > 0 ? (peak / l.capacityMbps) * 100 : 0;
      return {
        id: l.id,
        a: l.a,
        b: l.b,
        capacityMbps: l.capacityMbps,
        latencyMs: ms3(l.latencyMs),
        baselineMbps: ms3(baseline),
        peakMbps: ms3(peak),
        peakAtMs: peakAt,
        peakUtilisationPct: ms3(pct),
        overloaded: l.capacityMbps > 0 && peak > l.capacityMbps,
        downMs: ms3(total(linkDown.get(l.id))),
        state: network.isUsable(l) ? 'up' : 'down',
        srlgs: [...l.srlgs],
      };
    });
  const gateways: GatewayResult[] = [...agents.values()].map((a) => ({
    id: a.gatewayId,
    site: topo.gateways.find((g) => g.id === a.gatewayId)!.siteId,
    downMs: ms3(total(gatewayDown.get(a.gatewayId))),
    controlUnreachableMs: ms3(total(controlOff.get(a.gatewayId))),
    tablesApplied: tablesApplied.get(a.gatewayId) ?? 0,
    finalTableVersion: a.table?.version ?? 0,
    peerDownEvents: peerDownCount.get(a.gatewayId) ?? 0,
  }));

  return {
    scenario: {
      name: s.name,
      source: s.source,
      seed: t.seed,
      durationMs: t.durationMs,
      timing: {
        probeIntervalMs: t.probeIntervalMs,
        detectMultiplier: t.detectMultiplier,
        holdMs: t.holdMs,
        controlDelayMs: t.controlDelayMs,
        computeMs: t.computeMs,
        localFailover: t.localFailover,
        reportIntervalMs: t.reportIntervalMs,
        maxSamplePps: t.maxSamplePps,
        mergeGapMs: t.mergeGapMs,
      },
      routing: { ...s.routing } as Record<string, number | boolean>,
      packetBytes: t.packetBytes,
    },
    sites: [...topo.sites].sort((a, b) => (a.id < b.id ? -1 : 1)).map((x) => ({ id: x.id, name: x.name, kind: x.kind === 1 ? 'datacenter' : 'office', region: x.region })),
    demands,
    links,
    gateways,
    controller: { ...counters, epochs },
    timeline,
    timelineTruncated: truncated,
    engine: { eventsRun: engine.eventsRun },
  };
}

function subjectOf(e: ScenarioEvent): string {
  switch (e.kind) {
    case 'link_down':
    case 'link_up':
    case 'latency':
    case 'loss':
    case 'gray':
      return e.link;
    case 'gateway_down':
    case 'gateway_up':
    case 'partition':
    case 'heal':
      return e.gateway;
    case 'site_down':
    case 'site_up':
      return e.site;
    case 'srlg_down':
    case 'srlg_up':
      return e.srlg;
    default:
      return 'controller';
  }
}

function total(list: Interval[] | undefined): number {
  return (list ?? []).reduce((a, iv) => a + (iv.end - iv.start), 0);
}

function controllerDownIntervals(events: readonly ScenarioEvent[], end: number): Interval[] {
  const out: Interval[] = [];
  for (const e of events) {
    if (e.kind === 'controller_down' && (out.length === 0 || out[out.length - 1]!.end !== Infinity)) out.push({ start: e.atMs, end: Infinity });
    if (e.kind === 'controller_up' && out.length && out[out.length - 1]!.end === Infinity) out[out.length - 1]!.end = e.atMs;
  }
  for (const iv of out) if (iv.end === Infinity) iv.end = end;
  return out;
}
