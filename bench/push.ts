// `npm run bench:push`: how long one link change takes to reach the fleet.
// For 100, 300 and 1,000 connected agents on each transport (gRPC with
// mutual TLS, NATS with the generated authorization on a real nats-server),
// the controller runs here, the agents in child processes (one per core,
// `--agent-procs N` to choose). Two kinds of change, each drained and
// undrained in turn:
//   office  an office's uplink to dc-a (o0001--dc-a): what a drain or a
//           tunnel failure usually is. Tables carry next hops, not costs,
//           so it moves only the tables whose next hops change: that
//           office's and the two datacenters' (3 tables, the datacenters'
//           with a peer per office).
//   fleet   the dc-a--dc-b link, whose change moves a next hop in every
//           gateway's table: the worst case (every agent gets a push).
// Each round is timed to the last acknowledgement of every moved table:
//   change -> last ack  from the call into the controller (routing and the
//                       store commit included) to the last agent's ack
//   commit -> last push from the committed change until the controller has
//                       built and written the last agent's push
//   commit -> last ack  from the committed change to the last ack (agents
//                       apply, persist and ack; they share the machine's
//                       cores with the controller)
// Median and p99 over the rounds, and the controller's memory.
//
//   npm run bench:push                    # 100, 300, 1000 agents, 20 rounds, both changes, both transports
//   npm run bench:push -- 100 300 --rounds 10 --changes office --transports grpc
//   npm run bench:push -- 1000 --agent-procs 1     # every agent on one event loop
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setLogSink } from '../common/log.js';
import { AdminState } from '../common/model.js';
import { startController } from '../controller/main.js';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { FLEET_WIDE_LINK, officeId } from '../test/helpers/fleet-topology.js';
import { prepareFleet, waitFor } from '../test/helpers/southbound-fleet.js';
import type { PushAgentsConfig } from './push-agents.js';

// Only warnings and errors: a thousand sessions opening would drown the figures.
setLogSink((line) => / (WARN |ERROR) /.test(line) && process.stderr.write(line + '\n'));
const here = fileURLToPath(new URL('.', import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '20' },
    changes: { type: 'string', default: 'office,fleet' },
    transports: { type: 'string', default: 'grpc,nats' },
    'agent-procs': { type: 'string', default: String(Math.max(1, Math.min(availableParallelism(), 4))) },
  },
});
const agentProcs = Number(values['agent-procs']);
if (!Number.isInteger(agentProcs) || agentProcs < 1) throw new Error('--agent-procs takes a positive whole number');
/** Extra node flags for the agent processes, e.g. PUSH_AGENTS_NODE_ARGS=--cpu-prof to profile them. */
const agentNodeArgs = (process.env.PUSH_AGENTS_NODE_ARGS ?? '').split(' ').filter(Boolean);
const sizes = positionals.length ? positionals.map(Number) : [100, 300, 1000];
const rounds = Number(values.rounds);
const changes = values.changes.split(',') as ('office' | 'fleet')[];
const transports = values.transports.split(',') as ('grpc' | 'nats')[];
if (changes.some((c) => c !== 'office' && c !== 'fleet') || transports.some((t) => t !== 'grpc' && t !== 'nats')) {
  throw new Error('--changes takes office and/or fleet; --transports grpc and/or nats');
}

/** An office's cheaper uplink: draining it moves that office's table and both datacenters'. */
const OFFICE_LINK = `${officeId(1)}--dc-a`;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;

interface Row {
  transport: string;
  agents: number;
  e2eMedian: number;
  e2eP99: number;
  sentMedian: number;
  sentP99: number;
  pushMedian: number;
  pushP99: number;
  rss: number;
  heap: number;
  connectS: number;
  change: string;
}
const rows: Row[] = [];

