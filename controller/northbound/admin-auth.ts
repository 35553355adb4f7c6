// Who is calling the admin API, and may they? Every handler runs behind
// `guardAdminService`: it names the caller (a client certificate from the
// controller CA, or a loopback peer on the plain-text listener) and checks
// the role table before the handler sees the request. The handlers then
// take the journal's actor from `principalOf(call)`.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, ServiceDefinition, UntypedHandleCall } from '@grpc/grpc-js';
import { SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { AdminServiceServer } from '../../proto/gen/switchback/v1/admin.js';
import type { AdminCredentials } from '../ca/admin-credentials.js';
import type { Controller } from '../controller.js';
import { mayCall, RPC_ROLES, type Role } from './admin-roles.js';
import { toServiceError } from './grpc-status.js';

const log = createLogger('admin-auth');
/** Revoke's id for a person's credentials rather than a gateway. */
export const USER_PREFIX = 'user:';

export interface Principal {
  /** The certificate's user name, or 'local' on the plain-text loopback listener. */
  readonly name: string;
  readonly role: Role;
  /** What the journal records as the actor. */
  readonly actor: string;
  readonly via: 'certificate' | 'loopback';
}

export interface AdminAuth {
  /** TLS with required client certificates (else plain text, loopback peers only). */
  readonly tls: boolean;
  /** Checks certificates; required when `tls`. */
  readonly credentials?: AdminCredentials;
}

type AnyCall = ServerUnaryCall<any, any> | ServerWritableStream<any, any>;

const principals = new WeakMap<object, Principal>();

/** The caller, as the guard established it. */
export function principalOf(call: AnyCall): Principal {
  const p = principals.get(call);
  if (!p) throw new SwitchbackError('INTERNAL', 'admin call reached a handler without authentication');
  return p;
}

export const actorOfCall = (call: AnyCall): string => principalOf(call).actor;

export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

export function authenticate(call: AnyCall, auth: AdminAuth): Principal {
  if (!auth.tls) {
    // Trusted like a local socket: anyone who can reach 127.0.0.1 already
    // runs on the controller's host. The claimed name is kept, unverified,
    // for the journal (a certificate user name never contains '@').
    if (!isLoopbackAddress(peerHost(call.getPeer()))) {
      throw new SwitchbackError('UNAUTHENTICATED', 'the plain-text admin API answers loopback callers only');
    }
    const claimed = call.metadata.get('switchback-actor')[0];
    const who = typeof claimed === 'string' && /^[\w.-]{1,64}$/.test(claimed) ? claimed : '';
    return { name: 'local', role: 'admin', actor: who ? `${who}@local` : 'local', via: 'loopback' };
  }
  if (!auth.credentials) throw new SwitchbackError('INTERNAL', 'admin TLS without a credential check');
  const id = auth.credentials.identify(call.getAuthContext?.()?.sslPeerCertificate);
  return { name: id.name, role: id.role, actor: id.name, via: 'certificate' };
}

/** Wraps every handler of `impl` with authentication and the role check of RPC_ROLES. */
export function guardAdminService(
  def: ServiceDefinition,
  impl: Record<string, UntypedHandleCall>,
  auth: AdminAuth,
): Record<string, UntypedHandleCall> {
  const out: Record<string, UntypedHandleCall> = {};
  for (const [method, d] of Object.entries(def)) {
    const handler = impl[method];
    if (!handler) continue;
    const rpc = d.path.slice(d.path.lastIndexOf('/') + 1);
    const admit = (call: AnyCall): Principal => {
      const p = authenticate(call, auth);
      if (!mayCall(p.role, rpc)) {
        const least = RPC_ROLES[rpc];
        throw new SwitchbackError('PERMISSION_DENIED', `${p.name} (role ${p.role}) may not call ${rpc}${least ? `: it needs role ${least}` : ''}`);
      }
      principals.set(call, p);
      return p;
    };
    const refused = (call: AnyCall, err: unknown) => {
      log.warn('admin call refused', { rpc, peer: call.getPeer(), reason: (err as Error).message });
      return toServiceError(err);
    };
    if (d.responseStream) {
      out[method] = ((call: ServerWritableStream<any, any>) => {
        try {
          admit(call);
        } catch (err) {
          call.emit('error', refused(call, err));
          return;
        }
        (handler as (c: ServerWritableStream<any, any>) => void)(call);
      }) as UntypedHandleCall;
    } else {
      out[method] = ((call: ServerUnaryCall<any, any>, cb: sendUnaryData<any>) => {
        try {
          admit(call);
        } catch (err) {
          cb(refused(call, err), null);
          return;
        }
        (handler as (c: ServerUnaryCall<any, any>, cb: sendUnaryData<any>) => void)(call, cb);
      }) as UntypedHandleCall;
    }
  }
  return out;
}

/** Revoke names a gateway, or a person as 'user:<name>' (every credential issued to them). */
export function revokeHandler(ctl: Controller, credentials: AdminCredentials | undefined, revokeGateway: AdminServiceServer['revoke']): AdminServiceServer['revoke'] {
  return (call, cb) => {
    const id = call.request.gatewayId;
    if (!id.startsWith(USER_PREFIX)) return revokeGateway(call, cb);
    try {
      if (!credentials) throw new SwitchbackError('UNAVAILABLE', 'this controller has no CA');
      const name = id.slice(USER_PREFIX.length);
      const serials = credentials.revoke(name);
      ctl.audit(principalOf(call).actor, 'credential.revoke', name, `revoked the admin credentials of ${name} (certificates ${serials.join(', ')})`);
      cb(null, { serials, sessionClosed: false });
    } catch (err) {
      cb(toServiceError(err), null);
    }
  };
}

/** WhoAmI and IssueCredential: the admin API's handlers for identities of people. */
export function identityHandlers(ctl: Controller, credentials: AdminCredentials | undefined): Pick<AdminServiceServer, 'whoAmI' | 'issueCredential'> {
  return {
    whoAmI: (call, cb) => {
      const p = principalOf(call);
      cb(null, { name: p.name, role: p.role });
    },
    issueCredential: (call, cb) => {
      const req = call.request;
      (async () => {
        const actor = principalOf(call).actor;
        if (!credentials) throw new SwitchbackError('UNAVAILABLE', 'this controller has no CA to issue credentials with');
        const c = await credentials.issue(req.name, req.role, req.validityDays || undefined, actor);
        ctl.audit(actor, 'credential.issue', c.name, `issued ${c.role} credential ${c.serial} to ${c.name}, valid until ${new Date(c.notAfterMs).toISOString()}`);
        return { name: c.name, role: c.role, keyPem: c.keyPem, certPem: c.certPem, caPem: c.caPem, serial: c.serial, notAfterUnixMs: c.notAfterMs };
      })().then(
        (r) => cb(null, r),
        (err) => cb(toServiceError(err), null),
      );
    },
  };
}

function peerHost(peer: string): string {
  return peer.replace(/^ipv[46]:/, '').replace(/:\d+$/, '');
}
