// IPv4 fragmentation (RFC 791 section 3.2) of an inner packet without DF
// that does not fit a tunnel: what a router does, so old applications that
// send large UDP datagrams without DF keep working instead of black-holing.
// (IPv6 routers never fragment; DF packets get ICMP instead.)

import { writeIpv4HeaderChecksum } from './checksum.js';
import { type IpPacket, writeUint16 } from './packet.js';

/**
 * Options copied into every fragment are those with the copied flag
 * (RFC 791: bit 0 of the option type); the others stay in the first one.
 * Returns the copied options padded to 4 bytes, or null when the option
 * list is malformed.
 */
function copiedOptions(pkt: Uint8Array, headerLength: number): Uint8Array | null {
  if (headerLength === 20) return new Uint8Array(0);
  const kept: number[] = [];
  let i = 20;
  while (i < headerLength) {
    const type = pkt[i];
    if (type === 0) break; // end of option list
    if (type === 1) {
      i++;
      continue;
    }
    if (i + 1 >= headerLength) return null;
    const len = pkt[i + 1];
    if (len < 2 || i + len > headerLength) return null;
    if ((type & 0x80) !== 0) for (let k = 0; k < len; k++) kept.push(pkt[i + k]);
    i += len;
  }
  while (kept.length % 4 !== 0) kept.push(0);
  return Uint8Array.from(kept);
}

/**
 * Splits the IPv4 packet into fragments of at most `mtu` bytes each. Null
 * when it cannot be done (DF set, malformed options, MTU too small for 8
 * payload bytes, a fragment already past the largest datagram).
 */
export function fragmentIpv4(pkt: Uint8Array, p: IpPacket, mtu: number): Uint8Array[] | null {
  if (p.family !== 4 || p.dontFragment) return null;
  const firstHeader = p.headerLength;
  const copied = copiedOptions(pkt, firstHeader);
  if (copied === null) return null;
  const laterHeader = 20 + copied.length;
  const firstChunk = (mtu - firstHeader) & ~7;
  const laterChunk = (mtu - laterHeader) & ~7;
  if (firstChunk < 8 || laterChunk < 8) return null;

  const payload = pkt.subarray(firstHeader, p.totalLength);
  const baseOffset = p.fragmentOffset; // refragmenting a fragment keeps its place
  if (baseOffset + payload.length > 0xffff) return null; // past the largest datagram: not reassemblable
  const out: Uint8Array[] = [];
  let done = 0;
  while (done < payload.length) {
    const first = done === 0;
    const hl = first ? firstHeader : laterHeader;
    const chunk = Math.min(first ? firstChunk : laterChunk, payload.length - done);
    const last = done + chunk >= payload.length;
    const f = new Uint8Array(hl + chunk);
    if (first) f.set(pkt.subarray(0, firstHeader), 0);
    else {
      f.set(pkt.subarray(0, 20), 0);
      f[0] = 0x40 | (hl >>> 2);
      f.set(copied, 20);
    }
    writeUint16(f, 2, hl + chunk);
    const more = !last || p.moreFragments;
    writeUint16(f, 6, (more ? 0x2000 : 0) | ((baseOffset + done) >>> 3));
    f.set(payload.subarray(done, done + chunk), hl);
    writeIpv4HeaderChecksum(f, 0, hl);
    out.push(f);
    done += chunk;
  }
  return out;
}
