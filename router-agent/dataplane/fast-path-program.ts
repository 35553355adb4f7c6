// The native fast path's program (router-agent/io/tun/fastpath.c): a
// compiled table flattened into bytes the C side parses once per change,
// plus the state both sides share -- each peer's replay window, each peer's
// up flag and tunnel MTU (health changes them in place: a datacenter that
// fails takes hundreds of peers down, and recompiling for each would stall
// the event loop), and a counters array the data plane folds into its own
// counters. Pure: no I/O.
//
// What goes in decides what the fast path may take, so everything it must
// leave to JS is marked here: drop rules, rules with more primaries than
// fit a byte, peers whose endpoint the socket cannot send to.
// Layout (little-endian; sizes in fastpath.c):
//   header (48): magic "SBFP", format 2, node id, peers, rules, replay floor
//                hi, lo, hop limit (u8), access slots (u8), 0 (u16),
//                counters length, ECMP hash seed, next hops, 0
//   slots: one u32 VRF per access port, in port order
//   peers (136 each): node id, flags (2 sendable), key id, previous
//                and next key ids (i16, -1 none), 0 (u16), endpoint
//                family (4/6), 0, port (u16), scope id, address (16), key,
//                previous key, next key (32 each, zero when none), ECMP salt
//   rules (32 each): VRF, family, prefix length, action (0 to JS, 1
//                deliver, 2 forward), primaries (u8), the primary's peer
//                index or, for several, where they start in the next hops
//                (i32, -1 none), backup peer index (i32, -1 none), network
//                address (16)
//   next hops: u32 peer indexes, the primaries of ECMP rules in order

import { Action } from '../../common/model.js';
import { isValidIp, parseIp, parsePrefix } from '../../common/prefix.js';
import type { CompiledPeer, CompiledRule, CompiledTable } from './compiled-table.js';
import type { DataPlaneCounters } from './counters.js';

const MAGIC = 0x50464253; // "SBFP" read little-endian
const FORMAT = 2;
const HEADER_SIZE = 48;
const PEER_SIZE = 136;
const RULE_SIZE = 32;
const MAX_SLOTS = 64;
const ACT_TO_JS = 0;
const ACT_DELIVER = 1;
const ACT_FORWARD = 2;

/** Slots of the counters array before the per-rule (2 each) and per-peer (4 each) counters. */
export const FAST_PATH_COUNTERS_BASE = 8;
const C = { egress: 0, ingress: 1, accessPunts: 2, underlayPunts: 3, deliveredBytes: 4, udpDrops: 5, tunErrors: 6 } as const;

/** What the fast path did, in total, since the data plane started. */
export interface FastPathTotals {
  /** Packets from an access port sealed and sent without JS. */
  egress: number;
  /** Datagrams opened and delivered to an access port without JS. */
  ingress: number;
  /** Packets and datagrams it left to the JS data plane. */
  accessPunts: number;
  underlayPunts: number;
  /** Sealed packets the UDP socket's queue refused, TUN writes refused. */
  udpDrops: number;
  tunErrors: number;
}

export const emptyFastPathTotals = (): FastPathTotals => ({ egress: 0, ingress: 0, accessPunts: 0, underlayPunts: 0, udpDrops: 0, tunErrors: 0 });

export interface FastPathProgram {
  readonly bytes: Uint8Array;
  /** One per peer, in program order: the peers' own replay windows. */
  readonly windows: Uint32Array[];
  /** Per peer, in program order: (up << 16) | tunnel MTU. */
  readonly peerStates: Uint32Array;
  /** Gateway id -> index in peers and peerStates. */
  readonly peerIndex: ReadonlyMap<string, number>;
  readonly counters: Float64Array;
  readonly rules: readonly CompiledRule[];
  readonly peers: readonly CompiledPeer[];
}

/** Where programs go: the native fast path (io/fast-path.ts). */
export interface FastPathSink {
  /** Replaces the program in use; null: everything goes to JS. */
  install(program: FastPathProgram | null): void;
}

export interface FastPathProgramOptions {
  /** The VRF of each access port, in the order the fast path numbers them. */
  accessVrfs: readonly number[];
  hopLimit: number;
  /** The data plane's ECMP flow hash seed. */
  hashSeed: number;
  floorHi: number;
  floorLo: number;
  /** The family of the UDP socket: a peer whose endpoint is of the other family is left to JS. */
  socketFamily: 4 | 6;
}

