// `npm run bench:soak`: the controller under a long, churning load. 1,000
// agents (in their own process, bench/soak-agents.ts), each reconnecting
// a random 5–30 s after its session came up, again and again; a link (an
// office's uplink; --link dc-a--dc-b moves every table) drained and
// undrained through the admin API every few seconds; the
// controller in its own process (bench/soak-controller.ts) so that its memory
// and event loop are measured alone. Each minute: controller RSS and heap
// (after a full GC), event-loop lag, acknowledgements (exact, superseded),
// commit -> ack latency, reconnects, and any lost or out-of-order ack:
//   lost          a version still neither acked nor superseded by a newer
//                 ack once churn and flapping stop and every agent is back
//                 (the final check, up to 120 s);
//   late          (reported, not a failure) a version pushed to a connected
//                 agent, not acked nor superseded 15 s later while that same
//                 session is still open;
//   out of order  an ack below the gateway's previous ack (controller side) or
//                 an applied version not above the previous one (agent side).
// Verdict: memory flat after warm-up (RSS and heap grow < 10% from minute 2
// to the end), no lost and no out-of-order acknowledgement.
//
//   npm run bench:soak                              # 10 minutes, 1000 agents
//   npm run bench:soak -- --minutes 3 --agents 300 --flap-s 3 --transport nats --link dc-a--dc-b
//   SWITCHBACK_SOAK_MINUTES=2 npm run bench:soak
//   SWITCHBACK_SOAK_CPU_PROF=/tmp/prof npm run bench:soak -- --minutes 1   # where the controller's time goes
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setLogSink } from '../common/log.js';
import type { ControllerConfig } from '../controller/config.js';
import { AdminClient } from '../controller/ctl/admin-client.js';
import { AdminState } from '../common/model.js';
import { officeId } from '../test/helpers/fleet-topology.js';
import { freePort } from '../test/helpers/free-port.js';
import { startNatsServer, type NatsServer } from '../test/helpers/nats-server.js';
import { prepareFleet } from '../test/helpers/southbound-fleet.js';
import type { SoakAgentsConfig, SoakAgentsSample } from './soak-agents.js';
import type { SoakFinal, SoakSample } from './soak-controller.js';

setLogSink((line) => / (WARN |ERROR) /.test(line) && process.stderr.write(line + '\n'));
const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.SWITCHBACK_SOAK_MINUTES ?? '10' },
    agents: { type: 'string', default: '1000' },
    'flap-s': { type: 'string', default: '4' },
    'churn-min-s': { type: 'string', default: '5' },
    'churn-max-s': { type: 'string', default: '30' },
    transport: { type: 'string', default: 'grpc' },
    seed: { type: 'string', default: String(Math.floor(Math.random() * 2 ** 31)) },
    // An office's uplink: its flaps move that office's and the datacenters'
    // tables. dc-a--dc-b moves all of them: the worst case.
    link: { type: 'string', default: `${officeId(1)}--dc-a` },
  },
});
const minutes = Number(values.minutes);
const n = Number(values.agents);
const flapMs = Number(values['flap-s']) * 1000;
const transport = values.transport as 'grpc' | 'nats';
const seed = Number(values.seed);
const flapLink = values.link;
if (!(minutes >= 1) || !(n >= 3) || !(flapMs >= 100) || !['grpc', 'nats'].includes(transport)) {
  process.stderr.write('usage: npm run bench:soak -- [--minutes N>=1] [--agents N>=3] [--flap-s S] [--churn-min-s S] [--churn-max-s S] [--transport grpc|nats] [--link ID] [--seed N]\n');
  process.exit(2);
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const say = (s: string) => process.stderr.write(s + '\n');

/** Starts a child with an IPC channel; resolves with its first message of type `ready`. */
function startChild(file: string, cfg: unknown, name: string, execArgv: string[] = []): Promise<{ child: ChildProcess; ready: any }> {
  const cfgFile = join(dir, `${name}.json`);
  writeFileSync(cfgFile, JSON.stringify(cfg));
  const child = spawn(process.execPath, [...execArgv, '--import', 'tsx', join(here, file), cfgFile], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, SWITCHBACK_LOG: 'warn' },
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready after 300 s`)), 300_000);
    const onMsg = (m: { type: string }) => {
      if (m.type !== 'ready') return;
      clearTimeout(t);
      child.off('message', onMsg);
      resolve({ child, ready: m });
    };
    child.on('message', onMsg);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
}

/** Sends `req` and resolves with the child's next message of the same type. */
function ask<T extends { type: string }>(child: ChildProcess, req: { type: string }): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer to ${req.type} in 60 s`)), 60_000);
    const onMsg = (m: T) => {
      if (m.type !== req.type) return;
      clearTimeout(t);
      child.off('message', onMsg);
      resolve(m);
    };
    child.on('message', onMsg);
    child.send(req);
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sb-soak-'));
let nats: NatsServer | undefined;
let ctlChild: ChildProcess | undefined;
let agentsChild: ChildProcess | undefined;
const cleanup = () => {
  agentsChild?.kill('SIGKILL');
  ctlChild?.kill('SIGKILL');
};
process.once('exit', cleanup);

