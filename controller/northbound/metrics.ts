// The controller's Prometheus metrics. Gauges are read at scrape time from
// the controller and the southbound side; the latency and computation
// histograms are fed by the controller's events as they happen.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../../common/clock.js';
import { AdminState, OperState } from '../../common/model.js';
import type { AgentState } from '../../proto/gen/switchback/v1/admin.js';
import type { Controller } from '../controller.js';

export interface ControllerMetricsSource {
  readonly controller: Controller;
  readonly clock: Clock;
  /** The agents as the southbound side sees them (none: no southbound). */
  agents?(): readonly AgentState[];
}

export interface ControllerMetrics {
  readonly registry: Registry;
  /** Stops listening to the controller. */
  close(): void;
}

/** Versions whose push is not acknowledged yet, per gateway, at most this many (a gateway that is away must not grow memory). */
const PENDING_PER_GATEWAY = 64;

export const adminStateName = (s: AdminState): string => (s === AdminState.DRAINED ? 'drained' : s === AdminState.UP ? 'up' : 'unknown');
export const operStateName = (s: OperState): string => (s === OperState.UP ? 'up' : s === OperState.DOWN ? 'down' : 'unknown');

export function controllerMetrics(src: ControllerMetricsSource): ControllerMetrics {
  const ctl = src.controller;
  const registry = new Registry();
  const agents = () => src.agents?.() ?? [];

  const perTransport = (name: string, help: string, pick: (a: AgentState) => boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        this.reset();
        // Both transports always appear, so a dashboard sees 0 rather than nothing.
        const counts = new Map<string, number>([['grpc', 0], ['nats', 0]]);
        for (const a of agents()) if (pick(a) && a.transport) counts.set(a.transport, (counts.get(a.transport) ?? 0) + 1);
        for (const [transport, n] of counts) this.set({ transport }, n);
      },
    });
  perTransport('switchback_controller_agents_connected', 'Agents with an open control session, by transport', (a) => a.connected);
  perTransport('switchback_controller_agents_in_sync', 'Connected agents that acknowledged their current table version, by transport', (a) => a.connected && a.inSync);
  new Gauge({
    name: 'switchback_controller_gateways',
    help: 'Gateways with a computed flow table',
    registers: [registry],
    collect() {
      this.set(ctl.tableStates().length);
    },
  });
  new Gauge({
    name: 'switchback_controller_table_version',
    help: 'Current flow table version per gateway',
    labelNames: ['gateway'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of ctl.tableStates()) this.set({ gateway: t.gatewayId }, t.version);
    },
  });
  new Gauge({
    name: 'switchback_controller_table_acked_version',
    help: 'Flow table version the gateway last acknowledged (0: never)',
    labelNames: ['gateway'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of ctl.tableStates()) this.set({ gateway: t.gatewayId }, t.ackedVersion);
    },
  });
  new Gauge({
    name: 'switchback_controller_agent_last_seen_timestamp_seconds',
    help: 'When the controller last heard from an agent (Unix time; 0: never)',
    labelNames: ['gateway'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of agents()) this.set({ gateway: a.gatewayId }, a.lastSeenUnixMs / 1000);
    },
  });
  const pushAck = new Histogram({
    name: 'switchback_controller_push_ack_latency_seconds',
    help: 'From the journaled change that produced a table version to its acknowledgement by the gateway',
    labelNames: ['transport'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const computations = new Counter({
    name: 'switchback_controller_route_computations_total',
    help: 'Route computations (one per change request that reached routing)',
    registers: [registry],
  });
  const computeDuration = new Histogram({
    name: 'switchback_controller_route_computation_duration_seconds',
    help: 'Time to compute routes and build the changed tables for one change',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tablesChanged = new Counter({
    name: 'switchback_controller_tables_changed_total',
    help: 'Flow tables that got a new version (or were removed) by a computation',
    registers: [registry],
  });
  const journaled = new Counter({
    name: 'switchback_controller_journal_commits_total',
    help: 'Entries committed to the journal since the process started, by action',
    labelNames: ['action'],
    registers: [registry],
  });
  new Gauge({
    name: 'switchback_controller_journal_entries',
    help: 'Entries in the journal (the audit log)',
    registers: [registry],
    collect() {
      this.set(ctl.store.journalSize());
    },
  });
  new Gauge({
    name: 'switchback_controller_epoch',
    help: 'The controller epoch (grows on every start)',
    registers: [registry],
    collect() {
      this.set(ctl.epoch);
    },
  });
  new Gauge({
    name: 'switchback_controller_links',
    help: 'Links by administrative and operational state',
    labelNames: ['admin_state', 'oper_state'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const a of ['up', 'drained']) for (const o of ['up', 'down', 'unknown']) counts.set(`${a}|${o}`, 0);
      for (const l of ctl.topology().links) {
        const k = `${adminStateName(l.adminState)}|${operStateName(l.operState)}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const [k, n] of counts) {
        const [admin_state, oper_state] = k.split('|') as [string, string];
        this.set({ admin_state, oper_state }, n);
      }
    },
  });

  // When each unacknowledged version was produced, per gateway.
  const pending = new Map<string, Map<number, number>>();
  const off = ctl.on((e) => {
    if (e.type === 'journal') {
      journaled.inc({ action: e.entry.action });
      for (const t of e.entry.tables) {
        let m = pending.get(t.gatewayId);
        if (!m) pending.set(t.gatewayId, (m = new Map()));
        m.set(t.version, e.entry.atUnixMs);
        if (m.size > PENDING_PER_GATEWAY) m.delete(m.keys().next().value!);
      }
    } else if (e.type === 'ack') {
      const m = pending.get(e.gatewayId);
      const at = m?.get(e.version);
      if (at !== undefined) pushAck.observe({ transport: e.transport || 'unknown' }, Math.max(0, src.clock.wallMs() - at) / 1000);
      // An ack of v covers every older version (coalesced pushes skip some).
      if (m) for (const v of [...m.keys()]) if (v <= e.version) m.delete(v);
    } else if (e.type === 'computed') {
      computations.inc();
      computeDuration.observe(e.ms / 1000);
      tablesChanged.inc(e.tables);
    }
  });
  return { registry, close: off };
}
