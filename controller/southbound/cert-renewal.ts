// Certificate renewal over the southbound session: an agent whose
// certificate nears its end sends a CSR for a key it made itself; the
// controller checks that the request is signed by that key, names exactly
// the session's gateway and uses a key type the CA issues, then signs it.
// The session authenticated the gateway (mTLS certificate, or the NATS
// subject its credentials allow), so the CSR cannot widen what it may do,
// only move it to a new key. Issuance is limited per gateway, so a rogue
// agent cannot mint certificates in bulk.
import { webcrypto } from 'node:crypto';
import type { Clock } from '../../common/clock.js';
import { SwitchbackError, invalid } from '../../common/errors.js';
import type { CertificateIssued, CertificateRequest } from '../../proto/gen/switchback/v1/session.js';
import { DEFAULT_VALIDITY_DAYS, SPIFFE_PREFIX, type GatewayCa } from '../ca/ca.js';
import { x509 } from '../ca/x509.js';

export const DEFAULT_RENEW_MIN_INTERVAL_MS = 60_000;
/** A P-256 CSR in PEM is under 600 bytes; anything this large is not one. */
const MAX_CSR_PEM = 8192;
/** Key types the CA issues for (and Node's TLS and grpc-js accept for client certificates). */
const ACCEPTED_CURVES = new Set(['P-256', 'P-384']);
const SAN_OID = '2.5.29.17';
/** Requests of one gateway waiting at once; more are refused unread (a flood costs no crypto). */
const MAX_QUEUED = 16;

export interface CertRenewalOptions {
  clock: Clock;
  /** Validity of a renewed certificate (controller.yaml cert_validity_days). */
  validityDays?: number;
  /** At most one certificate per gateway in this time (controller.yaml cert_renew_min_interval_s). */
  minIntervalMs?: number;
  /** Called for every certificate issued, to journal it. */
  issued?: (gatewayId: string, c: CertificateIssued) => void;
}

export interface CertRenewalStats {
  issued: number;
  refused: number;
}

export class CertRenewal {
  readonly stats: CertRenewalStats = { issued: 0, refused: 0 };
  /** Per gateway the request being handled: requests of one gateway are answered one at a time, in order. */
  private readonly busy = new Map<string, { tail: Promise<unknown>; queued: number }>();

  constructor(
    private readonly ca: GatewayCa,
    private readonly opts: CertRenewalOptions,
  ) {}

  /**
   * Checks the request and issues the certificate, or throws the refusal as
   * a SwitchbackError (nothing is stored then). `gatewayId` is the gateway
   * the session authenticated.
   */
  issue(gatewayId: string, req: CertificateRequest): Promise<CertificateIssued> {
    const q = this.busy.get(gatewayId) ?? { tail: Promise.resolve(), queued: 0 };
    if (q.queued >= MAX_QUEUED) {
      this.stats.refused++;
      return Promise.reject(new SwitchbackError('RESOURCE_EXHAUSTED', `gateway '${gatewayId}' has ${q.queued} certificate requests waiting already`));
    }
    const next = q.tail.catch(() => undefined).then(() => this.issueNow(gatewayId, req));
    q.tail = next;
    q.queued++;
    this.busy.set(gatewayId, q);
    const done = () => {
      if (--q.queued === 0 && this.busy.get(gatewayId) === q) this.busy.delete(gatewayId);
    };
    next.then(done, done);
    return next.catch((err) => {
      this.stats.refused++;
      throw err;
    });
  }

  private async issueNow(gatewayId: string, req: CertificateRequest): Promise<CertificateIssued> {
    if (req.gatewayId && req.gatewayId !== gatewayId) {
      throw new SwitchbackError('PERMISSION_DENIED', `certificate request names gateway '${req.gatewayId}' on the session of '${gatewayId}'`);
    }
    const e = this.ca.enrollments().get(gatewayId);
    const minInterval = this.opts.minIntervalMs ?? DEFAULT_RENEW_MIN_INTERVAL_MS;
    const since = this.opts.clock.wallMs() - (e?.issuedMs ?? 0);
    if (e && since >= 0 && since < minInterval) {
      throw new SwitchbackError('RESOURCE_EXHAUSTED', `gateway '${gatewayId}' was issued a certificate ${Math.round(since / 1000)} s ago; at most one per ${Math.round(minInterval / 1000)} s`);
    }
    const publicKey = await checkCsr(req.csrPem, gatewayId);
    const c = await this.ca.renew(gatewayId, publicKey, this.opts.validityDays ?? DEFAULT_VALIDITY_DAYS);
    const issued: CertificateIssued = { certPem: c.certPem, caPem: this.ca.caPem, serial: c.serial, notAfterUnixMs: c.notAfterMs };
    this.stats.issued++;
    this.opts.issued?.(gatewayId, issued);
    return issued;
  }
}

/**
 * The public key of a CSR that is well formed, signed by its own key, of an
 * accepted type, and names exactly `gatewayId` (subject `CN=<id>`, and if it
 * asks for a SAN, only the gateway's URI). Throws INVALID_ARGUMENT or
 * PERMISSION_DENIED otherwise.
 */
export async function checkCsr(csrPem: string, gatewayId: string): Promise<webcrypto.CryptoKey> {
  if (typeof csrPem !== 'string' || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw invalid('certificateRequest.csrPem', 'must be a PEM CERTIFICATE REQUEST');
  }
  if (csrPem.length > MAX_CSR_PEM) throw invalid('certificateRequest.csrPem', `${csrPem.length} characters; a CSR is under ${MAX_CSR_PEM}`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw invalid('certificateRequest.csrPem', `not a PKCS#10 request: ${(err as Error).message}`);
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || !ACCEPTED_CURVES.has(alg.namedCurve ?? '')) {
    const got = [alg.name ?? '?', alg.namedCurve].filter(Boolean).join(' ');
    throw invalid('certificateRequest.csrPem', `key type ${got} is not accepted (ECDSA ${[...ACCEPTED_CURVES].join(' or ')})`);
  }
  let signed: boolean;
  try {
    signed = await csr.verify();
  } catch (err) {
    throw invalid('certificateRequest.csrPem', `signature cannot be checked: ${(err as Error).message}`);
  }
  if (!signed) throw invalid('certificateRequest.csrPem', 'signature does not verify with the key it carries');
  const subject = csr.subject;
  if (subject !== `CN=${gatewayId}`) {
    throw new SwitchbackError('PERMISSION_DENIED', `CSR subject '${subject}' does not name exactly this session's gateway (CN=${gatewayId})`);
  }
  for (const ext of csr.extensions) {
    if (ext.type !== SAN_OID) continue;
    const names = new x509.SubjectAlternativeNameExtension(ext.rawData).names.toJSON();
    if (names.length !== 1 || names[0]!.type !== 'url' || names[0]!.value !== SPIFFE_PREFIX + gatewayId) {
      throw new SwitchbackError('PERMISSION_DENIED', `CSR asks for names ${names.map((n) => `${n.type}:${n.value}`).join(', ')}; only ${SPIFFE_PREFIX}${gatewayId} may be named`);
    }
  }
  try {
    return (await csr.publicKey.export()) as unknown as webcrypto.CryptoKey;
  } catch (err) {
    throw invalid('certificateRequest.csrPem', `public key cannot be read: ${(err as Error).message}`);
  }
}
