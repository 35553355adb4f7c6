// The NATS names of the southbound session, shared by the controller, the
// agent and the generated server authorization (one place, so they cannot
// drift apart). Gateway ids may contain '.', which NATS uses as the token
// separator; in subjects it is written '=' (not allowed in ids, allowed in
// subjects and KV keys).
import { invalid } from '../../common/errors.js';
import { ID_PATTERN } from '../topology/topology-check.js';

export const TABLES_BUCKET = 'sb-tables';
/** Controller heartbeat with its epoch, to every agent: a new epoch makes them say Hello. */
export const BEAT_SUBJECT = 'sb.beat';
export const HELLO_WILDCARD = 'sb.*.hello';
export const REPORT_WILDCARD = 'sb.*.rpt';

export function gatewayToken(gatewayId: string): string {
  if (!ID_PATTERN.test(gatewayId)) throw invalid('gatewayId', `'${gatewayId}' is not a gateway id`);
  return gatewayId.replaceAll('.', '=');
}

/** The gateway named by a subject `sb.<token>.<kind>`, or undefined. */
export function gatewayOfSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== 'sb') return undefined;
  const id = parts[1]!.replaceAll('=', '.');
  return ID_PATTERN.test(id) ? id : undefined;
}

export const subjects = (gatewayId: string) => {
  const t = gatewayToken(gatewayId);
  return {
    /** controller -> agent pushes */
    control: `sb.${t}.ctl`,
    /** agent -> controller acks, reports, snapshot requests */
    report: `sb.${t}.rpt`,
    /** agent -> controller Hello (request/reply) */
    hello: `sb.${t}.hello`,
    /** the agent's reply subjects (nats.js inboxPrefix) */
    inboxPrefix: `sb.${t}.inbox`,
    /** KV key of the gateway's table */
    kvKey: t,
    /** JetStream direct get of the gateway's latest table: the only KV read a gateway may do */
    kvDirectGet: `$JS.API.DIRECT.GET.KV_${TABLES_BUCKET}.$KV.${TABLES_BUCKET}.${t}`,
  };
};
