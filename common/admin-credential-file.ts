// An admin credential in one file (key, certificate, controller CA), as the
// agent bundle is for a gateway: written by the controller on first start
// with admin TLS and by `switchback ctl credential issue`, read by
// `switchback ctl --credential FILE` (or SWITCHBACK_CREDENTIAL). It holds a
// private key: written 0600, and refused when others may read it.
import { readFileSync } from 'node:fs';
import { invalid } from './errors.js';
import { checkOwnerOnly, writeOwnerOnlyFile } from './owner-only.js';

export const CREDENTIAL_KIND = 'switchback-admin-credential';

export interface AdminCredentialFile {
  kind: typeof CREDENTIAL_KIND;
  version: 1;
  name: string;
  role: string;
  /** PEM: the private key, its certificate, the controller CA. */
  key: string;
  cert: string;
  ca: string;
  serial: string;
  notAfter: string;
}

/** The TLS material a client needs. */
export interface ClientTls {
  keyPem: string;
  certPem: string;
  caPem: string;
}

export function writeCredentialFile(path: string, c: AdminCredentialFile, field = '--out'): void {
  writeOwnerOnlyFile(path, JSON.stringify(c, null, 2) + '\n', field);
}

export function readCredentialFile(path: string, field = '--credential'): AdminCredentialFile {
  checkOwnerOnly(path, field);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalid(field, `cannot read ${path}: ${(err as Error).message}`);
  }
  const o = raw as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.kind !== CREDENTIAL_KIND) throw invalid(field, `${path} is not a Switchback admin credential (kind must be '${CREDENTIAL_KIND}')`);
  if (o.version !== 1) throw invalid(field, `${path}: unsupported credential version ${String(o.version)}`);
  const str = (k: string, pem?: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || !v) throw invalid(field, `${path}: ${k} must be a non-empty string`);
    if (pem && !v.includes(`-----BEGIN ${pem}-----`)) throw invalid(field, `${path}: ${k} must be a PEM ${pem}`);
    return v;
  };
  return {
    kind: CREDENTIAL_KIND,
    version: 1,
    name: str('name'),
    role: str('role'),
    key: str('key', 'PRIVATE KEY'),
    cert: str('cert', 'CERTIFICATE'),
    ca: str('ca', 'CERTIFICATE'),
    serial: str('serial'),
    notAfter: str('notAfter'),
  };
}

/** TLS material from --credential, or from --cert, --key and --ca (all three). */
export function clientTlsFrom(o: { credential?: string; cert?: string; key?: string; ca?: string }): ClientTls | undefined {
  if (o.credential) {
    if (o.cert || o.key || o.ca) throw invalid('--credential', 'give either --credential or --cert/--key/--ca, not both');
    const c = readCredentialFile(o.credential);
    return { keyPem: c.key, certPem: c.cert, caPem: c.ca };
  }
  const given = [o.cert, o.key, o.ca].filter(Boolean).length;
  if (given === 0) return undefined;
  if (given !== 3) throw invalid('--cert', '--cert, --key and --ca go together (or one --credential file)');
  const read = (p: string, field: string, pem: string) => {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (err) {
      throw invalid(field, `cannot read ${p}: ${(err as Error).message}`);
    }
    if (!text.includes(`-----BEGIN ${pem}-----`)) throw invalid(field, `${p} is not a PEM ${pem}`);
    return text;
  };
  checkOwnerOnly(o.key!, '--key');
  return { keyPem: read(o.key!, '--key', 'PRIVATE KEY'), certPem: read(o.cert!, '--cert', 'CERTIFICATE'), caPem: read(o.ca!, '--ca', 'CERTIFICATE') };
}
