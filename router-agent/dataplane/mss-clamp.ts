// TCP MSS clamping on SYN and SYN-ACK (RFC 879, RFC 6691): the MSS option is
// lowered to what fits the tunnel, so TCP never sends segments that would
// need PMTU discovery to work (ICMP is filtered in too many networks).
// The checksum is updated incrementally (RFC 1624), not recomputed.

import { write16WithChecksum } from './checksum.js';
import { IPPROTO_TCP, type IpPacket, hasTransport, readUint16 } from './packet.js';

const TCP_HEADER_MIN = 20;
const TCP_FLAG_SYN = 0x02;
const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

/** The largest MSS for a path of `mtu` bytes: RFC 6691 counts fixed headers only (20 IPv4 / 40 IPv6, 20 TCP). */
export function mssForMtu(family: 4 | 6, mtu: number): number {
  return mtu - (family === 4 ? 40 : 60);
}

/**
 * Lowers the MSS option of a TCP SYN in `pkt` (parsed into `p`) to `maxMss`
 * in place. True when the packet was changed. Anything malformed in the TCP
 * header or its options leaves the packet untouched: clamping is a courtesy,
 * the receiver judges the segment.
 */
export function clampMss(pkt: Uint8Array, p: IpPacket, maxMss: number): boolean {
  if (p.protocol !== IPPROTO_TCP || !hasTransport(p, TCP_HEADER_MIN)) return false;
  const tcp = p.l4Offset;
  if ((pkt[tcp + 13] & TCP_FLAG_SYN) === 0) return false;
  const headerLength = (pkt[tcp + 12] >>> 4) * 4;
  if (headerLength < TCP_HEADER_MIN || tcp + headerLength > p.totalLength) return false;
  const end = tcp + headerLength;
  let i = tcp + TCP_HEADER_MIN;
  while (i < end) {
    const kind = pkt[i];
    if (kind === OPT_END) return false;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const len = pkt[i + 1];
    if (len < 2 || i + len > end) return false;
    if (kind === OPT_MSS) {
      if (len !== 4) return false;
      const mss = readUint16(pkt, i + 2);
      if (mss <= maxMss) return false;
      write16WithChecksum(pkt, tcp, tcp + 16, i + 2, maxMss);
      return true;
    }
    i += len;
  }
  return false;
}
