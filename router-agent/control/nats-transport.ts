// The agent's session over NATS. Hello is a request on sb.<gw>.hello;
// pushes arrive on sb.<gw>.ctl; acks and reports go to sb.<gw>.rpt. There is
// no connection to the controller to watch, so the session is over when the
// controller says so (a Refusal), when its heartbeat on sb.beat stops or
// shows a new epoch (it restarted and forgot us), or when the NATS
// connection comes back after a break (pushes may have been lost). The table bucket is read with
// one JetStream direct get of the gateway's own key, which is all the
// gateway's credentials allow.
import { connect, nkeyAuthenticator, type NatsConnection, type Subscription } from 'nats';
import { SwitchbackError, type ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { SessionRequest, SessionResponse, TableSnapshot, type Hello } from '../../proto/gen/switchback/v1/session.js';
import { BEAT_SUBJECT, subjects } from '../../controller/southbound/nats-subjects.js';
import type { ControlSession, ControlTransport, SessionHandlers } from './transport.js';

const log = createLogger('control');

export interface NatsTransportOptions {
  servers: string | string[];
  gatewayId: string;
  /** The gateway's NKey seed (from its bundle); none for a server without authorization. */
  nkeySeed?: string;
  /** Time for the controller to answer the Hello (default 5 s). */
  helloTimeoutMs?: number;
  /** The session is over when no controller heartbeat came for this long (default 6 s: three beats). */
  beatTimeoutMs?: number;
}

const KNOWN_CODES = new Set<ErrorCode>(['INVALID_ARGUMENT', 'NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'PERMISSION_DENIED', 'UNAUTHENTICATED', 'STALE_EPOCH', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'INTERNAL']);

export class NatsTransport implements ControlTransport {
  readonly name = 'nats';
  private readonly subj: ReturnType<typeof subjects>;
  private nc: NatsConnection | undefined;
  private connecting: Promise<NatsConnection> | undefined;
  private subs: Subscription[] = [];
  private current: { handlers: SessionHandlers; epoch: number } | undefined;
  private early: SessionResponse[] | undefined;
  private lastBeat = 0;
  private beatTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: NatsTransportOptions) {
    this.subj = subjects(opts.gatewayId);
  }

  async open(hello: Hello, handlers: SessionHandlers): Promise<ControlSession> {
    const nc = await this.connection();
    // Pushes that overtake the Hello's answer (it resolves a promise, they
    // arrive by callback) wait here and follow the answer.
    const early: SessionResponse[] = [];
    this.early = early;
    let reply;
    try {
      reply = await nc.request(this.subj.hello, SessionRequest.encode({ body: { $case: 'hello', hello } }).finish(), { timeout: this.opts.helloTimeoutMs ?? 5_000 });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const why = e.code === '503' ? 'no controller is listening' : e.code === 'TIMEOUT' ? 'the controller did not answer' : (e.message ?? String(err));
      throw new SwitchbackError('UNAVAILABLE', `Hello over NATS: ${why}`, { cause: err });
    } finally {
      if (this.early === early) this.early = undefined;
    }
    let m: SessionResponse;
    try {
      m = SessionResponse.decode(reply.data);
    } catch (err) {
      throw new SwitchbackError('INTERNAL', `corrupt answer to Hello: ${(err as Error).message}`);
    }
    if (m.body?.$case === 'refusal') throw refusalError(m.body.refusal);
    const session = { handlers, epoch: m.epoch };
    this.current = session;
    this.lastBeat = Date.now();
    this.watchBeat();
    for (const x of [m, ...early]) setImmediate(() => this.current === session && handlers.message(x));
    return {
      send: (req) => {
        if (this.current === session) this.publish(this.subj.report, SessionRequest.encode(req).finish());
      },
      close: () => {
        if (this.current === session) this.current = undefined;
      },
    };
  }

  async fetchLatest(): Promise<TableSnapshot | undefined> {
    const nc = await this.connection();
    const m = await nc.request(this.subj.kvDirectGet, new Uint8Array(0), { timeout: 2_000 });
    const status = m.headers?.code ?? 0;
    if (status === 404) return undefined;
    if (status >= 400) throw new SwitchbackError('UNAVAILABLE', `KV get: ${status} ${m.headers?.description ?? ''}`);
    // A deleted or purged entry (the gateway was revoked) leaves a marker, not a table.
    const op = m.headers?.get('KV-Operation');
    if (op === 'DEL' || op === 'PURGE') return undefined;
    try {
      return TableSnapshot.decode(m.data);
    } catch (err) {
      throw new SwitchbackError('INTERNAL', `corrupt table in the KV bucket: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.current = undefined;
    clearInterval(this.beatTimer);
    const nc = this.nc ?? (await this.connecting?.catch(() => undefined));
    this.nc = undefined;
    await nc?.close();
  }

  private end(reason: SwitchbackError): void {
    const s = this.current;
    if (!s) return;
    this.current = undefined;
    setImmediate(() => s.handlers.closed(reason));
  }

  private connection(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(new SwitchbackError('UNAVAILABLE', 'transport closed'));
    if (this.nc) return Promise.resolve(this.nc);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<NatsConnection> {
    const servers = Array.isArray(this.opts.servers) ? this.opts.servers : [this.opts.servers];
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: `switchback-agent-${this.opts.gatewayId}`,
        inboxPrefix: this.subj.inboxPrefix,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        // A server that drops us during the handshake (authorization
        // timeout) would otherwise hold this attempt for 20 s.
        timeout: 10_000,
        ...(this.opts.nkeySeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(this.opts.nkeySeed)) } : {}),
      });
    } catch (err) {
      throw new SwitchbackError('UNAVAILABLE', `cannot connect to NATS ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    if (this.closed) {
      await nc.close();
      throw new SwitchbackError('UNAVAILABLE', 'transport closed');
    }
    this.subs = [
      nc.subscribe(this.subj.control, { callback: (err, msg) => !err && this.onControl(msg.data) }),
      nc.subscribe(BEAT_SUBJECT, { callback: (err, msg) => !err && this.onBeat(msg.data) }),
    ];
    (async () => {
      for await (const st of nc.status()) {
        // Pushes sent while we were away are lost: resync with a new Hello.
        if (st.type === 'reconnect') this.end(new SwitchbackError('UNAVAILABLE', 'NATS connection was re-established'));
        else if (st.type === 'error' || st.type === 'pingTimer') log.debug('NATS status', { type: st.type, data: String(st.data) });
      }
    })().catch(() => undefined);
    nc.closed().then((err) => {
      if (this.nc === nc) this.nc = undefined;
      this.end(new SwitchbackError('UNAVAILABLE', `NATS connection closed${err ? `: ${err.message}` : ''}`));
    });
    this.nc = nc;
    return nc;
  }

  private onControl(data: Uint8Array): void {
    const s = this.current;
    if (!s && !this.early) return;
    let m: SessionResponse;
    try {
      m = SessionResponse.decode(data);
    } catch (err) {
      log.warn('dropped a corrupt control message', { gateway: this.opts.gatewayId, bytes: data.length, reason: (err as Error).message });
      return;
    }
    if (!s) {
      this.early!.push(m);
      return;
    }
    if (m.body?.$case === 'refusal') return this.end(refusalError(m.body.refusal));
    setImmediate(() => this.current === s && s.handlers.message(m));
  }

  /** Ends the session when the controller's heartbeat stops (it died, or we are cut off from it). */
  private watchBeat(): void {
    const limit = this.opts.beatTimeoutMs ?? 6_000;
    if (this.beatTimer) return;
    this.beatTimer = setInterval(() => {
      if (!this.current) {
        clearInterval(this.beatTimer);
        this.beatTimer = undefined;
      } else if (Date.now() - this.lastBeat > limit) {
        this.end(new SwitchbackError('UNAVAILABLE', `no controller heartbeat for ${limit} ms`));
      }
    }, Math.max(50, limit / 4));
    this.beatTimer.unref();
  }

  private onBeat(data: Uint8Array): void {
    this.lastBeat = Date.now();
    const s = this.current;
    if (!s) return;
    let epoch: number;
    try {
      epoch = SessionResponse.decode(data).epoch;
    } catch {
      return;
    }
    if (epoch > s.epoch) this.end(new SwitchbackError('UNAVAILABLE', `controller restarted (epoch ${epoch})`));
  }

  private publish(subject: string, data: Uint8Array): void {
    try {
      this.nc?.publish(subject, data);
    } catch (err) {
      log.warn('NATS publish failed', { subject, reason: (err as Error).message });
    }
  }
}

function refusalError(r: { code: string; message: string }): SwitchbackError {
  const code = KNOWN_CODES.has(r.code as ErrorCode) ? (r.code as ErrorCode) : 'INTERNAL';
  return new SwitchbackError(code, `controller refused: ${r.message}`);
}
