// Longest-prefix match on (VRF, destination) for the per-packet path.
//
// Structure: one path-compressed binary trie (a radix/Patricia trie) per
// address family, every VRF with its own root. The nodes of a family are
// fixed-size records in one Int32Array (key words, length and has-value
// flag, two child links: 16 bytes for IPv4, 32 for IPv6, so one step of a
// lookup touches one cache line), with a free list; values sit in one plain
// array under the node's number. In front of each VRF's trie sits a small
// directory indexed by the address's top bits (about one slot per entry,
// 16 to 65,536 slots) that says where the walk resumes and what it has
// matched so far.
//
// Why this one:
// - A lookup is a Map read for the VRF, a directory read, then a walk over
//   the few branching nodes left below (each a masked compare and a bit test
//   on typed arrays): no hashing of keys, no keys to build, so it allocates
//   nothing. The walk is bound by memory latency, one dependent read per
//   node; the directory removes the top levels every lookup would cross
//   (with 50k random prefixes in a VRF, one node visited instead of 15).
//   Where all prefixes share their top bits (say, all inside one /16) the
//   directory saves little and the walk is as long as without it.
// - Per-length hash tables need up to 33 (IPv4) or 129 (IPv6) probes with
//   wide keys. Multibit tries with prefix expansion (DIR-24-8, tree bitmap)
//   look up faster still, but copy each prefix into many slots and make
//   deletes and memory much harder to keep right.
// - Insert and delete are local: at most two nodes added or removed and the
//   directory slots under the changed prefix refilled (all of them only for
//   very short prefixes, or when the directory is resized as the VRF doubles
//   or halves), so a table delta is applied in place. A 100k-prefix table
//   takes a few megabytes.
// - All values a lookup touches are int32 (addresses are read as signed
//   32-bit words); on 64-bit V8 those are small integers even before the
//   code is optimised, so no heap numbers are created either.
//
// A node's key is its full prefix with the bits past its length zero. A node
// without a value has two children (except a VRF's root, which sits at
// length 0 and may hold the default route). The child on side b of a node
// of length L has its bit L equal to b and extends the node's prefix.

import { invalid } from './errors.js';
import { type Cidr, type IpFamily, cidrFromBytes, parsePrefix } from './prefix.js';

export const MAX_VRF = 0xffffff; // carried as 24 bits in the tunnel header

export interface LpmEntry<V> {
  vrf: number;
  cidr: Cidr;
  value: V;
}

/** MASK[len * 4 + w]: the bits of 32-bit word w covered by the first len bits of a key. */
const MASK = new Int32Array(129 * 4);
for (let len = 0; len <= 128; len++) {
  for (let w = 0; w < 4; w++) {
    const bits = Math.max(0, Math.min(32, len - 32 * w));
    MASK[len * 4 + w] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
  }
}

const NONE = -1;
const LEN = 0xff; // META bits: the prefix length,
const HAS = 0x100; // and whether the node holds a value

/**
 * One VRF of one family: its trie root and its directory. Slot s of the
 * directory covers the addresses whose top `bits` bits are s and holds
 * [best, next]: the deepest valued node of length < bits on their common
 * walk from the root, and the first node of length >= bits on it (where a
 * lookup continues), NONE for either when there is none.
 */
class Vrf {
  root: number;
  count = 0; // entries in this VRF and family
  bits = 0;
  shift = 32;
  dir = new Int32Array(0);

  constructor(root: number) {
    this.root = root;
  }
}

const DIR_MIN_BITS = 4;
const DIR_MAX_BITS = 16; // 64k slots, 512 KiB: for VRFs with about 64k entries or more

/** Directory size for a VRF of `count` entries: about one slot per entry. */
function dirBits(count: number): number {
  return Math.max(DIR_MIN_BITS, Math.min(DIR_MAX_BITS, 32 - Math.clz32(count)));
}

/**
 * The nodes of one address family; LpmTable is the interface. Node n is the
 * record nodes[n * stride ...]: key words, then META (length | HAS), then the
 * two child node numbers (NONE when absent). A free node links the next free
 * one in its first child slot.
 */
class Trie<V> {
  readonly words: 1 | 4;
  readonly stride: 4 | 8; // a power of two, so a record never straddles more cache lines than needed
  readonly meta: number; // offsets inside a record
  readonly kid: number;
  readonly vrfs = new Map<number, Vrf>();
  nodes: Int32Array;
  values: (V | undefined)[] = [];
  size = 0; // nodes holding a value
  live = 0; // nodes in use, values or not
  private used = 0;
  private freeHead = NONE;

