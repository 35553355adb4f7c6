// The controller of `npm run bench:soak`, in its own process so that its
// memory and event loop are measured alone: the real startController(), plus
// a recorder of what the soak judges, answered over the IPC channel:
//   - memory (RSS, heap) and event-loop lag (the window resets per sample);
//   - acknowledgements: each version a change produced for a gateway ends
//     "acked" (an ack of exactly it), "superseded" (an ack of a newer one
//     came first), or stays pending; a pending version is "overdue" when the
//     session that was open as it was produced is still open 15 s later
//     without acking it (a push to a connected agent that was lost);
//   - order: an ack below the gateway's previous ack (agents keep their
//     tables across reconnects) is out of order; the latency from the commit
//     to the ack.
//
//   tsx bench/soak-controller.ts <config.json>   (started by bench/soak.ts)
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setLogSink } from '../common/log.js';
import type { ControllerConfig } from '../controller/config.js';
import { startController } from '../controller/main.js';
import type { AgentSession } from '../controller/southbound/session-core.js';

export type SoakControllerRequest = { type: 'sample' } | { type: 'final' } | { type: 'stop' };

export interface SoakSample {
  type: 'sample';
  rss: number;
  heapUsed: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** Commit -> ack latencies of exact acks since the last sample (ms). */
  latencies: number[];
  acked: number;
  superseded: number;
  outOfOrder: string[];
  overdue: string[];
  sessions: number;
}

export interface SoakFinal {
  type: 'final';
  /** Versions produced that were neither acked nor superseded. */
  pending: number;
  /** Gateways whose acked version is below their table's version. */
  behind: string[];
}

const OVERDUE_MS = 15_000;

setLogSink((line) => / (WARN |ERROR) /.test(line) && process.stderr.write(line + '\n'));
const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ControllerConfig;
const running = await startController(cfg);
const ctl = running.controller;
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

interface Pending {
  atMs: number;
  session: AgentSession | undefined;
}
const pending = new Map<string, Map<number, Pending>>();
const lastAck = new Map<string, number>();
const overdueSeen = new Set<string>();
let latencies: number[] = [];
let acked = 0;
let superseded = 0;
let outOfOrder: string[] = [];
let overdue: string[] = [];

const liveSessions = () => new Map(running.southbound.core.sessions().map((s) => [s.gatewayId, s]));

ctl.on((e) => {
  if (e.type === 'journal') {
    const live = liveSessions();
    for (const t of e.entry.tables) {
      let m = pending.get(t.gatewayId);
      if (!m) pending.set(t.gatewayId, (m = new Map()));
      m.set(t.version, { atMs: e.entry.atUnixMs, session: live.get(t.gatewayId) });
    }
  } else if (e.type === 'ack') {
    // Agents keep their tables across reconnects: acks never go back, in a session or across sessions.
    const prev = lastAck.get(e.gatewayId);
    if (prev !== undefined && e.version < prev) outOfOrder.push(`${e.gatewayId}: ack ${e.version} after ${prev}`);
    lastAck.set(e.gatewayId, Math.max(prev ?? 0, e.version));
    const m = pending.get(e.gatewayId);
    if (!m) return;
    for (const [v, p] of m) {
      if (v > e.version) continue;
      if (v === e.version) {
        acked++;
        latencies.push(Date.now() - p.atMs);
      } else superseded++;
      m.delete(v);
    }
  }
});

// Overdue: the session open at production is still the open one, and no ack.
setInterval(() => {
  const now = Date.now();
  const live = liveSessions();
  for (const [gw, m] of pending) {
    for (const [v, p] of m) {
      const key = `${gw}@${v}`;
      if (now - p.atMs > OVERDUE_MS && p.session && live.get(gw) === p.session && !overdueSeen.has(key)) {
        overdueSeen.add(key);
        overdue.push(key);
      }
    }
  }
}, 1000).unref();

process.on('message', (m: SoakControllerRequest) => {
  if (m.type === 'sample') {
    // A full collection first (node --expose-gc): the heap figure is then
    // what is live, not what the collector has not got to yet.
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    const s: SoakSample = {
      type: 'sample',
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      lagP50Ms: lag.percentile(50) / 1e6,
      lagP99Ms: lag.percentile(99) / 1e6,
      lagMaxMs: lag.max / 1e6,
      latencies,
      acked,
      superseded,
      outOfOrder,
      overdue,
      sessions: running.southbound.core.sessions().length,
    };
    lag.reset();
    latencies = [];
    acked = superseded = 0;
    outOfOrder = [];
    overdue = [];
    process.send!(s);
  } else if (m.type === 'final') {
    let n = 0;
    for (const v of pending.values()) n += v.size;
    const behind = ctl.tableStates().filter((t) => t.ackedVersion < t.version).map((t) => `${t.gatewayId} ${t.ackedVersion}<${t.version}`);
    process.send!({ type: 'final', pending: n, behind } satisfies SoakFinal);
  } else if (m.type === 'stop') {
    void running.close().then(() => process.exit(0));
  }
});
process.send!({ type: 'ready', adminAddress: running.adminAddress, grpcAddress: running.southbound.grpcAddress });
