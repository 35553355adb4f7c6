// Keeps the gateway's certificate from running out. When less than a third
// of its lifetime is left (or a configured time), the agent makes a new key
// pair here, on the gateway (the private key never leaves it), sends a CSR
// over its open session, checks what comes back (signed by the CA it
// already trusts, for its own key and gateway, lasting longer than the old
// one), writes the bundle atomically and durably, and reconnects with the
// new certificate. The table is untouched throughout: a reconnect is just a
// new Hello. Failures are retried with backoff, louder as the end nears.
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseBundle, type AgentBundle } from '../../common/bundle.js';
import { SystemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { SPIFFE_PREFIX } from '../../controller/ca/ca.js';
import { x509 } from '../../controller/ca/x509.js';
import type { CertificateIssued } from '../../proto/gen/switchback/v1/session.js';
import { backoffDelay, type BackoffOptions, type ControlListener } from './control-client.js';
import type { TlsCredentials } from './transport.js';

const log = createLogger('control');
const subtle = webcrypto.subtle;
const KEY_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Timers are re-armed at least this often: Node's timers cannot wait the weeks a certificate lasts. */
const MAX_TIMER_MS = 3_600_000;
export const DEFAULT_RENEW_FRACTION = 1 / 3;
export const DEFAULT_RENEW_RETRY: BackoffOptions = { initialMs: 10_000, maxMs: 3_600_000 };

/** What the renewer needs of the control client (ControlClient fits). */
export interface RenewalClient {
  readonly connected: boolean;
  on(l: ControlListener): () => void;
  requestCertificate(csrPem: string): boolean;
  useCredentials(tls: TlsCredentials): boolean;
}

export interface CertRenewerOptions {
  /** Where the bundle lives; it is rewritten in place on renewal. */
  bundlePath: string;
  /** The bundle as loaded (its key, certificate and CA are in use). */
  bundle: AgentBundle;
  client: RenewalClient;
  clock?: Clock;
  random?: () => number;
  /** Renew when less than this fraction of the certificate's lifetime is left (default 1/3). */
  renewFraction?: number;
  /** Renew when less than this time is left (instead of the fraction). */
  renewBeforeMs?: number;
  /** Time for the controller to answer a CSR (default 30 s). */
  answerTimeoutMs?: number;
  retry?: Partial<BackoffOptions>;
}

export interface CertRenewerStats {
  requests: number;
  renewed: number;
  failures: number;
}

interface Current {
  keyPem: string;
  certPem: string;
  notBeforeMs: number;
  notAfterMs: number;
}

/** Validity of a PEM certificate, in Unix milliseconds. */
export function certificateValidity(pem: string): { notBeforeMs: number; notAfterMs: number } {
  const x = new X509Certificate(pem);
  return { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) };
}

export class CertRenewer {
  readonly stats: CertRenewerStats = { requests: 0, renewed: 0, failures: 0 };
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retry: BackoffOptions;
  private readonly ca: X509Certificate;
  private readonly gatewayId: string;
  private current: Current;
  /** The key of the renewal under way: kept across retries, so a late answer still fits it. */
  private pending: { keys: webcrypto.CryptoKeyPair; keyPem: string; csrPem: string } | undefined;
  /** A CSR is out and its answer awaited. */
  private asked = false;
  private attempt = 0;
  private timer: TimerHandle | undefined;
  private answerTimer: TimerHandle | undefined;
  private off: (() => void) | undefined;
  private running = false;
  private announced = false;
  /** One step at a time: key generation and file writes are awaited. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CertRenewerOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.random = opts.random ?? Math.random;
    this.retry = { ...DEFAULT_RENEW_RETRY, ...opts.retry };
    this.gatewayId = opts.bundle.gatewayId;
    this.ca = new X509Certificate(opts.bundle.ca);
    this.current = { keyPem: opts.bundle.key, certPem: opts.bundle.cert, ...certificateValidity(opts.bundle.cert) };
  }

  /** Unix ms at which the certificate in use ends. */
  get notAfterMs(): number {
    return this.current.notAfterMs;
  }

