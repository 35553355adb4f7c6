// The agent's side of the southbound session. Fail-static: the table it
// holds is only ever replaced by a newer, verified one, never cleared
// because a controller went away; it is loaded from the local store and
// handed to the data plane before any controller contact; and a table
// version is acknowledged only once it is applied and persisted.
import { SystemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import { SwitchbackError, asSwitchbackError } from '../../common/errors.js';
import { applyDelta, tableHash } from '../../common/flow-table.js';
import { createLogger } from '../../common/log.js';
import type { FlowTable, TableDelta } from '../../common/model.js';
import type { CertificateIssued, Counter, LinkReport, SessionRequest, SessionResponse, TableSnapshot } from '../../proto/gen/switchback/v1/session.js';
import type { HeldTable, TableStore } from './local-table-store.js';
import type { ControlSession, ControlTransport, TlsCredentials } from './transport.js';

const log = createLogger('control');

export type ControlEvent =
  /** A table for the data plane: the persisted one at start, then every newer one applied. */
  | { type: 'table'; table: FlowTable; source: 'local' | 'controller' | 'kv' }
  | { type: 'connected'; epoch: number; transport: string }
  | { type: 'disconnected'; reason: string }
  /** The controller's answer to requestCertificate() (control/cert-renewer.ts checks it). */
  | { type: 'certificate'; certificate: CertificateIssued };

export type ControlListener = (e: ControlEvent) => void;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface ControlClientOptions {
  gatewayId: string;
  transport: ControlTransport;
  store: TableStore;
  clock?: Clock;
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
  backoff?: Partial<BackoffOptions>;
  agentVersion?: string;
  /** How often, at most, a transport's fallback store (NATS KV) is read while the controller does not answer. */
  fallbackEveryMs?: number;
}

export interface ControlStats {
  sessions: number;
  snapshots: number;
  deltas: number;
  inSync: number;
  acks: number;
  snapshotRequests: number;
  /** Messages refused: lower epoch, wrong gateway, bad hash. */
  refused: number;
  fallbackTables: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };
const STABLE_SESSION_MS = 5_000;

/** Capped exponential backoff with jitter: a uniform wait in [d/2, d), d = min(max, initial * 2^attempt). */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  const d = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
  return d / 2 + (random() * d) / 2;
}

export class ControlClient {
  readonly gatewayId: string;
  readonly stats: ControlStats = { sessions: 0, snapshots: 0, deltas: 0, inSync: 0, acks: 0, snapshotRequests: 0, refused: 0, fallbackTables: 0 };
  private readonly transport: ControlTransport;
  private readonly store: TableStore;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private readonly listeners = new Set<ControlListener>();
  private readonly reports = new Map<string, LinkReport>();
  private held: (HeldTable & { hash: Buffer }) | undefined;
  private session: ControlSession | undefined;
  private sessionEpoch = 0;
  /** Messages are handled one at a time, in order (each may await the store). */
  private chain: Promise<void> = Promise.resolve();
  private snapshotAsked = false;
  /** 'connected' was emitted for the current session. */
  private announced = false;
  private stopped = true;
  private attempt = 0;
  private interrupt: (() => void) | undefined;
  private lastFallbackMs = -Infinity;
  private lastFailure: string | undefined;
  private loop: Promise<void> | undefined;
  /** Ends the current session from this side (see reconnect()). */
  private endSession: ((e: SwitchbackError) => void) | undefined;

  constructor(private readonly opts: ControlClientOptions) {
    this.gatewayId = opts.gatewayId;
    this.transport = opts.transport;
    this.store = opts.store;
    this.clock = opts.clock ?? new SystemClock();
    this.random = opts.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
  }

