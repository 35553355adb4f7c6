// The nats-server authorization block for the southbound session: one NKey
// user per enrolled, unrevoked gateway that may use only its own subjects
// and read only its own key of the tables bucket, and one for the
// controller. Only public keys appear, so the file holds no secret.
import { subjects, BEAT_SUBJECT } from './nats-subjects.js';

export interface NatsUser {
  gatewayId: string;
  publicKey: string;
}

const q = (s: string) => JSON.stringify(s);
const list = (xs: string[]) => `[${xs.map(q).join(', ')}]`;

/** Subjects a gateway may publish to and subscribe to. */
export function gatewayPermissions(gatewayId: string): { publish: string[]; subscribe: string[] } {
  const s = subjects(gatewayId);
  return {
    publish: [s.hello, s.report, s.kvDirectGet],
    subscribe: [s.control, BEAT_SUBJECT, `${s.inboxPrefix}.>`],
  };
}

export function natsAuthorizationConfig(controllerPublicKey: string, gateways: readonly NatsUser[], generatedAt: Date): string {
  const users = [
    '    # the controller',
    `    { nkey: ${q(controllerPublicKey)}, permissions: { publish: { allow: [">"] }, subscribe: { allow: [">"] } } }`,
  ];
  for (const g of [...gateways].sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : 1))) {
    const p = gatewayPermissions(g.gatewayId);
    users.push(`    # gateway ${g.gatewayId}`);
    users.push(`    { nkey: ${q(g.publicKey)}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} } } }`);
  }
  return [
    `# Switchback southbound authorization, generated ${generatedAt.toISOString()} by \`switchback ctl nats-config\`.`,
    '# Regenerate after every enroll or revoke and reload the server (nats-server --signal reload).',
    '# Only public NKeys are listed: this file holds no secret.',
    'authorization {',
    // Seconds a client has to authenticate: agents sign the server's nonce
    // with their NKey, which a small CPU (or one process running many test
    // agents) does slowly; the 2 s default drops such connections.
    '  timeout: 10',
    '  users = [',
    ...users,
    '  ]',
    '}',
    '',
  ].join('\n');
}