  /** Unix ms from which the certificate in use is renewed. */
  get renewAtMs(): number {
    const c = this.current;
    const before = this.opts.renewBeforeMs ?? (c.notAfterMs - c.notBeforeMs) * (this.opts.renewFraction ?? DEFAULT_RENEW_FRACTION);
    return c.notAfterMs - before;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.off = this.opts.client.on((e) => {
      if (e.type === 'certificate') this.step(() => this.answered(e.certificate));
      // A CSR out when the session ended may have lost its answer: ask again on the next session.
      else if (e.type === 'connected' && this.pending) this.step(() => this.ask());
      else if (e.type === 'disconnected' && this.asked) this.asked = false;
    });
    this.schedule(0);
  }

  stop(): Promise<void> {
    this.running = false;
    this.off?.();
    this.clearTimers();
    return this.chain;
  }

  private step(fn: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(() => (this.running ? fn() : undefined))
      .catch((err) => this.failed(`renewal step failed: ${(err as Error).message}`));
  }

  /** Checks again in `ms` (at most an hour: the clock may jump, timers cannot wait weeks). */
  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.step(() => this.check());
    }, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  }

  private async check(): Promise<void> {
    const now = this.clock.wallMs();
    const due = this.renewAtMs;
    if (now < due) return this.schedule(due - now);
    if (!this.announced) {
      this.announced = true;
      const fields = { gateway: this.gatewayId, notAfter: iso(this.current.notAfterMs), left: span(this.current.notAfterMs - now) };
      if (now >= this.current.notAfterMs) {
        // Over gRPC the handshake now fails, so no session can carry the CSR; NATS (NKey) still can.
        log.error('certificate has EXPIRED: the controller refuses it over gRPC; renewing over a session if one opens, else enroll the gateway again (switchback ctl enroll)', fields);
      } else {
        log.info('certificate nears its end: renewing it over the session', fields);
      }
    }
    if (!this.pending) {
      const keys = (await subtle.generateKey(KEY_ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${this.gatewayId}`,
        keys: keys as unknown as CryptoKeyPair,
        signingAlgorithm: SIGN_ALG,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: SPIFFE_PREFIX + this.gatewayId }])],
      });
      const keyPem = x509.PemConverter.encode(await subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
      this.pending = { keys, keyPem, csrPem: csr.toString('pem') };
    }
    this.ask();
  }

  /** Sends the CSR if a session is open (else the next 'connected' does), and waits for the answer. */
  private ask(): void {
    if (!this.pending || this.asked) return;
    if (!this.opts.client.connected) {
      log.debug('certificate renewal waits for a controller session', { gateway: this.gatewayId });
      return;
    }
    if (!this.opts.client.requestCertificate(this.pending.csrPem)) return;
    this.asked = true;
    this.stats.requests++;
    log.debug('sent a certificate request', { gateway: this.gatewayId });
    if (this.answerTimer) this.clock.clearTimeout(this.answerTimer);
    this.answerTimer = this.clock.setTimeout(() => {
      this.answerTimer = undefined;
      if (this.asked) this.step(() => this.failed(`the controller did not answer the certificate request in ${this.opts.answerTimeoutMs ?? 30_000} ms`));
    }, this.opts.answerTimeoutMs ?? 30_000);
  }

  private async answered(c: CertificateIssued): Promise<void> {
    const p = this.pending;
    if (!p) {
      log.warn('ignored a certificate nobody asked for', { gateway: this.gatewayId, serial: c.serial });
      return;
    }
    let v: { notBeforeMs: number; notAfterMs: number };
    try {
      v = this.verify(c, p.keyPem);
    } catch (err) {
      return this.failed(`refused the issued certificate: ${(err as Error).message}`);
    }
    const bundle = { ...this.onDisk(), key: p.keyPem, cert: c.certPem, serial: c.serial, notAfter: iso(v.notAfterMs) };
    try {
      writeFileDurably(this.opts.bundlePath, JSON.stringify(bundle, null, 2) + '\n');
    } catch (err) {
      return this.failed(`cannot write the renewed bundle ${this.opts.bundlePath}: ${(err as Error).message}`);
    }
    this.clearTimers();
    this.pending = undefined;
    this.asked = false;
    this.attempt = 0;
    this.announced = false;
    this.current = { keyPem: p.keyPem, certPem: c.certPem, ...v };
    this.stats.renewed++;
    const reconnecting = this.opts.client.useCredentials({ keyPem: p.keyPem, certPem: c.certPem, caPem: this.opts.bundle.ca });
    log.info(reconnecting ? 'certificate renewed; reconnecting with it' : 'certificate renewed (the session does not use it: NATS authenticates with the NKey)', {
      gateway: this.gatewayId,
      serial: c.serial,
      notAfter: iso(v.notAfterMs),
      bundle: this.opts.bundlePath,
    });
    this.schedule(this.renewAtMs - this.clock.wallMs());
  }

  /** The issued certificate is for our new key and gateway, signed by our CA, valid now and beyond the old one. */
  private verify(c: CertificateIssued, keyPem: string): { notBeforeMs: number; notAfterMs: number } {
    let x: X509Certificate;
    try {
      x = new X509Certificate(c.certPem);
    } catch (err) {
      throw new SwitchbackError('INVALID_ARGUMENT', `not a certificate: ${(err as Error).message}`);
    }
    if (!x.checkIssued(this.ca) || !x.verify(this.ca.publicKey)) throw new SwitchbackError('PERMISSION_DENIED', 'not signed by the controller CA of the bundle');
    if (!x.checkPrivateKey(createPrivateKey(keyPem))) throw new SwitchbackError('INVALID_ARGUMENT', 'not for the key this gateway made');
    if (x.subject !== `CN=${this.gatewayId}` || x.subjectAltName !== `URI:${SPIFFE_PREFIX}${this.gatewayId}`) {
      throw new SwitchbackError('PERMISSION_DENIED', `names '${x.subject}' / '${x.subjectAltName ?? ''}', not gateway '${this.gatewayId}'`);
    }
    const v = certificateValidity(c.certPem);
    const now = this.clock.wallMs();
    if (now < v.notBeforeMs || now >= v.notAfterMs) throw new SwitchbackError('INVALID_ARGUMENT', `not valid now (${iso(v.notBeforeMs)} to ${iso(v.notAfterMs)})`);
    if (v.notAfterMs <= this.current.notAfterMs) throw new SwitchbackError('INVALID_ARGUMENT', `ends ${iso(v.notAfterMs)}, no later than the current one`);
    return v;
  }

  /** The bundle file as it is now (its controller addresses may have been edited), else the one loaded. */
  private onDisk(): AgentBundle {
    try {
      const b = parseBundle(readFileSync(this.opts.bundlePath, 'utf8'), this.opts.bundlePath);
      if (b.gatewayId === this.gatewayId) return b;
    } catch {
      // Unreadable or replaced: the loaded bundle is what this agent runs on.
    }
    return this.opts.bundle;
  }

  private failed(reason: string): void {
    this.asked = false;
    if (this.answerTimer) this.clock.clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
    this.stats.failures++;
    const left = this.current.notAfterMs - this.clock.wallMs();
    const lifetime = this.current.notAfterMs - this.current.notBeforeMs;
    const wait = backoffDelay(this.attempt++, this.retry, this.random);
    const fields = { gateway: this.gatewayId, reason, notAfter: iso(this.current.notAfterMs), left: span(left), attempt: this.attempt, retryInMs: Math.round(wait) };
    if (left <= 0) log.error('certificate has EXPIRED and renewal failed: the controller refuses it over gRPC; enroll the gateway again (switchback ctl enroll)', fields);
    else if (left < lifetime / 10) log.error('certificate expires soon and renewal keeps failing', fields);
    else log.warn('certificate renewal failed; will retry', fields);
    this.schedule(wait);
  }

  private clearTimers(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.answerTimer) this.clock.clearTimeout(this.answerTimer);
    this.timer = this.answerTimer = undefined;
  }
}

/**
 * Replaces `path` with `text` so that a crash or power cut leaves the old
 * file or the new one, never half of one: a 0600 temporary file, synced,
 * renamed over the old one, and the directory synced.
 */
export function writeFileDurably(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (Math.abs(s) >= 86_400) return `${(s / 86_400).toFixed(1)} d`;
  if (Math.abs(s) >= 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${s} s`;
}
