// Counters the data plane keeps as plain numbers on the packet path; the
// metrics exporter reads them through DataPlane.snapshot().

import type { FastPathTotals } from './fast-path-program.js';

export const DROP_REASONS = [
  'no_route', // no rule for (VRF, destination), no table yet, or a delivery into a VRF this agent does not serve
  'no_usable_next_hop', // every primary and the backup are down
  'auth', // AEAD failed, or a key id neither current, previous nor next
  'replay', // authenticated but already seen or too old
  'hop_limit', // tunnel hop limit (or, over GRE, the inner TTL) ran out
  'mtu', // did not fit the tunnel and could not be fragmented (an ICMP error may have gone back)
  'malformed', // bad IP, tunnel or GRE header
  'unknown_peer', // a sender id or GRE source that is not a peer in the table
  'policy', // matched a rule whose action is drop
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const DROP_INDEX: Readonly<Record<DropReason, number>> = Object.freeze(
  Object.fromEntries(DROP_REASONS.map((r, i) => [r, i])) as Record<DropReason, number>,
);

export class RuleCounters {
  packets = 0;
  bytes = 0;
}

/** Per tunnel peer; bytes are datagram bytes (tunnel header and tag included, outer IP/UDP not). */
export class PeerCounters {
  txPackets = 0;
  txBytes = 0;
  rxPackets = 0;
  rxBytes = 0;
}

export class DataPlaneCounters {
  /** Indexed by DROP_INDEX. */
  readonly drops = new Float64Array(DROP_REASONS.length);
  deliveredPackets = 0;
  deliveredBytes = 0;
  /** Transit packets re-sent to another peer. */
  transitPackets = 0;
  /** ICMP fragmentation-needed / packet-too-big errors generated. */
  icmpErrors = 0;
  /** Oversize IPv4 packets without DF split into fragments. */
  fragmented = 0;
  /** TCP SYNs whose MSS was lowered. */
  mssClamped = 0;
  probesReceived = 0;
  probesSent = 0;

  dropTotal(): number {
    let n = 0;
    for (let i = 0; i < this.drops.length; i++) n += this.drops[i];
    return n;
  }
}

export interface RuleCountersSnapshot {
  vrf: number;
  prefix: string;
  action: 'deliver' | 'forward' | 'drop';
  packets: number;
  bytes: number;
}

export interface PeerCountersSnapshot {
  gatewayId: string;
  nodeId: number;
  linkId: string;
  up: boolean;
  tunnelMtu: number;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
}

export interface CountersSnapshot {
  tableVersion: number | null;
  drops: Record<DropReason, number>;
  deliveredPackets: number;
  deliveredBytes: number;
  transitPackets: number;
  icmpErrors: number;
  fragmented: number;
  mssClamped: number;
  probesReceived: number;
  probesSent: number;
  rules: RuleCountersSnapshot[];
  peers: PeerCountersSnapshot[];
  /** What the native fast path took and left, while one is attached (its packets are in the counters above too). */
  fastPath?: FastPathTotals;
}
