// What the NOC dashboard reads: the network as one JSON document, and a
// digest of the what-if sweep on the current topology.
import { AdminState, OperState, SiteKind } from '../../common/model.js';
import type { AgentState } from '../../proto/gen/switchback/v1/admin.js';
import { whatIf, type FailureImpact } from '../../sim/whatif.js';
import type { Controller } from '../controller.js';

export type LinkStateName = 'up' | 'drained' | 'down' | 'unknown';

export interface DashboardState {
  epoch: number;
  journalSeq: number;
  sites: { id: string; name: string; kind: 'datacenter' | 'office'; region: string; gateways: string[] }[];
  links: {
    id: string;
    a: string;
    b: string;
    siteA: string;
    siteB: string;
    cost: number;
    effectiveCost: number;
    /** What the map colours: drained wins, then the agents' view. */
    state: LinkStateName;
    adminState: 'up' | 'drained';
    operState: 'up' | 'down' | 'unknown';
    rttUs: number;
    lossPpm: number;
  }[];
  gateways: {
    id: string;
    siteId: string;
    version: number;
    ackedVersion: number;
    inSync: boolean;
    connected: boolean;
    transport: string;
    /** 0: never heard from. */
    lastSeenUnixMs: number;
  }[];
}

export function linkState(adminState: AdminState, operState: OperState): LinkStateName {
  if (adminState === AdminState.DRAINED) return 'drained';
  if (operState === OperState.DOWN) return 'down';
  if (operState === OperState.UP) return 'up';
  return 'unknown';
}

export function dashboardState(ctl: Controller, agents: readonly AgentState[] | undefined): DashboardState {
  const topo = ctl.topology();
  const siteOf = new Map(topo.gateways.map((g) => [g.id, g.siteId]));
  const tables = new Map(ctl.tableStates().map((t) => [t.gatewayId, t]));
  const agentOf = new Map((agents ?? []).map((a) => [a.gatewayId, a]));
  return {
    epoch: ctl.epoch,
    journalSeq: ctl.store.lastSeq(),
    sites: topo.sites.map((s) => ({
      id: s.id,
      name: s.name,
      kind: s.kind === SiteKind.DATACENTER ? 'datacenter' : 'office',
      region: s.region,
      gateways: topo.gateways.filter((g) => g.siteId === s.id).map((g) => g.id),
    })),
    links: ctl.links().map((l) => ({
      id: l.id,
      a: l.a,
      b: l.b,
      siteA: siteOf.get(l.a) ?? '',
      siteB: siteOf.get(l.b) ?? '',
      cost: l.cost,
      effectiveCost: l.effectiveCost,
      state: linkState(l.adminState, l.operState),
      adminState: l.adminState === AdminState.DRAINED ? 'drained' : 'up',
      operState: l.operState === OperState.UP ? 'up' : l.operState === OperState.DOWN ? 'down' : 'unknown',
      rttUs: l.rttUs,
      lossPpm: l.lossPpm,
    })),
    gateways: topo.gateways.map((g) => {
      const t = tables.get(g.id);
      const a = agentOf.get(g.id);
      const version = t?.version ?? 0;
      const acked = a?.ackedVersion ?? t?.ackedVersion ?? 0;
      return {
        id: g.id,
        siteId: g.siteId,
        version,
        ackedVersion: acked,
        inSync: version > 0 && acked === version,
        connected: a?.connected ?? false,
        transport: a?.transport ?? '',
        lastSeenUnixMs: a?.lastSeenUnixMs ?? t?.ackedUnixMs ?? 0,
      };
    }),
  };
}

export interface WhatIfDigest {
  /** The journal position the sweep ran at. */
  journalSeq: number;
  sitePairs: number;
  connectedPairs: number;
  localFailoverMs: number;
  controllerMs: number;
  failures: Pick<FailureImpact, 'name' | 'elements' | 'affectedPairs' | 'disconnectedPairs' | 'coveredLocally' | 'needController' | 'predictedOutageMs' | 'worstStretch' | 'lostWithFailure'>[];
}

/**
 * The single-failure sweep on the controller's current model, worst first.
 * The sweep is synchronous: one result is kept per journal position, so
 * repeated clicks on an unchanged network cost nothing.
 */
export function whatIfRunner(ctl: Controller): (limit: number) => WhatIfDigest {
  let cached: { seq: number; digest: Omit<WhatIfDigest, 'failures'>; failures: WhatIfDigest['failures'] } | undefined;
  return (limit) => {
    const seq = ctl.store.lastSeq();
    if (!cached || cached.seq !== seq) {
      const r = whatIf(ctl.topology());
      cached = {
        seq,
        digest: {
          journalSeq: seq,
          sitePairs: r.topology.sitePairs,
          connectedPairs: r.baseline.connectedPairs,
          localFailoverMs: r.predictions.localFailoverMs,
          controllerMs: r.predictions.controllerMs,
        },
        failures: r.failures.map((f) => ({
          name: f.name,
          elements: f.elements,
          affectedPairs: f.affectedPairs,
          disconnectedPairs: f.disconnectedPairs,
          lostWithFailure: f.lostWithFailure,
          coveredLocally: f.coveredLocally,
          needController: f.needController,
          predictedOutageMs: f.predictedOutageMs,
          worstStretch: f.worstStretch,
        })),
      };
    }
    return { ...cached.digest, failures: cached.failures.slice(0, limit) };
  };
}
