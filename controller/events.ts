// What the controller service tells its adapters (southbound sessions, the
// admin stream, metrics): a union tagged by `type`, as nats.js does.
import type { FlowTable, TableDelta } from '../common/model.js';
import type { JournalEntry } from './store/store.js';

export type ControllerEvent =
  /**
   * A committed change; `entry.tables` lists the gateways whose table moved.
   * `tables`, when given, holds those new tables (as stored: version and
   * epoch set) with their content hashes, so that listeners need not read
   * and decode them back from the store. `delta`, when given, turns the
   * version stored before this change (`delta.baseVersion`) into `table`.
   */
  | { type: 'journal'; entry: JournalEntry; tables?: ReadonlyMap<string, { table: FlowTable; hash: Buffer; delta?: TableDelta }>; removedTables?: readonly string[] }
  /** A gateway acknowledged a table version. */
  | { type: 'ack'; gatewayId: string; version: number; transport: string }
  /** A gateway's certificate or access was revoked: close its session. */
  | { type: 'revoked'; gatewayId: string }
  /** Routes were computed for a change: how long it took, how many tables moved. */
  | { type: 'computed'; ms: number; tables: number };

export type Listener = (e: ControllerEvent) => void;

export class EventHub {
  private readonly listeners = new Set<Listener>();

  on(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  emit(e: ControllerEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A failing listener (a dead stream) must not stop the others.
      }
    }
  }
}
