// A controller data directory prepared for southbound tests and benchmarks
// (fleet topology, CA, every gateway enrolled, the NATS authorization that
// `switchback ctl nats-config` would write), and a crowd of in-process
// agents over either transport.
import { SystemClock } from '../../common/clock.js';
import { GatewayCa, type IssuedCredentials } from '../../controller/ca/ca.js';
import { Controller } from '../../controller/controller.js';
import { natsAuthorizationConfig } from '../../controller/southbound/nats-config.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { ControlClient, type ControlEvent } from '../../router-agent/control/control-client.js';
import { GrpcTransport } from '../../router-agent/control/grpc-transport.js';
import type { TableStore } from '../../router-agent/control/local-table-store.js';
import { NatsTransport } from '../../router-agent/control/nats-transport.js';
import { fleetGateways, fleetTopology } from './fleet-topology.js';

export interface PreparedFleet {
  gateways: string[];
  creds: Map<string, IssuedCredentials>;
  /** nats-server authorization for the controller and every gateway. */
  natsConfig: string;
}

export async function prepareFleet(dataDir: string, offices: number): Promise<PreparedFleet> {
  const clock = new SystemClock();
  const store = new LmdbStore({ path: dataDir });
  try {
    const ctl = new Controller({ store, clock });
    ctl.applyTopology(fleetTopology(offices), 'test');
    const ca = await GatewayCa.open(store, clock, () => {});
    const gateways = fleetGateways(offices);
    const creds = new Map<string, IssuedCredentials>();
    for (const gw of gateways) creds.set(gw, await ca.enroll(gw));
    const natsConfig = natsAuthorizationConfig(
      ca.controllerNatsPublicKey,
      [...ca.enrollments().values()].map((e) => ({ gatewayId: e.gatewayId, publicKey: e.natsPublicKey })),
      new Date(),
    );
    return { gateways, creds, natsConfig };
  } finally {
    await store.close();
  }
}

export type Via = { grpc: string } | { nats: string };

export class Agent {
  readonly events: ControlEvent[] = [];
  readonly client: ControlClient;
  constructor(
    readonly gatewayId: string,
    creds: IssuedCredentials,
    via: Via,
    store: TableStore,
    backoffMaxMs = 1000,
  ) {
    const transport =
      'grpc' in via
        ? new GrpcTransport({ address: via.grpc, tls: { keyPem: creds.keyPem, certPem: creds.certPem, caPem: creds.caPem } })
        : new NatsTransport({ servers: via.nats, gatewayId, nkeySeed: creds.natsSeed, helloTimeoutMs: 2000 });
    this.client = new ControlClient({ gatewayId, transport, store, backoff: { initialMs: 100, maxMs: backoffMaxMs }, fallbackEveryMs: 500 });
    this.client.on((e) => this.events.push(e));
  }

  get version(): number {
    return this.client.table?.version ?? 0;
  }

  tables(source?: string): number {
    return this.events.filter((e) => e.type === 'table' && (!source || e.source === source)).length;
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
