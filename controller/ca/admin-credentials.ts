// Client certificates for the people and tools that use the admin API,
// signed by the controller CA. The name and role travel in SAN URIs
// (urn:switchback:user:<name>, urn:switchback:role:<role>), never in the
// SPIFFE gateway URI, and every serial is recorded in the store: a gateway
// certificate cannot pass for a person here, and a person's certificate
// cannot pass for a gateway on the southbound side (whose check wants the
// gateway URI and an enrolled serial).
import { webcrypto } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Clock } from '../../common/clock.js';
import { invalid, notFound, SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { parseRole, type Role } from '../northbound/admin-roles.js';
import type { AdminCredential, CaStore } from '../store/store.js';
import { DEFAULT_VALIDITY_DAYS, normalizeSerial, SPIFFE_PREFIX, type GatewayCa } from './ca.js';
import { x509 } from './x509.js';

const log = createLogger('ca');
const subtle = webcrypto.subtle;
const DAY_MS = 86_400_000;

export const USER_URI = 'urn:switchback:user:';
export const ROLE_URI = 'urn:switchback:role:';
/** Lower-case, no '@' or ':': journal actors of people never look like 'x@local' or 'agent:x'. */
export const USER_NAME_PATTERN = /^[a-z][a-z0-9._-]{0,62}$/;
/** Names the controller itself writes into the journal. */
const RESERVED_NAMES = new Set(['local', 'bootstrap', 'dashboard', 'controller', 'anonymous']);

export interface IssuedAdminCredential {
  name: string;
  role: Role;
  keyPem: string;
  certPem: string;
  caPem: string;
  serial: string;
  notAfterMs: number;
}

export interface AdminIdentity {
  name: string;
  role: Role;
  serial: string;
}

export class AdminCredentials {
  constructor(
    private readonly ca: GatewayCa,
    private readonly store: CaStore,
    private readonly clock: Clock,
  ) {}

  /** A new key and certificate for `name` with `role`. */
  async issue(name: string, role: string, validityDays = DEFAULT_VALIDITY_DAYS, issuedBy = 'controller'): Promise<IssuedAdminCredential> {
    if (!USER_NAME_PATTERN.test(name)) throw invalid('name', `'${name}' is not a user name (lower-case letters, digits, '.', '_', '-'; starts with a letter)`);
    if (RESERVED_NAMES.has(name)) throw invalid('name', `'${name}' is reserved for the controller's own journal entries`);
    const r = parseRole(role);
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 3650) {
      throw invalid('validityDays', `must be a whole number of days in 1..3650, got ${validityDays}`);
    }
    const keys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = this.clock.wallMs();
    const caNotAfter = new x509.X509Certificate(this.ca.caPem).notAfter.getTime();
    const notAfterMs = Math.min(now + validityDays * DAY_MS, caNotAfter);
    const cert = await this.ca.sign({
      subject: `CN=${name}, OU=switchback ${r}`,
      publicKey: keys.publicKey,
      notAfterMs,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'url', value: USER_URI + name },
          { type: 'url', value: ROLE_URI + r },
        ]),
      ],
    });
    const serial = normalizeSerial(cert.serialNumber);
    this.store.putAdminCredential({ serial, name, role: r, issuedMs: now, notAfterMs, issuedBy });
    log.info('issued admin credential', { name, role: r, serial, notAfter: new Date(notAfterMs).toISOString() });
    const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    return { name, role: r, keyPem, certPem: cert.toString('pem'), caPem: this.ca.caPem, serial, notAfterMs };
  }

  /** Refuses every credential issued to `name` from now on; returns their serials. */
  revoke(name: string): string[] {
    const now = this.clock.wallMs();
    const mine = [...this.store.adminCredentials().values()].filter((c) => c.name === name && c.revokedMs === undefined);
    if (mine.length === 0) throw notFound('admin credential of user', name);
    for (const c of mine) this.store.putAdminCredential({ ...c, revokedMs: now });
    log.warn('revoked admin credentials', { name, serials: mine.map((c) => c.serial).join(',') });
    return mine.map((c) => c.serial);
  }

  list(): AdminCredential[] {
    return [...this.store.adminCredentials().values()];
  }

  /**
   * The person a TLS client certificate speaks for, after the handshake
   * checked the chain and dates: a gateway certificate is refused by name,
   * and the serial must be one this controller issued and did not revoke.
   */
  identify(peer: PeerCertificate | undefined): AdminIdentity {
    if (!peer || !peer.raw) throw new SwitchbackError('UNAUTHENTICATED', 'the admin API needs a client certificate (switchback ctl --credential FILE)');
    const uris = (peer.subjectaltname ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
    const gateway = uris.find((u) => u.startsWith(SPIFFE_PREFIX));
    if (gateway) {
      throw new SwitchbackError('PERMISSION_DENIED', `a gateway certificate (gateway '${gateway.slice(SPIFFE_PREFIX.length)}') cannot call the admin API; use an admin credential (switchback ctl credential issue)`);
    }
    const users = uris.filter((u) => u.startsWith(USER_URI)).map((u) => u.slice(USER_URI.length));
    const roles = uris.filter((u) => u.startsWith(ROLE_URI)).map((u) => u.slice(ROLE_URI.length));
    if (users.length !== 1 || roles.length !== 1) {
      throw new SwitchbackError('UNAUTHENTICATED', `client certificate (CN '${peer.subject?.CN ?? ''}') is not an admin credential of this controller`);
    }
    const sn = normalizeSerial(peer.serialNumber ?? '');
    const rec = this.store.adminCredentials().get(sn);
    if (!rec || rec.name !== users[0] || rec.role !== roles[0]) {
      throw new SwitchbackError('PERMISSION_DENIED', `certificate ${sn} of '${users[0]}' was not issued by this controller`);
    }
    if (rec.revokedMs !== undefined) throw new SwitchbackError('PERMISSION_DENIED', `certificate ${sn} of '${rec.name}' is revoked`);
    if (rec.notAfterMs <= this.clock.wallMs()) throw new SwitchbackError('UNAUTHENTICATED', `certificate ${sn} of '${rec.name}' expired`);
    return { name: rec.name, role: parseRole(rec.role), serial: sn };
  }
}
