// GRE (RFC 2784) with the key and sequence number extensions (RFC 2890), as
// carried in IP protocol 47 to and from ordinary routers. The key carries the
// VRF id. Plain: nothing here is authenticated, so GRE mode is for trusted
// underlays only.
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Checksum (optional)      |       Reserved1 (optional)    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                         Key (optional)                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                 Sequence Number (optional)                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { finish, fold, onesSum } from './checksum.js';
import { readUint16, readUint32, writeUint16, writeUint32 } from './packet.js';

export const GRE_PROTO_IPV4 = 0x0800;
export const GRE_PROTO_IPV6 = 0x86dd;
/** What this side sends: flags+version, protocol, key. */
export const GRE_HEADER_LENGTH = 8;

const FLAG_C = 0x8000;
const FLAG_K = 0x2000;
const FLAG_S = 0x1000;
/**
 * RFC 2784 2.3: a receiver not implementing RFC 1701 MUST discard a packet
 * with any of bits 1-5 set (routing, strict source route, recursion
 * control; bits 2 and 3 are now RFC 2890's K and S) and MUST ignore bits
 * 6-12, which are therefore not checked.
 */
const MUST_BE_ZERO = 0x4000 | 0x0800 | 0x0400;
const VERSION_MASK = 0x0007;

export type GreError = 'short' | 'version' | 'flags' | 'protocol' | 'checksum';

export class GreHeader {
  protocol = 0;
  hasKey = false;
  key = 0;
  hasSequence = false;
  sequence = 0;
  /** Where the payload (the inner IP packet) starts. */
  payloadOffset = 0;
  error: GreError | null = null;
}

/**
 * Decodes the GRE header at buf[0..] into `out`; false with out.error when
 * it is short, has a non-zero version, unknown flags, a protocol other than
 * IPv4/IPv6, or a wrong checksum.
 */
export function decodeGre(buf: Uint8Array, out: GreHeader): boolean {
  out.error = null;
  if (buf.length < 4) return greFail(out, 'short');
  const flags = readUint16(buf, 0);
  if ((flags & VERSION_MASK) !== 0) return greFail(out, 'version');
  if ((flags & MUST_BE_ZERO) !== 0) return greFail(out, 'flags');
  const protocol = readUint16(buf, 2);
  if (protocol !== GRE_PROTO_IPV4 && protocol !== GRE_PROTO_IPV6) return greFail(out, 'protocol');
  let at = 4;
  const hasChecksum = (flags & FLAG_C) !== 0;
  if (hasChecksum) at += 4;
  out.hasKey = (flags & FLAG_K) !== 0;
  const keyAt = at;
  if (out.hasKey) at += 4;
  out.hasSequence = (flags & FLAG_S) !== 0;
  const seqAt = at;
  if (out.hasSequence) at += 4;
  if (buf.length < at) return greFail(out, 'short');
  // RFC 2784 2.5: the checksum covers the GRE header and the payload.
  if (hasChecksum && fold(onesSum(buf, 0, buf.length)) !== 0xffff) return greFail(out, 'checksum');
  out.protocol = protocol;
  out.key = out.hasKey ? readUint32(buf, keyAt) : 0;
  out.sequence = out.hasSequence ? readUint32(buf, seqAt) : 0;
  out.payloadOffset = at;
  return true;
}

function greFail(out: GreHeader, error: GreError): false {
  out.error = error;
  return false;
}

/** Writes the 8-byte GRE header (K set, key = `key`) for an inner packet of `protocol` at buf[at..]. */
export function writeGreHeader(buf: Uint8Array, at: number, protocol: number, key: number): void {
  writeUint16(buf, at, FLAG_K);
  writeUint16(buf, at + 2, protocol);
  writeUint32(buf, at + 4, key);
}

/** A GRE packet carrying `inner`, key = `key`, with the checksum when asked (RFC 2784 C bit). */
export function encodeGre(inner: Uint8Array, protocol: number, key: number, checksum = false): Uint8Array {
  if (!checksum) {
    const out = new Uint8Array(GRE_HEADER_LENGTH + inner.length);
    writeGreHeader(out, 0, protocol, key);
    out.set(inner, GRE_HEADER_LENGTH);
    return out;
  }
  const hl = GRE_HEADER_LENGTH + 4;
  const out = new Uint8Array(hl + inner.length);
  writeUint16(out, 0, FLAG_C | FLAG_K);
  writeUint16(out, 2, protocol);
  writeUint32(out, 8, key);
  out.set(inner, hl);
  writeUint16(out, 4, finish(onesSum(out, 0, out.length)));
  return out;
}
