// The agent's own record of the last table it applied, so that it forwards
// on that table after a restart even when no controller answers
// (fail-static). One small LMDB environment; a process that runs many agents
// (tests, benchmarks) shares one, keyed by gateway. A new version that came
// as a delta is saved as that delta after the last whole table (a link
// change moves a few rules of 1,000), and after a run of them (maxDeltas)
// the table is written whole again.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { SwitchbackError } from '../../common/errors.js';
import { staggered } from '../../common/stagger.js';
import { createLogger } from '../../common/log.js';
import { applyDelta } from '../../common/flow-table.js';
import { FlowTable, type TableDelta } from '../../common/model.js';
import { TableDelta as TableDeltaCodec } from '../../proto/gen/switchback/v1/flow.js';
import { encodeFlowTable } from '../../common/table-codec.js';

const log = createLogger('control');

export interface HeldTable {
  table: FlowTable;
  /** Highest controller epoch accepted; messages from lower epochs are refused. */
  epoch: number;
}

export interface TableStore {
  load(gatewayId: string): HeldTable | undefined;
  /**
   * Resolves once the record is durable. `delta`, when given, is the change
   * from the table saved before to `held.table` (applied and verified by
   * the caller): a store may keep that instead of the whole table.
   */
  save(gatewayId: string, held: HeldTable, delta?: TableDelta): Promise<void>;
  close(): Promise<void>;
}

interface Stored {
  epoch: number;
  table: Uint8Array;
}

/** A delta saved after the whole table: the epoch held with it, and the TableDelta. */
interface StoredDelta {
  epoch: number;
  delta: Uint8Array;
}

/** Deltas kept after a whole table before the table is written whole again: 8 to 23, by gateway (a fleet-wide change must not make every agent of a process write its whole table in the same round). */
const maxDeltas = (gatewayId: string) => staggered(gatewayId, 8, 16);

export class LmdbTableStore implements TableStore {
  private readonly env: RootDatabase;
  private readonly db: Database<Stored, string>;
  /** Per gateway, [gateway, n] -> the n-th delta (from 1) since its whole table. */
  private readonly deltas: Database<StoredDelta, [string, number]>;
  /** What this process last saved per gateway: the version and how many deltas follow the whole table. */
  private readonly saved = new Map<string, { version: number; deltas: number }>();

  constructor(path: string) {
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      this.env = open({ path, maxDbs: 4 });
      this.db = this.env.openDB({ name: 'applied-table' });
      this.deltas = this.env.openDB({ name: 'applied-deltas' });
    } catch (err) {
      throw new SwitchbackError('UNAVAILABLE', `cannot open the agent's table store at ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  load(gatewayId: string): HeldTable | undefined {
    const rec = this.db.get(gatewayId);
    if (!rec) return undefined;
    let held: HeldTable;
    try {
      const table = FlowTable.decode(rec.table);
      if (table.gatewayId !== gatewayId || !Number.isSafeInteger(rec.epoch)) throw new Error('record is for another gateway or has no epoch');
      held = { table, epoch: rec.epoch };
    } catch (err) {
      // A damaged record is no table at all: the controller (or the KV
      // bucket) supplies one; forwarding on garbage would be worse.
      log.error('stored table is unreadable; starting without one', { gateway: gatewayId, reason: (err as Error).message });
      return undefined;
    }
    // Then the deltas saved since, each checked against its hash: a damaged
    // one ends the chain at the last good version (an older table, which
    // the controller brings up to date).
    let n = 0;
    for (const { value } of this.deltas.getRange({ start: [gatewayId, 1], end: [gatewayId, Infinity] })) {
      try {
        const d = TableDeltaCodec.decode(value.delta);
        held = { table: applyDelta(held.table, d), epoch: Math.max(held.epoch, value.epoch) };
        n++;
      } catch (err) {
        log.error('a stored table delta is unreadable; serving the version before it', { gateway: gatewayId, version: held.table.version, reason: (err as Error).message });
        // The next save writes the whole table (and drops the broken chain).
        n = Infinity;
        break;
      }
    }
    this.saved.set(gatewayId, { version: held.table.version, deltas: n });
    return held;
  }

  async save(gatewayId: string, held: HeldTable, delta?: TableDelta): Promise<void> {
    const last = this.saved.get(gatewayId);
    try {
      if (delta && last && delta.baseVersion === last.version && delta.version === held.table.version && last.deltas < maxDeltas(gatewayId)) {
        // A few rules instead of the whole table (70 KB at 1,000 rules).
        const n = last.deltas + 1;
        this.saved.set(gatewayId, { version: held.table.version, deltas: n });
        await this.deltas.put([gatewayId, n], { epoch: held.epoch, delta: TableDeltaCodec.encode(delta).finish() });
        return;
      }
      this.saved.set(gatewayId, { version: held.table.version, deltas: 0 });
      const table = encodeFlowTable(held.table);
      // The whole table and the end of its deltas in one transaction.
      await this.env.transaction(() => {
        this.db.put(gatewayId, { epoch: held.epoch, table });
        for (const key of this.deltas.getKeys({ start: [gatewayId, 1], end: [gatewayId, Infinity] })) this.deltas.remove(key);
      });
    } catch (err) {
      // Unknown what is on disk now: the next save writes the whole table.
      this.saved.delete(gatewayId);
      throw new SwitchbackError('RESOURCE_EXHAUSTED', `cannot persist table of ${gatewayId}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

/** For the simulator and benchmarks: the same contract, no disk. */
export class MemoryTableStore implements TableStore {
  private readonly data = new Map<string, Stored>();

  load(gatewayId: string): HeldTable | undefined {
    const rec = this.data.get(gatewayId);
    return rec ? { table: FlowTable.decode(rec.table), epoch: rec.epoch } : undefined;
  }

  async save(gatewayId: string, held: HeldTable, _delta?: TableDelta): Promise<void> {
    this.data.set(gatewayId, { epoch: held.epoch, table: encodeFlowTable(held.table) });
  }

  async close(): Promise<void> {}
}