  constructor(words: 1 | 4) {
    this.words = words;
    this.stride = words === 1 ? 4 : 8;
    this.meta = words;
    this.kid = words + 1;
    this.nodes = new Int32Array(16 * this.stride); // small: tests exercise growth
  }

  len(node: number): number {
    return this.nodes[node * this.stride + this.meta] & LEN;
  }

  hasValue(node: number): boolean {
    return (this.nodes[node * this.stride + this.meta] & HAS) !== 0;
  }

  child(node: number, side: number): number {
    return this.nodes[node * this.stride + this.kid + side];
  }

  setChild(node: number, side: number, child: number): void {
    this.nodes[node * this.stride + this.kid + side] = child;
  }

  /** Index of the node holding exactly (vrf, key/len), or NONE. */
  find(vrf: number, key: Int32Array, len: number): number {
    let node = this.vrfs.get(vrf)?.root ?? NONE;
    while (node !== NONE) {
      const nlen = this.len(node);
      if (nlen > len || !this.matches(node, key, nlen)) return NONE;
      if (nlen === len) return this.hasValue(node) ? node : NONE;
      node = this.child(node, bitAt(key, nlen));
    }
    return NONE;
  }

  insert(vrf: number, key: Int32Array, len: number, value: V): void {
    let v = this.vrfs.get(vrf);
    if (v === undefined) {
      v = new Vrf(this.alloc(key, 0));
      this.vrfs.set(vrf, v);
      this.rebuildDir(v);
    }
    const changed = this.link(v.root, key, len, value);
    if (changed === NONE) return; // a value replaced: the directory holds nodes, not values
    v.count++;
    if (dirBits(v.count) > v.bits + 1) this.rebuildDir(v);
    else this.refreshDir(v, key, this.len(changed));
  }

  delete(vrf: number, key: Int32Array, len: number): boolean {
    const v = this.vrfs.get(vrf);
    if (v === undefined) return false;
    const changedLen = this.unlink(v, key, len);
    if (changedLen === NONE) return false;
    v.count--;
    if (v.root === NONE) this.vrfs.delete(vrf);
    else if (dirBits(v.count) < v.bits - 1) this.rebuildDir(v);
    else this.refreshDir(v, key, changedLen);
    return true;
  }

  /** Every (vrf, node) holding a value: VRFs ascending, prefixes in address order. */
  *valued(): Generator<[number, number]> {
    const vrfs = [...this.vrfs.keys()].sort((a, b) => a - b);
    for (const vrf of vrfs) {
      const stack = [this.vrfs.get(vrf)!.root];
      while (stack.length > 0) {
        const node = stack.pop()!;
        if (this.hasValue(node)) yield [vrf, node];
        const c0 = this.child(node, 0);
        const c1 = this.child(node, 1);
        if (c1 !== NONE) stack.push(c1);
        if (c0 !== NONE) stack.push(c0);
      }
    }
  }

  keyBytes(node: number): Uint8Array {
    const out = new Uint8Array(this.words * 4);
    const view = new DataView(out.buffer);
    for (let w = 0; w < this.words; w++) view.setInt32(4 * w, this.nodes[node * this.stride + w]);
    return out;
  }

  /**
   * Puts key/len -> value into the trie under root. Returns the topmost node
   * whose presence or value flag changed (its prefix covers every address
   * whose walk changed), or NONE when only an existing value was replaced.
   */
  private link(root: number, key: Int32Array, len: number, value: V): number {
    let node = root;
    for (;;) {
      const nlen = this.len(node);
      if (nlen === len) {
        const fresh = !this.hasValue(node);
        this.setValue(node, value);
        return fresh ? node : NONE;
      }
      const side = bitAt(key, nlen);
      const child = this.child(node, side);
      if (child === NONE) {
        const leaf = this.leaf(key, len, value);
        this.setChild(node, side, leaf);
        return leaf;
      }
      const clen = this.len(child);
      const common = this.commonLength(child, key, Math.min(len, clen));
      if (common === clen) {
        node = child; // the child's prefix covers ours: go deeper
        continue;
      }
      if (common === len) {
        // Ours covers the child's: put ours between the node and the child.
        const leaf = this.leaf(key, len, value);
        this.setChild(leaf, this.keyBit(child, len), child);
        this.setChild(node, side, leaf);
        return leaf;
      }
      // They part at `common`: a valueless branch node there holds both.
      const branch = this.alloc(key, common);
      const leaf = this.leaf(key, len, value);
      this.setChild(branch, bitAt(key, common), leaf);
      this.setChild(branch, this.keyBit(child, common), child);
      this.setChild(node, side, branch);
      return branch;
    }
  }

