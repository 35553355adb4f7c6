// Picks the agent's transport by configuration: gRPC (mutual TLS with the
// bundle's certificate, or plain text when explicitly insecure) or NATS
// (the bundle's NKey), and builds the control client over it.
import type { AgentBundle } from '../../common/bundle.js';
import { invalid } from '../../common/errors.js';
import { ControlClient, type ControlClientOptions } from './control-client.js';
import { GrpcTransport, type GrpcTransportOptions } from './grpc-transport.js';
import type { TableStore } from './local-table-store.js';
import { NatsTransport, type NatsTransportOptions } from './nats-transport.js';
import type { ControlTransport } from './transport.js';

export type ControlConfig =
  | { gatewayId: string; transport: 'grpc'; grpc: GrpcTransportOptions }
  | { gatewayId: string; transport: 'nats'; nats: Omit<NatsTransportOptions, 'gatewayId'> };

/** The bundle's credentials for the chosen transport (default: gRPC if the bundle names a gRPC address). */
export function controlConfigFromBundle(b: AgentBundle, transport?: 'grpc' | 'nats'): ControlConfig {
  const t = transport ?? (b.controller.grpc.length ? 'grpc' : 'nats');
  if (t === 'grpc') {
    const address = b.controller.grpc[0];
    if (!address) throw invalid('controller.grpc', `bundle of ${b.gatewayId} names no gRPC address`);
    return { gatewayId: b.gatewayId, transport: 'grpc', grpc: { address, tls: { keyPem: b.key, certPem: b.cert, caPem: b.ca } } };
  }
  if (!b.controller.nats.length) throw invalid('controller.nats', `bundle of ${b.gatewayId} names no NATS URL`);
  return { gatewayId: b.gatewayId, transport: 'nats', nats: { servers: b.controller.nats, nkeySeed: b.natsSeed } };
}

export function createTransport(cfg: ControlConfig): ControlTransport {
  return cfg.transport === 'grpc' ? new GrpcTransport(cfg.grpc) : new NatsTransport({ ...cfg.nats, gatewayId: cfg.gatewayId });
}

/** A control client for the configured transport; the caller owns (and closes) `store`. */
export function createControlClient(
  cfg: ControlConfig,
  store: TableStore,
  extra: Omit<ControlClientOptions, 'gatewayId' | 'transport' | 'store'> = {},
): ControlClient {
  return new ControlClient({ ...extra, gatewayId: cfg.gatewayId, transport: createTransport(cfg), store });
}
