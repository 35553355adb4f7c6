// A fast protobuf encoder for FlowTable, byte for byte the output of the
// generated FlowTable.encode (same field order, defaults left out). The
// generated writer costs about 3.5 ms for a 1,000-rule table; hashing,
// storing and persisting a table each encode it, and a fleet-wide change
// does that for every gateway on the controller and on each agent. This
// writes into one reused buffer and patches nested lengths in place.
// Values the fast path does not expect (negative or non-integer numbers)
// fall back to the generated encoder, so the output is always the same.
// A table's encoding is the concatenation of its header fields, its rules'
// fields and its peers' fields, so those parts are also encoded, kept and
// patched on their own (hashing a table that differs from a kept one in a
// few rules encodes only those rules).
import { FlowRule, Peer } from '../proto/gen/switchback/v1/flow.js';
import { FlowTable, type NextHop } from './model.js';

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

/** A copy of what was written (the shared buffer is reused by the next call). */
function take(): Buffer {
  const out = Buffer.allocUnsafe(pos);
  buf.copy(out, 0, 0, pos);
  return out;
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

/** The fields before the rules (gateway id, node id, version, epoch), as FlowTable.encode writes them. */
export function encodeTableHeader(gatewayId: string, nodeId: number, version: number, epoch: number): Buffer {
  pos = 0;
  try {
    ensure(32);
    str(10, gatewayId);
    if (nodeId !== 0) {
      buf[pos++] = 16;
      u32(nodeId);
    }
    ensure(24);
    if (version !== 0) {
      buf[pos++] = 24;
      u64(version);
    }
    if (epoch !== 0) {
      buf[pos++] = 32;
      u64(epoch);
    }
  } catch (err) {
    if (err !== FALLBACK) throw err;
    return Buffer.from(FlowTable.encode({ gatewayId, nodeId, version, epoch, rules: [], peers: [] }).finish());
  }
  return take();
}

/**
 * Appends one length-delimited field (`tag`, then `write`'s body) at `pos`;
 * on a value the fast path does not take, the generated encoder's body
 * instead (a nested message is the same bytes either way).
 */
function field<T>(tag: number, v: T, write: (v: T) => void, generated: (v: T) => Uint8Array): void {
  const start = pos;
  try {
    const at = begin(tag);
    write(v);
    end(at);
  } catch (err) {
    if (err !== FALLBACK) throw err;
    pos = start;
    const b = generated(v);
    ensure(1);
    buf[pos++] = tag;
    varint(b.length);
    ensure(b.length);
    buf.set(b, pos);
    pos += b.length;
  }
}

const generatedRule = (r: FlowRule) => FlowRule.encode(r).finish();
const generatedPeer = (p: Peer) => Peer.encode(p).finish();

/** The `rules` fields of a table, with where each rule's field begins. */
export interface EncodedRules {
  readonly bytes: Buffer;
  /** Rule i is bytes[offsets[i] .. offsets[i + 1]). */
  readonly offsets: Uint32Array;
}

function collectRules(count: number, each: (i: number, offsets: Uint32Array) => void): EncodedRules {
  const offsets = new Uint32Array(count + 1);
  pos = 0;
  for (let i = 0; i < count; i++) {
    offsets[i] = pos;
    each(i, offsets);
  }
  offsets[count] = pos;
  return { bytes: take(), offsets };
}

/** One rule's field (tag, length, rule), as FlowTable.encode writes it among the rules. */
export function encodeRuleField(r: FlowRule): Buffer {
  pos = 0;
  field(42, r, rule, generatedRule);
  return take();
}

/** Every rule's field, in the given order. */
export function encodeRules(rules: readonly FlowRule[]): EncodedRules {
  return collectRules(rules.length, (i) => field(42, rules[i]!, rule, generatedRule));
}

function copyFrom(src: Buffer, from: number, to: number): void {
  ensure(to - from);
  src.copy(buf, pos, from, to);
  pos += to - from;
}

/** Every peer's field, in the given order. */
export function encodePeers(peers: readonly Peer[]): Buffer {
  pos = 0;
  for (let i = 0; i < peers.length; i++) field(50, peers[i]!, peer, generatedPeer);
  return take();
}

/**
 * A table's rule fields: a whole encoding with some rules' bytes replaced.
 * Patches pile up over changes (a few small buffers per table) instead of a
 * new 70 KB copy per table per change, until MAX_PATCHES.
 */
export interface RuleBytes {
  readonly base: EncodedRules;
  /** Ascending rule indices whose bytes are `parts[i]` instead of the base's. */
  readonly indices: readonly number[];
  readonly parts: readonly Buffer[];
}

/** Replaced rules kept apart before they are folded into a new base. */
const MAX_PATCHES = 64;

const whole = (base: EncodedRules): RuleBytes => ({ base, indices: [], parts: [] });

/** The rule fields in order, as slices of the base and the patches (no copy). */
export function ruleSegments(r: RuleBytes): Buffer[] {
  const { bytes, offsets } = r.base;
  if (!r.indices.length) return [bytes];
  const out: Buffer[] = [];
  let at = 0;
  for (let k = 0; k < r.indices.length; k++) {
    const i = r.indices[k]!;
    if (offsets[i]! > at) out.push(bytes.subarray(at, offsets[i]!));
    out.push(r.parts[k]!);
    at = offsets[i + 1]!;
  }
  if (at < bytes.length) out.push(bytes.subarray(at));
  return out;
}

/** `r` with the rules at `indices` (strictly ascending) replaced by the fields `fields`. */
export function patchRuleBytes(r: RuleBytes, indices: readonly number[], fields: readonly Buffer[]): RuleBytes {
  if (!indices.length) return r;
  const idx: number[] = [];
  const parts: Buffer[] = [];
  let a = 0;
  let b = 0;
  while (a < r.indices.length || b < indices.length) {
    const x = a < r.indices.length ? r.indices[a]! : Infinity;
    const y = b < indices.length ? indices[b]! : Infinity;
    if (y <= x) {
      idx.push(y);
      parts.push(fields[b++]!);
      if (x === y) a++;
    } else {
      idx.push(x);
      parts.push(r.parts[a++]!);
    }
  }
  if (idx.length <= MAX_PATCHES) return { base: r.base, indices: idx, parts };
  // Fold the patches into a new base (one copy of the table's rules).
  return { base: spliceRules(r.base, idx, parts), indices: [], parts: [] };
}

// Encodings kept with the arrays they encode. Tables are values (nothing
// changes a rule or peer in place, common/flow-table.ts), so an array's
// bytes stay right while its elements do; the elements are compared by
// identity on every use, so an array changed in place is encoded again.
// An agent applying a delta reuses the bytes of every rule it kept
// (patchRulesEncoding, deriveRulesEncoding), so hashing and persisting a
// 1,000-rule table encodes only the rules that changed.
const rulesCache = new WeakMap<readonly FlowRule[], { refs: readonly FlowRule[]; enc: RuleBytes }>();
const peersCache = new WeakMap<readonly Peer[], { refs: readonly Peer[]; bytes: Buffer }>();

function sameRefs<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const snapshotOf = <T>(items: readonly T[]): readonly T[] => (Object.isFrozen(items) ? items : items.slice());

/** The encoding of `rules` (kept with the array). */
export function rulesEncoding(rules: readonly FlowRule[]): RuleBytes {
  const c = rulesCache.get(rules);
  if (c && sameRefs(c.refs, rules)) return c.enc;
  const enc = whole(encodeRules(rules));
  rulesCache.set(rules, { refs: snapshotOf(rules), enc });
  return enc;
}

/** The encoding of `peers` (kept with the array). */
export function peersEncoding(peers: readonly Peer[]): Buffer {
  const c = peersCache.get(peers);
  if (c && sameRefs(c.refs, peers)) return c.bytes;
  const bytes = encodePeers(peers);
  peersCache.set(peers, { refs: snapshotOf(peers), bytes });
  return bytes;
}

const cmpKey = (a: FlowRule, b: FlowRule) => a.vrf - b.vrf || (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);

/**
 * Encodes `next`, a list made from `base` (both in canonical order), copying
 * the bytes of every rule object it shares with `base` when `base`'s
 * encoding is kept; only new rule objects are encoded. Kept with `next`.
 */
export function deriveRulesEncoding(base: readonly FlowRule[], next: readonly FlowRule[]): RuleBytes {
  const c = rulesCache.get(base);
  if (!c || !sameRefs(c.refs, base)) return rulesEncoding(next);
  const have = rulesCache.get(next);
  if (have && sameRefs(have.refs, next)) return have.enc;
  const { bytes, offsets } = c.enc.indices.length ? spliceRules(c.enc.base, c.enc.indices, c.enc.parts) : c.enc.base;
  let i = 0;
  const enc = collectRules(next.length, (j) => {
    const r = next[j]!;
    // Both lists are in canonical order: walk base up to r's key.
    while (i < base.length && base[i] !== r && cmpKey(base[i]!, r) < 0) i++;
    if (i < base.length && base[i] === r) {
      copyFrom(bytes, offsets[i]!, offsets[i + 1]!);
      i++;
    } else field(42, r, rule, generatedRule);
  });
  rulesCache.set(next, { refs: snapshotOf(next), enc: whole(enc) });
  return whole(enc);
}

/** `base` with the rules at `indices` (strictly ascending) replaced by the fields `parts`: one copy per unchanged run. */
export function spliceRules(base: EncodedRules, indices: readonly number[], parts: readonly Buffer[]): EncodedRules {
  const count = base.offsets.length - 1;
  let size = base.bytes.length;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < count && (k === 0 || i > indices[k - 1]!))) throw new RangeError('rule indices must ascend within the table');
    size += parts[k]!.length - (base.offsets[i + 1]! - base.offsets[i]!);
  }
  const offsets = new Uint32Array(count + 1);
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  let i = 0;
  for (let k = 0; k <= indices.length; k++) {
    const stop = k < indices.length ? indices[k]! : count;
    const shift = at - base.offsets[i]!;
    for (let j = i; j < stop; j++) offsets[j] = base.offsets[j]! + shift;
    at += base.bytes.copy(bytes, at, base.offsets[i]!, base.offsets[stop]!);
    if (k === indices.length) break;
    offsets[stop] = at;
    at += parts[k]!.copy(bytes, at);
    i = stop + 1;
  }
  offsets[count] = at;
  return { bytes, offsets };
}