say(`bench:soak: ${n} agents over ${transport}, churn ${values['churn-min-s']}–${values['churn-max-s']} s, ${flapLink} flapping every ${flapMs / 1000} s, ${minutes} min, seed ${seed}`);
say('preparing the fleet (topology, CA, enrollments)…');
const fleet = await prepareFleet(join(dir, 'controller'), n - 2);
if (transport === 'nats') nats = await startNatsServer({ config: fleet.natsConfig + '\nmax_payload: 8MB\n' });
const ctlCfg: ControllerConfig = {
  dataDir: join(dir, 'controller'),
  adminListen: '127.0.0.1:0',
  southboundListen: `127.0.0.1:${await freePort()}`,
  ...(nats ? { natsUrls: [nats.url] } : {}),
} as ControllerConfig;
// SWITCHBACK_SOAK_CPU_PROF=<dir>: a CPU profile of the controller, written when it stops.
const prof = process.env.SWITCHBACK_SOAK_CPU_PROF;
const ctl = await startChild('soak-controller.ts', ctlCfg, 'controller', ['--expose-gc', ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [])]);
ctlChild = ctl.child;
const admin = new AdminClient(ctl.ready.adminAddress, { actor: 'bench-soak' });
const agentsCfg: SoakAgentsConfig = {
  transport,
  grpcAddress: ctl.ready.grpcAddress,
  natsUrl: nats?.url,
  storeDir: join(dir, 'agents'),
  churnMinMs: Number(values['churn-min-s']) * 1000,
  churnMaxMs: Number(values['churn-max-s']) * 1000,
  seed,
  agents: fleet.gateways.map((gw) => {
    const c = fleet.creds.get(gw)!;
    return { gatewayId: gw, keyPem: c.keyPem, certPem: c.certPem, caPem: c.caPem, natsSeed: c.natsSeed };
  }),
};
const connectStart = performance.now();
const agents = await startChild('soak-agents.ts', agentsCfg, 'agents');
agentsChild = agents.child;
say(`${n} agents hold a table from the controller after ${((performance.now() - connectStart) / 1000).toFixed(1)} s; soaking`);
agentsChild.send({ type: 'start-churn' });
// Start the first minute's windows (lag, acks) here, not at the fleet's connect.
await ask<SoakSample>(ctlChild, { type: 'sample' });
await ask<SoakAgentsSample>(agentsChild, { type: 'sample' });

