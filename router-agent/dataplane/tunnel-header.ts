// The fixed 20-byte header of a Switchback UDP tunnel datagram (layout and
// rationale in docs/protocol.md, "Tunnel packets (UDP)"):
//
//    0       1       2       3
//   +-------+-------+-------+-------+
//   |version| type  |hop lim|key id |   0
//   +-------+-------+-------+-------+
//   |        VRF (24)       | rsvd  |   4
//   +-------+-------+-------+-------+
//   |        sender node id         |   8  \
//   +-------+-------+-------+-------+       |  AEAD nonce (12 bytes)
//   |     counter (64, big-endian)  |  12   |
//   |                               |  16  /
//   +-------+-------+-------+-------+
//
// The whole header is the AEAD's associated data, and bytes 8-19 are its
// nonce, so the nonce is read in place and never built.

import { readUint32, writeUint32 } from './packet.js';

export const TUNNEL_VERSION = 1;
export const TUNNEL_HEADER_LENGTH = 20;
export const NONCE_OFFSET = 8;
export const NONCE_LENGTH = 12;

export const PacketType = { DATA: 1, PROBE: 2, PROBE_REPLY: 3 } as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** Hop limit an ingress agent puts on data packets: enough for any sane zig-zag, small enough to kill a loop fast. */
export const DEFAULT_HOP_LIMIT = 16;

export interface TunnelHeaderFields {
  type: PacketType;
  hopLimit: number;
  keyId: number;
  vrf: number;
  sender: number;
  counterHi: number;
  counterLo: number;
}

export function writeTunnelHeader(
  buf: Uint8Array,
  type: PacketType,
  hopLimit: number,
  keyId: number,
  vrf: number,
  sender: number,
  counterHi: number,
  counterLo: number,
): void {
  buf[0] = TUNNEL_VERSION;
  buf[1] = type;
  buf[2] = hopLimit & 0xff;
  buf[3] = keyId & 0xff;
  buf[4] = (vrf >>> 16) & 0xff;
  buf[5] = (vrf >>> 8) & 0xff;
  buf[6] = vrf & 0xff;
  buf[7] = 0;
  writeUint32(buf, 8, sender);
  writeUint32(buf, 12, counterHi);
  writeUint32(buf, 16, counterLo);
}

export type HeaderError = 'short' | 'version' | 'type' | 'reserved';

/**
 * Checks what can be checked before authentication: length (header and an
 * AEAD tag of `tagLength`), version, a known type, the reserved byte zero.
 * Null when acceptable. Everything else is trusted only after the AEAD
 * opens, since the header is its associated data.
 */
export function checkTunnelHeader(buf: Uint8Array, tagLength: number): HeaderError | null {
  if (buf.length < TUNNEL_HEADER_LENGTH + tagLength) return 'short';
  if (buf[0] !== TUNNEL_VERSION) return 'version';
  const type = buf[1];
  if (type !== PacketType.DATA && type !== PacketType.PROBE && type !== PacketType.PROBE_REPLY) return 'type';
  if (buf[7] !== 0) return 'reserved';
  return null;
}

export const headerType = (buf: Uint8Array): number => buf[1];
export const headerHopLimit = (buf: Uint8Array): number => buf[2];
export const headerKeyId = (buf: Uint8Array): number => buf[3];
export const headerVrf = (buf: Uint8Array): number => (buf[4] << 16) | (buf[5] << 8) | buf[6];
export const headerSender = (buf: Uint8Array): number => readUint32(buf, 8);
export const headerCounterHi = (buf: Uint8Array): number => readUint32(buf, 12);
export const headerCounterLo = (buf: Uint8Array): number => readUint32(buf, 16);

/** All fields as an object (for tests and tools; the per-packet path uses the readers above). */
export function readTunnelHeader(buf: Uint8Array): TunnelHeaderFields {
  return {
    type: buf[1] as PacketType,
    hopLimit: headerHopLimit(buf),
    keyId: headerKeyId(buf),
    vrf: headerVrf(buf),
    sender: headerSender(buf),
    counterHi: headerCounterHi(buf),
    counterLo: headerCounterLo(buf),
  };
}
