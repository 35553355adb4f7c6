// The in-memory implementation of the store, for the simulator and tests.
// It behaves like LmdbStore in everything the controller can observe: a new
// epoch per run (`reopen()` is a controller restart over the same data),
// versions that are journal sequence numbers, 32 versions of history per
// gateway, tables and journal entries stored encoded (callers get copies
// and cannot change what is stored), and an atomic commit: the new state is
// built aside and swapped in at the end, so a commit that throws half-way
// leaves nothing behind.
import { SwitchbackError } from '../../common/errors.js';
import { FlowTable, type Topology } from '../../common/model.js';
import { JournalEntry } from '../../proto/gen/switchback/v1/admin.js';
import type { AckState, Commit, LinkKey, LinkStats, Store } from './store.js';

/** Versions kept per gateway so that a reconnecting agent gets a delta (as LmdbStore). */
export const HISTORY_PER_GATEWAY = 32;

/** What survives a restart: the "disk". */
interface Data {
  epoch: number;
  lastSeq: number;
  topology: Topology;
  tables: Map<string, Uint8Array>;
  /** Per gateway: version -> encoded table, versions ascending. */
  history: Map<string, Map<number, Uint8Array>>;
  journal: Uint8Array[];
  keys: Map<string, LinkKey>;
  acks: Map<string, AckState>;
  stats: Map<string, LinkStats>;
}

const EMPTY_TOPOLOGY: Topology = deepFreeze({ vrfs: [], sites: [], gateways: [], links: [], prefixes: [] });

export class MemoryStore implements Store {
  readonly epoch: number;
  private data: Data;
  private closed = false;

  constructor(data?: Data) {
    this.data = data ?? {
      epoch: 0,
      lastSeq: 0,
      topology: EMPTY_TOPOLOGY,
      tables: new Map(),
      history: new Map(),
      journal: [],
      keys: new Map(),
      acks: new Map(),
      stats: new Map(),
    };
    // A new epoch per run, as LmdbStore: agents refuse anything older.
    this.data.epoch += 1;
    this.epoch = this.data.epoch;
  }

  /** A restart: a new store over the same data with the next epoch; this one is closed. */
  reopen(): MemoryStore {
    this.closed = true;
    return new MemoryStore(this.data);
  }

  topology(): Topology {
    return this.data.topology;
  }

  table(gatewayId: string): FlowTable | undefined {
    const b = this.data.tables.get(gatewayId);
    return b ? FlowTable.decode(b) : undefined;
  }

  tableAt(gatewayId: string, version: number): FlowTable | undefined {
    const b = this.data.history.get(gatewayId)?.get(version);
    return b ? FlowTable.decode(b) : undefined;
  }

  tables(): FlowTable[] {
    return [...this.data.tables.keys()].sort(cmp).map((gw) => FlowTable.decode(this.data.tables.get(gw)!));
  }

  linkKeys(): Map<string, LinkKey> {
    return new Map([...this.data.keys.keys()].sort(cmp).map((id) => [id, copyKey(this.data.keys.get(id)!)]));
  }

  ack(gatewayId: string): AckState | undefined {
    const a = this.data.acks.get(gatewayId);
    return a ? { ...a } : undefined;
  }

  acks(): Map<string, AckState> {
    return new Map([...this.data.acks.keys()].sort(cmp).map((gw) => [gw, { ...this.data.acks.get(gw)! }]));
  }

  setAck(gatewayId: string, ack: AckState): void {
    this.open();
    this.data.acks.set(gatewayId, { ...ack });
  }

  linkStats(): Map<string, LinkStats> {
    return new Map([...this.data.stats.keys()].sort(cmp).map((id) => [id, { ...this.data.stats.get(id)! }]));
  }

  setLinkStats(linkId: string, stats: LinkStats): void {
    this.open();
    this.data.stats.set(linkId, { ...stats });
  }

  lastSeq(): number {
    return this.data.lastSeq;
  }

  journal(afterSeq: number, limit: number): JournalEntry[] {
    const from = Math.max(0, Math.floor(afterSeq));
    return this.data.journal.slice(from, from + Math.max(0, limit)).map((b) => JournalEntry.decode(b));
  }