// The flapper: one change at a time, every flapMs.
let flaps = 0;
let flapErrors = 0;
let drained = false;
let flapping = true;
const flapper = (async () => {
  while (flapping) {
    const next = Date.now() + flapMs;
    try {
      if (drained) await admin.call('undrainLink', { id: flapLink });
      else await admin.call('drainLink', { id: flapLink, reason: 'soak flap' });
      drained = !drained;
      flaps++;
    } catch (err) {
      flapErrors++;
      say(`flap failed: ${(err as Error).message}`);
      // A timed-out call may still have committed: ask what the link is now.
      const link = await admin.call('listLinks', {}).then((r) => r.links.find((l) => l.id === flapLink), () => undefined);
      if (link) drained = link.adminState === AdminState.DRAINED;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
})();

interface Row {
  minute: number;
  rss: number;
  heap: number;
  lagP99: number;
  lagMax: number;
  acked: number;
  superseded: number;
  p50: number;
  p99: number;
  reconnects: number;
  flaps: number;
  sessions: number;
  connected: number;
  overdue: number;
  outOfOrder: number;
}
const rows: Row[] = [];
const allLatencies: number[] = [];
const problems: string[] = [];
const late: string[] = [];
let lastReconnects = 0;
let lastFlaps = 0;
const header = '| min | ctl RSS MB | heap MB | lag p99 ms | lag max ms | acks exact | superseded | ack p50 ms | ack p99 ms | reconnects | flaps | sessions | agents connected | late >15 s | out of order |';
say(header);
for (let minute = 1; minute <= minutes; minute++) {
  await new Promise((r) => setTimeout(r, 60_000));
  const c = await ask<SoakSample>(ctlChild, { type: 'sample' }).catch(() => undefined);
  const a = await ask<SoakAgentsSample>(agentsChild, { type: 'sample' });
  if (!c) {
    problems.push(`minute ${minute}: the controller did not answer within 60 s`);
    say(`| ${minute} | controller did not answer within 60 s |`);
    continue;
  }
  allLatencies.push(...c.latencies);
  late.push(...c.overdue);
  problems.push(...c.outOfOrder.map((x) => `controller: ${x}`), ...a.outOfOrder.map((x) => `agent: ${x}`));
  const row: Row = {
    minute, rss: c.rss, heap: c.heapUsed, lagP99: c.lagP99Ms, lagMax: c.lagMaxMs, acked: c.acked, superseded: c.superseded,
    p50: quantile(c.latencies, 0.5), p99: quantile(c.latencies, 0.99), reconnects: a.reconnects - lastReconnects, flaps: flaps - lastFlaps,
    sessions: c.sessions, connected: a.connected, overdue: c.overdue.length, outOfOrder: c.outOfOrder.length + a.outOfOrder.length,
  };
  lastReconnects = a.reconnects;
  lastFlaps = flaps;
  rows.push(row);
  say(fmt(row));
}

// Calm down: no more flaps, no more churn; every agent must come back in sync.
flapping = false;
await flapper;
agentsChild.send({ type: 'calm' });
let final: SoakFinal = { type: 'final', pending: -1, behind: [] };
const calmStart = performance.now();
while (performance.now() - calmStart < 120_000) {
  final = await ask<SoakFinal>(ctlChild, { type: 'final' });
  if (final.pending === 0 && final.behind.length === 0) break;
  await new Promise((r) => setTimeout(r, 1000));
}
const settleS = (performance.now() - calmStart) / 1000;
const last = await ask<SoakAgentsSample>(agentsChild, { type: 'sample' });
problems.push(...last.outOfOrder.map((x) => `agent: ${x}`));
if (final.pending !== 0 || final.behind.length) problems.push(`lost: ${final.pending} versions never acked nor superseded; behind: ${final.behind.slice(0, 10).join(', ')}${final.behind.length > 10 ? ' …' : ''}`);

// Memory: from minute 2 (warm) to the end.
if (!rows.length) throw new Error('no minute was sampled');
const base = rows[Math.min(1, rows.length - 1)]!;
const end = rows.at(-1)!;
const rssGrowth = (end.rss - base.rss) / base.rss;
const heapGrowth = (end.heap - base.heap) / base.heap;
const flat = rssGrowth < 0.1 && heapGrowth < 0.1;
const ok = flat && problems.length === 0;
const totals = rows.reduce((t, r) => ({ acked: t.acked + r.acked, superseded: t.superseded + r.superseded, reconnects: t.reconnects + r.reconnects }), { acked: 0, superseded: 0, reconnects: 0 });

process.stdout.write(
  [
    '',
    `bench:soak — ${n} agents over ${transport}, each reconnecting every ${values['churn-min-s']}–${values['churn-max-s']} s; ${flapLink} drained/undrained every ${flapMs / 1000} s; ${minutes} min; seed ${seed}`,
    `machine: ${cpus().length} cores, load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${new Date().toISOString().slice(0, 16)}Z)`,
    '',
    header,
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(fmt),
    '',
    `totals: ${flaps} flaps (${flapErrors} failed), ${totals.acked} exact acks, ${totals.superseded} superseded, ${totals.reconnects} reconnects; commit→ack p50 ${quantile(allLatencies, 0.5).toFixed(0)} ms, p99 ${quantile(allLatencies, 0.99).toFixed(0)} ms, max ${Math.max(...allLatencies, 0).toFixed(0)} ms`,
    `after churn and flapping stopped: every agent in sync after ${settleS.toFixed(1)} s; pending versions ${final.pending}, agents behind ${final.behind.length}`,
    `memory minute ${base.minute} → ${end.minute}: RSS ${mb(base.rss)} → ${mb(end.rss)} MB (${(rssGrowth * 100).toFixed(1)}%), heap ${mb(base.heap)} → ${mb(end.heap)} MB (${(heapGrowth * 100).toFixed(1)}%)`,
    `late acks (> 15 s on an open session, then acked or superseded): ${late.length}${late.length ? ` (${late.slice(0, 10).join(', ')}${late.length > 10 ? ' …' : ''})` : ''}`,
    ...problems.slice(0, 20).map((p) => `  problem: ${p}`),
    `verdict: ${ok ? 'PASS' : 'FAIL'} — memory ${flat ? 'flat' : 'GROWING'} (< 10% from minute 2), ${problems.length} lost or out-of-order acknowledgements`,
    '',
  ].join('\n'),
);

agentsChild.kill('SIGTERM');
await new Promise((r) => agentsChild!.once('exit', r));
ctlChild.send({ type: 'stop' });
await new Promise((r) => ctlChild!.once('exit', r));
admin.close();
await nats?.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(ok ? 0 : 1);

function fmt(r: Row): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  return `| ${r.minute} | ${mb(r.rss)} | ${mb(r.heap)} | ${r.lagP99.toFixed(1)} | ${r.lagMax.toFixed(0)} | ${r.acked} | ${r.superseded} | ${f(r.p50)} | ${f(r.p99)} | ${r.reconnects} | ${r.flaps} | ${r.sessions} | ${r.connected} | ${r.overdue} | ${r.outOfOrder} |`;
}