export function buildFastPathProgram(t: CompiledTable, o: FastPathProgramOptions): FastPathProgram {
  if (o.accessVrfs.length > MAX_SLOTS) throw new RangeError(`at most ${MAX_SLOTS} access ports`);
  const peers = t.peers;
  const rules = t.rules;
  const ecmp = (r: CompiledRule) => r.action === Action.FORWARD && r.primaries.length > 1 && r.primaries.length <= 255;
  const nhops = rules.reduce((n, r) => n + (ecmp(r) ? r.primaries.length : 0), 0);
  const size = HEADER_SIZE + 4 * o.accessVrfs.length + PEER_SIZE * peers.length + RULE_SIZE * rules.length + 4 * nhops;
  const bytes = new Uint8Array(size);
  const v = new DataView(bytes.buffer);
  const ncounters = FAST_PATH_COUNTERS_BASE + 2 * rules.length + 4 * peers.length;
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, FORMAT, true);
  v.setUint32(8, t.nodeId, true);
  v.setUint32(12, peers.length, true);
  v.setUint32(16, rules.length, true);
  v.setUint32(20, o.floorHi, true);
  v.setUint32(24, o.floorLo, true);
  v.setUint8(28, o.hopLimit);
  v.setUint8(29, o.accessVrfs.length);
  v.setUint32(32, ncounters, true);
  v.setUint32(36, o.hashSeed, true);
  v.setUint32(40, nhops, true);
  let at = HEADER_SIZE;
  for (const vrf of o.accessVrfs) {
    v.setUint32(at, vrf, true);
    at += 4;
  }
  const index = new Map<CompiledPeer, number>();
  peers.forEach((p, i) => {
    index.set(p, i);
    writePeer(bytes, v, at, p, o.socketFamily);
    at += PEER_SIZE;
  });
  const hops: number[] = [];
  for (const r of rules) {
    const cidr = parsePrefix(r.prefix);
    let action = ACT_TO_JS;
    let primary = r.primaries.length === 1 ? index.get(r.primaries[0])! : -1;
    if (r.action === Action.DELIVER) action = ACT_DELIVER;
    else if (r.action === Action.FORWARD && r.primaries.length <= 1) action = ACT_FORWARD;
    else if (ecmp(r)) {
      action = ACT_FORWARD;
      primary = hops.length;
      for (const p of r.primaries) hops.push(index.get(p)!);
    }
    v.setUint32(at, r.vrf, true);
    v.setUint8(at + 4, cidr.family);
    v.setUint8(at + 5, cidr.length);
    v.setUint8(at + 6, action);
    v.setUint8(at + 7, action === ACT_FORWARD ? r.primaries.length : 0);
    v.setInt32(at + 8, primary, true);
    v.setInt32(at + 12, r.backup ? index.get(r.backup)! : -1, true);
    bytes.set(cidr.bytes, at + 16);
    at += RULE_SIZE;
  }
  for (const h of hops) {
    v.setUint32(at, h, true);
    at += 4;
  }
  return {
    bytes,
    windows: peers.map((p) => p.runtime.replay.state),
    peerStates: Uint32Array.from(peers, peerState),
    peerIndex: new Map(peers.map((p, i) => [p.gatewayId, i])),
    counters: new Float64Array(ncounters),
    rules,
    peers,
  };
}

/** A peer's entry in FastPathProgram.peerStates. */
export function peerState(p: CompiledPeer): number {
  return (((p.up ? 1 : 0) << 16) | Math.max(0, Math.min(65535, p.tunnelMtu))) >>> 0;
}

function writePeer(bytes: Uint8Array, v: DataView, at: number, p: CompiledPeer, socketFamily: 4 | 6): void {
  const ep = p.endpoints[0];
  const addr = ep && !ep.host.includes('%') && isValidIp(ep.host) ? parseIp(ep.host) : null;
  const sendable = addr !== null && addr.family === socketFamily && ep!.port > 0;
  const k = p.keys;
  v.setUint32(at, p.nodeId, true);
  v.setUint8(at + 4, sendable ? 2 : 0);
  v.setUint8(at + 5, k.keyId8);
  v.setInt16(at + 6, k.previousKey !== null ? k.previousKeyId8 : -1, true);
  v.setInt16(at + 8, k.nextKey !== null ? k.nextKeyId8 : -1, true);
  if (sendable) {
    v.setUint8(at + 12, addr.family);
    v.setUint16(at + 14, ep!.port, true);
    bytes.set(addr.bytes, at + 20);
  }
  bytes.set(k.key, at + 36);
  if (k.previousKey !== null) bytes.set(k.previousKey, at + 68);
  if (k.nextKey !== null) bytes.set(k.nextKey, at + 100);
  v.setUint32(at + 132, p.salt, true);
}

/**
 * Adds what the fast path counted under `p` to the data plane's own
 * counters and zeroes it: afterwards the JS counters are the whole truth.
 */
export function foldFastPathCounters(p: FastPathProgram, into: DataPlaneCounters, totals: FastPathTotals): void {
  const c = p.counters;
  totals.egress += c[C.egress];
  totals.ingress += c[C.ingress];
  totals.accessPunts += c[C.accessPunts];
  totals.underlayPunts += c[C.underlayPunts];
  totals.udpDrops += c[C.udpDrops];
  totals.tunErrors += c[C.tunErrors];
  into.deliveredPackets += c[C.ingress];
  into.deliveredBytes += c[C.deliveredBytes];
  let i = FAST_PATH_COUNTERS_BASE;
  for (const r of p.rules) {
    r.counters.packets += c[i++];
    r.counters.bytes += c[i++];
  }
  for (const peer of p.peers) {
    const pc = peer.runtime.counters;
    pc.txPackets += c[i++];
    pc.txBytes += c[i++];
    pc.rxPackets += c[i++];
    pc.rxBytes += c[i++];
  }
  c.fill(0);
}
