// The admin API's handlers: translate requests into controller calls, and
// nothing else. Validation lives in the controller and topology modules.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, UntypedHandleCall } from '@grpc/grpc-js';
import { invalid, SwitchbackError } from '../../common/errors.js';
import type { AdminServiceServer, JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import type { AdminCredentials } from '../ca/admin-credentials.js';
import type { Controller } from '../controller.js';
import type { SouthboundAdmin } from '../southbound/southbound.js';
import { parseTopologyYaml, topologyToYaml } from '../topology/topology-yaml.js';
import { identityHandlers } from './admin-auth.js';
import { toServiceError } from './grpc-status.js';

/** Who made a change, for the journal. Certificates name it (see security docs); else the peer. */
export type ActorOf = (call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>) => string;

export const actorFromMetadata: ActorOf = (call) => {
  const claimed = call.metadata.get('switchback-actor')[0];
  const who = typeof claimed === 'string' && /^[\w.@:-]{1,64}$/.test(claimed) ? claimed : 'anonymous';
  return `${who}@${call.getPeer()}`;
};

function unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
    try {
      cb(null, fn(call.request, call));
    } catch (err) {
      cb(toServiceError(err), null);
    }
  };
}

function unaryAsync<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
    fn(call.request, call).then(
      (res) => cb(null, res),
      (err) => cb(toServiceError(err), null),
    );
  };
}

function need<T>(v: T | undefined, field: string): T {
  if (v === undefined || v === null) throw invalid(field, 'is required');
  return v;
}

export function adminService(
  ctl: Controller,
  actorOf: ActorOf = actorFromMetadata,
  southbound?: SouthboundAdmin,
  credentials?: AdminCredentials,
): AdminServiceServer & Record<string, UntypedHandleCall> {
  const who = (call: ServerUnaryCall<any, any>) => actorOf(call);
  const seq = (e: { seq: number }) => ({ journalSeq: e.seq });
  const sb = () => {
    if (!southbound) throw new SwitchbackError('UNAVAILABLE', 'this controller runs no southbound sessions');
    return southbound;
  };
  return {
    enroll: unaryAsync((req, call) => sb().enroll(req.gatewayId, req.validityDays, who(call))),
    revoke: unary((req, call) => sb().revoke(req.gatewayId, who(call))),
    listAgents: unary(() => sb().agents()),
    natsConfig: unary(() => sb().natsConfig()),
    rotateLinkKeys: unary((req, call) => sb().rotateLinkKeys(req.linkIds ?? [], who(call))),
    getTopology: unary(() => ({ topology: ctl.topology() })),
    applyTopology: unary((req, call) => {
      const topo = parseTopologyYaml(req.yaml, req.source || 'request', { current: ctl.topology() });
      const r = ctl.applyTopology(topo, who(call), req.dryRun);
      return { changes: r.changes.map((c) => c.summary), journalSeq: r.entry?.seq ?? 0 };
    }),
    exportTopology: unary(() => ({ yaml: topologyToYaml(ctl.topology()) })),
    putSite: unary((req, call) => seq(ctl.putSite(need(req.site, 'site'), who(call)))),
    deleteSite: unary((req, call) => seq(ctl.deleteSite(req.id, who(call)))),
    putGateway: unary((req, call) => seq(ctl.putGateway(need(req.gateway, 'gateway'), who(call)))),
    deleteGateway: unary((req, call) => seq(ctl.deleteGateway(req.id, who(call)))),
    putLink: unary((req, call) => seq(ctl.putLink(need(req.link, 'link'), who(call)))),
    deleteLink: unary((req, call) => seq(ctl.deleteLink(req.id, who(call)))),
    putPrefix: unary((req, call) => seq(ctl.putPrefix(need(req.prefix, 'prefix'), who(call)))),
    deletePrefix: unary((req, call) => seq(ctl.deletePrefix(need(req.prefix, 'prefix'), who(call)))),
    drainLink: unary((req, call) => seq(ctl.drainLink(req.id, who(call), req.reason))),
    undrainLink: unary((req, call) => seq(ctl.undrainLink(req.id, who(call)))),
    getRoutes: unary((req) => ({ gatewayId: req.gatewayId, ...ctl.routesOf(req.gatewayId) })),
    listTables: unary(() => ({ epoch: ctl.epoch, tables: ctl.tableStates() })),
    listLinks: unary(() => {
      const links = ctl.links();
      const effectiveCosts = Object.fromEntries(links.filter((l) => l.effectiveCost !== l.cost).map((l) => [l.id, l.effectiveCost]));
      return { links: links.map(({ effectiveCost: _e, ...l }) => l), effectiveCosts };
    }),
    listEvents: unary((req) => ({ entries: ctl.store.journal(req.afterSeq, Math.min(req.limit || 100, 10_000)) })),
    watchEvents: (call) => {
      // Replay what the caller missed, then follow the live journal.
      let last = call.request.afterSeq;
      const send = (entry: JournalEntry) => {
        if (entry.seq <= last) return;
        last = entry.seq;
        call.write({ entry });
      };
      const off = ctl.on((e) => {
        if (e.type === 'journal') send(e.entry);
      });
      for (;;) {
        const batch = ctl.store.journal(last, 1000);
        batch.forEach(send);
        if (batch.length < 1000) break;
      }
      call.on('cancelled', off);
      call.on('close', off);
      call.on('error', off);
    },
    ...identityHandlers(ctl, credentials),
  };
}