  on(l: ControlListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get table(): FlowTable | undefined {
    return this.held?.table;
  }

  /** Highest controller epoch accepted. */
  get epoch(): number {
    return this.held?.epoch ?? this.sessionEpoch;
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  /**
   * Hands the persisted table (if any) to listeners, then keeps a session
   * to the controller until stop(). Listeners added before start() see the
   * persisted table.
   */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const stored = this.store.load(this.gatewayId);
    if (stored) {
      this.held = { ...stored, hash: tableHash(stored.table) };
      log.info('serving persisted table until the controller answers', { gateway: this.gatewayId, version: stored.table.version, epoch: stored.epoch });
      this.emit({ type: 'table', table: stored.table, source: 'local' });
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session?.close();
    this.session = undefined;
    this.interrupt?.();
    // The client owns its transport: closing it also ends an open() in progress.
    await this.transport.close();
    await this.loop;
    await this.chain;
  }

  /** Sends a link report now (if connected) and again on every new session, until a newer one for the link. */
  reportLink(r: Omit<LinkReport, 'gatewayId'>): void {
    const rep: LinkReport = { ...r, gatewayId: this.gatewayId };
    this.reports.set(r.linkId, rep);
    this.send({ body: { $case: 'linkReport', linkReport: rep } });
  }

  sendCounters(counters: Counter[]): void {
    this.send({ body: { $case: 'counters', counters: { gatewayId: this.gatewayId, counters } } });
  }

  /** Sends a CSR on the open session; false when there is none. The answer comes as a 'certificate' event. */
  requestCertificate(csrPem: string): boolean {
    if (!this.session) return false;
    this.send({ body: { $case: 'certificateRequest', certificateRequest: { gatewayId: this.gatewayId, csrPem } } });
    return true;
  }

  /**
   * Switches the transport to new credentials (a renewed certificate) and
   * reconnects at once so that they are in use; the table stays as it is.
   * False when the transport has no credentials to switch (NATS: its NKey).
   */
  useCredentials(tls: TlsCredentials): boolean {
    if (!this.transport.updateCredentials) return false;
    this.transport.updateCredentials(tls);
    this.reconnect('new credentials');
    return true;
  }

  /** Ends the open session (if any); the client opens a new one after the usual short wait. */
  reconnect(reason: string): void {
    const s = this.session;
    if (!s) return;
    s.close();
    this.endSession?.(new SwitchbackError('UNAVAILABLE', `reconnecting: ${reason}`));
  }

  private emit(e: ControlEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        log.error('control listener failed', { reason: (err as Error).message });
      }
    }
  }

  private send(req: SessionRequest): void {
    try {
      this.session?.send(req);
    } catch (err) {
      log.debug('send failed; the session is ending', { reason: (err as Error).message });
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let reason: SwitchbackError;
      const began = this.clock.now();
      try {
        reason = await this.oneSession();
        // Only a session that lasted resets the backoff: one closed at once
        // (superseded by a twin, refused after its Hello) must not become a
        // reconnect storm.
        if (this.clock.now() - began >= STABLE_SESSION_MS) this.attempt = 0;
        this.lastFailure = undefined;
      } catch (err) {
        reason = asSwitchbackError(err);
        if (this.stopped) break;
        // Each new reason once at info (warn for a refusal); retries of the same at debug.
        const level = reason.message === this.lastFailure ? 'debug' : reason.code === 'UNAVAILABLE' ? 'info' : 'warn';
        this.lastFailure = reason.message;
        log[level]('controller session failed', { gateway: this.gatewayId, transport: this.transport.name, code: reason.code, reason: reason.message, attempt: this.attempt + 1 });
        await this.tryFallback();
      }
      if (this.stopped) break;
      await this.sleep(backoffDelay(this.attempt++, this.backoff, this.random));
    }
  }

