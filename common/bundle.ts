// The enrollment bundle: everything an agent needs to reach and prove
// itself to the controller (written by `switchback ctl enroll`, read by
// `switchback agent --bundle`). It holds a private key and a NATS seed, so
// it is written owner-only and checked field by field when read.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { invalid, SwitchbackError } from './errors.js';
import { checkOwnerOnly } from './owner-only.js';

export const BUNDLE_KIND = 'switchback-agent-bundle';

export interface AgentBundle {
  kind: typeof BUNDLE_KIND;
  version: 1;
  gatewayId: string;
  controller: { grpc: string[]; nats: string[] };
  /** PEM: the gateway's private key, its certificate, the controller CA. */
  key: string;
  cert: string;
  ca: string;
  /** NKey seed of the gateway's NATS user. */
  natsSeed: string;
  serial: string;
  notAfter: string;
}

/** Writes the bundle owner-only (0600), atomically: a reader never sees half a key. */
export function writeBundleFile(path: string, b: AgentBundle): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(b, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot write bundle ${path}: ${(err as Error).message}`, { field: '--out', cause: err });
  }
}

export function readBundleFile(path: string): AgentBundle {
  checkOwnerOnly(path, '--bundle');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid('--bundle', `cannot read ${path}: ${(err as Error).message}`);
  }
  return parseBundle(text, path);
}

export function parseBundle(text: string, source = 'bundle'): AgentBundle {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid('bundle', `not JSON: ${(err as Error).message}`, { source });
  }
  const o = raw as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.kind !== BUNDLE_KIND) throw invalid('kind', `not a Switchback agent bundle (kind must be '${BUNDLE_KIND}')`, { source });
  if (o.version !== 1) throw invalid('version', `unsupported bundle version ${String(o.version)}`, { source });
  const str = (k: string, pem?: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || !v) throw invalid(k, 'must be a non-empty string', { source });
    if (pem && !v.includes(`-----BEGIN ${pem}-----`)) throw invalid(k, `must be a PEM ${pem}`, { source });
    return v;
  };
  const c = o.controller as Record<string, unknown> | undefined;
  const strings = (v: unknown, k: string): string[] => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x)) throw invalid(k, 'must be a list of strings', { source });
    return v as string[];
  };
  if (!c || typeof c !== 'object') throw invalid('controller', 'must name the controller addresses', { source });
  const grpc = strings(c.grpc ?? [], 'controller.grpc');
  const nats = strings(c.nats ?? [], 'controller.nats');
  if (grpc.length + nats.length === 0) throw invalid('controller', 'names no gRPC address and no NATS URL', { source });
  return {
    kind: BUNDLE_KIND,
    version: 1,
    gatewayId: str('gatewayId'),
    controller: { grpc, nats },
    key: str('key', 'PRIVATE KEY'),
    cert: str('cert', 'CERTIFICATE'),
    ca: str('ca', 'CERTIFICATE'),
    natsSeed: str('natsSeed'),
    serial: str('serial'),
    notAfter: str('notAfter'),
  };
}
