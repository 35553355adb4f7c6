// The southbound session over NATS: Hello by request/reply on
// sb.<gw>.hello, pushes on sb.<gw>.ctl, acks and reports on sb.<gw>.rpt,
// and a heartbeat with the controller epoch on sb.beat. The server's
// per-gateway permissions (switchback ctl nats-config) make the subject the
// gateway's identity. Every gateway's latest table is also kept in the
// JetStream KV bucket sb-tables, so that an agent starting while the
// controller is down still finds its newest table.
import { connect, nkeyAuthenticator, type KV, type Msg, type NatsConnection } from 'nats';
import type { Clock } from '../../common/clock.js';
import { SwitchbackError, asSwitchbackError, invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { SessionRequest, SessionResponse, TableSnapshot } from '../../proto/gen/switchback/v1/session.js';
import type { Store } from '../store/store.js';
import { BEAT_SUBJECT, HELLO_WILDCARD, REPORT_WILDCARD, TABLES_BUCKET, gatewayOfSubject, subjects } from './nats-subjects.js';
import type { SessionCore, SessionSink } from './session-core.js';

const log = createLogger('southbound');

export interface NatsSouthboundOptions {
  servers: string | string[];
  /** The controller's NKey seed (from the CA material); none for a server without authorization. */
  nkeySeed?: string;
  beatMs?: number;
  /** KV bucket replicas (3 in a JetStream cluster). */
  kvReplicas?: number;
  /** A revoked gateway's bucket entry is purged: it must not read the keys that replaced its own. */
  isRevoked?: (gatewayId: string) => boolean;
  clock: Clock;
}

export interface NatsSouthbound {
  readonly servers: string[];
  close(): Promise<void>;
}

const encode = (m: SessionResponse) => SessionResponse.encode(m).finish();
const refusal = (epoch: number, e: SwitchbackError): SessionResponse => ({ epoch, body: { $case: 'refusal', refusal: { code: e.code, message: e.message } } });

export async function startNatsSouthbound(core: SessionCore, store: Pick<Store, 'tables'>, opts: NatsSouthboundOptions): Promise<NatsSouthbound> {
  const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: 'switchback-controller',
      maxReconnectAttempts: -1,
      ...(opts.nkeySeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(opts.nkeySeed)) } : {}),
    });
  } catch (err) {
    throw new SwitchbackError('UNAVAILABLE', `cannot connect to NATS ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
  }
  let kv: KV;
  try {
    kv = await nc.jetstream().views.kv(TABLES_BUCKET, { history: 1, allow_direct: true, replicas: opts.kvReplicas ?? 1 });
  } catch (err) {
    await nc.close();
    throw new SwitchbackError('UNAVAILABLE', `cannot open the JetStream KV bucket ${TABLES_BUCKET} (is JetStream enabled?): ${(err as Error).message}`, { cause: err });
  }

  const kvWriter = new KvWriter(kv, (gw) => core.currentSnapshot(gw), opts.isRevoked ?? (() => false), () => core.pushesSettled(), opts.clock);
  const offJournal = core.ctl.on((e) => {
    if (e.type === 'journal') for (const t of e.entry.tables) kvWriter.changed(t.gatewayId);
    else if (e.type === 'revoked') kvWriter.changed(e.gatewayId);
  });
  await kvWriter.syncAll(store);

  const sinks = new Map<string, SessionSink>();
  const sinkOf = (gw: string): SessionSink => {
    let s = sinks.get(gw);
    if (!s) {
      const subject = subjects(gw).control;
      s = {
        transport: 'nats',
        send: (m) => {
          publish(nc, subject, encode(m));
          // NATS has no per-subscriber backpressure; the session's one
          // unacknowledged push per gateway is the bound.
          return true;
        },
        close: (err) => publish(nc, subject, encode(refusal(core.epoch, err))),
      };
      sinks.set(gw, s);
    }
    return s;
  };

  const helloSub = nc.subscribe(HELLO_WILDCARD, { callback: (err, msg) => !err && onHello(msg) });
  const reportSub = nc.subscribe(REPORT_WILDCARD, { callback: (err, msg) => !err && onReport(msg) });
  /** Gateways told "no session, say Hello" recently: at most once a second each. */
  const nudged = new Map<string, number>();

  function onHello(msg: Msg): void {
    const gw = gatewayOfSubject(msg.subject);
    const answer = (m: SessionResponse) => {
      if (msg.reply) msg.respond(encode(m));
      return true;
    };
    let req: SessionRequest;
    try {
      if (!gw) throw invalid('subject', `'${msg.subject}' does not name a gateway`);
      req = decode(msg.data);
      if (req.body?.$case !== 'hello') throw invalid('body', 'a Hello request must hold a Hello');
    } catch (err) {
      core.refused(gw ?? '?', 'nats', 'hello', err);
      answer(refusal(core.epoch, asSwitchbackError(err)));
      return;
    }
    try {
      core.open(req.body.hello, gw, sinkOf(gw), answer);
    } catch (err) {
      // core.open logged and counted the refusal.
      answer(refusal(core.epoch, asSwitchbackError(err)));
    }
  }

  function onReport(msg: Msg): void {
    const gw = gatewayOfSubject(msg.subject);
    if (!gw) return;
    let req: SessionRequest;
    try {
      req = decode(msg.data);
    } catch (err) {
      return core.refused(gw, 'nats', 'message', err);
    }
    const s = core.session(gw);
    if (!s || s.transport !== 'nats') {
      // A controller restart forgot the session: ask the agent to say Hello.
      const now = opts.clock.now();
      if ((nudged.get(gw) ?? -Infinity) + 1000 <= now) {
        nudged.set(gw, now);
        sinkOf(gw).close(new SwitchbackError('UNAVAILABLE', 'no session with this controller; say Hello'));
      }
      return;
    }
    s.receive(req);
  }

  const beat = () => publish(nc, BEAT_SUBJECT, encode({ epoch: core.epoch, body: undefined }));
  beat();
  const beatTimer = setInterval(beat, opts.beatMs ?? 2_000);
  beatTimer.unref();
  (async () => {
    for await (const st of nc.status()) {
      if (st.type === 'reconnect') {
        log.info('NATS reconnected', { server: String(st.data) });
        beat();
      } else if (st.type === 'disconnect') log.warn('NATS disconnected', { server: String(st.data) });
    }
  })().catch(() => undefined);
  log.info('southbound NATS ready', { servers: servers.join(','), bucket: TABLES_BUCKET });

  return {
    servers,
    close: async () => {
      clearInterval(beatTimer);
      offJournal();
      helloSub.unsubscribe();
      reportSub.unsubscribe();
      kvWriter.close();
      await nc.drain().catch(() => nc.close());
    },
  };
}

function decode(data: Uint8Array): SessionRequest {
  try {
    return SessionRequest.decode(data);
  } catch (err) {
    throw invalid('message', `corrupt SessionRequest: ${(err as Error).message} (${data.length} bytes)`);
  }
}

function publish(nc: NatsConnection, subject: string, data: Uint8Array): void {
  try {
    nc.publish(subject, data);
  } catch (err) {
    // Closed connection or a payload over the server's max_payload.
    log.error('NATS publish failed', { subject, bytes: data.length, reason: (err as Error).message });
  }
}

/** Puts in flight at once: JetStream stores them in order, more only queue (and time out) there. */
const KV_CONCURRENCY = 16;
const KV_DELAY_MS = 250;
/** How often writes held back for pushes look again. */
const KV_RECHECK_MS = 50;
/** Writes wait for pushes at most this long after their gateway's table changed. */
const KV_MAX_DEFER_MS = 2_000;

/**
 * Keeps the KV bucket at every gateway's newest table. A gateway whose
 * table changed waits in a set (once, however often it changed); at most
 * KV_CONCURRENCY puts are in flight and each writes the table that is newest
 * when it starts. Pushes to agents go first: the bucket is for agents that
 * start while the controller is down, not for the live path. So no put
 * starts while pushes wait for their acks (a fleet-wide change writes a
 * table per gateway, 70 MB at 1,000 gateways, and the controller, the NATS
 * server and the agents applying the pushes share the CPUs), unless the
 * oldest waiting write has waited KV_MAX_DEFER_MS: an agent that never
 * acknowledges does not hold the bucket back for longer.
 */
class KvWriter {
  private readonly queue = new Set<string>();
  private readonly busy = new Set<string>();
  private waiters: (() => void)[] = [];
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly kv: KV,
    /** The gateway's current table as TableSnapshot bytes. */
    private readonly current: (gatewayId: string) => Uint8Array | undefined,
    private readonly isRevoked: (gatewayId: string) => boolean,
    /** Whether every push sent so far has been acknowledged. */
    private readonly pushesSettled: () => boolean,
    private readonly clock: Clock,
  ) {}

  /** When the queue last went from empty to not empty. */
  private waitingSince = 0;

  /** Queues the gateways whose bucket entry is missing or older than their table. */
  async syncAll(store: Pick<Store, 'tables'>): Promise<void> {
    const tables = store.tables();
    const check = async () => {
      for (let t = tables.shift(); t; t = tables.shift()) {
        try {
          if (this.isRevoked(t.gatewayId)) {
            this.changed(t.gatewayId);
            continue;
          }
          const e = await this.kv.get(subjects(t.gatewayId).kvKey);
          if (e && TableSnapshot.decode(e.value).table?.version === t.version) continue;
        } catch {
          // Unreadable entry: overwrite it.
        }
        this.changed(t.gatewayId);
      }
    };
    await Promise.all(Array.from({ length: KV_CONCURRENCY }, check));
    await this.idle();
  }

  changed(gatewayId: string): void {
    if (this.queue.size === 0) this.waitingSince = this.clock.now();
    this.queue.add(gatewayId);
    // After the pushes of this change have gone out (and coalescing a burst of changes).
    this.schedule(KV_DELAY_MS);
  }

  private schedule(ms: number): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.pump();
    }, ms).unref();
  }

  idle(): Promise<void> {
    return this.queue.size + this.busy.size === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }

  close(): void {
    this.closed = true;
    this.queue.clear();
  }

  private pump(): void {
    // A revoked gateway's entry is purged at once: it holds keys its peers no longer use.
    const hold = this.queue.size > 0 && !this.pushesSettled() && this.clock.now() - this.waitingSince < KV_MAX_DEFER_MS;
    if (hold) this.schedule(KV_RECHECK_MS);
    for (const gw of this.queue) {
      if (this.busy.size >= KV_CONCURRENCY || this.closed) break;
      if (this.busy.has(gw)) continue;
      const revoked = this.isRevoked(gw);
      if (hold && !revoked) continue;
      this.queue.delete(gw);
      const cur = revoked ? undefined : this.current(gw);
      if (!cur && !revoked) continue;
      this.busy.add(gw);
      const bytes = cur ?? new Uint8Array(0);
      (cur ? this.kv.put(subjects(gw).kvKey, bytes) : this.kv.purge(subjects(gw).kvKey))
        .catch((err) => {
          log.warn(cur ? 'KV put failed; trying again' : 'KV purge failed; trying again', { gateway: gw, bytes: bytes.length, reason: (err as Error).message });
          setTimeout(() => !this.closed && this.changed(gw), 1000).unref();
        })
        .finally(() => {
          this.busy.delete(gw);
          this.pump();
          if (this.queue.size + this.busy.size === 0) for (const w of this.waiters.splice(0)) w();
        });
    }
  }
}
