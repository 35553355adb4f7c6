// IP addresses and CIDR prefixes, parsed strictly at the edge and turned into
// frozen, canonical values. Decisions (applied the same way everywhere):
// - A prefix always carries its length: '10.0.0.1' is refused by parsePrefix
//   (write '10.0.0.1/32'), so a forgotten length never silently means a host.
// - IPv4 parts and prefix lengths are plain decimal without leading zeros
//   ('010.0.0.0', '/08' are refused): inet_aton and friends read a leading
//   zero as octal, so the same text means different networks to different tools.
// - IPv6 groups are 1-4 hex digits, any case, leading zeros allowed (hex is
//   unambiguous); '::' at most once and standing for at least one zero group;
//   an embedded IPv4 address only in the last 32 bits; zone ids ('%eth0') are
//   refused, since a zone has no meaning in a routing table.
// - No whitespace anywhere, not even around the text.
// - Host bits must be zero; the error suggests the network address.
// - Canonical text: IPv4 dotted decimal; IPv6 per RFC 5952 (lowercase, no
//   leading zeros, the longest run of two or more zero groups - the first on a
//   tie - written '::', IPv4-mapped addresses as '::ffff:192.0.2.1').

import { invalid } from './errors.js';

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** 4 bytes for IPv4, 16 for IPv6, network order. */
  bytes: Uint8Array;
}

export type Cidr = Readonly<{
  family: IpFamily;
  /** The network address, host bits zero; 4 or 16 bytes. */
  bytes: Uint8Array;
  length: number;
  /** Canonical text, e.g. '10.0.0.0/8', '2001:db8::/32'. */
  text: string;
}>;

const MAX_TEXT = 64; // the longest valid prefix text is 49 characters

export function byteLength(family: IpFamily): 4 | 16 {
  return family === 4 ? 4 : 16;
}

