// IPv4 (RFC 791) and IPv6 (RFC 8200) header parsing for the per-packet path.
// parseIpPacket fills a caller-owned IpPacket instead of returning a new
// object, so a data plane parses millions of packets with one parse object.
// Every field that decides an offset is bounds-checked against the buffer;
// nothing past the checked length is ever read.

import { ipv4HeaderChecksumValid, updateChecksum16 } from './checksum.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

export const IPV4_HEADER_MIN = 20;
export const IPV6_HEADER_LENGTH = 40;

export type ParseError =
  | 'empty'
  | 'version' // neither 4 nor 6
  | 'short_header' // shorter than the fixed header, or than IHL says
  | 'ihl' // IPv4 IHL below 5
  | 'total_length' // IPv4 total length below the header or past the buffer
  | 'payload_length' // IPv6 payload length past the buffer
  | 'checksum'; // IPv4 header checksum wrong

export class IpPacket {
  family: 0 | 4 | 6 = 0;
  /** IPv4: IHL * 4 (with options); IPv6: 40 (extension headers are payload here). */
  headerLength = 0;
  /** Bytes of the packet as its header states; bytes past it in the buffer are not part of it. */
  totalLength = 0;
  /** IPv4 protocol, or the IPv6 fixed header's next header. */
  protocol = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  dontFragment = false;
  moreFragments = false;
  /** IPv4 fragment offset in bytes (0 for IPv6). */
  fragmentOffset = 0;
  srcOffset = 0;
  dstOffset = 0;
  /** Offset of the transport header: headerLength. */
  l4Offset = 0;
  /** Why the last parse failed, null when it succeeded. */
  error: ParseError | null = null;

  /** True when the transport header starts here (not a later IPv4 fragment). */
  get isFirstFragment(): boolean {
    return this.fragmentOffset === 0;
  }

  /** True for an IPv4 fragment of either kind. */
  get isFragment(): boolean {
    return this.moreFragments || this.fragmentOffset !== 0;
  }
}

/**
 * Parses the IP header at buf[0..] into `out`; false (with out.error set)
 * when any field is out of bounds. `verifyChecksum` checks the IPv4 header
 * checksum (a router must, RFC 1812 5.2.2).
 */
export function parseIpPacket(buf: Uint8Array, out: IpPacket, verifyChecksum = true): boolean {
  out.error = null;
  out.family = 0;
  const len = buf.length;
  if (len === 0) return fail(out, 'empty');
  const version = buf[0] >>> 4;
  if (version === 4) {
    if (len < IPV4_HEADER_MIN) return fail(out, 'short_header');
    const ihl = (buf[0] & 0x0f) * 4;
    if (ihl < IPV4_HEADER_MIN) return fail(out, 'ihl');
    if (ihl > len) return fail(out, 'short_header');
    const total = (buf[2] << 8) | buf[3];
    if (total < ihl || total > len) return fail(out, 'total_length');
    if (verifyChecksum && !ipv4HeaderChecksumValid(buf, 0, ihl)) return fail(out, 'checksum');
    const flagsFrag = (buf[6] << 8) | buf[7];
    out.family = 4;
    out.headerLength = ihl;
    out.totalLength = total;
    out.protocol = buf[9];
    out.ttl = buf[8];
    out.dontFragment = (flagsFrag & 0x4000) !== 0;
    out.moreFragments = (flagsFrag & 0x2000) !== 0;
    out.fragmentOffset = (flagsFrag & 0x1fff) * 8;
    out.srcOffset = 12;
    out.dstOffset = 16;
    out.l4Offset = ihl;
    return true;
  }
  if (version === 6) {
    if (len < IPV6_HEADER_LENGTH) return fail(out, 'short_header');
    const payload = (buf[4] << 8) | buf[5];
    if (IPV6_HEADER_LENGTH + payload > len) return fail(out, 'payload_length');
    out.family = 6;
    out.headerLength = IPV6_HEADER_LENGTH;
    out.totalLength = IPV6_HEADER_LENGTH + payload;
    out.protocol = buf[6];
    out.ttl = buf[7];
    out.dontFragment = true; // IPv6 routers never fragment
    out.moreFragments = false;
    out.fragmentOffset = 0;
    out.srcOffset = 8;
    out.dstOffset = 24;
    out.l4Offset = IPV6_HEADER_LENGTH;
    return true;
  }
  return fail(out, 'version');
}

function fail(out: IpPacket, error: ParseError): false {
  out.error = error;
  out.family = 0;
  return false;
}

/** The 32-bit big-endian word at buf[at] as a signed int (what LpmTable.lookup4 takes without a heap number). */
export function readInt32(buf: Uint8Array, at: number): number {
  return (buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3];
}

export function readUint32(buf: Uint8Array, at: number): number {
  return readInt32(buf, at) >>> 0;
}

export function readUint16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

export function writeUint16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = (v >>> 8) & 0xff;
  buf[at + 1] = v & 0xff;
}

export function writeUint32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = (v >>> 24) & 0xff;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

/** True when a transport header of at least `need` bytes is inside the packet (first fragment only). */
export function hasTransport(p: IpPacket, need: number): boolean {
  return p.family !== 0 && p.fragmentOffset === 0 && p.l4Offset + need <= p.totalLength;
}

/** Decrements the IPv4 TTL (updating the header checksum, RFC 1624) or the IPv6 hop limit, in place. */
export function decrementTtl(buf: Uint8Array, p: IpPacket): void {
  if (p.family === 4) {
    const old = (buf[8] << 8) | buf[9];
    buf[8] = (buf[8] - 1) & 0xff;
    const c = updateChecksum16((buf[10] << 8) | buf[11], old, (buf[8] << 8) | buf[9]);
    buf[10] = c >>> 8;
    buf[11] = c & 0xff;
  } else if (p.family === 6) {
    buf[7] = (buf[7] - 1) & 0xff;
  }
  p.ttl = (p.ttl - 1) & 0xff;
}
