// The controller's southbound side put together: the CA, the session core,
// the gRPC listener (mTLS, or --insecure) and the NATS transport when a NATS
// URL is configured, plus what the admin API asks of them (enroll, revoke,
// agents, nats-config).
import type { Clock } from '../../common/clock.js';
import { notFound, SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { AgentState, EnrollResponse, ListAgentsResponse, NatsConfigResponse, RevokeResponse, RotateLinkKeysResponse } from '../../proto/gen/switchback/v1/admin.js';
import { GatewayCa } from '../ca/ca.js';
import type { Controller } from '../controller.js';
import { LinkKeyRotator } from '../link-keys/link-key-rotator.js';
import type { GrpcListener } from '../northbound/admin-server.js';
import type { CaStore } from '../store/store.js';
import { CertRenewal } from './cert-renewal.js';
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
  /** Validity of certificates issued by enrollment (unless the request names one) and renewal; default 90 days. */
  certValidityDays?: number;
  /** At most one certificate per gateway in this time (renewal over the session); default 60 s. */
  renewMinIntervalMs?: number;
  /** Link keys older than this are rotated (ms); 0 or none: only on request and on revocation. */
  linkKeyRotationMs?: number;
  /** How long a link's previous key stays accepted after a rotation switched to the new one; default 5 s. */
  linkKeyOverlapMs?: number;
}

/** What the admin API asks of the southbound side. */
export interface SouthboundAdmin {
  enroll(gatewayId: string, validityDays: number, actor: string): Promise<EnrollResponse>;
  revoke(gatewayId: string, actor: string): RevokeResponse;
  agents(): ListAgentsResponse;
  natsConfig(): NatsConfigResponse;
  /** Starts link key rotations (no ids: every link); the links started. */
  rotateLinkKeys(linkIds: readonly string[], actor: string): RotateLinkKeysResponse;
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
    /** Certificates issued over sessions (stats: issued, refused). */
    readonly renewal: CertRenewal,
  ) {}

  private rotator: LinkKeyRotator | undefined;

  static async start(ctl: Controller, caStore: CaStore, opts: SouthboundOptions, clock: Clock): Promise<Southbound> {
    const ca = await GatewayCa.open(caStore, clock, (e) => ctl.emit(e));
    const renewal = new CertRenewal(ca, {
      clock,
      validityDays: opts.certValidityDays,
      minIntervalMs: opts.renewMinIntervalMs,
      issued: (gw, c) => ctl.audit(`agent:${gw}`, 'gateway.renew', gw, `renewed the certificate of ${gw}: ${c.serial}, valid until ${new Date(c.notAfterUnixMs).toISOString()}`),
    });
    const core = new SessionCore(ctl, { clock, isRevoked: (gw) => ca.isRevoked(gw), ackTimeoutMs: opts.ackTimeoutMs, issueCertificate: (gw, req) => renewal.issue(gw, req) });
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
          isRevoked: (gw) => ca.isRevoked(gw),
          clock,
        });
      }
    } catch (err) {
      await grpc?.close();
      core.close();
      throw err;
    }
    const sb = new Southbound(ctl, clock, ca, core, grpc, nats, opts, renewal);
    // Runs with the sessions: rotations move on as the agents acknowledge.
    sb.rotator = new LinkKeyRotator(ctl, { clock, periodMs: opts.linkKeyRotationMs, policy: opts.linkKeyOverlapMs !== undefined ? { overlapMs: opts.linkKeyOverlapMs } : {}, isRevoked: (gw) => ca.isRevoked(gw) });
    return sb;
  }

  get grpcAddress(): string | undefined {
    return this.grpc?.address;
  }

  async enroll(gatewayId: string, validityDays: number, actor: string): Promise<EnrollResponse> {
    this.knownGateway(gatewayId);
    const c = await this.ca.enroll(gatewayId, validityDays || this.opts.certValidityDays);
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
    // Its peers stop accepting every key it holds, now.
    this.linkKeys.replaceKeysOf(gatewayId, actor);
    return { serials, sessionClosed: hadSession };
  }

  /** Link key rotation (controller/link-keys). */
  get linkKeys(): LinkKeyRotator {
    if (!this.rotator) throw new SwitchbackError('INTERNAL', 'link key rotator used before start'); // unreachable: start() sets it
    return this.rotator;
  }

  rotateLinkKeys(linkIds: readonly string[], actor: string): RotateLinkKeysResponse {
    return { linkIds: this.linkKeys.rotate(linkIds, actor) };
  }

  agents(): ListAgentsResponse {
    const acks = this.ctl.store.acks();
    const enrolled = this.ca.enrollments();
    // Versions only: the tables themselves are not read (a thousand of them is 70 MB to decode).
    const agents: AgentState[] = this.ctl.tableStates().map((t) => {
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
    this.rotator?.close();
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
