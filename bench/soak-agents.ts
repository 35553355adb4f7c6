// The agents of `npm run bench:soak`, in their own process: one control
// client per gateway (as bench/push-agents.ts), all keeping their tables in
// one LMDB environment, each one stopped and replaced by a new client (a new
// session: TLS handshake, Hello with its held version) a random 5–30 s after
// its session came up, again and again. Checks on the agent side that the versions each gateway
// applies only grow, across its reconnects. Answers the soak over IPC.
//
//   tsx bench/soak-agents.ts <config.json>   (started by bench/soak.ts)
import { readFileSync } from 'node:fs';
import { setLogSink } from '../common/log.js';
import { createRandom } from '../common/random.js';
import { ControlClient } from '../router-agent/control/control-client.js';
import { GrpcTransport } from '../router-agent/control/grpc-transport.js';
import { LmdbTableStore } from '../router-agent/control/local-table-store.js';
import { NatsTransport } from '../router-agent/control/nats-transport.js';

export interface SoakAgentsConfig {
  transport: 'grpc' | 'nats';
  grpcAddress?: string;
  natsUrl?: string;
  storeDir: string;
  churnMinMs: number;
  churnMaxMs: number;
  seed: number;
  agents: { gatewayId: string; keyPem: string; certPem: string; caPem: string; natsSeed: string }[];
}

export type SoakAgentsRequest = { type: 'sample' } | { type: 'start-churn' } | { type: 'calm' };

export interface SoakAgentsSample {
  type: 'sample';
  reconnects: number;
  applied: number;
  acks: number;
  connected: number;
  outOfOrder: string[];
}

setLogSink((line) => / (WARN |ERROR) /.test(line) && !/session (ended|failed)/.test(line) && process.stderr.write(line + '\n'));
const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SoakAgentsConfig;
const rnd = createRandom(cfg.seed);
const store = new LmdbTableStore(cfg.storeDir);
const lastApplied = new Map<string, number>();
let reconnects = 0;
let applied = 0;
let acksOfStopped = 0;
let outOfOrder: string[] = [];
let ready = 0;
let calm = false;
let churning = false;

interface Slot {
  spec: SoakAgentsConfig['agents'][number];
  client: ControlClient;
  timer?: NodeJS.Timeout;
  counted: boolean;
}

function newClient(slot: Pick<Slot, 'spec'> & Partial<Slot>): ControlClient {
  const a = slot.spec;
  const transport =
    cfg.transport === 'grpc'
      ? new GrpcTransport({ address: cfg.grpcAddress!, tls: { keyPem: a.keyPem, certPem: a.certPem, caPem: a.caPem }, openTimeoutMs: 60_000 })
      : new NatsTransport({ servers: cfg.natsUrl!, gatewayId: a.gatewayId, nkeySeed: a.natsSeed, helloTimeoutMs: 30_000 });
  const c = new ControlClient({ gatewayId: a.gatewayId, transport, store, backoff: { initialMs: 200, maxMs: 2000 } });
  c.on((e) => {
    // A session lives 5–30 s from the moment it is up; churn does not cut
    // sessions that are still being set up.
    if (e.type === 'connected' && churning && slot.client === c) scheduleChurn(slot as Slot);
    if (e.type !== 'table') return;
    const last = lastApplied.get(a.gatewayId);
    if (e.source === 'local') {
      if (last !== undefined && e.table.version !== last) outOfOrder.push(`${a.gatewayId}: restarted on ${e.table.version}, had applied ${last}`);
      return;
    }
    if (last !== undefined && e.table.version <= last) outOfOrder.push(`${a.gatewayId}: applied ${e.table.version} after ${last}`);
    lastApplied.set(a.gatewayId, Math.max(last ?? 0, e.table.version));
    applied++;
    if (slot.counted === false) {
      slot.counted = true;
      if (++ready === cfg.agents.length) process.send!({ type: 'ready', agents: ready });
    }
  });
  return c;
}

function scheduleChurn(slot: Slot): void {
  if (calm) return;
  clearTimeout(slot.timer);
  slot.timer = setTimeout(async () => {
    const old = slot.client;
    await old.stop();
    acksOfStopped += old.stats.acks;
    reconnects++;
    slot.client = newClient(slot);
    slot.client.start();
  }, rnd.int(cfg.churnMinMs, cfg.churnMaxMs));
}

const slots: Slot[] = cfg.agents.map((spec) => {
  const slot = { spec, counted: false } as Slot;
  slot.client = newClient(slot);
  return slot;
});
// Connect in small waves: a real fleet does not start in one millisecond.
for (let i = 0; i < slots.length; i += 50) {
  for (const s of slots.slice(i, i + 50)) s.client.start();
  await new Promise((r) => setTimeout(r, 100));
}

process.on('message', (m: SoakAgentsRequest) => {
  if (m.type === 'sample') {
    const s: SoakAgentsSample = {
      type: 'sample',
      reconnects,
      applied,
      acks: acksOfStopped + slots.reduce((n, s) => n + s.client.stats.acks, 0),
      connected: slots.filter((s) => s.client.connected).length,
      outOfOrder,
    };
    outOfOrder = [];
    process.send!(s);
  } else if (m.type === 'calm') {
    calm = true;
    for (const s of slots) clearTimeout(s.timer);
  } else if (m.type === 'start-churn') {
    churning = true;
    for (const s of slots) scheduleChurn(s);
  }
});
process.on('SIGTERM', async () => {
  calm = true;
  for (const s of slots) clearTimeout(s.timer);
  await Promise.all(slots.map((s) => s.client.stop()));
  await store.close();
  process.exit(0);
});