export function maxLength(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

/** Parses an IPv4 or IPv6 address (no prefix length). */
export function parseIp(text: string, field = 'address'): IpAddress {
  checkText(text, field, 'IP address', "'192.0.2.1' or '2001:db8::1'");
  if (text.includes('/')) throw invalid(field, `${quote(text)} is not a valid IP address: a prefix length is not allowed here`);
  return parseAddress(text, text, field, 'IP address');
}

/** Parses 'address/length' into a canonical Cidr; see the rules at the top of this file. */
export function parsePrefix(text: string, field = 'prefix'): Cidr {
  checkText(text, field, 'prefix', "'10.0.0.0/8' or '2001:db8::/32'");
  const bad = (problem: string) => invalid(field, `${quote(text)} is not a valid prefix: ${problem}`);
  const slash = text.indexOf('/');
  if (slash < 0) {
    const addr = parseAddress(text, text, field, 'prefix'); // a non-address is reported as such
    throw bad(`the prefix length is missing (for a single address write '${text}/${maxLength(addr.family)}')`);
  }
  if (text.indexOf('/', slash + 1) >= 0) throw bad("more than one '/'");
  const addr = parseAddress(text.slice(0, slash), text, field, 'prefix');
  const length = parseLength(text.slice(slash + 1), addr.family, bad);
  if (!hostBitsZero(addr.bytes, length)) {
    const network = formatIp(addr.family, maskBytes(addr.bytes, length));
    throw bad(`host bits are set beyond /${length}; did you mean '${network}/${length}'?`);
  }
  return makeCidr(addr.family, addr.bytes, length);
}

/**
 * Builds a Cidr from raw network-order bytes (e.g. from a table or a packet).
 * Refuses a wrong byte count, a length out of range or host bits set.
 */
export function cidrFromBytes(family: IpFamily, bytes: Uint8Array, length: number, field = 'prefix'): Cidr {
  if (family !== 4 && family !== 6) throw invalid(field, `family must be 4 or 6, got ${String(family)}`);
  if (!(bytes instanceof Uint8Array) || bytes.length !== byteLength(family)) {
    throw invalid(field, `an IPv${family} address needs ${byteLength(family)} bytes`);
  }
  const max = maxLength(family);
  if (!Number.isInteger(length) || length < 0 || length > max) {
    throw invalid(field, `prefix length ${String(length)} is out of range for IPv${family} (0-${max})`);
  }
  if (!hostBitsZero(bytes, length)) {
    const network = formatIp(family, maskBytes(bytes, length));
    throw invalid(field, `'${formatIp(family, bytes)}/${length}' has host bits set; did you mean '${network}/${length}'?`);
  }
  return makeCidr(family, Uint8Array.from(bytes), length);
}

export function canonicalPrefix(text: string, field = 'prefix'): string {
  return parsePrefix(text, field).text;
}

export function isValidPrefix(text: unknown): boolean {
  return tryParse(() => parsePrefix(text as string));
}

export function isValidIp(text: unknown): boolean {
  return tryParse(() => parseIp(text as string));
}

/** True when the address (same family as the prefix: 4 or 16 bytes) lies inside it. */
export function prefixContains(cidr: Cidr, addrBytes: Uint8Array): boolean {
  if (addrBytes.length !== cidr.bytes.length) return false;
  const full = cidr.length >>> 3;
  for (let i = 0; i < full; i++) if (addrBytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.length & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addrBytes[full] & mask) === cidr.bytes[full];
}

/** Canonical text of an address: dotted decimal, or RFC 5952 for IPv6. */
export function formatIp(family: IpFamily, bytes: Uint8Array): string {
  if (bytes.length !== byteLength(family)) {
    throw invalid('address', `an IPv${family} address needs ${byteLength(family)} bytes, got ${bytes.length}`);
  }
  return family === 4 ? formatIpv4(bytes, 0) : formatIpv6(bytes);
}

// ---------------------------------------------------------------------------

function makeCidr(family: IpFamily, bytes: Uint8Array, length: number): Cidr {
  return Object.freeze({ family, bytes, length, text: `${formatIp(family, bytes)}/${length}` });
}

function tryParse(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
}

/** Refusals shared by addresses and prefixes: wrong type, empty, too long, whitespace. */
function checkText(text: unknown, field: string, what: string, example: string): asserts text is string {
  if (typeof text !== 'string') {
    throw invalid(field, `must be a string like ${example}, got ${text === null ? 'null' : typeof text}`);
  }
  if (text.length === 0) throw invalid(field, `is empty; expected ${what === 'prefix' ? 'a' : 'an'} ${what} like ${example}`);
  if (text.length > MAX_TEXT) {
    throw invalid(field, `${quote(text.slice(0, 24))}... (${text.length} characters) is too long to be ${what === 'prefix' ? 'a' : 'an'} ${what}`);
  }
  if (/\s/.test(text)) {
    const trimmed = text.replace(/\s+/g, '');
    throw invalid(field, `${quote(text)} contains whitespace; write ${quote(trimmed)}`);
  }
}

function parseLength(s: string, family: IpFamily, bad: (problem: string) => Error): number {
  const max = maxLength(family);
  if (s === '') throw bad(`the prefix length after '/' is missing (0-${max})`);
  if (!/^[0-9]+$/.test(s)) throw bad(`prefix length '${s}' is not a number 0-${max}`);
  if (s.length > 1 && s[0] === '0') throw bad(`prefix length '${s}' has a leading zero; write '${String(Number(s))}'`);
  const n = Number(s);
  if (n > max) throw bad(`prefix length ${s} is out of range for IPv${family} (0-${max})`);
  return n;
}

function parseAddress(s: string, whole: string, field: string, what: string): IpAddress {
  const bad = (problem: string) => invalid(field, `${quote(whole)} is not a valid ${what}: ${problem}`);
  if (s === '') throw bad('the address is missing');
  if (s.includes('%')) throw bad(`zone ids ('${s.slice(s.indexOf('%'))}') are not allowed`);
  if (s.includes(':')) return { family: 6, bytes: parseIpv6(s, bad) };
  if (s.includes('.')) {
    const bytes = new Uint8Array(4);
    parseIpv4Into(s, bytes, 0, bad);
    return { family: 4, bytes };
  }
  throw bad(`${quote(s)} is not an IPv4 or IPv6 address`);
}

function parseIpv4Into(s: string, out: Uint8Array, at: number, bad: (problem: string) => Error): void {
  const parts = s.split('.');
  if (parts.length !== 4) {
    throw bad(`an IPv4 address has 4 dot-separated numbers, ${quote(s)} has ${parts.length}`);
  }
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^[0-9]{1,3}$/.test(p)) throw bad(`${p === '' ? 'an empty part' : quote(p)} is not a decimal number 0-255`);
    if (p.length > 1 && p[0] === '0') {
      throw bad(`${quote(p)} has a leading zero (some tools read it as octal); write '${String(Number(p))}'`);
    }
    const n = Number(p);
    if (n > 255) throw bad(`${n} is out of range (each IPv4 part is 0-255)`);
    out[at + i] = n;
  }
}

