// A fast protobuf encoder for FlowTable, byte for byte the output of the
// generated FlowTable.encode (same field order, defaults left out). The
// generated writer costs about 3.5 ms for a 1,000-rule table; hashing,
// storing and persisting a table each encode it, and a fleet-wide change
// does that for every gateway on the controller and on each agent. This
// writes into one reused buffer and patches nested lengths in place.
// Values the fast path does not expect (negative or non-integer numbers)
// fall back to the generated encoder, so the output is always the same.
import { FlowTable, type FlowRule, type NextHop, type Peer } from './model.js';

let buf = Buffer.allocUnsafe(1 << 16);
let pos = 0;

class Fallback extends Error {}
const FALLBACK = new Fallback();

function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  let size = buf.length * 2;
  while (size < pos + n) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, pos);
  buf = next;
}

function varint(v: number): void {
  ensure(10);
  while (v > 127) {
    buf[pos++] = (v & 127) | 128;
    v = v >>> 7;
  }
  buf[pos++] = v;
}

/** uint32 (also the tags and lengths): an integer in [0, 2^32). */
function u32(v: number): void {
  if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) throw FALLBACK;
  varint(v);
}

/** uint64 given as a JS number: a safe non-negative integer. */
function u64(v: number): void {
  if (!(v >= 0 && Number.isSafeInteger(v))) throw FALLBACK;
  ensure(10);
  while (v > 127) {
    buf[pos++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
}

function str(tag: number, s: string): void {
  if (s === '') return;
  ensure(1 + 5 + s.length * 3);
  buf[pos++] = tag;
  const n = s.length;
  // ASCII (ids, prefixes, hosts) is copied directly; anything else through Buffer.
  if (n < 128) {
    const lenAt = pos++;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos + i] = c;
    }
    if (i === n) {
      buf[lenAt] = n;
      pos += n;
      return;
    }
    pos = lenAt;
  }
  const bytes = Buffer.byteLength(s);
  varint(bytes);
  ensure(bytes);
  pos += buf.write(s, pos, 'utf8');
}

function bytes(tag: number, b: Uint8Array): void {
  if (b.length === 0) return;
  buf[pos++] = tag;
  varint(b.length);
  ensure(b.length);
  buf.set(b, pos);
  pos += b.length;
}

/** Starts a length-delimited field: writes `tag` and reserves one length byte. */
function begin(tag: number): number {
  ensure(2);
  buf[pos++] = tag;
  return pos++;
}

/** Ends the field begun at `lenAt`: sets its length, moving the body when it needs more than one byte. */
function end(lenAt: number): void {
  const len = pos - lenAt - 1;
  if (len < 128) {
    buf[lenAt] = len;
    return;
  }
  // Rare (a rule with many next hops, a peer with long keys): make room for a longer length.
  let extra = 0;
  for (let x = len >>> 7; x > 0; x >>>= 7) extra++;
  ensure(extra);
  buf.copy(buf, lenAt + 1 + extra, lenAt + 1, pos);
  const stop = pos + extra;
  pos = lenAt;
  varint(len);
  pos = stop;
}

function nextHop(h: NextHop): void {
  ensure(2);
  str(10, h.gatewayId);
  str(18, h.linkId);
}

function rule(r: FlowRule): void {
  ensure(16);
  if (r.vrf !== 0) {
    buf[pos++] = 8;
    u32(r.vrf);
  }
  str(18, r.prefix);
  if (r.action !== 0) {
    if (!(r.action > 0 && r.action <= 0x7fffffff && Number.isInteger(r.action))) throw FALLBACK;
    buf[pos++] = 24;
    varint(r.action);
  }
  for (let i = 0; i < r.primary.length; i++) {
    const at = begin(34);
    nextHop(r.primary[i]!);
    end(at);
  }
  if (r.backup !== undefined) {
    const at = begin(42);
    nextHop(r.backup);
    end(at);
  }
  str(50, r.destSiteId);
}

function peer(p: Peer): void {
  ensure(16);
  str(10, p.gatewayId);
  if (p.nodeId !== 0) {
    buf[pos++] = 16;
    u32(p.nodeId);
  }
  str(26, p.linkId);
  for (let i = 0; i < p.endpoints.length; i++) {
    const e = p.endpoints[i]!;
    const at = begin(34);
    str(10, e.host);
    if (e.port !== 0) {
      ensure(1);
      buf[pos++] = 16;
      u32(e.port);
    }
    end(at);
  }
  ensure(16);
  if (p.mtu !== 0) {
    buf[pos++] = 40;
    u32(p.mtu);
  }
  bytes(50, p.key);
  ensure(1);
  if (p.keyId !== 0) {
    buf[pos++] = 56;
    u32(p.keyId);
  }
  bytes(66, p.previousKey);
  ensure(1);
  if (p.previousKeyId !== 0) {
    buf[pos++] = 72;
    u32(p.previousKeyId);
  }
  bytes(82, p.nextKey);
  ensure(1);
  if (p.nextKeyId !== 0) {
    buf[pos++] = 88;
    u32(p.nextKeyId);
  }
}

/** FlowTable.encode(t).finish(), faster; a new buffer the caller owns. */
export function encodeFlowTable(t: FlowTable): Buffer {
  pos = 0;
  try {
    ensure(32);
    str(10, t.gatewayId);
    if (t.nodeId !== 0) {
      buf[pos++] = 16;
      u32(t.nodeId);
    }
    ensure(24);
    if (t.version !== 0) {
      buf[pos++] = 24;
      u64(t.version);
    }
    if (t.epoch !== 0) {
      buf[pos++] = 32;
      u64(t.epoch);
    }
    for (let i = 0; i < t.rules.length; i++) {
      const at = begin(42);
      rule(t.rules[i]!);
      end(at);
    }
    for (let i = 0; i < t.peers.length; i++) {
      const at = begin(50);
      peer(t.peers[i]!);
      end(at);
    }
  } catch (err) {
    if (err !== FALLBACK) throw err;
    return Buffer.from(FlowTable.encode(t).finish());
  }
  return Buffer.from(buf.subarray(0, pos));
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** TableSnapshot.encode({ table, tableHash }).finish(), with the table through the fast encoder. */
export function encodeTableSnapshot(table: FlowTable, tableHash: Uint8Array): Buffer {
  const t = encodeFlowTable(table);
  const parts: Uint8Array[] = [Buffer.from([10, ...varintBytes(t.length)]), t];
  if (tableHash.length) parts.push(Buffer.from([18, ...varintBytes(tableHash.length)]), tableHash);
  return Buffer.concat(parts);
}
