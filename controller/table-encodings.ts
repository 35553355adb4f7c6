// The encoded form of every gateway's stored table, kept by the controller
// between changes: the bytes of its rules (with where each rule begins), its
// peers and its content hash. A link change moves a few rules in each table
// it touches; with these, the new table's hash comes from the kept bytes
// with those rules' new bytes in their place, and the store, the sessions
// and the NATS bucket use the bytes as they are. About 70 KB per 1,000-rule
// table: the bytes are kept, not the rule objects (ten times that in memory).
import { createHash } from 'node:crypto';
import { canonicalTable, comparePeers, diffPeers } from '../common/flow-table.js';
import type { FlowRule, FlowTable, Peer, TableDelta } from '../common/model.js';
import { encodePeers, encodeRuleField, encodeTableHeader, patchRuleBytes, peersEncoding, ruleSegments, rulesEncoding, type RuleBytes } from '../common/table-codec.js';

export { ruleSegments };

export interface EncodedTable {
  gatewayId: string;
  nodeId: number;
  /** The stored version these bytes are (0 until committed). */
  version: number;
  hash: Buffer;
  rules: RuleBytes;
  ruleCount: number;
  /** In canonical order, with their keys. */
  peers: readonly Peer[];
  peersBytes: Buffer;
}

/** The content hash (common/flow-table.ts tableHash) of a table given in parts. */
export function hashParts(gatewayId: string, nodeId: number, rules: RuleBytes, peersBytes: Buffer): Buffer {
  const h = createHash('sha256').update(encodeTableHeader(gatewayId, nodeId, 0, 0));
  for (const seg of ruleSegments(rules)) h.update(seg);
  return h.update(peersBytes).digest();
}

/** The encoding of a whole table's content (tableHash(t) is its hash). */
export function encodeContent(t: FlowTable): EncodedTable {
  const c = canonicalTable(t);
  const rules = rulesEncoding(c.rules);
  const peersBytes = peersEncoding(c.peers);
  return {
    gatewayId: c.gatewayId,
    nodeId: c.nodeId,
    version: 0,
    hash: hashParts(c.gatewayId, c.nodeId, rules, peersBytes),
    rules,
    ruleCount: c.rules.length,
    peers: c.peers,
    peersBytes,
  };
}

/**
 * `base` with the rules at `indices` (ascending) replaced by `rules` and with
 * `peers` (any order) as its peers: the new content's encoding and hash,
 * and the delta from `base` to it (versions left 0: the commit sets them).
 */
export function patchContent(base: EncodedTable, indices: readonly number[], rules: readonly FlowRule[], peers: readonly Peer[]): { enc: EncodedTable; delta: TableDelta } {
  for (let k = 0; k < indices.length; k++) {
    if (!(indices[k]! >= 0 && indices[k]! < base.ruleCount && (k === 0 || indices[k]! > indices[k - 1]!))) throw new RangeError('rule indices must ascend within the table');
  }
  const canonicalRules = canonicalTable({ gatewayId: '', nodeId: 0, version: 0, epoch: 0, rules: rules as FlowRule[], peers: [] }).rules;
  const ruleBytes = patchRuleBytes(base.rules, indices, canonicalRules.map(encodeRuleField));
  const sortedPeers = peers.slice().sort(comparePeers);
  const peersDiff = diffPeers(base.peers, sortedPeers);
  const peersMoved = peersDiff.removedPeers.length > 0 || peersDiff.upsertedPeers.length > 0;
  const peersBytes = peersMoved ? encodePeers(sortedPeers) : base.peersBytes;
  const hash = hashParts(base.gatewayId, base.nodeId, ruleBytes, peersBytes);
  return {
    enc: { ...base, version: 0, hash, rules: ruleBytes, peers: peersMoved ? sortedPeers : base.peers, peersBytes },
    delta: { gatewayId: base.gatewayId, epoch: 0, baseVersion: base.version, version: 0, removedRules: [], upsertedRules: canonicalRules, ...peersDiff, tableHash: hash },
  };
}

/** The stored form of a table: its content's bytes under a header with version and epoch. */
export function tableBytes(enc: EncodedTable, version: number, epoch: number): Buffer {
  return Buffer.concat(tableParts(enc, version, epoch));
}

/** tableBytes in parts (their concatenation), for a caller that copies them into something larger. */
export function tableParts(enc: EncodedTable, version: number, epoch: number): Uint8Array[] {
  return [encodeTableHeader(enc.gatewayId, enc.nodeId, version, epoch), ...ruleSegments(enc.rules), enc.peersBytes];
}
