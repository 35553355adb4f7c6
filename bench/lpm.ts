// Benchmark of common/lpm.ts: 100,000 random prefixes per family, random
// lookups, against the obvious JS implementation (a Map per prefix length,
// string keys) measured in the same run. Run: npm run bench:lpm
//
// Half of the lookup addresses fall inside a random table prefix (random host
// bits), half are uniform; both implementations see the same addresses and
// every answer is compared. A 1,000-prefix table (a large real deployment)
// is measured too, for scale: the trie walk is bound by memory latency, so
// a table that fits in cache is several times faster per lookup.

import v8 from 'node:v8';
import vm from 'node:vm';
import { LpmTable } from '../common/lpm.js';
import { type IpFamily, cidrFromBytes } from '../common/prefix.js';

const PREFIXES = 100_000;
const SMALL = 1_000;
const VRFS = 2;
const LOOKUPS = 1 << 20; // distinct addresses; each timed pass runs them all
const SEED = 0x5eed;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** mulberry32: a small seeded PRNG, so every run uses the same tables. */
function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0; // int32
  };
}

interface Input {
  family: IpFamily;
  vrfs: Int32Array;
  bytes: Uint8Array; // PREFIXES network addresses, 4 or 16 bytes each
  lengths: Uint8Array;
  probeVrfs: Int32Array;
  probes: Uint8Array; // LOOKUPS addresses
}

function makeInput(family: IpFamily, count: number, minLen: number, maxLen: number, seed: number): Input {
  const rnd = prng(seed);
  const width = family === 4 ? 4 : 16;
  const bytes = new Uint8Array(count * width);
  const lengths = new Uint8Array(count);
  const vrfs = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const len = minLen + ((rnd() >>> 0) % (maxLen - minLen + 1));
    lengths[i] = len;
    vrfs[i] = i % VRFS;
    for (let b = 0; b < width; b++) {
      const keep = Math.max(0, Math.min(8, len - 8 * b));
      bytes[i * width + b] = rnd() & ((0xff << (8 - keep)) & 0xff);
    }
  }
  const probes = new Uint8Array(LOOKUPS * width);
  const probeVrfs = new Int32Array(LOOKUPS);
  for (let i = 0; i < LOOKUPS; i++) {
    const inside = (i & 1) === 0;
    const p = (rnd() >>> 0) % count;
    probeVrfs[i] = inside ? vrfs[p] : (rnd() >>> 0) % VRFS;
    for (let b = 0; b < width; b++) {
      const keep = inside ? Math.max(0, Math.min(8, lengths[p] - 8 * b)) : 0;
      const mask = (0xff << (8 - keep)) & 0xff;
      probes[i * width + b] = (bytes[p * width + b] & mask) | (rnd() & ~mask & 0xff);
    }
  }
  return { family, vrfs, bytes, lengths, probeVrfs, probes };
}

/** The obvious implementation: one Map per prefix length, string keys, longest length first. */
class NaiveLpm {
  private readonly byLength = new Map<number, Map<string, number>>();
  private lengthsDesc: number[] = [];

  constructor(private readonly family: IpFamily) {}