  /** Resolves with the reason the session ended; rejects when it could not be opened. */
  private async oneSession(): Promise<SwitchbackError> {
    const h = this.held;
    let ended!: (e: SwitchbackError) => void;
    const done = new Promise<SwitchbackError>((r) => (ended = r));
    const session = await this.transport.open(
      {
        gatewayId: this.gatewayId,
        heldVersion: h?.table.version ?? 0,
        heldEpoch: h?.epoch ?? 0,
        tableHash: h?.hash ?? Buffer.alloc(0),
        agentVersion: this.opts.agentVersion ?? '',
      },
      {
        message: (m) => this.enqueue(m),
        closed: (e) => ended(e),
      },
    );
    if (this.stopped) {
      session.close();
      return new SwitchbackError('UNAVAILABLE', 'stopped');
    }
    this.session = session;
    this.endSession = ended;
    this.snapshotAsked = false;
    this.announced = false;
    this.stats.sessions++;
    for (const r of this.reports.values()) this.send({ body: { $case: 'linkReport', linkReport: r } });
    const reason = await this.untilStopped(done, new SwitchbackError('UNAVAILABLE', 'stopped'));
    this.session = undefined;
    this.endSession = undefined;
    if (!this.stopped) {
      log.info('controller session ended; keeping the current table', { gateway: this.gatewayId, code: reason.code, reason: reason.message, version: this.held?.table.version ?? 0 });
      this.emit({ type: 'disconnected', reason: reason.message });
    }
    return reason;
  }

  /** Waits for `p`, or until stop() (then resolves with `onStop`). */
  private untilStopped<T>(p: Promise<T>, onStop: T): Promise<T> {
    if (this.stopped) return Promise.resolve(onStop);
    return new Promise<T>((resolve) => {
      this.interrupt = () => resolve(onStop);
      p.then(resolve);
    }).finally(() => (this.interrupt = undefined));
  }

  private sleep(ms: number): Promise<void> {
    let timer: TimerHandle | undefined;
    const slept = new Promise<void>((r) => (timer = this.clock.setTimeout(r, ms)));
    return this.untilStopped(slept, undefined).finally(() => this.clock.clearTimeout(timer!));
  }

  /** While the controller does not answer, a transport's fallback store may hold a newer table. */
  private async tryFallback(): Promise<void> {
    if (!this.transport.fetchLatest || this.clock.now() - this.lastFallbackMs < (this.opts.fallbackEveryMs ?? 5_000)) return;
    this.lastFallbackMs = this.clock.now();
    let snap: TableSnapshot | undefined;
    try {
      snap = await this.transport.fetchLatest(this.gatewayId);
    } catch (err) {
      log.debug('fallback table store not reachable', { gateway: this.gatewayId, reason: (err as Error).message });
      return;
    }
    if (!snap?.table) return;
    const t = snap.table;
    const h = this.held;
    if (h && (t.version <= h.table.version || t.epoch < h.table.epoch)) return;
    this.chain = this.chain.then(() => this.install(snap, h?.epoch ?? t.epoch, 'kv'));
    await this.chain;
  }

  private enqueue(m: SessionResponse): void {
    this.chain = this.chain.then(() => this.handle(m)).catch((err) => log.error('handling a controller message failed', { gateway: this.gatewayId, reason: (err as Error).message }));
  }

  private async handle(m: SessionResponse): Promise<void> {
    if (this.stopped) return;
    const mine = this.epoch;
    if (m.epoch < mine) {
      this.stats.refused++;
      log.warn('refused a message from an older controller epoch', { gateway: this.gatewayId, epoch: m.epoch, held: mine });
      return;
    }
    const body = m.body;
    switch (body?.$case) {
      case 'snapshot':
        this.stats.snapshots++;
        this.snapshotAsked = false;
        return this.installSnapshot(body.snapshot, m.epoch);
      case 'delta':
        this.stats.deltas++;
        return this.installDelta(body.delta, m.epoch);
      case 'inSync':
        this.stats.inSync++;
        if (body.inSync.version !== this.held?.table.version) return this.askSnapshot(`controller says in sync at ${body.inSync.version}, held ${this.held?.table.version ?? 0}`);
        return this.connectedAt(m.epoch);
      case 'certificate':
        return this.emit({ type: 'certificate', certificate: body.certificate });
      default:
        // Heartbeats and refusals are the transport's business.
        return;
    }
  }

