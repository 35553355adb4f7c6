// The agents of `npm run bench:push`, in their own process so that they do
// not share the controller's event loop: one control client per gateway
// over the transport named on the command line, all keeping their tables in
// one LMDB environment. Prints "ready N" once every agent holds a table
// from the controller (or, when a Hello timed out on a busy machine, from
// the NATS KV bucket), then runs until killed.
//
//   tsx bench/push-agents.ts <config.json>
import { readFileSync } from 'node:fs';
import { ControlClient } from '../router-agent/control/control-client.js';
import { GrpcTransport } from '../router-agent/control/grpc-transport.js';
import { LmdbTableStore } from '../router-agent/control/local-table-store.js';
import { NatsTransport } from '../router-agent/control/nats-transport.js';

export interface PushAgentsConfig {
  transport: 'grpc' | 'nats';
  grpcAddress?: string;
  natsUrl?: string;
  storeDir: string;
  agents: { gatewayId: string; keyPem: string; certPem: string; caPem: string; natsSeed: string }[];
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PushAgentsConfig;
const store = new LmdbTableStore(cfg.storeDir);
let ready = 0;
const clients = cfg.agents.map((a) => {
  const transport =
    cfg.transport === 'grpc'
      ? new GrpcTransport({ address: cfg.grpcAddress!, tls: { keyPem: a.keyPem, certPem: a.certPem, caPem: a.caPem }, openTimeoutMs: 60_000 })
      : new NatsTransport({ servers: cfg.natsUrl!, gatewayId: a.gatewayId, nkeySeed: a.natsSeed, helloTimeoutMs: 30_000 });
  const c = new ControlClient({ gatewayId: a.gatewayId, transport, store, backoff: { initialMs: 200, maxMs: 2000 } });
  let counted = false;
  c.on((e) => {
    if (e.type === 'table' && e.source !== 'local' && !counted) {
      counted = true;
      if (++ready === cfg.agents.length) process.stdout.write(`ready ${ready}\n`);
    }
  });
  return c;
});
// Connect in small waves: a real fleet does not start in one millisecond.
for (let i = 0; i < clients.length; i += 50) {
  for (const c of clients.slice(i, i + 50)) c.start();
  await new Promise((r) => setTimeout(r, 100));
}
process.on('SIGTERM', async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await store.close();
  process.exit(0);
});
