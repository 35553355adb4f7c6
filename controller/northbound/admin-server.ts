import { Server, ServerCredentials } from '@grpc/grpc-js';
import { SwitchbackError } from '../../common/errors.js';
import { AdminServiceService } from '../../proto/gen/switchback/v1/admin.js';
import type { Controller } from '../controller.js';
import type { SouthboundAdmin } from '../southbound/southbound.js';
import { actorOfCall, guardAdminService, revokeHandler, type AdminAuth } from './admin-auth.js';
import { adminService } from './admin-service.js';
import { lenientDefinition, refuseCorrupt } from './corrupt-request.js';

export interface GrpcListener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Binds a grpc-js server; services are added by the caller before this. */
export function bindServer(server: Server, address: string, creds: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new SwitchbackError('UNAVAILABLE', `cannot listen on ${address}: ${err.message}`, { cause: err }));
      else resolve(port);
    });
  });
}

export function closeServer(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/**
 * The admin service behind authentication and the role table: plain text
 * (loopback callers, trusted as 'local' admin) unless `auth.tls`.
 */
export function addAdminService(server: Server, ctl: Controller, southbound?: SouthboundAdmin, auth: AdminAuth = { tls: false }): void {
  const base = adminService(ctl, actorOfCall, southbound, auth.credentials);
  const impl = { ...base, revoke: revokeHandler(ctl, auth.credentials, base.revoke) };
  server.addService(lenientDefinition(AdminServiceService), refuseCorrupt(AdminServiceService, guardAdminService(AdminServiceService, impl, auth)));
}
