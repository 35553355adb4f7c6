// The two ICMP errors the data plane originates: IPv4 "fragmentation needed
// and DF set" (RFC 792 type 3 code 4, with the next-hop MTU of RFC 1191) and
// ICMPv6 "packet too big" (RFC 4443 section 3.2). Both go back to the sender
// of the oversize packet.
//
// Source address: the oversize packet's destination. The error is written to
// the TUN (or routed back through a tunnel), and a packet entering the host
// from the TUN with one of the host's own addresses as its source would be
// dropped as a martian; the destination is routed through the tunnel, so it
// passes reverse-path filtering, and hosts match the error by its quoted
// header, not by who sent it.

import { finish, onesSum, pseudoHeaderSum, writeIpv4HeaderChecksum } from './checksum.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, type IpPacket, writeUint16, writeUint32 } from './packet.js';

/** RFC 1812 4.3.2.3: an ICMP error carries as much of the packet as fits in 576 bytes. */
export const ICMP4_ERROR_MAX = 576;
/** RFC 4443 2.4(c): as much as fits without exceeding the minimum IPv6 MTU. */
export const ICMP6_ERROR_MAX = 1280;
export const ICMP_ERROR_TTL = 64;

/**
 * RFC 1812 4.3.2.7 / RFC 4443 2.4(e): no ICMP error about an ICMP error, a
 * later fragment, or a packet whose source does not name one host
 * (unspecified, loopback, multicast, broadcast, class E / IPv6 multicast).
 */
export function mayReplyWithIcmpError(pkt: Uint8Array, p: IpPacket): boolean {
  const s = p.srcOffset;
  if (p.family === 4) {
    if (p.fragmentOffset !== 0) return false;
    const a = pkt[s];
    if (a === 0 || a === 127 || a >= 224) return false;
    if (p.protocol === IPPROTO_ICMP) {
      if (p.l4Offset >= p.totalLength) return false;
      const type = pkt[p.l4Offset];
      if (type === 3 || type === 4 || type === 5 || type === 11 || type === 12) return false;
    }
    // The error's source is the packet's destination, which must be unicast.
    return pkt[p.dstOffset] < 224;
  }
  if (p.family === 6) {
    if (pkt[s] === 0xff || pkt[p.dstOffset] === 0xff) return false;
    let unspecifiedOrLoopback = true;
    for (let i = 0; i < 15; i++) if (pkt[s + i] !== 0) unspecifiedOrLoopback = false;
    if (unspecifiedOrLoopback && (pkt[s + 15] === 0 || pkt[s + 15] === 1)) return false;
    if (p.protocol === IPPROTO_ICMPV6) {
      if (p.l4Offset >= p.totalLength) return false;
      if (pkt[p.l4Offset] < 128) return false; // types 0-127 are errors
    }
    return true;
  }
  return false;
}

/** The IPv4 packet carrying ICMP type 3 code 4 about `pkt`, telling its sender to use `mtu`. */
export function buildFragmentationNeeded(pkt: Uint8Array, p: IpPacket, mtu: number): Uint8Array {
  const quoted = Math.min(p.totalLength, ICMP4_ERROR_MAX - 20 - 8);
  const total = 20 + 8 + quoted;
  const out = new Uint8Array(total);
  out[0] = 0x45;
  out[1] = 0xc0; // precedence "internetwork control", as routers send their ICMP
  writeUint16(out, 2, total);
  // identification 0, flags 0, fragment offset 0: 576 bytes never need fragmenting
  out[8] = ICMP_ERROR_TTL;
  out[9] = IPPROTO_ICMP;
  out.set(pkt.subarray(p.dstOffset, p.dstOffset + 4), 12);
  out.set(pkt.subarray(p.srcOffset, p.srcOffset + 4), 16);
  writeIpv4HeaderChecksum(out, 0, 20);
  out[20] = 3;
  out[21] = 4;
  // bytes 24-25 unused (zero), 26-27 next-hop MTU (RFC 1191 section 4)
  writeUint16(out, 26, Math.min(mtu, 0xffff));
  out.set(pkt.subarray(0, quoted), 28);
  const c = finish(onesSum(out, 20, total));
  writeUint16(out, 22, c);
  return out;
}

/** The IPv6 packet carrying ICMPv6 packet too big (type 2 code 0) about `pkt`, with `mtu`. */
export function buildPacketTooBig(pkt: Uint8Array, p: IpPacket, mtu: number): Uint8Array {
  const quoted = Math.min(p.totalLength, ICMP6_ERROR_MAX - 40 - 8);
  const l4Length = 8 + quoted;
  const out = new Uint8Array(40 + l4Length);
  out[0] = 0x60; // version 6, traffic class 0, flow label 0
  writeUint16(out, 4, l4Length);
  out[6] = IPPROTO_ICMPV6;
  out[7] = ICMP_ERROR_TTL;
  out.set(pkt.subarray(p.dstOffset, p.dstOffset + 16), 8);
  out.set(pkt.subarray(p.srcOffset, p.srcOffset + 16), 24);
  out[40] = 2;
  out[41] = 0;
  writeUint32(out, 44, mtu);
  out.set(pkt.subarray(0, quoted), 48);
  const c = finish(pseudoHeaderSum(out, 6, IPPROTO_ICMPV6, l4Length) + onesSum(out, 40, 40 + l4Length));
  writeUint16(out, 42, c);
  return out;
}
