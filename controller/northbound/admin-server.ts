import { Server, ServerCredentials } from '@grpc/grpc-js';
import { SwitchbackError } from '../../common/errors.js';
import { AdminServiceService } from '../../proto/gen/switchback/v1/admin.js';
import type { Controller } from '../controller.js';
import type { SouthboundAdmin } from '../southbound/southbound.js';
import { adminService } from './admin-service.js';

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

export function addAdminService(server: Server, ctl: Controller, southbound?: SouthboundAdmin): void {
  server.addService(AdminServiceService, adminService(ctl, undefined, southbound));
}
