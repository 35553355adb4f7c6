// Bytes each tunnel adds around an inner packet, so the tunnel MTU is the
// underlay MTU minus these.

import { SEAL_OVERHEAD } from './aead.js';
import { GRE_HEADER_LENGTH } from './gre.js';

export type UnderlayMode = 'udp' | 'gre';

export const UDP_HEADER_LENGTH = 8;
export const DEFAULT_UNDERLAY_MTU = 1500;
/** The smallest underlay MTU a table may give a peer (RFC 791's 576, every IPv4 path carries it). */
export const MIN_UNDERLAY_MTU = 576;

/**
 * Outer IP header + UDP header + tunnel header + AEAD tag (UDP mode: 64
 * bytes over IPv4, 84 over IPv6), or outer IP + GRE with key (GRE mode: 28 / 48).
 */
export function tunnelOverhead(mode: UnderlayMode, outerFamily: 4 | 6): number {
  const ip = outerFamily === 4 ? 20 : 40;
  return mode === 'udp' ? ip + UDP_HEADER_LENGTH + SEAL_OVERHEAD : ip + GRE_HEADER_LENGTH;
}