  /**
   * Removes the value of key/len from the VRF's trie, pruning nodes that no
   * longer carry a value or a branch (v.root becomes NONE when the VRF is
   * empty). Returns the length of the topmost changed node (a prefix of
   * key), or NONE when key/len held no value.
   */
  private unlink(v: Vrf, key: Int32Array, len: number): number {
    // Walk down remembering the parent and grandparent and the sides taken.
    let node = v.root;
    let parent = NONE;
    let grandparent = NONE;
    let nodeSide = 0;
    let parentSide = 0;
    for (;;) {
      const nlen = this.len(node);
      if (nlen > len || !this.matches(node, key, nlen)) return NONE;
      if (nlen === len) break;
      const side = bitAt(key, nlen);
      const next = this.child(node, side);
      if (next === NONE) return NONE;
      grandparent = parent;
      parentSide = nodeSide;
      parent = node;
      nodeSide = side;
      node = next;
    }
    if (!this.hasValue(node)) return NONE;
    this.nodes[node * this.stride + this.meta] = len; // clears HAS
    this.values[node] = undefined;
    this.size--;

    const c0 = this.child(node, 0);
    const c1 = this.child(node, 1);
    if (node === v.root) {
      if (c0 === NONE && c1 === NONE) this.dropRoot(v);
      return len;
    }
    if (c0 !== NONE && c1 !== NONE) return len; // stays as a branch node
    this.setChild(parent, nodeSide, c0 !== NONE ? c0 : c1); // splice out, or unlink a leaf
    this.release(node);
    if (c0 !== NONE || c1 !== NONE || this.hasValue(parent)) return len;
    // A leaf went; its valueless parent is left with one child (or, the root, none).
    const p0 = this.child(parent, 0);
    const p1 = this.child(parent, 1);
    const parentLen = this.len(parent);
    if (parent === v.root) {
      if (p0 === NONE && p1 === NONE) this.dropRoot(v);
      return parentLen;
    }
    this.setChild(grandparent, parentSide, p0 !== NONE ? p0 : p1);
    this.release(parent);
    return parentLen;
  }

  /** Sizes the directory for the VRF's entry count and fills every slot. */
  private rebuildDir(v: Vrf): void {
    v.bits = dirBits(v.count);
    v.shift = 32 - v.bits;
    v.dir = new Int32Array(2 << v.bits);
    for (let slot = 0; slot < 1 << v.bits; slot++) this.fillSlot(v, slot);
  }

  /** Refills the slots under key/len: the only ones whose walk a change there can alter. */
  private refreshDir(v: Vrf, key: Int32Array, len: number): void {
    const first = (key[0] & MASK[len * 4]) >>> v.shift;
    const count = len >= v.bits ? 1 : 1 << (v.bits - len);
    for (let slot = first; slot < first + count; slot++) this.fillSlot(v, slot);
  }

  private fillSlot(v: Vrf, slot: number): void {
    const top = (slot << v.shift) | 0; // the slot's addresses share these bits of word 0
    let best = NONE;
    let next = NONE;
    let node = v.root;
    while (node !== NONE) {
      const nlen = this.len(node);
      if (nlen >= v.bits) {
        next = node;
        break;
      }
      if (((this.nodes[node * this.stride] ^ top) & MASK[nlen * 4]) !== 0) break;
      if (this.hasValue(node)) best = node;
      node = this.child(node, (top >>> (31 - nlen)) & 1);
    }
    v.dir[2 * slot] = best;
    v.dir[2 * slot + 1] = next;
  }

  /** Bit `pos` of the node's key. */
  private keyBit(node: number, pos: number): number {
    return (this.nodes[node * this.stride + (pos >>> 5)] >>> (31 - (pos & 31))) & 1;
  }

  /** Whether the node's prefix (its first nlen bits) matches the key. */
  private matches(node: number, key: Int32Array, nlen: number): boolean {
    const at = node * this.stride;
    for (let w = 0; w < this.words; w++) {
      if (((this.nodes[at + w] ^ key[w]) & MASK[nlen * 4 + w]) !== 0) return false;
    }
    return true;
  }

  /** Length of the common leading bits of the node's key and `key`, at most `limit`. */
  private commonLength(node: number, key: Int32Array, limit: number): number {
    const at = node * this.stride;
    for (let w = 0; w < this.words; w++) {
      const diff = this.nodes[at + w] ^ key[w];
      if (diff !== 0) return Math.min(limit, 32 * w + Math.clz32(diff));
    }
    return limit;
  }