  private async connectedAt(epoch: number): Promise<void> {
    const h = this.held;
    if (h && epoch > h.epoch) {
      this.held = { ...h, epoch };
      await this.store.save(this.gatewayId, { table: h.table, epoch });
    }
    this.sessionEpoch = epoch;
    if (!this.announced) {
      this.announced = true;
      this.emit({ type: 'connected', epoch, transport: this.transport.name });
    }
  }

  private async installSnapshot(s: TableSnapshot, epoch: number): Promise<void> {
    const t = s.table;
    const h = this.held;
    if (h && t && epoch === h.epoch && t.version < h.table.version) {
      log.debug('ignoring an older snapshot', { gateway: this.gatewayId, version: t.version, held: h.table.version });
      return;
    }
    await this.install(s, epoch, 'controller');
  }

  /** Verifies and applies a whole table; false when it was refused. */
  private async install(s: TableSnapshot, epoch: number, source: 'controller' | 'kv'): Promise<void> {
    const t = s.table;
    if (!t || t.gatewayId !== this.gatewayId) {
      this.stats.refused++;
      log.warn('refused a snapshot for another gateway', { gateway: this.gatewayId, for: t?.gatewayId ?? '(none)', source });
      return;
    }
    const hash = tableHash(t);
    if (!hash.equals(s.tableHash)) {
      this.stats.refused++;
      log.warn('refused a snapshot whose hash does not match its content', { gateway: this.gatewayId, version: t.version, source });
      return;
    }
    if (source === 'kv') this.stats.fallbackTables++;
    await this.commit(t, hash, epoch, source);
  }

  private async installDelta(d: TableDelta, epoch: number): Promise<void> {
    const h = this.held;
    if (!h) return this.askSnapshot(`delta ${d.baseVersion}->${d.version} but no table is held`);
    if (d.version === h.table.version && h.hash.equals(d.tableHash)) {
      // Sent again because our ack was lost: acknowledge again.
      await this.connectedAt(epoch);
      return this.ack();
    }
    if (epoch === h.epoch && d.version < h.table.version) return;
    let next: FlowTable;
    try {
      next = applyDelta(h.table, d);
    } catch (err) {
      if (SwitchbackError.is(err, 'STALE_EPOCH')) {
        this.stats.refused++;
        log.warn('refused a delta from an older epoch', { gateway: this.gatewayId, reason: err.message });
        return;
      }
      return this.askSnapshot((err as Error).message);
    }
    await this.commit(next, Buffer.from(d.tableHash), epoch, 'controller', d);
  }

  /**
   * Persist, then hand to the data plane, then acknowledge: an ack promises
   * the table survives a restart. `delta` (when the table came as one) lets
   * the store save a few rules instead of the whole table.
   */
  private async commit(t: FlowTable, hash: Buffer, epoch: number, source: 'controller' | 'kv', delta?: TableDelta): Promise<void> {
    const held = { table: t, epoch: Math.max(epoch, this.held?.epoch ?? 0), hash };
    await this.store.save(this.gatewayId, { table: t, epoch: held.epoch }, delta);
    this.held = held;
    log.debug('applied table', { gateway: this.gatewayId, version: t.version, epoch: held.epoch, source });
    this.emit({ type: 'table', table: t, source });
    if (source === 'controller') {
      await this.connectedAt(epoch);
      this.ack();
    }
  }

  private ack(): void {
    const h = this.held!;
    this.stats.acks++;
    this.send({ body: { $case: 'ack', ack: { gatewayId: this.gatewayId, epoch: h.epoch, version: h.table.version, tableHash: h.hash } } });
  }

  private askSnapshot(reason: string): void {
    if (this.snapshotAsked) return;
    this.snapshotAsked = true;
    this.stats.snapshotRequests++;
    log.info('asking for a snapshot', { gateway: this.gatewayId, reason });
    this.send({ body: { $case: 'snapshotRequest', snapshotRequest: { gatewayId: this.gatewayId, reason } } });
  }
}
