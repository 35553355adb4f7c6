// Wires the controller process together: store, service, adapters.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CREDENTIAL_KIND, writeCredentialFile } from '../common/admin-credential-file.js';
import { ensureOwnerOnlyDir } from '../common/owner-only.js';
import { AdminCredentials } from './ca/admin-credentials.js';
import { SystemClock, type Clock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { Controller } from './controller.js';
import { adminUsesTls, INITIAL_ADMIN_CREDENTIAL, type ControllerConfig } from './config.js';
import { addAdminService, bindServer, closeServer } from './northbound/admin-server.js';
import { startHttpServer, type HttpListener } from './northbound/http-server.js';
import { controllerMetrics } from './northbound/metrics.js';
import { LmdbStore } from './store/lmdb-store.js';
import { Southbound } from './southbound/southbound.js';
import { parseTopologyYaml } from './topology/topology-yaml.js';

const log = createLogger('controller');

export interface RunningController {
  readonly controller: Controller;
  readonly adminAddress: string;
  /** Whether the admin API runs TLS with client certificates. */
  readonly adminTls: boolean;
  /** The first admin credential's file, when this start wrote it. */
  readonly initialCredential?: string;
  readonly southbound: Southbound;
  /** The HTTP listener (metrics, dashboard), unless configured off. */
  readonly http?: HttpListener;
  close(): Promise<void>;
}

export async function startController(cfg: ControllerConfig, clock: Clock = new SystemClock()): Promise<RunningController> {
  // Refuses plain text beyond loopback before anything opens.
  const adminTls = adminUsesTls(cfg.adminListen, cfg.adminTls);
  // The store holds the CA key and the link keys: owner only, from the first byte.
  ensureOwnerOnlyDir(cfg.dataDir);
  const store = new LmdbStore({ path: cfg.dataDir });
  ownerOnlyFiles(cfg.dataDir);
  const controller = new Controller({ store, clock, costPolicy: cfg.costPolicy });
  // Created before anything changes, so the bootstrap's computation counts; agents are read at scrape time.
  const metrics = controllerMetrics({ controller, clock, agents: () => southbound.agents().agents });
  if (store.topology().sites.length === 0 && cfg.bootstrapTopology && existsSync(cfg.bootstrapTopology)) {
    const topo = parseTopologyYaml(readFileSync(cfg.bootstrapTopology, 'utf8'), cfg.bootstrapTopology, { current: store.topology() });
    const r = controller.applyTopology(topo, 'bootstrap');
    log.info('empty store: applied bootstrap topology', { file: cfg.bootstrapTopology, changes: r.changes.length });
  }
  // LMDB creates its files as the umask allows; they hold the CA key.
  ownerOnlyFiles(cfg.dataDir);
  let southbound: Southbound;
  try {
    southbound = await Southbound.start(
      controller,
      store,
      {
        grpcListen: cfg.southboundListen,
        insecure: cfg.southboundInsecure,
        advertise: cfg.southboundAdvertise,
        serverNames: cfg.southboundNames,
        natsUrls: cfg.natsUrls,
        certValidityDays: cfg.certValidityDays,
        renewMinIntervalMs: cfg.certRenewMinIntervalS === undefined ? undefined : cfg.certRenewMinIntervalS * 1000,
        linkKeyRotationMs: cfg.linkKeyRotationMs,
        linkKeyOverlapMs: cfg.linkKeyOverlapMs,
      },
      clock,
    );
  } catch (err) {
    await store.close();
    throw err;
  }
  const admin = new Server();
  const host = cfg.adminListen.slice(0, cfg.adminListen.lastIndexOf(':'));
  let adminCreds = ServerCredentials.createInsecure();
  let initialCredential: string | undefined;
  const credentials = new AdminCredentials(southbound.ca, store, clock);
  try {
    if (adminTls) {
      const names = [host.replace(/^\[|\]$/g, ''), ...(cfg.adminNames ?? []), ...(cfg.southboundNames ?? [])];
      const sc = await southbound.ca.serverCredentials(names);
      adminCreds = ServerCredentials.createSsl(Buffer.from(southbound.ca.caPem), [{ private_key: Buffer.from(sc.keyPem), cert_chain: Buffer.from(sc.certPem) }], true);
      initialCredential = await writeInitialAdminCredential(controller, credentials, cfg.dataDir);
    }
    addAdminService(admin, controller, southbound, { tls: adminTls, credentials });
  } catch (err) {
    await southbound.close();
    await store.close();
    throw err;
  }
  const port = await bindServer(admin, cfg.adminListen, adminCreds);
  const adminAddress = `${host}:${port}`;
  let http: HttpListener | undefined;
  try {
    if (cfg.httpListen) http = await startHttpServer({ listen: cfg.httpListen, controller, registry: metrics.registry, agents: () => southbound.agents().agents });
  } catch (err) {
    await southbound.close();
    await closeServer(admin);
    await store.close();
    throw err;
  }
  log.info('controller ready', { epoch: store.epoch, admin: adminAddress, southbound: southbound.grpcAddress ?? '-', data: cfg.dataDir });
  return {
    controller,
    adminAddress,
    adminTls,
    initialCredential,
    southbound,
    http,
    close: async () => {
      await http?.close();
      metrics.close();
      await southbound.close();
      await closeServer(admin);
      await store.close();
    },
  };
}

/** Every regular file at the top of the data directory: owner only. */
function ownerOnlyFiles(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile()) chmodSync(join(dir, e.name), 0o600);
}

/**
 * On the first start with admin TLS (no admin credential issued yet), an
 * admin credential for 'admin' in the data directory, so that an operator
 * can bootstrap: `switchback ctl --credential <data>/admin.credential.json`.
 */
async function writeInitialAdminCredential(controller: Controller, credentials: AdminCredentials, dataDir: string): Promise<string | undefined> {
  if (credentials.list().length > 0) return undefined;
  const c = await credentials.issue('admin', 'admin', undefined, 'controller');
  const file = join(dataDir, INITIAL_ADMIN_CREDENTIAL);
  writeCredentialFile(
    file,
    { kind: CREDENTIAL_KIND, version: 1, name: c.name, role: c.role, key: c.keyPem, cert: c.certPem, ca: c.caPem, serial: c.serial, notAfter: new Date(c.notAfterMs).toISOString() },
    'data_dir',
  );
  controller.audit('controller', 'credential.issue', c.name, `issued the initial admin credential ${c.serial} to ${c.name} in ${file}`);
  log.warn('wrote the initial admin credential', { file, serial: c.serial });
  return file;
}