function parseIpv6(s: string, bad: (problem: string) => Error): Uint8Array {
  const bytes = new Uint8Array(16);
  const firstGap = s.indexOf('::');
  if (firstGap >= 0 && s.indexOf('::', firstGap + 1) >= 0) throw bad("'::' may appear only once");
  // The embedded IPv4 part (if any) fills the last 4 bytes and counts as two groups.
  let v4 = false;
  let hex = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.') >= 0) {
    if (s.indexOf('.') < lastColon) throw bad('an embedded IPv4 address may only come last');
    parseIpv4Into(s.slice(lastColon + 1), bytes, 12, bad);
    v4 = true;
    // Keep the colon before the IPv4 part only when it belongs to '::'.
    hex = s.slice(0, lastColon + (s[lastColon - 1] === ':' ? 1 : 0));
    if (hex === '') throw bad('an embedded IPv4 address must follow IPv6 groups');
  }
  const groupsWanted = v4 ? 6 : 8;
  const parseGroups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').map((g) => {
      if (g === '') throw bad("an empty group (a single ':' at the start or end, or ':::')");
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad(`${quote(g)} is not a group of 1-4 hex digits`);
      return parseInt(g, 16);
    });
  };
  let groups: number[];
  if (firstGap >= 0) {
    const head = parseGroups(hex.slice(0, firstGap));
    const tail = parseGroups(hex.slice(firstGap + 2));
    const missing = groupsWanted - head.length - tail.length;
    if (missing < 1) throw bad(`'::' must stand for at least one zero group, but ${head.length + tail.length + (v4 ? 2 : 0)} groups are already written`);
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    groups = parseGroups(hex);
    if (groups.length !== groupsWanted) {
      throw bad(`an IPv6 address has 8 groups (or '::'), found ${groups.length + (v4 ? 2 : 0)}`);
    }
  }
  for (let i = 0; i < groups.length; i++) {
    bytes[2 * i] = groups[i] >>> 8;
    bytes[2 * i + 1] = groups[i] & 0xff;
  }
  return bytes;
}

function formatIpv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function formatIpv6(b: Uint8Array): string {
  // RFC 5952 section 5: IPv4-mapped addresses keep their dotted tail.
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = b[i] === 0;
  if (mapped) return `::ffff:${formatIpv4(b, 12)}`;

  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // Longest run of zero groups, at least two long; the first wins a tie.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

function hostBitsZero(bytes: Uint8Array, length: number): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((bytes[i] & ~mask & 0xff) !== 0) return false;
  }
  return true;
}

function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** Quotes user text for an error message; control characters are escaped. */
function quote(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x7e]*$/.test(s) ? `'${s}'` : JSON.stringify(s);
}
