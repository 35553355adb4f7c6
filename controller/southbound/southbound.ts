// The controller's southbound side put together: the CA, the session core,
// the gRPC listener (mTLS, or --insecure) and the NATS transport when a NATS
// URL is configured, plus what the admin API asks of them (enroll, revoke,
// agents, nats-config).
import type { Clock } from '../../common/clock.js';
import { notFound } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { AgentState, EnrollResponse, ListAgentsResponse, NatsConfigResponse, RevokeResponse } from '../../proto/gen/switchback/v1/admin.js';
import { GatewayCa } from '../ca/ca.js';
import type { Controller } from '../controller.js';
import type { GrpcListener } from '../northbound/admin-server.js';
import type { CaStore } from '../store/store.js';
import { startGrpcSouthbound } from './grpc-session.js';
import { natsAuthorizationConfig } from './nats-config.js';
import { startNatsSouthbound, type NatsSouthbound } from './nats-session.js';
import { SessionCore } from './session-core.js';

const log = createLogger('southbound');

export interface SouthboundOptions {
  /** gRPC listener, host:port; none for a NATS-only controller. */
  grpcListen?: string;
  /** Plain-text gRPC, gateway named by its Hello: local tests only. */
  insecure?: boolean;
  /** gRPC addresses written into bundles (default: the bound address). */
  advertise?: readonly string[];
  /** Extra names (DNS or IP) for the controller's server certificate. */
  serverNames?: readonly string[];
  /** NATS server URLs; the NATS transport runs when given. */
  natsUrls?: readonly string[];
  ackTimeoutMs?: number;
  natsBeatMs?: number;
}

/** What the admin API asks of the southbound side. */
export interface SouthboundAdmin {
  enroll(gatewayId: string, validityDays: number, actor: string): Promise<EnrollResponse>;
  revoke(gatewayId: string, actor: string): RevokeResponse;
  agents(): ListAgentsResponse;
  natsConfig(): NatsConfigResponse;
}

export class Southbound implements SouthboundAdmin {
  private constructor(
    private readonly ctl: Controller,
    private readonly clock: Clock,
    readonly ca: GatewayCa,
    readonly core: SessionCore,
    readonly grpc: GrpcListener | undefined,
    readonly nats: NatsSouthbound | undefined,
    private readonly opts: SouthboundOptions,
  ) {}

  static async start(ctl: Controller, caStore: CaStore, opts: SouthboundOptions, clock: Clock): Promise<Southbound> {
    const ca = await GatewayCa.open(caStore, clock, (e) => ctl.emit(e));
    const core = new SessionCore(ctl, { clock, isRevoked: (gw) => ca.isRevoked(gw), ackTimeoutMs: opts.ackTimeoutMs });
    let grpc: GrpcListener | undefined;
    let nats: NatsSouthbound | undefined;
    try {
      if (opts.grpcListen) {
        grpc = await startGrpcSouthbound(core, { listen: opts.grpcListen, ca, serverNames: [...(opts.serverNames ?? []), ...(opts.advertise ?? []).map(hostOf)], insecure: opts.insecure });
      }
      if (opts.natsUrls?.length) {
        nats = await startNatsSouthbound(core, ctl.store, {
          servers: [...opts.natsUrls],
          // Also accepted by a server without authorization.
          nkeySeed: ca.controllerNatsSeed,
          beatMs: opts.natsBeatMs,
          clock,
        });
      }
    } catch (err) {
      await grpc?.close();
      core.close();
      throw err;
    }
    return new Southbound(ctl, clock, ca, core, grpc, nats, opts);
  }

  get grpcAddress(): string | undefined {
    return this.grpc?.address;
  }

  async enroll(gatewayId: string, validityDays: number, actor: string): Promise<EnrollResponse> {
    this.knownGateway(gatewayId);
    const c = await this.ca.enroll(gatewayId, validityDays || undefined);
    this.ctl.audit(actor, 'gateway.enroll', gatewayId, `issued certificate ${c.serial} to ${gatewayId}, valid until ${new Date(c.notAfterMs).toISOString()}`);
    return {
      gatewayId,
      keyPem: c.keyPem,
      certPem: c.certPem,
      caPem: c.caPem,
      serial: c.serial,
      notAfterUnixMs: c.notAfterMs,
      grpcAddresses: this.opts.advertise?.length ? [...this.opts.advertise] : this.grpc ? [this.grpc.address] : [],
      natsUrls: [...(this.opts.natsUrls ?? [])],
      natsSeed: c.natsSeed,
    };
  }

  revoke(gatewayId: string, actor: string): RevokeResponse {
    this.knownGateway(gatewayId);
    const before = this.ca.enrollments().get(gatewayId);
    const hadSession = this.core.session(gatewayId) !== undefined;
    // Emits 'revoked', on which the session core closes the open session.
    this.ca.revoke(gatewayId);
    const serials = before?.serials ?? [];
    this.ctl.audit(actor, 'gateway.revoke', gatewayId, `revoked ${gatewayId}${serials.length ? ` (certificates ${serials.join(', ')})` : ''}`);
    return { serials, sessionClosed: hadSession };
  }

  agents(): ListAgentsResponse {
    const acks = this.ctl.store.acks();
    const enrolled = this.ca.enrollments();
    const agents: AgentState[] = this.ctl.store.tables().map((t) => {
      const gw = t.gatewayId;
      const ack = acks.get(gw);
      const session = this.core.session(gw);
      const seen = this.core.lastSeen(gw);
      const e = enrolled.get(gw);
      return {
        gatewayId: gw,
        version: t.version,
        ackedVersion: ack?.version ?? 0,
        inSync: ack?.version === t.version,
        transport: session?.transport ?? seen?.transport ?? ack?.transport ?? '',
        connected: session !== undefined,
        lastSeenUnixMs: Math.max(seen?.atMs ?? 0, ack?.atMs ?? 0),
        enrolled: (e?.serials.length ?? 0) > 0,
        revoked: e?.revokedMs !== undefined,
        certNotAfterUnixMs: e?.revokedMs === undefined ? (e?.notAfterMs ?? 0) : 0,
      };
    });
    return { epoch: this.ctl.epoch, agents };
  }

  natsConfig(): NatsConfigResponse {
    const users = [...this.ca.enrollments().values()].filter((e) => e.revokedMs === undefined && e.natsPublicKey).map((e) => ({ gatewayId: e.gatewayId, publicKey: e.natsPublicKey }));
    return { config: natsAuthorizationConfig(this.ca.controllerNatsPublicKey, users, new Date(this.clock.wallMs())), gatewayUsers: users.length };
  }

  async close(): Promise<void> {
    this.core.close();
    await Promise.all([this.grpc?.close(), this.nats?.close()]);
    log.debug('southbound closed');
  }

  private knownGateway(gatewayId: string): void {
    if (!this.ctl.topology().gateways.some((g) => g.id === gatewayId)) throw notFound('gateway', gatewayId);
  }
}

function hostOf(address: string): string {
  const host = address.slice(0, address.lastIndexOf(':'));
  return host.startsWith('[') ? host.slice(1, -1) : host;
}
