// Packet and table builders for the data plane tests, with a checksum
// written from scratch (not the data plane's) so tests check one against the other.

import { Action, type FlowRule, type FlowTable, type Peer } from '../../common/model.js';
import { parseIp } from '../../common/prefix.js';

/** RFC 1071 checksum, the plain way: sum 16-bit words, fold, complement. */
export function refChecksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

const addr = (text: string) => parseIp(text).bytes;
const u16 = (v: number) => [(v >>> 8) & 0xff, v & 0xff];

export interface V4Options {
  src?: string;
  dst: string;
  protocol?: number;
  ttl?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
  id?: number;
  options?: number[];
  payload?: Uint8Array;
}

export function ipv4(o: V4Options): Uint8Array {
  const opts = o.options ?? [];
  const hl = 20 + opts.length;
  const payload = o.payload ?? new Uint8Array(0);
  const out = new Uint8Array(hl + payload.length);
  out[0] = 0x40 | (hl / 4);
  out.set(u16(out.length), 2);
  out.set(u16(o.id ?? 0x1234), 4);
  out.set(u16((o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOffset ?? 0) >>> 3)), 6);
  out[8] = o.ttl ?? 64;
  out[9] = o.protocol ?? 17;
  out.set(addr(o.src ?? '10.1.0.1'), 12);
  out.set(addr(o.dst), 16);
  out.set(opts, 20);
  out.set(u16(refChecksum(out.subarray(0, hl))), 10);
  out.set(payload, hl);
  return out;
}

export interface V6Options {
  src?: string;
  dst: string;
  nextHeader?: number;
  hopLimit?: number;
  payload?: Uint8Array;
}

export function ipv6(o: V6Options): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const out = new Uint8Array(40 + payload.length);
  out[0] = 0x60;
  out.set(u16(payload.length), 4);
  out[6] = o.nextHeader ?? 17;
  out[7] = o.hopLimit ?? 64;
  out.set(addr(o.src ?? 'fd00:1::1'), 8);
  out.set(addr(o.dst), 24);
  out.set(payload, 40);
  return out;
}

/** The pseudo-header of the IP packet `ip` (already holding its addresses) for an L4 segment of `len` bytes. */
function pseudo(ip: Uint8Array, protocol: number, len: number): number[] {
  if (ip[0] >>> 4 === 4) return [...ip.subarray(12, 20), 0, protocol, ...u16(len)];
  return [...ip.subarray(8, 40), 0, 0, ...u16(len), 0, 0, 0, protocol];
}

/** Recomputes, from scratch, the transport checksum of an IP packet; the checksum field is at l4 + `at`. */
export function refTransportChecksum(ip: Uint8Array, at: number): number {
  const v4 = ip[0] >>> 4 === 4;
  const l4 = v4 ? (ip[0] & 15) * 4 : 40;
  const protocol = v4 ? ip[9] : ip[6];
  const seg = Array.from(ip.subarray(l4));
  seg[at] = 0;
  seg[at + 1] = 0;
  return refChecksum([...pseudo(ip, protocol, seg.length), ...seg]);
}

export function storedTransportChecksum(ip: Uint8Array, at: number): number {
  const l4 = ip[0] >>> 4 === 4 ? (ip[0] & 15) * 4 : 40;
  return (ip[l4 + at] << 8) | ip[l4 + at + 1];
}

export interface TcpOptions {
  sport?: number;
  dport?: number;
  flags?: number;
  options?: number[];
  payload?: Uint8Array;
  /** Sequence and acknowledgement numbers: default 1 and 0. */
  seq?: number;
  ackNo?: number;
}

export const SYN = 0x02;
export const ACK = 0x10;

/** A TCP segment inside `ipBuild`'s packet with a correct checksum. */
export function tcp(ip: V4Options | V6Options, t: TcpOptions, family: 4 | 6 = 4): Uint8Array {
  const opts = t.options ?? [];
  const hl = 20 + opts.length;
  if (hl % 4 !== 0) throw new Error('pad TCP options to 4 bytes');
  const payload = t.payload ?? new Uint8Array(0);
  const seg = new Uint8Array(hl + payload.length);
  seg.set(u16(t.sport ?? 40000), 0);
  seg.set(u16(t.dport ?? 443), 2);
  new DataView(seg.buffer).setUint32(4, (t.seq ?? 1) >>> 0);
  new DataView(seg.buffer).setUint32(8, (t.ackNo ?? 0) >>> 0);
  seg[12] = (hl / 4) << 4;
  seg[13] = t.flags ?? SYN;
  seg.set(u16(65535), 14);
  seg.set(opts, 20);
  seg.set(payload, hl);
  const packet = family === 4 ? ipv4({ ...(ip as V4Options), protocol: 6, payload: seg }) : ipv6({ ...(ip as V6Options), nextHeader: 6, payload: seg });
  const c = refTransportChecksum(packet, 16);
  const l4 = family === 4 ? (packet[0] & 15) * 4 : 40;
  packet.set(u16(c), l4 + 16);
  return packet;
}

export function udp(ip: V4Options | V6Options, payload: Uint8Array, family: 4 | 6 = 4, sport = 5000, dport = 53): Uint8Array {
  const seg = new Uint8Array(8 + payload.length);
  seg.set(u16(sport), 0);
  seg.set(u16(dport), 2);
  seg.set(u16(seg.length), 4);
  seg.set(payload, 8);
  const packet = family === 4 ? ipv4({ ...(ip as V4Options), protocol: 17, payload: seg }) : ipv6({ ...(ip as V6Options), nextHeader: 17, payload: seg });
  const l4 = family === 4 ? (packet[0] & 15) * 4 : 40;
  packet.set(u16(refTransportChecksum(packet, 6) || 0xffff), l4 + 6);
  return packet;
}

export function key(fill: number): Buffer {
  return Buffer.alloc(32, fill);
}

export function peer(gatewayId: string, nodeId: number, k: Buffer, extra: Partial<Peer> = {}): Peer {
  return {
    gatewayId,
    nodeId,
    linkId: `link-${gatewayId}`,
    endpoints: [{ host: `192.0.2.${nodeId}`, port: 4789 }],
    mtu: 1500,
    key: k,
    keyId: 1,
    previousKey: Buffer.alloc(0),
    previousKeyId: 0,
    nextKey: Buffer.alloc(0),
    nextKeyId: 0,
    ...extra,
  };
}

export function forward(vrf: number, prefix: string, primaries: string[], backup?: string): FlowRule {
  return {
    vrf,
    prefix,
    action: Action.FORWARD,
    primary: primaries.map((g) => ({ gatewayId: g, linkId: `link-${g}` })),
    backup: backup === undefined ? undefined : { gatewayId: backup, linkId: `link-${backup}` },
    destSiteId: 'site',
  };
}

export function deliver(vrf: number, prefix: string): FlowRule {
  return { vrf, prefix, action: Action.DELIVER, primary: [], destSiteId: 'here' };
}

export function dropRule(vrf: number, prefix: string): FlowRule {
  return { vrf, prefix, action: Action.DROP, primary: [], destSiteId: '' };
}

export function table(nodeId: number, peers: Peer[], rules: FlowRule[], version = 1): FlowTable {
  return { gatewayId: `gw-${nodeId}`, nodeId, version, epoch: 1, rules, peers };
}