/**
 * Registers the encoding of `next`: `base` with the rules at `indices`
 * (strictly ascending) replaced, everything else the same objects. Copies
 * the kept rules' bytes from `base`'s kept encoding; without one, `next`
 * is encoded whole.
 */
export function patchRulesEncoding(base: readonly FlowRule[], next: readonly FlowRule[], indices: readonly number[]): RuleBytes {
  const c = rulesCache.get(base);
  if (!c || !sameRefs(c.refs, base) || !sameExcept(base, next, indices)) return rulesEncoding(next);
  const enc = patchRuleBytes(c.enc, indices, indices.map((i) => encodeRuleField(next[i]!)));
  rulesCache.set(next, { refs: snapshotOf(next), enc });
  return enc;
}

/** Whether `next` holds `base`'s objects everywhere but at `indices` (strictly ascending). */
function sameExcept<T>(base: readonly T[], next: readonly T[], indices: readonly number[]): boolean {
  if (base.length !== next.length) return false;
  let k = 0;
  for (let i = 0; i < base.length; i++) {
    if (k < indices.length && indices[k] === i) k++;
    else if (base[i] !== next[i]) return false;
  }
  return k === indices.length;
}

/** FlowTable.encode(t).finish(), faster; a new buffer the caller owns. */
export function encodeFlowTable(t: FlowTable): Buffer {
  return Buffer.concat([encodeTableHeader(t.gatewayId, t.nodeId, t.version, t.epoch), ...ruleSegments(rulesEncoding(t.rules)), peersEncoding(t.peers)]);
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
  return encodeSnapshotBytes(encodeFlowTable(table), tableHash);
}

/** A TableSnapshot of an already encoded FlowTable `t`. */
export function encodeSnapshotBytes(t: Uint8Array, tableHash: Uint8Array): Buffer {
  return encodeSnapshotParts([t], tableHash);
}

/**
 * encodeSnapshotBytes of a table given as the parts of its encoding, copied
 * once (a fleet-wide change writes a 70 KB snapshot per gateway to the NATS
 * bucket: joining the table first would copy each twice).
 */
export function encodeSnapshotParts(table: readonly Uint8Array[], tableHash: Uint8Array): Buffer {
  let length = 0;
  for (const p of table) length += p.length;
  const parts: Uint8Array[] = [Buffer.from([10, ...varintBytes(length)]), ...table];
  if (tableHash.length) parts.push(Buffer.from([18, ...varintBytes(tableHash.length)]), tableHash);
  return Buffer.concat(parts);
}
