// The LMDB implementation of the store: one environment, named databases,
// synchronous transactions for every multi-key change (lmdb-js style), and
// compound array keys ([gateway, version]) for range scans over history.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync, statfsSync } from 'node:fs';
import { createLogger } from '../../common/log.js';
import { SwitchbackError } from '../../common/errors.js';
import { staggered } from '../../common/stagger.js';
import { encodeFlowTable, encodeTableHeader } from '../../common/table-codec.js';
import { applyDelta } from '../../common/flow-table.js';
import { FlowTable, type Gateway, type Link, type Prefix, type Site, type Topology, type Vrf } from '../../common/model.js';
import { TableDelta } from '../../proto/gen/switchback/v1/flow.js';
import { JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import type { AckState, AdminCredential, CaMaterial, CaStore, Commit, Enrollment, LinkKey, LinkStats, Store } from './store.js';

/** Versions kept per gateway so that a reconnecting agent gets a delta. */
const HISTORY_PER_GATEWAY = 32;
/**
 * First byte of a history record that holds a delta from the gateway's
 * version before it (then its place in the chain, u16, and the TableDelta)
 * instead of a whole table (never a FlowTable's first byte, a field tag).
 * A link change moves a few rules of each table it touches: a fleet-wide
 * one at 1,000 gateways writes 1,000 small deltas, not 70 MB of tables.
 */
const DELTA_RECORD = 0xfe;
/** The most deltas in a row before a whole table is written again: 8 to 23, by gateway, so that a fleet-wide change does not rewrite every table at once. */
const maxChain = (gatewayId: string) => staggered(gatewayId, 8, 16);
/** First byte of a `tables` record that names the current version instead of holding the table (never a FlowTable's first byte). */
const CURRENT_POINTER = 0xff;

function currentPointer(version: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = CURRENT_POINTER;
  b.writeDoubleLE(version, 1);
  return b;
}
const log = createLogger('store');
/** How long close() waits for the write queue to drain. */
const CLOSE_WAIT_MS = 5_000;

export interface LmdbStoreOptions {
  path: string;
  /** Fixed map size in bytes (default: lmdb-js grows the map as needed). */
  mapSize?: number;
}

type Kind = 'vrfs' | 'sites' | 'gateways' | 'links' | 'prefixes';

export class LmdbStore implements Store, CaStore {
  readonly epoch: number;
  private readonly env: RootDatabase;
  private readonly meta: Database<number, string>;
  private readonly model: Record<Kind, Database<any, any>>;
  private readonly tablesDb: Database<Buffer, string>;
  private readonly historyDb: Database<Buffer, [string, number]>;
  private readonly journalDb: Database<Buffer, number>;
  private readonly keysDb: Database<LinkKey, string>;
  private readonly acksDb: Database<AckState, string>;
  private readonly statsDb: Database<LinkStats, string>;
  private readonly caDb: Database<CaMaterial, string>;
  private readonly enrollmentsDb: Database<Enrollment, string>;
  private readonly credentialsDb: Database<AdminCredential, string>;
  private cachedTopology: Topology | undefined;
  private cachedKeys: Map<string, LinkKey> | undefined;
  private readonly path: string;
  private failedBackgroundWrites = 0;

  /** Background writes (acks, link statistics) that failed, e.g. on a full volume. */
  get backgroundWriteFailures(): number {
    return this.failedBackgroundWrites;
  }

  constructor(opts: LmdbStoreOptions) {
    this.path = opts.path;
    mkdirSync(opts.path, { recursive: true });
    // No event-turn batching: when such a batch fails to commit (a full
    // volume), lmdb-js rejects a promise nobody holds and the process dies of
    // an unhandled rejection; puts are still batched (commitDelay 0).
    this.env = open({ path: opts.path, maxDbs: 16, eventTurnBatching: false, ...(opts.mapSize ? { mapSize: opts.mapSize } : {}) });
    this.meta = this.env.openDB({ name: 'meta' });
    this.model = {
      vrfs: this.env.openDB({ name: 'vrfs' }),
      sites: this.env.openDB({ name: 'sites' }),
      gateways: this.env.openDB({ name: 'gateways' }),
      links: this.env.openDB({ name: 'links' }),
      prefixes: this.env.openDB({ name: 'prefixes' }),
    };
    this.tablesDb = this.env.openDB({ name: 'tables', encoding: 'binary' });
    this.historyDb = this.env.openDB({ name: 'table-history', encoding: 'binary' });
    this.journalDb = this.env.openDB({ name: 'journal', encoding: 'binary' });
    this.keysDb = this.env.openDB({ name: 'link-keys' });
    this.acksDb = this.env.openDB({ name: 'acks' });
    this.statsDb = this.env.openDB({ name: 'link-stats' });
    this.caDb = this.env.openDB({ name: 'ca' });
    this.enrollmentsDb = this.env.openDB({ name: 'enrollments' });
    this.credentialsDb = this.env.openDB({ name: 'admin-credentials' });
    // A new epoch per run: agents refuse anything older, so a controller
    // restored from an old backup cannot roll gateways back.
    this.epoch = this.guard(() =>
      this.env.transactionSync(() => {
        const next = (this.meta.get('epoch') ?? 0) + 1;
        this.meta.put('epoch', next);
        return next;
      }),
    );
  }

  topology(): Topology {
    if (!this.cachedTopology) {
      const all = <T>(kind: Kind): T[] => [...this.model[kind].getRange()].map((e) => e.value as T);
      this.cachedTopology = deepFreeze({
        vrfs: all<Vrf>('vrfs'),
        sites: all<Site>('sites'),
        gateways: all<Gateway>('gateways'),
        links: all<Link>('links'),
        prefixes: all<Prefix>('prefixes'),
      });
    }
    return this.cachedTopology;
  }

  table(gatewayId: string): FlowTable | undefined {
    return this.current(gatewayId, this.tablesDb.get(gatewayId));
  }

  /**
   * A table is written once, into the history; `tables` holds a pointer to
   * the current version (data written before this layout holds the whole
   * table there, which is read as it is).
   */
  private current(gatewayId: string, b: Buffer | undefined): FlowTable | undefined {
    if (b && b.length === 9 && b[0] === CURRENT_POINTER) return this.tableAt(gatewayId, b.readDoubleLE(1));
    return b ? FlowTable.decode(b) : undefined;
  }

  /** A version from the history: a whole table, or the deltas back to one applied to it (each checked against its hash). */
  tableAt(gatewayId: string, version: number): FlowTable | undefined {
    return this.guard(() => {
      const deltas: TableDelta[] = [];
      for (let v = version; ; ) {
        const b = this.historyDb.get([gatewayId, v]);
        if (!b) {
          if (deltas.length) throw new SwitchbackError('INTERNAL', `history of ${gatewayId}: version ${v}, the base of a kept delta, is missing`);
          return undefined;
        }
        if (b[0] !== DELTA_RECORD) {
          let t = FlowTable.decode(b);
          try {
            for (let i = deltas.length - 1; i >= 0; i--) t = applyDelta(t, deltas[i]!);
          } catch (err) {
            throw new SwitchbackError('INTERNAL', `history of ${gatewayId}: a kept delta does not apply: ${(err as Error).message}`, { cause: err });
          }
          return t;
        }
        const d = TableDelta.decode(b.subarray(3));
        if (deltas.length > HISTORY_PER_GATEWAY + 32 || d.baseVersion >= v) throw new SwitchbackError('INTERNAL', `history of ${gatewayId}: delta ${d.baseVersion}->${v} does not lead back to a whole table`);
        deltas.push(d);
        v = d.baseVersion;
      }
    });
  }

  tables(): FlowTable[] {
    return [...this.tablesDb.getRange()].map((e) => this.current(e.key, e.value)!);
  }

  linkKeys(): Map<string, LinkKey> {
    // Every change reads them (a table carries its links' keys): kept as
    // read, in step with commits, instead of decoding thousands per change.
    this.cachedKeys ??= new Map([...this.keysDb.getRange()].map((e) => [e.key, e.value]));
    return new Map(this.cachedKeys);
  }

  ack(gatewayId: string): AckState | undefined {
    return this.acksDb.get(gatewayId);
  }

  acks(): Map<string, AckState> {
    return new Map([...this.acksDb.getRange()].map((e) => [e.key, e.value]));
  }

  setAck(gatewayId: string, ack: AckState): void {
    // Acks arrive in bursts from many agents; the asynchronous put batches
    // them into few commits. Losing the last ack in a crash is harmless: the
    // agent says Hello with its version when it reconnects.
    this.background(this.guard(() => this.acksDb.put(gatewayId, ack)), 'ack');
  }

  linkStats(): Map<string, LinkStats> {
    return new Map([...this.statsDb.getRange()].map((e) => [e.key, e.value]));
  }

  setLinkStats(linkId: string, stats: LinkStats): void {
    this.background(this.guard(() => this.statsDb.put(linkId, stats)), 'link stats');
  }

  lastSeq(): number {
    return this.meta.get('lastSeq') ?? 0;
  }

  journal(afterSeq: number, limit: number): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const e of this.journalDb.getRange({ start: afterSeq + 1, limit })) out.push(JournalEntry.decode(e.value));
    return out;
  }

  journalSize(): number {
    return this.journalDb.getCount();
  }

  commit(c: Commit): JournalEntry {
    let nextTopology: Topology | undefined;
    const entry = this.guard(() =>
      this.env.transactionSync(() => {
        const seq = this.lastSeq() + 1;
        const versions: { gatewayId: string; version: number }[] = [];
        if (c.topology) nextTopology = this.writeTopology(c.topology);
        for (const [gatewayId, content] of c.tables ?? []) {
          // The journal sequence number is the version: versions only grow,
          // across restarts too, and a version names the change that made it.
          const chain = this.deltaChain(gatewayId, c.deltas?.get(gatewayId));
          const enc = c.encodedTables?.get(gatewayId);
          const buf = chain
            ? deltaRecord(chain.length, { ...c.deltas!.get(gatewayId)!, version: seq, epoch: this.epoch })
            : enc
              ? Buffer.concat([encodeTableHeader(gatewayId, enc.nodeId, seq, this.epoch), ...enc.rules, enc.peers])
              : encodeFlowTable({ ...content, gatewayId, version: seq, epoch: this.epoch });
          this.historyDb.put([gatewayId, seq], buf);
          this.tablesDb.put(gatewayId, currentPointer(seq));
          this.pruneHistory(gatewayId);
          versions.push({ gatewayId, version: seq });
        }
        for (const gw of c.removedTables ?? []) {
          this.tablesDb.remove(gw);
          this.acksDb.remove(gw);
          for (const { key } of this.historyDb.getRange({ start: [gw], end: [gw, Infinity] })) this.historyDb.remove(key);
        }
        for (const [linkId, k] of c.keys ?? []) this.keysDb.put(linkId, k);
        for (const linkId of c.removedKeys ?? []) {
          this.keysDb.remove(linkId);
          this.statsDb.remove(linkId);
        }
        const e: JournalEntry = {
          seq,
          atUnixMs: c.atMs,
          actor: c.actor,
          action: c.action,
          subject: c.subject,
          summary: c.summary,
          tables: versions.sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : 1)),
        };
        this.journalDb.put(seq, Buffer.from(JournalEntry.encode(e).finish()));
        this.meta.put('lastSeq', seq);
        return e;
      }),
    );
    if (c.topology) this.cachedTopology = nextTopology;
    if (this.cachedKeys) {
      // What the database now holds, read back (not the caller's objects).
      for (const linkId of c.keys?.keys() ?? []) this.cachedKeys.set(linkId, this.keysDb.get(linkId)!);
      for (const linkId of c.removedKeys ?? []) this.cachedKeys.delete(linkId);
    }
    return entry;
  }

  caMaterial(): CaMaterial | undefined {
    return this.caDb.get('ca');
  }

  putCaMaterial(m: CaMaterial): void {
    this.guard(() => this.caDb.putSync('ca', plain(m)));
  }

  enrollments(): Map<string, Enrollment> {
    return new Map([...this.enrollmentsDb.getRange()].map((e) => [e.key, e.value]));
  }

  enrollment(gatewayId: string): Enrollment | undefined {
    return this.enrollmentsDb.get(gatewayId);
  }

  putEnrollment(e: Enrollment): void {
    this.guard(() => this.enrollmentsDb.putSync(e.gatewayId, plain(e)));
  }

  adminCredentials(): Map<string, AdminCredential> {
    return new Map([...this.credentialsDb.getRange()].map((e) => [e.key, e.value]));
  }

  putAdminCredential(c: AdminCredential): void {
    this.guard(() => this.credentialsDb.putSync(c.serial, plain(c)));
  }

  async close(): Promise<void> {
    // After background writes failed on a full volume, lmdb-js may never
    // settle the end of its write queue, and closing would wait forever: a
    // controller must still stop. Whatever was committed is on disk.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), CLOSE_WAIT_MS)));
    const closed = await Promise.race([this.env.close().then(() => false), gaveUp]);
    clearTimeout(timer);
    if (closed) log.warn('store: pending background writes did not finish; closed without them', { failed: this.failedBackgroundWrites });
  }

  /** Writes the model; returns what topology() reads back afterwards when that is known without reading (nothing added). */
  private writeTopology(t: Topology): Topology | undefined {
    const vrfs = this.replaceAll('vrfs', t.vrfs, (v) => v.name);
    const sites = this.replaceAll('sites', t.sites, (s) => s.id);
    const gateways = this.replaceAll('gateways', t.gateways, (g) => g.id);
    const links = this.replaceAll('links', t.links, (l) => l.id);
    const prefixes = this.replaceAll('prefixes', t.prefixes, (p) => [p.siteId, p.vrf, p.cidr]);
    if (!vrfs || !sites || !gateways || !links || !prefixes) return undefined;
    return Object.freeze({ vrfs, sites, gateways, links, prefixes });
  }

  /**
   * Makes a model database hold exactly `items`, writing only what differs.
   * Returns the items in database order as topology() would read them back,
   * when that follows from the kept model (no item added), else undefined.
   */
  private replaceAll<T>(kind: Kind, items: readonly T[], keyOf: (t: T) => unknown): T[] | undefined {
    const db = this.model[kind];
    const wanted = new Map<string, { key: unknown; value: T }>();
    for (const item of items) {
      const key = keyOf(item);
      wanted.set(JSON.stringify(key), { key, value: item });
    }
    // What is stored: the model as last read, when kept (it is what the
    // database holds, keys included), else read now.
    const cached = this.cachedTopology?.[kind] as readonly T[] | undefined;
    const stored = cached ? cached.map((value) => ({ key: keyOf(value), value })) : db.getRange();
    const kept: T[] | undefined = cached ? [] : undefined;
    for (const { key, value } of stored) {
      const k = JSON.stringify(key);
      const w = wanted.get(k);
      if (!w) {
        db.remove(key);
        continue;
      }
      wanted.delete(k);
      // The caller's frozen objects are kept in place of equal ones: a
      // model that shares most objects with the last one (a link's state
      // changed) is then compared by identity.
      if (w.value === value || JSON.stringify(w.value) === JSON.stringify(value)) {
        kept?.push(Object.isFrozen(w.value) ? w.value : value);
        continue;
      }
      const v = plain(w.value);
      db.put(key, v);
      kept?.push(deepFreeze(v));
    }
    for (const { key, value } of wanted.values()) db.put(key, plain(value));
    return wanted.size === 0 && kept ? Object.freeze(kept) as T[] : undefined;
  }

  /**
   * Whether `delta` may be stored in place of the gateway's new table: it
   * starts from the current version, and the chain of deltas back to a
   * whole table stays short. The new record's place in the chain, if so.
   */
  private deltaChain(gatewayId: string, delta: TableDelta | undefined): { length: number } | undefined {
    if (!delta) return undefined;
    const ptr = this.tablesDb.getBinaryFast(gatewayId);
    if (!ptr || ptr.length !== 9 || ptr[0] !== CURRENT_POINTER || ptr.readDoubleLE(1) !== delta.baseVersion) return undefined;
    const base = this.historyDb.getBinaryFast([gatewayId, delta.baseVersion]);
    if (!base) return undefined;
    const length = (base[0] === DELTA_RECORD ? base.readUInt16LE(1) : 0) + 1;
    return length <= maxChain(gatewayId) ? { length } : undefined;
  }

  /** Keeps the newest HISTORY_PER_GATEWAY versions, and the whole table and deltas the oldest of them is built from. */
  private pruneHistory(gatewayId: string): void {
    const keys = [...this.historyDb.getKeys({ start: [gatewayId], end: [gatewayId, Infinity] })];
    let keepFrom = keys.length - HISTORY_PER_GATEWAY;
    // A delta's base is the version before it, the key before it.
    while (keepFrom > 0 && this.historyDb.getBinaryFast(keys[keepFrom]!)?.[0] === DELTA_RECORD) keepFrom--;
    for (const key of keys.slice(0, Math.max(0, keepFrom))) this.historyDb.remove(key);
  }

  /**
   * An asynchronous put's failure (a full volume) must not become an
   * unhandled rejection that ends the process: the value is one a
   * reconnecting agent or the next report restores, so it is logged.
   */
  private background(p: Promise<unknown>, what: string): void {
    p.catch((err: unknown) => {
      // lmdb-js rejects a second promise with the commit's own error.
      const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
      commitError?.catch(() => undefined);
      // The first failure, then one line per thousand: a full volume fails them all.
      if (this.failedBackgroundWrites++ % 1000 === 0) log.warn(`store: ${what} not written`, { error: err instanceof Error ? err.message : String(err), failed: this.failedBackgroundWrites });
    });
  }

  /** LMDB failures become family errors; a full map or volume is RESOURCE_EXHAUSTED. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof SwitchbackError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      // Growing the file onto a full volume reports EIO, not ENOSPC.
      if (/MDB_MAP_FULL|No space left|ENOSPC/i.test(msg) || (/Input\/output error|EIO/.test(msg) && this.volumeFull())) {
        throw new SwitchbackError('RESOURCE_EXHAUSTED', `store is full: ${msg}`, { cause: err });
      }
      throw new SwitchbackError('INTERNAL', `store: ${msg}`, { cause: err });
    }
  }

  /** Less than 1 MiB left for the store's files. */
  private volumeFull(): boolean {
    try {
      const fs = statfsSync(this.path);
      return fs.bavail * fs.bsize < 2 ** 20;
    } catch {
      return false;
    }
  }
}

function deltaRecord(chain: number, d: TableDelta): Buffer {
  const body = TableDelta.encode(d).finish();
  const out = Buffer.allocUnsafe(3 + body.length);
  out[0] = DELTA_RECORD;
  out.writeUInt16LE(chain, 1);
  out.set(body, 3);
  return out;
}

/** Strips prototypes and undefined fields so msgpack stores plain data. */
function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
