// Who may call which admin RPC. Roles are ordered: each one may do what the
// one before it may. An RPC missing from this table is refused to everyone
// (a test checks that every RPC of the service is listed).
import { invalid } from '../../common/errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The least role that may call each RPC (names as in admin.proto). */
export const RPC_ROLES: Readonly<Record<string, Role>> = Object.freeze({
  // Reading: the topology, routes, tables, links, the journal, agents, oneself.
  GetTopology: 'viewer',
  ExportTopology: 'viewer',
  GetRoutes: 'viewer',
  ListTables: 'viewer',
  ListLinks: 'viewer',
  ListEvents: 'viewer',
  WatchEvents: 'viewer',
  ListAgents: 'viewer',
  WhoAmI: 'viewer',
  // Changing the topology and draining links.
  ApplyTopology: 'operator',
  PutSite: 'operator',
  DeleteSite: 'operator',
  PutGateway: 'operator',
  DeleteGateway: 'operator',
  PutLink: 'operator',
  DeleteLink: 'operator',
  PutPrefix: 'operator',
  DeletePrefix: 'operator',
  DrainLink: 'operator',
  UndrainLink: 'operator',
  // Identities and secrets: gateways, people, NATS users, tunnel keys.
  Enroll: 'admin',
  Revoke: 'admin',
  NatsConfig: 'admin',
  IssueCredential: 'admin',
  RotateLinkKeys: 'admin',
});

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export function parseRole(s: string, field = 'role'): Role {
  if (!isRole(s)) throw invalid(field, `must be one of ${ROLES.join(', ')}, got '${s}'`);
  return s;
}

/** Whether `role` may call `rpc`; false for an RPC not in the table. */
export function mayCall(role: Role, rpc: string): boolean {
  const least = RPC_ROLES[rpc];
  return least !== undefined && ROLES.indexOf(role) >= ROLES.indexOf(least);
}