  /** Stores the value; counts it when the node had none. */
  private setValue(node: number, value: V): void {
    const at = node * this.stride + this.meta;
    if ((this.nodes[at] & HAS) === 0) this.size++;
    this.nodes[at] |= HAS;
    this.values[node] = value;
  }

  private leaf(key: Int32Array, len: number, value: V): number {
    const node = this.alloc(key, len);
    this.setValue(node, value);
    return node;
  }

  /** A fresh node for key/len (bits past len cleared), no value, no children. */
  private alloc(key: Int32Array, len: number): number {
    let node = this.freeHead;
    if (node !== NONE) {
      this.freeHead = this.child(node, 0);
    } else {
      if ((this.used + 1) * this.stride > this.nodes.length) this.grow();
      node = this.used++;
    }
    this.live++;
    const at = node * this.stride;
    for (let w = 0; w < this.words; w++) this.nodes[at + w] = key[w] & MASK[len * 4 + w];
    this.nodes[at + this.meta] = len;
    this.nodes[at + this.kid] = NONE;
    this.nodes[at + this.kid + 1] = NONE;
    this.values[node] = undefined;
    return node;
  }

  private release(node: number): void {
    this.live--;
    this.nodes[node * this.stride + this.meta] = 0;
    this.values[node] = undefined;
    this.setChild(node, 0, this.freeHead);
    this.setChild(node, 1, NONE);
    this.freeHead = node;
  }

  private dropRoot(v: Vrf): void {
    this.release(v.root);
    v.root = NONE;
  }

  private grow(): void {
    const nodes = new Int32Array(this.nodes.length * 2);
    nodes.set(this.nodes);
    this.nodes = nodes;
  }
}

/** Bit `pos` (0 = most significant) of a key held as 32-bit words. */
function bitAt(key: Int32Array, pos: number): number {
  return (key[pos >>> 5] >>> (31 - (pos & 31))) & 1;
}

export class LpmTable<V> {
  private readonly v4 = new Trie<V>(1);
  private readonly v6 = new Trie<V>(4);
  /** Scratch for the key of insert/delete/get, so those do not allocate either. */
  private readonly key = new Int32Array(4);

  /** Adds (vrf, cidr) -> value, replacing the value of an equal key. */
  insert(vrf: number, cidr: Cidr | string, value: V): void {
    const c = this.load(vrf, cidr);
    this.trie(c.family).insert(vrf, this.key, c.length, value);
  }

  /** Removes exactly (vrf, cidr); false when it was not there. */
  delete(vrf: number, cidr: Cidr | string): boolean {
    const c = this.load(vrf, cidr);
    return this.trie(c.family).delete(vrf, this.key, c.length);
  }

  /** The value of exactly (vrf, cidr), not a longest-prefix match. */
  get(vrf: number, cidr: Cidr | string): V | undefined {
    const c = this.load(vrf, cidr);
    const trie = this.trie(c.family);
    const node = trie.find(vrf, this.key, c.length);
    return node === NONE ? undefined : trie.values[node];
  }

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** Trie nodes in use (diagnostics): at most 2 per entry plus one root per VRF and family. */
  get nodeCount(): number {
    return this.v4.live + this.v6.live;
  }

  /**
   * All entries: IPv4 first, then IPv6; VRFs ascending; prefixes in address
   * order. Collected when iteration starts, so the table may change meanwhile.
   */
  *entries(): IterableIterator<LpmEntry<V>> {
    const out: LpmEntry<V>[] = [];
    for (const trie of [this.v4, this.v6]) {
      const family: IpFamily = trie.words === 1 ? 4 : 6;
      for (const [vrf, node] of trie.valued()) {
        const cidr = cidrFromBytes(family, trie.keyBytes(node), trie.len(node));
        out.push({ vrf, cidr, value: trie.values[node] as V });
      }
    }
    yield* out;
  }

  [Symbol.iterator](): IterableIterator<LpmEntry<V>> {
    return this.entries();
  }

  /**
   * Longest match for an IPv4 address given as a 32-bit number, either
   * unsigned (readUInt32BE) or signed (readInt32BE, which avoids creating a
   * heap number in the caller). Does not allocate.
   */
  lookup4(vrf: number, addr: number): V | undefined {
    const t = this.v4;
    const v = t.vrfs.get(vrf);
    if (v === undefined) return undefined;
    const a = addr | 0;
    const slot = (a >>> v.shift) << 1;
    let best = v.dir[slot];
    let node = v.dir[slot + 1];
    const nodes = t.nodes; // records of 4: key, meta, child 0, child 1
    while (node !== NONE) {
      const at = node << 2;
      const meta = nodes[at + 1];
      const len = meta & LEN;
      if (((nodes[at] ^ a) & MASK[len << 2]) !== 0) break;
      if ((meta & HAS) !== 0) best = node;
      if (len === 32) break;
      node = nodes[at + 2 + ((a >>> (31 - len)) & 1)];
    }
    return best === NONE ? undefined : t.values[best];
  }

