// The controller's small CA: one ECDSA P-256 key that signs a certificate per
// gateway (identity in the CN and a SPIFFE-style SAN URI) and the
// controller's own server certificate. Key and certificate live in the
// controller's LMDB store next to the link keys (same secrecy, one backup,
// and a revocation is committed atomically with nothing else to keep in
// step); the data directory is made 0700. X.509 is built by @peculiar/x509
// on Node's WebCrypto, never by hand.
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { nkeys } from 'nats';
import type { Clock } from '../../common/clock.js';
import { invalid, SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { ControllerEvent } from '../events.js';
import type { CaMaterial, CaStore, Enrollment } from '../store/store.js';
import { ID_PATTERN } from '../topology/topology-check.js';
import { x509 } from './x509.js';

const log = createLogger('ca');
const subtle = webcrypto.subtle;
const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Certificates start a little in the past so that a skewed gateway clock accepts them. */
const BACKDATE_MS = 5 * 60_000;
const CA_VALIDITY_DAYS = 3650;
export const DEFAULT_VALIDITY_DAYS = 90;
export const SPIFFE_PREFIX = 'spiffe://switchback/gateway/';
/** Serials of one gateway accepted at once: the current certificate, its renewal, and slack. */
const MAX_LIVE_SERIALS = 4;

export interface IssuedCredentials {
  gatewayId: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  serial: string;
  notAfterMs: number;
  /** NKey seed of the gateway's NATS user (public key in `switchback ctl nats-config`). */
  natsSeed: string;
}

export interface ServerCredentialsPem {
  keyPem: string;
  certPem: string;
}

/** Serial numbers as Node's TLS prints them: upper-case hex, no leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, '').toUpperCase().replace(/^0+(?=.)/, '');
}

export class GatewayCa {
  private constructor(
    private readonly store: CaStore,
    private readonly clock: Clock,
    private readonly emit: (e: ControllerEvent) => void,
    private readonly caKey: webcrypto.CryptoKey,
    private readonly caCert: x509.X509Certificate,
    private readonly material: CaMaterial,
  ) {}

  /** Opens the CA kept in `store`, creating key and certificate on first start. */
  static async open(store: CaStore, clock: Clock, emit: (e: ControllerEvent) => void): Promise<GatewayCa> {
    let m = store.caMaterial();
    if (!m) {
      const keys = (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const now = clock.wallMs();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serial(),
        name: `CN=Switchback controller CA ${new Date(now).toISOString().slice(0, 10)}`,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
        signingAlgorithm: SIGN_ALG,
        keys: keys as unknown as CryptoKeyPair,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as CryptoKey),
        ],
      });
      m = {
        keyPem: await exportKeyPem(keys.privateKey),
        certPem: cert.toString('pem'),
        natsSeed: new TextDecoder().decode(nkeys.createUser().getSeed()),
        createdMs: now,
      };
      store.putCaMaterial(m);
      log.info('created controller CA', { subject: cert.subject, notAfter: cert.notAfter.toISOString() });
    }
    const key = await subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(m.keyPem), KEY_ALG, false, ['sign']);
    return new GatewayCa(store, clock, emit, key, new x509.X509Certificate(m.certPem), m);
  }

  get caPem(): string {
    return this.material.certPem;
  }

  /** The seed the controller's own NATS connection authenticates with. */
  get controllerNatsSeed(): string {
    return this.material.natsSeed;
  }

  get controllerNatsPublicKey(): string {
    return nkeys.fromSeed(new TextEncoder().encode(this.material.natsSeed)).getPublicKey();
  }

  enrollments(): Map<string, Enrollment> {
    return this.store.enrollments();
  }

  isRevoked(gatewayId: string): boolean {
    return this.store.enrollment(gatewayId)?.revokedMs !== undefined;
  }

  /**
   * A new key and certificate for a gateway (and new NATS credentials). An
   * earlier certificate of the same gateway stays valid until it expires or
   * the gateway is revoked; enrolling a revoked gateway lifts the revocation
   * for the new certificate only.
   */
  async enroll(gatewayId: string, validityDays = DEFAULT_VALIDITY_DAYS): Promise<IssuedCredentials> {
    if (!ID_PATTERN.test(gatewayId)) throw invalid('gatewayId', `'${gatewayId}' is not a gateway id`);
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 3650) {
      throw invalid('validityDays', `must be a whole number of days in 1..3650, got ${validityDays}`);
    }
    const keys = (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = this.clock.wallMs();
    const notAfterMs = Math.floor(Math.min(now + validityDays * DAY_MS, this.caCert.notAfter.getTime()) / 1000) * 1000;
    const cert = await this.sign({
      subject: `CN=${gatewayId}`,
      publicKey: keys.publicKey,
      notAfterMs,
      extensions: gatewayExtensions(gatewayId),
    });
    const nats = nkeys.createUser();
    const sn = normalizeSerial(cert.serialNumber);
    const prev = this.store.enrollment(gatewayId);
    this.store.putEnrollment({
      gatewayId,
      serials: [...(prev?.revokedMs === undefined ? (prev?.serials ?? []) : []), sn],
      revokedSerials: prev?.revokedMs === undefined ? (prev?.revokedSerials ?? []) : [...prev.revokedSerials, ...prev.serials],
      natsPublicKey: nats.getPublicKey(),
      issuedMs: now,
      notAfterMs,
    });
    log.info('enrolled gateway', { gateway: gatewayId, serial: sn, notAfter: new Date(notAfterMs).toISOString() });
    return {
      gatewayId,
      keyPem: await exportKeyPem(keys.privateKey),
      certPem: cert.toString('pem'),
      caPem: this.caPem,
      serial: sn,
      notAfterMs,
      natsSeed: new TextDecoder().decode(nats.getSeed()),
    };
  }

  /**
   * Renewal: a certificate for a key the gateway made itself (its CSR was
   * checked by the caller). The serial joins the gateway's accepted ones, so
   * a revocation refuses old and renewed certificates alike; the NATS
   * credentials stay. Only the newest few serials stay accepted: an older
   * one has been replaced twice over.
   */
  async renew(gatewayId: string, publicKey: webcrypto.CryptoKey, validityDays = DEFAULT_VALIDITY_DAYS): Promise<{ certPem: string; serial: string; notAfterMs: number }> {
    const prev = this.store.enrollment(gatewayId);
    if (!prev || prev.revokedMs !== undefined || prev.serials.length === 0) {
      throw new SwitchbackError('PERMISSION_DENIED', `gateway '${gatewayId}' is ${prev?.revokedMs !== undefined ? 'revoked' : 'not enrolled'}: no renewal`);
    }
    const now = this.clock.wallMs();
    // X.509 times are whole seconds: keep what the certificate says.
    const notAfterMs = Math.floor(Math.min(now + validityDays * DAY_MS, this.caCert.notAfter.getTime()) / 1000) * 1000;
    const cert = await this.sign({ subject: `CN=${gatewayId}`, publicKey, notAfterMs, extensions: gatewayExtensions(gatewayId) });
    const sn = normalizeSerial(cert.serialNumber);
    // Read again: a revocation may have landed while the certificate was signed.
    const cur = this.store.enrollment(gatewayId);
    if (!cur || cur.revokedMs !== undefined) throw new SwitchbackError('PERMISSION_DENIED', `gateway '${gatewayId}' was revoked during renewal`);
    this.store.putEnrollment({ ...cur, serials: [...cur.serials, sn].slice(-MAX_LIVE_SERIALS), issuedMs: now, notAfterMs });
    log.info('renewed gateway certificate', { gateway: gatewayId, serial: sn, notAfter: new Date(notAfterMs).toISOString() });
    return { certPem: cert.toString('pem'), serial: sn, notAfterMs };
  }

  /**
   * Refuses every certificate and the NATS credentials issued to the
   * gateway so far, and its sessions on every transport (also one that was
   * never enrolled, e.g. under --insecure). The caller checks that the
   * gateway exists.
   */
  revoke(gatewayId: string): Enrollment {
    const prev = this.store.enrollment(gatewayId) ?? { gatewayId, serials: [], revokedSerials: [], natsPublicKey: '', issuedMs: 0, notAfterMs: 0 };
    const next: Enrollment = {
      ...prev,
      serials: [],
      revokedSerials: [...prev.revokedSerials, ...prev.serials],
      natsPublicKey: '',
      revokedMs: prev.revokedMs ?? this.clock.wallMs(),
    };
    this.store.putEnrollment(next);
    log.warn('revoked gateway', { gateway: gatewayId, serials: prev.serials.join(',') });
    this.emit({ type: 'revoked', gatewayId });
    return next;
  }

  /**
   * The gateway a TLS client certificate speaks for, after the handshake
   * checked the chain: the SAN URI names it and its serial must be one the
   * CA issued to that gateway and did not revoke.
   */
  identify(peer: PeerCertificate | undefined): string {
    if (!peer || !peer.raw) throw new SwitchbackError('UNAUTHENTICATED', 'no client certificate');
    const uri = (peer.subjectaltname ?? '').split(/,\s*/).find((s) => s.startsWith('URI:' + SPIFFE_PREFIX));
    const gatewayId = uri?.slice(4 + SPIFFE_PREFIX.length) ?? '';
    if (!ID_PATTERN.test(gatewayId) || peer.subject?.CN !== gatewayId) {
      throw new SwitchbackError('UNAUTHENTICATED', `client certificate does not name a gateway (CN '${peer.subject?.CN ?? ''}')`);
    }
    const e = this.store.enrollment(gatewayId);
    const sn = normalizeSerial(peer.serialNumber ?? '');
    if (e?.revokedMs !== undefined || e?.revokedSerials.includes(sn)) {
      throw new SwitchbackError('PERMISSION_DENIED', `certificate ${sn} of gateway '${gatewayId}' is revoked`);
    }
    if (!e?.serials.includes(sn)) {
      throw new SwitchbackError('PERMISSION_DENIED', `certificate ${sn} was not issued to gateway '${gatewayId}' by this controller`);
    }
    return gatewayId;
  }

  /** A fresh server certificate for the southbound listener, valid for `names` (hosts and IPs). */
  async serverCredentials(names: readonly string[]): Promise<ServerCredentialsPem> {
    const keys = (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const all = [...new Set(['localhost', '127.0.0.1', '::1', ...names].filter((n) => n && n !== '0.0.0.0' && n !== '::'))];
    const cert = await this.sign({
      subject: 'CN=switchback-controller',
      publicKey: keys.publicKey,
      notAfterMs: Math.min(this.clock.wallMs() + 365 * DAY_MS, this.caCert.notAfter.getTime()),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(all.map((n) => ({ type: isIP(n) ? ('ip' as const) : ('dns' as const), value: n }))),
      ],
    });
    return { keyPem: await exportKeyPem(keys.privateKey), certPem: cert.toString('pem') };
  }

  /** Signs a leaf certificate with the CA key (gateway, server and admin credentials). */
  async sign(p: { subject: string; publicKey: webcrypto.CryptoKey; notAfterMs: number; extensions: x509.Extension[] }) {
    const now = this.clock.wallMs();
    return x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: p.subject,
      issuer: this.caCert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(p.notAfterMs),
      signingAlgorithm: SIGN_ALG,
      publicKey: p.publicKey as unknown as CryptoKey,
      signingKey: this.caKey as unknown as CryptoKey,
      extensions: [
        ...p.extensions,
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert),
        await x509.SubjectKeyIdentifierExtension.create(p.publicKey as unknown as CryptoKey),
      ],
    });
  }
}

/** A gateway certificate: client auth only, identity in a SPIFFE-style SAN URI (and the CN). */
function gatewayExtensions(gatewayId: string): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: SPIFFE_PREFIX + gatewayId }]),
  ];
}

/** 16 random bytes, first bit clear (serials are positive) and first byte non-zero. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x10;
  return b.toString('hex');
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}
