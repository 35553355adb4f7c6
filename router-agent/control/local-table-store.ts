// The agent's own record of the last table it applied, so that it forwards
// on that table after a restart even when no controller answers
// (fail-static). One small LMDB environment; a process that runs many agents
// (tests, benchmarks) shares one, keyed by gateway.
import { open, type Database, type RootDatabase } from 'lmdb';
import { mkdirSync } from 'node:fs';
import { SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { FlowTable } from '../../common/model.js';
import { encodeFlowTable } from '../../common/table-codec.js';

const log = createLogger('control');

export interface HeldTable {
  table: FlowTable;
  /** Highest controller epoch accepted; messages from lower epochs are refused. */
  epoch: number;
}

export interface TableStore {
  load(gatewayId: string): HeldTable | undefined;
  /** Resolves once the record is durable. */
  save(gatewayId: string, held: HeldTable): Promise<void>;
  close(): Promise<void>;
}

interface Stored {
  epoch: number;
  table: Uint8Array;
}

export class LmdbTableStore implements TableStore {
  private readonly env: RootDatabase;
  private readonly db: Database<Stored, string>;

  constructor(path: string) {
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
      this.env = open({ path, maxDbs: 2 });
      this.db = this.env.openDB({ name: 'applied-table' });
    } catch (err) {
      throw new SwitchbackError('UNAVAILABLE', `cannot open the agent's table store at ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  load(gatewayId: string): HeldTable | undefined {
    const rec = this.db.get(gatewayId);
    if (!rec) return undefined;
    try {
      const table = FlowTable.decode(rec.table);
      if (table.gatewayId !== gatewayId || !Number.isSafeInteger(rec.epoch)) throw new Error('record is for another gateway or has no epoch');
      return { table, epoch: rec.epoch };
    } catch (err) {
      // A damaged record is no table at all: the controller (or the KV
      // bucket) supplies one; forwarding on garbage would be worse.
      log.error('stored table is unreadable; starting without one', { gateway: gatewayId, reason: (err as Error).message });
      return undefined;
    }
  }

  async save(gatewayId: string, held: HeldTable): Promise<void> {
    try {
      await this.db.put(gatewayId, { epoch: held.epoch, table: encodeFlowTable(held.table) });
    } catch (err) {
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

  async save(gatewayId: string, held: HeldTable): Promise<void> {
    this.data.set(gatewayId, { epoch: held.epoch, table: encodeFlowTable(held.table) });
  }

  async close(): Promise<void> {}
}