for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-push-${n}-`));
  process.stderr.write(`\n${n} agents: preparing the fleet (topology, CA, ${n} enrollments)\n`);
  const fleet = await prepareFleet(join(dir, 'controller'), n - 2);
  const nats = await startNatsServer({ config: fleet.natsConfig + '\nmax_payload: 8MB\n' });
  const running = await startController({ dataDir: join(dir, 'controller'), adminListen: '127.0.0.1:0', southboundListen: '127.0.0.1:0', natsUrls: [nats.url] });
  const ctl = running.controller;

  for (const transport of transports) {
    const started = performance.now();
    // The agents are spread over `agentProcs` processes (one per core by
    // default), each its own event loop: on one loop a thousand agents
    // applying a fleet-wide change would wait for each other.
    const children = Array.from({ length: agentProcs }, (_, p) => {
      const cfgFile = join(dir, `agents-${transport}-${p}.json`);
      const cfg: PushAgentsConfig = {
        transport,
        grpcAddress: running.southbound.grpcAddress,
        natsUrl: nats.url,
        storeDir: join(dir, `agents-${transport}-${p}`),
        agents: fleet.gateways.filter((_, i) => i % agentProcs === p).map((gw) => ({ gatewayId: gw, ...pick(fleet.creds.get(gw)!) })),
      };
      writeFileSync(cfgFile, JSON.stringify(cfg));
      return spawn(process.execPath, [...agentNodeArgs, '--import', 'tsx', join(here, 'push-agents.ts'), cfgFile], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SWITCHBACK_LOG: 'warn' } });
    });
    // A failed round must not leave a thousand agents running.
    const killChild = () => children.forEach((c) => c.kill('SIGKILL'));
    process.once('exit', killChild);
    await Promise.all(children.map(readyLine));
    await waitFor(() => running.southbound.core.sessions().filter((s) => s.transport === transport).length === n, `${n} ${transport} sessions`, 120_000);
    const connectS = (performance.now() - started) / 1000;
    process.stderr.write(`  ${transport}: ${n} agents connected in ${connectS.toFixed(1)} s; ${rounds} rounds\n`);

    for (const change of changes) {
      const link = change === 'fleet' ? FLEET_WIDE_LINK : OFFICE_LINK;
      const e2e: number[] = [];
      const push: number[] = [];
      const sent: number[] = [];
      let moved = 0;
      const pushes = () => running.southbound.core.stats.deltas + running.southbound.core.stats.snapshots;
      const initial = ctl.topology().links.find((l) => l.id === link)!.adminState;
      let drained = initial === AdminState.DRAINED;
      for (let i = 0; i < rounds; i++) {
        const waiting = new Map<string, number>();
        let lastAck = 0;
        let done!: () => void;
        const all = new Promise<void>((r) => (done = r));
        const off = ctl.on((e) => {
          if (e.type === 'ack' && waiting.get(e.gatewayId) === e.version) {
            waiting.delete(e.gatewayId);
            if (waiting.size === 0) {
              lastAck = performance.now();
              done();
            }
          }
        });
        const before = pushes();
        let expected = Infinity;
        let lastSent = 0;
        const poll = setInterval(() => {
          if (!lastSent && pushes() - before >= expected) lastSent = performance.now();
        }, 2);
        const t0 = performance.now();
        const entry = drained ? ctl.undrainLink(link, 'bench') : ctl.drainLink(link, 'bench', 'bench:push');
        const committed = performance.now();
        drained = !drained;
        for (const t of entry.tables) waiting.set(t.gatewayId, t.version);
        expected = waiting.size;
        moved = Math.max(moved, waiting.size);
        // Acks that arrived during the synchronous commit were for older versions.
        if (change === 'fleet' && waiting.size !== n) throw new Error(`the change moved ${waiting.size} tables, expected ${n}`);
        if (waiting.size === 0) throw new Error(`draining ${link} moved no table`);
        await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`round ${i}: ${waiting.size} agents did not ack in 60 s`)), 60_000))]);
        off();
        clearInterval(poll);
        e2e.push(lastAck - t0);
        push.push(lastAck - committed);
        sent.push((lastSent || lastAck) - committed);
        // Settle: acks recorded, the KV bucket written, garbage collected.
        await new Promise((r) => setTimeout(r, change === 'fleet' ? 1000 : 300));
      }
      // Leave the link as found (an odd number of rounds leaves it drained): the next change's table count depends on it.
      if (drained !== (initial === AdminState.DRAINED)) {
        if (drained) ctl.undrainLink(link, 'bench');
        else ctl.drainLink(link, 'bench', 'bench:push');
        await new Promise((r) => setTimeout(r, 1000));
      }
      const mem = process.memoryUsage();
      rows.push({
        transport, agents: n, connectS, change: `${link} (${moved} tables)`,
        e2eMedian: quantile(e2e, 0.5), e2eP99: quantile(e2e, 0.99),
        sentMedian: quantile(sent, 0.5), sentP99: quantile(sent, 0.99),
        pushMedian: quantile(push, 0.5), pushP99: quantile(push, 0.99),
        rss: mem.rss, heap: mem.heapUsed,
      });
      const r = rows.at(-1)!;
      process.stderr.write(`  ${transport} ${r.change}: change->last ack median ${r.e2eMedian.toFixed(0)} ms p99 ${r.e2eP99.toFixed(0)} ms; commit->last push median ${r.sentMedian.toFixed(0)} ms p99 ${r.sentP99.toFixed(0)} ms; commit->last ack median ${r.pushMedian.toFixed(0)} ms p99 ${r.pushP99.toFixed(0)} ms; rss ${mb(r.rss)} heap ${mb(r.heap)} (load ${loadavg()[0]!.toFixed(1)})\n`);
    }
    await Promise.all(children.map((c) => new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); })));
    process.off('exit', killChild);
    // gRPC sessions end with their streams (NATS ones are superseded by the next Hellos).
    if (transport === 'grpc') await waitFor(() => running.southbound.core.sessions().length === 0, 'gRPC sessions closed', 30_000);
  }
  await running.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}

process.stdout.write(
  [
    '',
    `bench:push — ${rounds} link changes per row (${new Date().toISOString().slice(0, 10)}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end)`,
    '',
    '| transport | agents | change (tables moved) | change→last ack median | p99 | commit→last push median | p99 | commit→last ack median | p99 | controller RSS | heap used | connect all |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      `| ${r.transport} | ${r.agents} | ${r.change} | ${r.e2eMedian.toFixed(0)} ms | ${r.e2eP99.toFixed(0)} ms | ${r.sentMedian.toFixed(0)} ms | ${r.sentP99.toFixed(0)} ms | ${r.pushMedian.toFixed(0)} ms | ${r.pushP99.toFixed(0)} ms | ${mb(r.rss)} | ${mb(r.heap)} | ${r.connectS.toFixed(1)} s |`,
    ),
    '',
  ].join('\n'),
);
process.exit(0);

function pick(c: { keyPem: string; certPem: string; caPem: string; natsSeed: string }) {
  return { keyPem: c.keyPem, certPem: c.certPem, caPem: c.caPem, natsSeed: c.natsSeed };
}

function readyLine(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`agents not ready after 180 s: ${out}`)), 180_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/ready \d+/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`agents exited with ${code}: ${out}`)));
  });
}
