// The southbound session, whatever carries it: a transport authenticates the
// peer, decodes messages and hands them here; this decides what each
// gateway is sent. Per gateway it keeps what the agent is known to hold
// (proved by a Hello or an Ack), at most one unacknowledged table push, and
// a "dirty" bit for changes that arrive meanwhile, so a slow agent costs one
// pending flag, never a queue: the next push is the newest table, as a delta
// from the version the agent acknowledged.
import type { Clock, TimerHandle } from '../../common/clock.js';
import { SwitchbackError, asSwitchbackError, invalid } from '../../common/errors.js';
import { diffTables, tableHash } from '../../common/flow-table.js';
import { encodeSnapshotBytes, encodeTableSnapshot } from '../../common/table-codec.js';
import { createLogger } from '../../common/log.js';
import { OperState, type FlowTable, type TableDelta } from '../../common/model.js';
import type { Ack, CertificateIssued, CertificateRequest, Counter, Hello, LinkReport, SessionRequest, SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import type { LinkReportInput } from '../controller.js';
import type { Listener } from '../events.js';
import type { Store } from '../store/store.js';
import { ID_PATTERN } from '../topology/topology-check.js';

const log = createLogger('southbound');

/** What the session needs of the controller (the Controller class fits). */
export interface SessionController {
  readonly epoch: number;
  readonly store: Pick<Store, 'table' | 'tableAt'>;
  on(l: Listener): () => void;
  recordAck(gatewayId: string, version: number, transport: string): void;
  reportLink(r: LinkReportInput): unknown;
  /** The current table's stored bytes and hash, when the controller keeps them (no decoding). */
  /** `snapshot`: the TableSnapshot bytes (table and hash), built in one copy. */
  encodedTable?(gatewayId: string): { version: number; hash: Buffer; bytes: () => Buffer; snapshot?: () => Buffer } | undefined;
}

/** One agent's connection as its transport presents it. */
export interface SessionSink {
  readonly transport: string;
  /** Sends one message; false means "buffered, wait": call `writable()` when the transport drains. */
  send(m: SessionResponse): boolean;
  /** Ends the session with a reason the agent is told (gRPC status, NATS Refusal). */
  close(err: SwitchbackError): void;
}

export interface SessionCoreOptions {
  clock: Clock;
  /** Revoked gateways are refused (their open sessions end on the 'revoked' event). */
  isRevoked?: (gatewayId: string) => boolean;
  /** A push not acknowledged in this time is sent again (then with doubling waits, up to a minute). */
  ackTimeoutMs?: number;
  /** Checks a CSR from an authenticated session and issues its certificate (southbound/cert-renewal.ts); none: renewal is refused. */
  issueCertificate?: (gatewayId: string, req: CertificateRequest) => Promise<CertificateIssued>;
}

export interface SessionStats {
  hellos: number;
  refused: number;
  snapshots: number;
  deltas: number;
  inSync: number;
  acks: number;
  linkReports: number;
}

const MAX_COUNTERS = 10_000;
/** Pushes built per turn of the event loop. */
const PUSH_BATCH = 32;
const MAX_ACK_BACKOFF_MS = 60_000;

export class SessionCore {
  readonly stats: SessionStats = { hellos: 0, refused: 0, snapshots: 0, deltas: 0, inSync: 0, acks: 0, linkReports: 0 };
  private readonly live = new Map<string, AgentSession>();
  private readonly seen = new Map<string, { atMs: number; transport: string }>();
  private readonly counters = new Map<string, Counter[]>();
  /**
   * Per gateway the hash of the current version and of the one before it,
   * so that Hellos and Acks are checked without decoding tables. Tables
   * themselves are decoded only to build a push and dropped after: a
   * thousand gateways with a thousand rules each would otherwise keep
   * gigabytes alive.
   */
  private readonly hashes = new Map<string, { cur?: VersionHash; prev?: VersionHash }>();
  /** Gateways whose table moved and whose push is not built yet. */
  private readonly moved = new Set<string>();
  /**
   * The new tables a change carried, with the delta from the version stored
   * before it when the change built one, until their pushes are built (then
   * dropped, as above).
   */
  private readonly fresh = new Map<string, { table: FlowTable; delta?: TableDelta }>();
  private flushing = false;
  private readonly off: () => void;

  constructor(
    readonly ctl: SessionController,
    readonly opts: SessionCoreOptions,
  ) {
    this.off = ctl.on((e) => {
      if (e.type === 'journal') {
        for (const t of e.entry.tables) {
          const c = this.hashes.get(t.gatewayId);
          const carried = e.tables?.get(t.gatewayId);
          if (carried?.table.version === t.version) {
            this.hashes.set(t.gatewayId, { prev: c?.cur, cur: { version: t.version, hash: carried.hash } });
            this.fresh.set(t.gatewayId, { table: carried.table, delta: carried.delta?.version === t.version ? carried.delta : undefined });
          } else {
            if (c?.cur) this.hashes.set(t.gatewayId, { prev: c.cur });
            this.fresh.delete(t.gatewayId);
          }
          this.moved.add(t.gatewayId);
        }
        for (const gw of e.removedTables ?? []) this.fresh.delete(gw);
        // Pushes are built after the change returns, a batch per turn of
        // the event loop, so that the caller is not held up and acks from
        // the first agents are read while the last pushes are built.
        if (this.moved.size && !this.flushing) {
          this.flushing = true;
          setImmediate(() => this.flush());
        }
      } else if (e.type === 'revoked') {
        this.live.get(e.gatewayId)?.close(new SwitchbackError('PERMISSION_DENIED', `gateway '${e.gatewayId}' was revoked`));
      }
    });
  }

  get epoch(): number {
    return this.ctl.epoch;
  }

  private flush(): void {
    let n = 0;
    for (const gw of this.moved) {
      this.moved.delete(gw);
      this.live.get(gw)?.tableChanged();
      this.fresh.delete(gw);
      if (++n === PUSH_BATCH && this.moved.size) {
        setImmediate(() => this.flush());
        return;
      }
    }
    this.flushing = false;
  }

  /**
   * Checks a Hello and opens the gateway's session (a newer session of the
   * same gateway replaces the older one). `identity` is the gateway the
   * transport authenticated, if it did. The answer (InSync, delta or
   * snapshot) goes out through `reply`, by default the sink. Throws the
   * refusal as a SwitchbackError; nothing is stored then.
   */
  open(hello: Hello, identity: string | undefined, sink: SessionSink, reply: (m: SessionResponse) => boolean = (m) => sink.send(m)): AgentSession {
    const gw = hello.gatewayId;
    try {
      if (!ID_PATTERN.test(gw)) throw invalid('hello.gatewayId', `'${gw}' is not a gateway id`);
      if (identity !== undefined && identity !== gw) {
        throw new SwitchbackError('PERMISSION_DENIED', `credentials are for gateway '${identity}', Hello claims '${gw}'`);
      }
      if (this.opts.isRevoked?.(gw)) throw new SwitchbackError('PERMISSION_DENIED', `gateway '${gw}' is revoked`);
      if (!this.currentVersion(gw)) throw new SwitchbackError('NOT_FOUND', `unknown gateway '${gw}'`);
    } catch (err) {
      this.refused(gw || '?', sink.transport, 'hello', err);
      throw err;
    }
    this.stats.hellos++;
    const prev = this.live.get(gw);
    const s = new AgentSession(this, gw, sink, identity !== undefined);
    this.live.set(gw, s);
    if (prev) prev.close(new SwitchbackError('UNAVAILABLE', `superseded by a newer session of gateway '${gw}'`));
    this.touch(gw, sink.transport);
    log.debug('session open', { gateway: gw, transport: sink.transport, held: hello.heldVersion });
    s.start(hello, reply);
    return s;
  }

  session(gatewayId: string): AgentSession | undefined {
    return this.live.get(gatewayId);
  }

  sessions(): AgentSession[] {
    return [...this.live.values()];
  }

  lastSeen(gatewayId: string): { atMs: number; transport: string } | undefined {
    return this.seen.get(gatewayId);
  }

  latestCounters(gatewayId: string): Counter[] | undefined {
    return this.counters.get(gatewayId);
  }

  /** Ends every session (the controller is stopping) and stops listening. */
  close(): void {
    this.off();
    const open = [...this.live.values()];
    if (open.length) log.info('closing southbound sessions', { sessions: open.length });
    for (const s of open) s.close(new SwitchbackError('UNAVAILABLE', 'controller is shutting down'), true);
  }

  /** Logs and counts a refused message; the caller decides whether the session ends. */
  refused(gatewayId: string, transport: string, what: string, err: unknown, extra: Record<string, unknown> = {}): void {
    this.stats.refused++;
    const e = asSwitchbackError(err);
    log.warn(`refused ${what}`, { gateway: gatewayId, transport, ...extra, code: e.code, reason: e.message });
  }

  /** The version and hash of the gateway's current table (from what the controller keeps when it can: a thousand Hellos after a restart decode no table). */
  currentVersion(gw: string): VersionHash | undefined {
    const known = this.hashes.get(gw)?.cur;
    if (known) return known;
    const e = this.ctl.encodedTable?.(gw);
    if (e) {
      this.noteHash(gw, e.version, e.hash);
      return { version: e.version, hash: e.hash };
    }
    return this.currentTable(gw);
  }

  /** The gateway's current table (decoded now, or by the caller; not kept) with its hash. */
  currentTable(gw: string, table = this.latestTable(gw)): Versioned | undefined {
    if (!table) return undefined;
    const c = this.hashes.get(gw) ?? {};
    if (c.cur?.version !== table.version) {
      c.cur = { version: table.version, hash: tableHash(table) };
      this.hashes.set(gw, c);
    }
    return { table, version: table.version, hash: c.cur.hash };
  }

  /**
   * The gateway's current table as TableSnapshot bytes: from the bytes the
   * controller keeps when it does (a fleet-wide change rewrites every
   * gateway's bucket entry: nothing is decoded or encoded for it), else
   * from the table.
   */
  currentSnapshot(gw: string): Buffer | undefined {
    const e = this.ctl.encodedTable?.(gw);
    if (e && e.version === this.currentVersion(gw)?.version) return e.snapshot?.() ?? encodeSnapshotBytes(e.bytes(), e.hash);
    const cur = this.currentTable(gw);
    return cur && encodeTableSnapshot(cur.table, cur.hash);
  }

  /**
   * Whether every push built so far has been acknowledged (or its session
   * ended) and none waits to be built: background work (the NATS bucket)
   * waits for this so as not to slow the agents applying a change.
   */
  pushesSettled(): boolean {
    if (this.moved.size) return false;
    for (const s of this.live.values()) if (s.awaitingAck) return false;
    return true;
  }

  /** @internal The delta a change carried from `baseVersion` to `version`, while its push is not built yet. */
  carriedDelta(gw: string, baseVersion: number, version: number): TableDelta | undefined {
    const d = this.fresh.get(gw)?.delta;
    return d && d.baseVersion === baseVersion && d.version === version ? d : undefined;
  }

  /** @internal The gateway's current table: the one its change carried while that push is pending, else from the store. */
  latestTable(gw: string): FlowTable | undefined {
    return this.fresh.get(gw)?.table ?? this.ctl.store.table(gw);
  }

  /** @internal Records the hash of the current version, computed elsewhere. */
  noteHash(gw: string, version: number, hash: Buffer): void {
    const c = this.hashes.get(gw) ?? {};
    if (c.cur?.version !== version) this.hashes.set(gw, { ...c, cur: { version, hash } });
  }

  /** @internal The hash of a kept version of the gateway's table. */
  hashAt(gw: string, version: number): Buffer | undefined {
    const c = this.hashes.get(gw);
    for (const v of [c?.cur, c?.prev]) if (v?.version === version) return v.hash;
    const table = this.ctl.store.tableAt(gw, version);
    return table && tableHash(table);
  }

  /** @internal */
  touch(gw: string, transport: string): void {
    this.seen.set(gw, { atMs: this.opts.clock.wallMs(), transport });
  }

  /** @internal */
  forget(s: AgentSession): void {
    if (this.live.get(s.gatewayId) === s) this.live.delete(s.gatewayId);
  }

  /** @internal */
  setCounters(gw: string, c: Counter[]): void {
    this.counters.set(gw, c);
  }
}

interface Held {
  version: number;
}

export interface VersionHash {
  version: number;
  hash: Buffer;
}

/** A table with its content hash. */
export interface Versioned extends VersionHash {
  table: FlowTable;
}

export class AgentSession {
  /** The version the agent proved it holds (Hello match or Ack), if any. */
  private held: Held | undefined;
  /** Version pushed and not yet acknowledged. */
  private inflight: number | undefined;
  private dirty = false;
  private blocked = false;
  private closed = false;
  private ackTimer: TimerHandle | undefined;
  private ackWaitMs: number;

  constructor(
    private readonly core: SessionCore,
    readonly gatewayId: string,
    private readonly sink: SessionSink,
    /** The transport proved the gateway's identity (not --insecure). */
    readonly authenticated = false,
  ) {
    this.ackWaitMs = core.opts.ackTimeoutMs ?? 5_000;
  }

  get transport(): string {
    return this.sink.transport;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A push was sent and not acknowledged, or one is due. */
  get awaitingAck(): boolean {
    return this.inflight !== undefined || this.dirty;
  }

  /** The version the agent acknowledged or proved it holds. */
  get heldVersion(): number {
    return this.held?.version ?? 0;
  }

  /** @internal Answers the Hello. */
  start(hello: Hello, reply: (m: SessionResponse) => boolean): void {
    const cur = this.core.currentVersion(this.gatewayId)!;
    const kept = hello.heldVersion > 0 ? this.core.hashAt(this.gatewayId, hello.heldVersion) : undefined;
    if (kept?.equals(hello.tableHash)) this.held = { version: hello.heldVersion };
    if (hello.heldEpoch > this.core.epoch) {
      log.warn('agent holds a table from a newer controller epoch: it will refuse this controller', { gateway: this.gatewayId, agentEpoch: hello.heldEpoch, epoch: this.core.epoch });
    }
    if (this.held?.version === cur.version) {
      this.core.stats.inSync++;
      this.core.ctl.recordAck(this.gatewayId, cur.version, this.transport);
      if (!reply({ epoch: this.core.epoch, body: { $case: 'inSync', inSync: { version: cur.version } } })) this.blocked = true;
      return;
    }
    this.push(reply);
  }

  /** A decoded message from the agent, after its Hello. */
  receive(req: SessionRequest): void {
    if (this.closed) return;
    this.core.touch(this.gatewayId, this.transport);
    this.resetAckBackoff();
    const body = req.body;
    try {
      switch (body?.$case) {
        case 'ack':
          return this.ack(body.ack);
        case 'snapshotRequest':
          this.checkSender(body.snapshotRequest.gatewayId);
          log.info('agent asks for a snapshot', { gateway: this.gatewayId, reason: body.snapshotRequest.reason });
          this.held = undefined;
          this.inflight = undefined;
          this.clearAckTimer();
          this.dirty = true;
          return this.pump();
        case 'linkReport':
          return this.linkReport(body.linkReport);
        case 'counters':
          this.checkSender(body.counters.gatewayId);
          if (body.counters.counters.length > MAX_COUNTERS) throw invalid('counters', `more than ${MAX_COUNTERS} counters in one message`);
          this.core.setCounters(this.gatewayId, body.counters.counters);
          return;
        case 'certificateRequest':
          this.checkSender(body.certificateRequest.gatewayId);
          return this.certificateRequest(body.certificateRequest);
        case 'hello':
          throw new SwitchbackError('FAILED_PRECONDITION', 'a second Hello on an open session');
        default:
          throw invalid('body', 'empty session message');
      }
    } catch (err) {
      this.core.refused(this.gatewayId, this.transport, body?.$case ?? 'message', err);
    }
  }

  /** The transport can take messages again. */
  writable(): void {
    this.blocked = false;
    this.pump();
  }

  /** The transport ended (peer gone); nothing is sent. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearAckTimer();
    this.core.forget(this);
    log.debug('session ended', { gateway: this.gatewayId, transport: this.transport });
  }

  /** Ends the session, telling the agent why (`quiet`: the caller logged it). */
  close(err: SwitchbackError, quiet = false): void {
    if (this.closed) return;
    this.end();
    if (!quiet) log.info('session closed', { gateway: this.gatewayId, transport: this.transport, code: err.code, reason: err.message });
    try {
      this.sink.close(err);
    } catch {
      // The transport is already gone.
    }
  }

  /** @internal The gateway's table moved. */
  tableChanged(): void {
    this.dirty = true;
    this.pump();
  }

  private pump(): void {
    if (this.closed || this.blocked || this.inflight !== undefined || !this.dirty) return;
    this.dirty = false;
    const table = this.core.latestTable(this.gatewayId);
    if (!table) return this.close(new SwitchbackError('NOT_FOUND', `gateway '${this.gatewayId}' no longer exists`));
    if (this.held?.version === table.version) return;
    this.push((m) => this.sink.send(m), table);
  }

  /** Sends `cur` as a delta from the held version when that is still kept, else as a snapshot. */
  /** Sends the current table (`table`, if the caller decoded it) as a delta from the held version when that is kept, else as a snapshot. */
  private push(send: (m: SessionResponse) => boolean, table = this.core.ctl.store.table(this.gatewayId)!): void {
    const epoch = this.core.epoch;
    let m: SessionResponse | undefined;
    // The usual case: the agent holds the version before the change, whose
    // delta the change carried; else the base is decoded from the store.
    const carried = this.held && this.core.carriedDelta(this.gatewayId, this.held.version, table.version);
    if (carried) {
      this.core.noteHash(this.gatewayId, table.version, Buffer.from(carried.tableHash));
      m = { epoch, body: { $case: 'delta', delta: carried } };
      this.core.stats.deltas++;
    }
    const base = !m && this.held ? this.core.ctl.store.tableAt(this.gatewayId, this.held.version) : undefined;
    if (base) {
      try {
        const known = this.core.currentVersion(this.gatewayId);
        const delta = diffTables(base, table, known?.version === table.version ? known.hash : undefined);
        // diffTables hashed the new table (unless it was known): keep that for the Ack.
        this.core.noteHash(this.gatewayId, table.version, Buffer.from(delta.tableHash));
        m = { epoch, body: { $case: 'delta', delta } };
        this.core.stats.deltas++;
      } catch {
        // Node id changed: only a snapshot can say that.
      }
    }
    if (!m) {
      const cur = this.core.currentTable(this.gatewayId, table)!;
      m = { epoch, body: { $case: 'snapshot', snapshot: { table, tableHash: cur.hash } } };
      this.core.stats.snapshots++;
    }
    this.inflight = table.version;
    this.armAckTimer();
    if (!send(m)) this.blocked = true;
  }

  private ack(a: Ack): void {
    this.checkSender(a.gatewayId);
    const cur = this.core.currentVersion(this.gatewayId)!;
    const hash = this.core.hashAt(this.gatewayId, a.version);
    if (!hash) {
      throw new SwitchbackError(
        a.version > cur.version ? 'INVALID_ARGUMENT' : 'FAILED_PRECONDITION',
        a.version > cur.version ? `ack for version ${a.version}, which was never issued (current ${cur.version})` : `ack for version ${a.version}, which is no longer kept`,
      );
    }
    if (!hash.equals(a.tableHash)) throw invalid('ack.tableHash', `does not match version ${a.version}`);
    this.core.stats.acks++;
    // A late ack of an older version (reordered, or repeated) moves nothing back.
    if (this.held && a.version < this.held.version) return;
    this.core.ctl.recordAck(this.gatewayId, a.version, this.transport);
    this.held = { version: a.version };
    if (this.inflight !== undefined && a.version >= this.inflight) {
      this.inflight = undefined;
      this.clearAckTimer();
    }
    this.pump();
  }

  /** Answered when issued (in order per gateway); a refusal is logged and counted, the session goes on. */
  private certificateRequest(req: CertificateRequest): void {
    const issue = this.core.opts.issueCertificate;
    if (!issue) throw new SwitchbackError('FAILED_PRECONDITION', 'this controller does not renew certificates over the session');
    if (!this.authenticated) throw new SwitchbackError('PERMISSION_DENIED', 'certificate renewal needs an authenticated session (not --insecure)');
    issue(this.gatewayId, req).then(
      (certificate) => {
        if (!this.closed && !this.sink.send({ epoch: this.core.epoch, body: { $case: 'certificate', certificate } })) this.blocked = true;
      },
      (err) => this.core.refused(this.gatewayId, this.transport, 'certificateRequest', err),
    );
  }

  private linkReport(r: LinkReport): void {
    this.checkSender(r.gatewayId);
    if (r.state !== OperState.UNSPECIFIED && r.state !== OperState.UP && r.state !== OperState.DOWN) {
      throw invalid('linkReport.state', `unknown state ${r.state}`);
    }
    this.core.stats.linkReports++;
    this.core.ctl.reportLink({ gatewayId: this.gatewayId, linkId: r.linkId, state: r.state, rttUs: r.rttUs, lossPpm: r.lossPpm });
  }

  private checkSender(gatewayId: string): void {
    if (gatewayId && gatewayId !== this.gatewayId) {
      throw new SwitchbackError('PERMISSION_DENIED', `message names gateway '${gatewayId}' on the session of '${this.gatewayId}'`);
    }
  }

  private armAckTimer(): void {
    this.clearAckTimer();
    this.ackTimer = this.core.opts.clock.setTimeout(() => {
      this.ackTimer = undefined;
      if (this.closed || this.inflight === undefined) return;
      // Lost push or lost ack (NATS delivers at most once): send the newest
      // table again from the acknowledged base; an agent that did apply it
      // just acknowledges again.
      log.debug('push not acknowledged; sending again', { gateway: this.gatewayId, version: this.inflight, waitedMs: this.ackWaitMs });
      this.inflight = undefined;
      this.ackWaitMs = Math.min(this.ackWaitMs * 2, MAX_ACK_BACKOFF_MS);
      this.dirty = true;
      this.pump();
    }, this.ackWaitMs);
  }

  private clearAckTimer(): void {
    if (this.ackTimer) this.core.opts.clock.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private resetAckBackoff(): void {
    this.ackWaitMs = this.core.opts.ackTimeoutMs ?? 5_000;
  }
}
