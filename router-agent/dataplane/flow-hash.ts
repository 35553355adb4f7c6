// The flow hash that spreads traffic over equal-cost next hops: the
// addresses, the protocol and (for TCP, UDP, SCTP, UDP-Lite, in the first
// fragment) the ports, mixed with MurmurHash3's 32-bit steps. Every packet
// of a flow hashes alike, so a flow stays on one path and is not reordered.
// IPv4 later fragments carry no ports and hash by addresses only, as routers do.

import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, type IpPacket, hasTransport, readInt32 } from './packet.js';

const IPPROTO_UDPLITE = 136;

function mixIn(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finaliser: every input bit moves every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of the packet's 5-tuple (parsed into `p`), keyed by `seed`. */
export function flowHash(pkt: Uint8Array, p: IpPacket, seed: number): number {
  let h = seed | 0;
  const words = p.family === 4 ? 1 : 4;
  for (let i = 0; i < words; i++) h = mixIn(h, readInt32(pkt, p.srcOffset + 4 * i));
  for (let i = 0; i < words; i++) h = mixIn(h, readInt32(pkt, p.dstOffset + 4 * i));
  const proto = p.protocol;
  h = mixIn(h, proto);
  if (
    (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE) &&
    hasTransport(p, 4)
  ) {
    h = mixIn(h, readInt32(pkt, p.l4Offset));
  }
  return fmix32(h);
}