  journalSize(): number {
    return this.data.journal.length;
  }

  commit(c: Commit): JournalEntry {
    this.open();
    const d = this.data;
    try {
      // Build every new structure aside; `d` is untouched until the swap.
      const seq = d.lastSeq + 1;
      const topology = c.topology ? deepFreeze(sortedTopology(plain(c.topology))) : d.topology;
      const tables = new Map(d.tables);
      const history = new Map(d.history);
      const acks = new Map(d.acks);
      const keys = new Map(d.keys);
      const stats = new Map(d.stats);
      const versions: { gatewayId: string; version: number }[] = [];
      for (const [gatewayId, content] of c.tables ?? []) {
        // A copy: the writer's buffer is larger than what it holds.
        const buf = FlowTable.encode({ ...content, gatewayId, version: seq, epoch: this.epoch }).finish().slice();
        tables.set(gatewayId, buf);
        const h = new Map(history.get(gatewayId) ?? []);
        h.set(seq, buf);
        for (const v of [...h.keys()].slice(0, Math.max(0, h.size - HISTORY_PER_GATEWAY))) h.delete(v);
        history.set(gatewayId, h);
        versions.push({ gatewayId, version: seq });
      }
      for (const gw of c.removedTables ?? []) {
        tables.delete(gw);
        acks.delete(gw);
        history.delete(gw);
      }
      for (const [linkId, k] of c.keys ?? []) keys.set(linkId, copyKey(k));
      for (const linkId of c.removedKeys ?? []) {
        keys.delete(linkId);
        stats.delete(linkId);
      }
      const entry: JournalEntry = {
        seq,
        atUnixMs: c.atMs,
        actor: c.actor,
        action: c.action,
        subject: c.subject,
        summary: c.summary,
        tables: versions.sort((a, b) => cmp(a.gatewayId, b.gatewayId)),
      };
      const encoded = JournalEntry.encode(entry).finish().slice();
      const next: Data = { ...d, lastSeq: seq, topology, tables, history, acks, keys, stats };
      // The swap: nothing after this point can fail.
      d.journal.push(encoded);
      this.data = next;
      return JournalEntry.decode(encoded);
    } catch (err) {
      if (err instanceof SwitchbackError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new SwitchbackError('INTERNAL', `store: ${msg}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new SwitchbackError('FAILED_PRECONDITION', 'the store is closed');
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every list in the order LMDB's keys give it (LmdbStore reads the model back by key). */
function sortedTopology(t: Topology): Topology {
  return {
    vrfs: [...t.vrfs].sort((x, y) => cmp(x.name, y.name)),
    sites: [...t.sites].sort((x, y) => cmp(x.id, y.id)),
    gateways: [...t.gateways].sort((x, y) => cmp(x.id, y.id)),
    links: [...t.links].sort((x, y) => cmp(x.id, y.id)),
    prefixes: [...t.prefixes].sort((x, y) => cmp(x.siteId, y.siteId) || cmp(x.vrf, y.vrf) || cmp(x.cidr, y.cidr)),
  };
}

function copyKey(k: LinkKey): LinkKey {
  return {
    key: Buffer.from(k.key),
    keyId: k.keyId,
    ...(k.previousKey ? { previousKey: Buffer.from(k.previousKey) } : {}),
    ...(k.previousKeyId !== undefined ? { previousKeyId: k.previousKeyId } : {}),
    ...(k.nextKey ? { nextKey: Buffer.from(k.nextKey) } : {}),
    ...(k.nextKeyId !== undefined ? { nextKeyId: k.nextKeyId } : {}),
    createdMs: k.createdMs,
    ...(k.phase !== undefined ? { phase: k.phase } : {}),
    ...(k.phaseVersion !== undefined ? { phaseVersion: k.phaseVersion } : {}),
    ...(k.phaseMs !== undefined ? { phaseMs: k.phaseMs } : {}),
  };
}

/** A data-only copy (as msgpack would store it), so later changes to the caller's objects do not leak in. */
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
