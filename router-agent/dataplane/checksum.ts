// The Internet checksum (RFC 1071) and its incremental update (RFC 1624),
// over plain byte arrays. Sums are kept in a JS number and folded at the
// end: a 64 KiB packet sums to under 2^31, so nothing overflows.

/** One's-complement sum of the 16-bit big-endian words of buf[start, end), unfolded. An odd tail byte is padded with zero. */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** Folds a sum to 16 bits (end-around carry). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum to store for a sum taken with the checksum field zero (or skipped). */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Computes and stores the IPv4 header checksum of the header at buf[off, off + headerLength). */
export function writeIpv4HeaderChecksum(buf: Uint8Array, off: number, headerLength: number): void {
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  const c = finish(onesSum(buf, off, off + headerLength));
  buf[off + 10] = c >>> 8;
  buf[off + 11] = c & 0xff;
}

/** True when the stored IPv4 header checksum is right (the sum over the whole header folds to 0xffff). */
export function ipv4HeaderChecksumValid(buf: Uint8Array, off: number, headerLength: number): boolean {
  return fold(onesSum(buf, off, off + headerLength)) === 0xffff;
}

/**
 * The unfolded sum of the TCP/UDP/ICMPv6 pseudo-header (RFC 793 / RFC 8200
 * section 8.1) for the IP packet at buf[0..]: addresses, protocol and the
 * upper-layer length.
 */
export function pseudoHeaderSum(buf: Uint8Array, family: 4 | 6, protocol: number, l4Length: number): number {
  if (family === 4) return onesSum(buf, 12, 20) + protocol + l4Length;
  return onesSum(buf, 8, 40) + Math.floor(l4Length / 0x10000) + (l4Length & 0xffff) + protocol;
}

/**
 * The checksum of a transport segment buf[l4Off, l4Off + l4Length) with its
 * pseudo-header, the checksum field (at l4Off + checksumAt) counted as zero.
 */
export function transportChecksum(
  buf: Uint8Array,
  family: 4 | 6,
  protocol: number,
  l4Off: number,
  l4Length: number,
  checksumAt: number,
): number {
  const field = l4Off + checksumAt;
  const stored = (buf[field] << 8) | buf[field + 1];
  const sum = pseudoHeaderSum(buf, family, protocol, l4Length) + onesSum(buf, l4Off, l4Off + l4Length) - stored;
  return finish(sum);
}

/** RFC 1624 eqn. 3: the new checksum after one 16-bit word changed from `oldWord` to `newWord`. */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  return ~fold((~checksum & 0xffff) + (~oldWord & 0xffff) + newWord) & 0xffff;
}

/**
 * Writes a 16-bit value at buf[at] and updates, incrementally, the checksum
 * stored at buf[checksumOff] that covers words aligned on `wordBase`. The
 * value may straddle two checksum words (a TCP option at an odd offset), so
 * both words are updated.
 */
export function write16WithChecksum(buf: Uint8Array, wordBase: number, checksumOff: number, at: number, value: number): void {
  let c = (buf[checksumOff] << 8) | buf[checksumOff + 1];
  if (((at - wordBase) & 1) === 0) {
    const old = (buf[at] << 8) | buf[at + 1];
    buf[at] = value >>> 8;
    buf[at + 1] = value & 0xff;
    c = updateChecksum16(c, old, value);
  } else {
    const oldA = (buf[at - 1] << 8) | buf[at];
    const oldB = (buf[at + 1] << 8) | buf[at + 2];
    buf[at] = value >>> 8;
    buf[at + 1] = value & 0xff;
    c = updateChecksum16(c, oldA, (buf[at - 1] << 8) | buf[at]);
    c = updateChecksum16(c, oldB, (buf[at + 1] << 8) | buf[at + 2]);
  }
  buf[checksumOff] = c >>> 8;
  buf[checksumOff + 1] = c & 0xff;
}
