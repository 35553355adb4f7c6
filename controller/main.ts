// Wires the controller process together: store, service, adapters.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { SystemClock, type Clock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { Controller } from './controller.js';
import type { ControllerConfig } from './config.js';
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
  readonly southbound: Southbound;
  /** The HTTP listener (metrics, dashboard), unless configured off. */
  readonly http?: HttpListener;
  close(): Promise<void>;
}

export async function startController(cfg: ControllerConfig, clock: Clock = new SystemClock()): Promise<RunningController> {
  const store = new LmdbStore({ path: cfg.dataDir });
  const controller = new Controller({ store, clock, costPolicy: cfg.costPolicy });
  // Created before anything changes, so the bootstrap's computation counts; agents are read at scrape time.
  const metrics = controllerMetrics({ controller, clock, agents: () => southbound.agents().agents });
  if (store.topology().sites.length === 0 && cfg.bootstrapTopology && existsSync(cfg.bootstrapTopology)) {
    const topo = parseTopologyYaml(readFileSync(cfg.bootstrapTopology, 'utf8'), cfg.bootstrapTopology, { current: store.topology() });
    const r = controller.applyTopology(topo, 'bootstrap');
    log.info('empty store: applied bootstrap topology', { file: cfg.bootstrapTopology, changes: r.changes.length });
  }
  // The store holds the CA key and the link keys: owner only.
  chmodSync(cfg.dataDir, 0o700);
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
      },
      clock,
    );
  } catch (err) {
    await store.close();
    throw err;
  }
  const admin = new Server();
  addAdminService(admin, controller, southbound);
  // The admin API is unauthenticated until the security work lands, so it
  // is for loopback only (config refuses anything else).
  const port = await bindServer(admin, cfg.adminListen, ServerCredentials.createInsecure());
  const host = cfg.adminListen.slice(0, cfg.adminListen.lastIndexOf(':'));
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