  insert(vrf: number, bytes: Uint8Array, offset: number, length: number, value: number): void {
    let m = this.byLength.get(length);
    if (!m) {
      m = new Map();
      this.byLength.set(length, m);
      this.lengthsDesc = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    m.set(this.key(vrf, this.hex(bytes, offset), length), value);
  }

  lookup(vrf: number, bytes: Uint8Array, offset: number): number | undefined {
    const hex = this.hex(bytes, offset);
    for (const len of this.lengthsDesc) {
      const v = this.byLength.get(len)!.get(this.key(vrf, hex, len));
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** vrf, length and the address's first `length` bits as hex (last nibble masked). */
  private key(vrf: number, hex: string, length: number): string {
    const full = length >> 2;
    const rest = length & 3;
    const tail = rest === 0 ? '' : (parseInt(hex[full], 16) & ((0xf << (4 - rest)) & 0xf)).toString(16);
    return `${vrf}/${length}/${hex.slice(0, full)}${tail}`;
  }

  private hex(bytes: Uint8Array, offset: number): string {
    let s = '';
    const end = offset + (this.family === 4 ? 4 : 16);
    for (let i = offset; i < end; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return s;
  }
}

// Everything the bench builds stays reachable to the end, so memory freed
// from an earlier step never shows up as a negative delta of a later one.
const keepAlive: unknown[] = [];

/** JS heap plus ArrayBuffer memory (the trie's typed arrays live outside the JS heap). */
function memoryUsed(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface Row {
  family: string;
  impl: string;
  entries: number;
  buildMs: number;
  memMB: number;
  lookups: number;
  perSec: number;
  hitRate: number;
}

function buildTable(input: Input): { table: LpmTable<number>; ms: number; bytes: number } {
  const width = input.family === 4 ? 4 : 16;
  const m0 = memoryUsed();
  const t0 = performance.now();
  const table = new LpmTable<number>();
  for (let i = 0; i < input.lengths.length; i++) {
    const cidr = cidrFromBytes(input.family, input.bytes.subarray(i * width, (i + 1) * width), input.lengths[i]);
    table.insert(input.vrfs[i], cidr, i);
  }
  const ms = performance.now() - t0;
  keepAlive.push(table);
  return { table, ms, bytes: memoryUsed() - m0 };
}

/** Times `passes` passes over all probes after one warm-up pass; answers (-1 = none) land in `out`. */
function timeTable(table: LpmTable<number>, input: Input, passes: number, out: Int32Array): { perSec: number; hitRate: number } {
  const { family, probeVrfs, probes } = input;
  // Addresses as the data plane has them: int32 words for IPv4, a packet-like byte buffer for IPv6.
  const words = new Int32Array(LOOKUPS);
  keepAlive.push(words, out);
  if (family === 4) {
    const view = new DataView(probes.buffer);
    for (let i = 0; i < LOOKUPS; i++) words[i] = view.getInt32(i * 4);
  }
  const pass = (): number => {
    let hits = 0;
    if (family === 4) {
      for (let i = 0; i < LOOKUPS; i++) {
        const v = table.lookup4(probeVrfs[i], words[i]);
        out[i] = v ?? -1;
        if (v !== undefined) hits++;
      }
    } else {
      for (let i = 0; i < LOOKUPS; i++) {
        const v = table.lookup6(probeVrfs[i], probes, i * 16);
        out[i] = v ?? -1;
        if (v !== undefined) hits++;
      }
    }
    return hits;
  };
  pass();
  let hits = 0;
  const t0 = performance.now();
  for (let p = 0; p < passes; p++) hits += pass();
  const sec = (performance.now() - t0) / 1000;
  return { perSec: (passes * LOOKUPS) / sec, hitRate: hits / (passes * LOOKUPS) };
}

function runFamily(input: Input, small: Input): { rows: Row[]; agree: string } {
  const { family, probeVrfs, probes } = input;
  const width = family === 4 ? 4 : 16;
  const name = `IPv${family}`;
  const passes = 3;

  const built = buildTable(input);
  const tableAnswers = new Int32Array(LOOKUPS);
  const timed = timeTable(built.table, input, passes, tableAnswers);

  const m0 = memoryUsed();
  let t0 = performance.now();
  const naive = new NaiveLpm(family);
  for (let i = 0; i < input.lengths.length; i++) naive.insert(input.vrfs[i], input.bytes, i * width, input.lengths[i], i);
  const naiveBuild = performance.now() - t0;
  const naiveMem = memoryUsed() - m0;
  keepAlive.push(naive, input, small);
  for (let i = 0; i < 100_000; i++) naive.lookup(probeVrfs[i], probes, i * width); // warm up
  const naiveAnswers = new Int32Array(LOOKUPS);
  keepAlive.push(naiveAnswers);
  let naiveHits = 0;
  t0 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) {
    const v = naive.lookup(probeVrfs[i], probes, i * width);
    naiveAnswers[i] = v ?? -1;
    if (v !== undefined) naiveHits++;
  }
  const naiveSec = (performance.now() - t0) / 1000;
  // Same answers? (Both keep the last value inserted for a duplicate key.)
  let differ = 0;
  for (let i = 0; i < LOOKUPS; i++) if (tableAnswers[i] !== naiveAnswers[i]) differ++;

  const smallBuilt = buildTable(small);
  const smallTimed = timeTable(smallBuilt.table, small, passes, new Int32Array(LOOKUPS));

  return {
    rows: [
      { family: name, impl: 'LpmTable', entries: built.table.size, buildMs: built.ms, memMB: built.bytes / 2 ** 20, lookups: passes * LOOKUPS, ...timed },
      { family: name, impl: 'naive Map/length', entries: built.table.size, buildMs: naiveBuild, memMB: naiveMem / 2 ** 20, lookups: LOOKUPS, perSec: LOOKUPS / naiveSec, hitRate: naiveHits / LOOKUPS },
      { family: name, impl: 'LpmTable (small)', entries: smallBuilt.table.size, buildMs: smallBuilt.ms, memMB: smallBuilt.bytes / 2 ** 20, lookups: passes * LOOKUPS, ...smallTimed },
    ],
    agree: differ === 0 ? `all ${LOOKUPS.toLocaleString('en-US')} answers agree` : `${differ} ANSWERS DIFFER`,
  };
}

function print(rows: Row[], notes: string[]): void {
  const head = ['family', 'implementation', 'entries', 'build ms', 'memory MB', 'B/entry', 'lookups', 'lookups/s', 'ns/lookup', 'hit rate', 'vs naive'];
  const body = rows.map((r) => {
    const naive = rows.find((x) => x.family === r.family && x.impl.startsWith('naive'))!;
    return [
      r.family,
      r.impl,
      r.entries.toLocaleString('en-US'),
      r.buildMs.toFixed(0),
      r.memMB.toFixed(2),
      Math.round((r.memMB * 2 ** 20) / r.entries).toString(),
      r.lookups.toLocaleString('en-US'),
      Math.round(r.perSec).toLocaleString('en-US'),
      (1e9 / r.perSec).toFixed(0),
      `${(100 * r.hitRate).toFixed(1)}%`,
      r.impl === 'LpmTable' ? `${(r.perSec / naive.perSec).toFixed(1)}x` : r.impl === naive.impl ? '1.0x' : '',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  for (const n of notes) console.log(n);
}

console.log(`LPM benchmark: node ${process.version}, ${PREFIXES.toLocaleString('en-US')} random prefixes per family in ${VRFS} VRFs, seed ${SEED}`);
console.log('IPv4 lengths /8-/32, IPv6 lengths /16-/64; lookups: half inside a table prefix, half uniform random\n');
const v4 = runFamily(makeInput(4, PREFIXES, 8, 32, SEED), makeInput(4, SMALL, 8, 32, SEED + 2));
const v6 = runFamily(makeInput(6, PREFIXES, 16, 64, SEED + 1), makeInput(6, SMALL, 16, 64, SEED + 3));
print([...v4.rows, ...v6.rows], [
  '',
  `LpmTable vs naive, every answer compared: IPv4 ${v4.agree}; IPv6 ${v6.agree}`,
  `entries: ${PREFIXES.toLocaleString('en-US')} random prefixes less duplicates; "small" rows: ${SMALL.toLocaleString('en-US')} prefixes, same method`,
  'memory: growth of heapUsed + arrayBuffers (after gc) while building, values included',
]);