  /**
   * Longest match for the IPv6 address in addr[offset .. offset+16), e.g. the
   * destination straight out of a packet buffer. Undefined when the buffer is
   * too short or offset is not an integer. Does not allocate.
   */
  lookup6(vrf: number, addr: Uint8Array, offset = 0): V | undefined {
    const t = this.v6;
    const v = t.vrfs.get(vrf);
    if (v === undefined) return undefined;
    const o = offset | 0;
    if (o !== offset || o < 0 || o + 16 > addr.length) return undefined;
    const a0 = (addr[o] << 24) | (addr[o + 1] << 16) | (addr[o + 2] << 8) | addr[o + 3];
    const a1 = (addr[o + 4] << 24) | (addr[o + 5] << 16) | (addr[o + 6] << 8) | addr[o + 7];
    const a2 = (addr[o + 8] << 24) | (addr[o + 9] << 16) | (addr[o + 10] << 8) | addr[o + 11];
    const a3 = (addr[o + 12] << 24) | (addr[o + 13] << 16) | (addr[o + 14] << 8) | addr[o + 15];
    const slot = (a0 >>> v.shift) << 1;
    let best = v.dir[slot];
    let node = v.dir[slot + 1];
    const nodes = t.nodes; // records of 8: 4 key words, meta, child 0, child 1, unused
    while (node !== NONE) {
      const at = node << 3;
      const meta = nodes[at + 4];
      const len = meta & LEN;
      const m = len << 2;
      const diff =
        ((nodes[at] ^ a0) & MASK[m]) |
        ((nodes[at + 1] ^ a1) & MASK[m + 1]) |
        ((nodes[at + 2] ^ a2) & MASK[m + 2]) |
        ((nodes[at + 3] ^ a3) & MASK[m + 3]);
      if (diff !== 0) break;
      if ((meta & HAS) !== 0) best = node;
      if (len === 128) break;
      const w = len >>> 5;
      const word = w === 0 ? a0 : w === 1 ? a1 : w === 2 ? a2 : a3;
      node = nodes[at + 5 + ((word >>> (31 - (len & 31))) & 1)];
    }
    return best === NONE ? undefined : t.values[best];
  }

  /**
   * Longest match for the address of `family` at bytes[offset..]: 4 bytes for
   * IPv4, 16 for IPv6. Undefined when the buffer is too short. Does not allocate.
   */
  lookup(vrf: number, bytes: Uint8Array, offset: number, family: IpFamily): V | undefined {
    if (family === 6) return this.lookup6(vrf, bytes, offset);
    const o = offset | 0;
    if (family !== 4 || o !== offset || o < 0 || o + 4 > bytes.length) return undefined;
    return this.lookup4(vrf, (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]);
  }

  private trie(family: IpFamily): Trie<V> {
    return family === 4 ? this.v4 : this.v6;
  }

  /** Validates vrf and cidr and loads the prefix into this.key. */
  private load(vrf: number, cidr: Cidr | string): Cidr {
    if (!Number.isInteger(vrf) || vrf < 0 || vrf > MAX_VRF) {
      throw invalid('vrf', `must be an integer 0-${MAX_VRF} (24 bits), got ${String(vrf)}`);
    }
    const c = typeof cidr === 'string' ? parsePrefix(cidr) : cidr;
    const bytes = c?.bytes;
    const width = c?.family === 4 ? 4 : c?.family === 6 ? 16 : 0;
    if (width === 0 || !(bytes instanceof Uint8Array) || bytes.length !== width) {
      throw invalid('prefix', 'must be a prefix string or a Cidr from parsePrefix');
    }
    const max = width * 8;
    if (!Number.isInteger(c.length) || c.length < 0 || c.length > max) {
      throw invalid('prefix', `prefix length ${String(c.length)} is out of range for IPv${c.family} (0-${max})`);
    }
    const key = this.key;
    for (let w = 0; w < width / 4; w++) {
      key[w] = (bytes[4 * w] << 24) | (bytes[4 * w + 1] << 16) | (bytes[4 * w + 2] << 8) | bytes[4 * w + 3];
      if ((key[w] & ~MASK[c.length * 4 + w]) !== 0) {
        cidrFromBytes(c.family, bytes, c.length); // throws the host-bits error naming the network
      }
    }
    return c;
  }
}
