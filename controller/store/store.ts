// The controller's store, as a narrow interface: the controller service
// needs only these operations, and every change goes through `commit`, which
// is one atomic transaction (model + recomputed tables + journal entry).
import type { FlowTable, TableDelta, Topology } from '../../common/model.js';
import type { JournalEntry } from '../../proto/gen/switchback/v1/admin.js';

export type { JournalEntry };

/**
 * AEAD key material of one link and the state of its rotation
 * (controller/link-keys/rotation.ts): the next key is accepted but not sent
 * yet, the previous key stays accepted for an overlap after the switch.
 */
export interface LinkKey {
  key: Buffer;
  keyId: number;
  previousKey?: Buffer;
  previousKeyId?: number;
  nextKey?: Buffer;
  nextKeyId?: number;
  /** When the sending key became current (wall ms): the rotation schedule counts from here. */
  createdMs: number;
  /** A rotation in progress: 'announce' (next key out), 'switch' (sending the new key, previous kept). */
  phase?: 'announce' | 'switch';
  /** The table version that carries the phase to the link's ends; both must acknowledge it before the next phase. */
  phaseVersion?: number;
  /** When the phase was committed (wall ms). */
  phaseMs?: number;
}

export interface AckState {
  version: number;
  atMs: number;
  transport: string;
}

/** Measured figures that change often and are not journaled one by one. */
export interface LinkStats {
  rttUs: number;
  lossPpm: number;
  atMs: number;
  /** The cost routing uses when measured RTT moved it off the configured cost. */
  effectiveCost?: number;
}

/**
 * The controller CA (issuer of gateway and controller certificates) and the
 * controller's own NATS identity. Secrets: they live in the store so that one
 * backup of the data directory holds them, as it holds the link keys.
 */
export interface CaMaterial {
  keyPem: string;
  certPem: string;
  /** NKey seed the controller authenticates to NATS with. */
  natsSeed: string;
  createdMs: number;
}

/** What was issued to one gateway, and what of it is revoked. */
export interface Enrollment {
  gatewayId: string;
  /** Serials (upper-case hex, no leading zeros) currently accepted. */
  serials: string[];
  /** Serials refused for good. */
  revokedSerials: string[];
  /** NATS public nkey of the gateway's current credentials ('' when revoked). */
  natsPublicKey: string;
  issuedMs: number;
  notAfterMs: number;
  /** Set while the gateway is revoked (cleared by a new enrollment). */
  revokedMs?: number;
}

/** A client certificate for a person or tool on the admin API (controller/ca/admin-credentials.ts). */
export interface AdminCredential {
  /** Upper-case hex, no leading zeros: the store key. */
  serial: string;
  name: string;
  role: string;
  issuedMs: number;
  notAfterMs: number;
  issuedBy: string;
  revokedMs?: number;
}

/** A table's content as bytes: FlowTable fields 5 (rules, in pieces to be joined) and 6 (peers), as encoded. */
export interface EncodedContent {
  nodeId: number;
  rules: readonly Buffer[];
  peers: Buffer;
}

export interface Commit {
  actor: string;
  action: string;
  subject: string;
  summary: string;
  atMs: number;
  /** The whole new model, when it changed. */
  topology?: Topology;
  /** Tables whose content changed (version and epoch are set by the store). */
  tables?: Map<string, FlowTable>;
  /**
   * Optional, the same tables already encoded (their rules' and peers'
   * fields, common/table-codec.ts), so that a store keeping bytes does not
   * build and encode them again.
   */
  encodedTables?: ReadonlyMap<string, EncodedContent>;
  /**
   * Optional, the same tables as deltas from each gateway's current stored
   * version (`baseVersion`; version and epoch left for the store to set): a
   * store may keep such a delta in place of the whole table.
   */
  deltas?: ReadonlyMap<string, TableDelta>;
  /** Gateways that no longer exist. */
  removedTables?: string[];
  keys?: Map<string, LinkKey>;
  removedKeys?: string[];
}

export interface Store {
  /** This controller run's epoch: larger than every earlier run's. */
  readonly epoch: number;
  topology(): Topology;
  table(gatewayId: string): FlowTable | undefined;
  /** An earlier version of a gateway's table, while it is kept (for deltas). */
  tableAt(gatewayId: string, version: number): FlowTable | undefined;
  tables(): FlowTable[];
  linkKeys(): Map<string, LinkKey>;
  ack(gatewayId: string): AckState | undefined;
  acks(): Map<string, AckState>;
  setAck(gatewayId: string, ack: AckState): void;
  linkStats(): Map<string, LinkStats>;
  setLinkStats(linkId: string, stats: LinkStats): void;
  lastSeq(): number;
  journal(afterSeq: number, limit: number): JournalEntry[];
  journalSize(): number;
  commit(c: Commit): JournalEntry;
  close(): Promise<void>;
}

/** The CA's part of the store (controller/ca), kept apart from the model. */
export interface CaStore {
  caMaterial(): CaMaterial | undefined;
  /** Durable when it returns. */
  putCaMaterial(m: CaMaterial): void;
  enrollments(): Map<string, Enrollment>;
  /** One gateway's enrollment: a single read (every session start asks). */
  enrollment(gatewayId: string): Enrollment | undefined;
  /** Durable when it returns: a revocation must not be lost in a crash. */
  putEnrollment(e: Enrollment): void;
  /** Admin API credentials by serial. */
  adminCredentials(): Map<string, AdminCredential>;
  /** Durable when it returns. */
  putAdminCredential(c: AdminCredential): void;
}
