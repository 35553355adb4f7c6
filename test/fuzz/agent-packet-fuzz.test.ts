// Fuzzing a running `switchback agent` from the underlay, in network
// namespaces: gw-a (the agent under test) with peers gw-b and gw-c. gw-c
// runs a real agent too; gw-b is the fuzzer, which holds gw-b's table (so
// its link key) and sends from gw-b's address.
//
// UDP: first a few validly sealed packets (delivered to host a, or sent on
// to gw-c and host c); then random and mutated ones: bits flipped, cut,
// grown, replayed, a wrong key id or key, an unserved VRF, hop limit 0, an
// unknown sender, a broken inner header, random bytes. Every one of them is
// dropped and counted (by the reason it deserves, where there is only one),
// none reaches the TUN or another peer, the agent stays up and still
// forwards a valid packet afterwards.
//
// GRE is plaintext and trusts its underlay (a valid GRE packet from a peer's
// address is forwarded, by design): random and mutated GRE packets from the
// peer's address are each either dropped and counted or forwarded as what
// they decode to, the deterministic bad ones by their reason, and the agent
// stays up and forwards afterwards.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowTable, type Peer } from '../../common/model.js';
import { allocDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { DROP_REASONS, type DropReason } from '../../router-agent/dataplane/counters.js';
import { encodeGre, GRE_PROTO_IPV4 } from '../../router-agent/dataplane/gre.js';
import { PacketType, writeTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import { udp } from '../dataplane/build-packets.js';
import { startAgentProcess, waitFor, type AgentProcess } from '../helpers/agent-process.js';
import { NetnsHarness, netnsPrerequisites } from '../helpers/netns.js';
import { parsePromText } from '../helpers/prom-text.js';
import { writeTables } from '../helpers/tables.js';
import { buildTunnelNetwork, type BuiltNetwork } from '../helpers/tunnel-network.js';
import { fuzzRuns, mutate, tally } from './fuzz-report.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`the agent packet fuzz needs root and iproute2: ${missing}`);

const root = fileURLToPath(new URL('../..', import.meta.url));
const UDP_RUNS = fuzzRuns(50);
const GRE_RUNS = Math.ceil((UDP_RUNS * 2) / 3);
const BATCH = 40;
const LISTEN_PORT = 9999;
const HOST_A = '10.1.0.10';
const HOST_B = '10.2.0.10';
const HOST_C = '10.3.0.10';

let h: NetnsHarness;
let net: BuiltNetwork;
let dir: string;
let tables: Map<string, string>;
/** gw-b's view of its link to gw-a: the key the fuzzer seals with. */
let link: Peer;
let selfNode: number;

// ---- helpers: host listeners, the sender, metrics

interface Listener {
  child: ChildProcess;
  count(): number;
}

/** A UDP listener on a site's host: counts what the agents delivered there. */
async function listen(site: string, addr: string): Promise<Listener> {
  const child = h.spawn(net.hostNs.get(site)!, process.execPath, [
    '-e',
    `const s = require('node:dgram').createSocket('udp4'); s.on('message', () => process.stdout.write('p\\n')); s.bind(${LISTEN_PORT}, '${addr}', () => process.stdout.write('ready\\n'));`,
  ]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('ready'), `listener on ${site}`);
  return { child, count: () => out.split('\n').filter((l) => l === 'p').length };
}

interface Sender {
  child: ChildProcess;
  send(datagrams: Uint8Array[], to: { host: string; port: number }): Promise<void>;
  metrics(): Promise<Metrics>;
}

async function startSender(mode: 'udp' | 'gre'): Promise<Sender> {
  const child = h.spawn(net.gwNs.get('gw-b')!, process.execPath, ['--import', 'tsx', join(root, 'test/fuzz/packet-sender.ts'), mode, net.endpoint('gw-b'), `http://${net.endpoint('gw-a')}:9101/metrics`], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let buf = '';
  let err = '';
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  let ready = false;
  child.stderr!.on('data', (d: Buffer) => (err += d));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const m = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      if (m.ready) ready = true;
      else waiting.get(m.id as number)?.(m);
    }
  });
  await waitFor(() => ready, `the ${mode} sender in gw-b (${err})`, 30_000);
  let ids = 0;
  const ask = (req: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = ++ids;
      const t = setTimeout(() => reject(new Error(`sender did not answer: ${err}`)), 30_000);
      waiting.set(id, (m) => {
        clearTimeout(t);
        waiting.delete(id);
        resolve(m);
      });
      child.stdin!.write(JSON.stringify({ ...req, id }) + '\n');
    });
  return {
    child,
    send: async (datagrams, to) => {
      await ask({ send: datagrams.map((d) => Buffer.from(d).toString('hex')), to });
    },
    metrics: async () => {
      const m = await ask({ metrics: true });
      if (typeof m.text !== 'string') throw new Error(`metrics of gw-a: ${String(m.error)}`);
      return readMetrics(m.text);
    },
  };
}

interface Metrics {
  drops: Record<DropReason, number>;
  delivered: number;
  transit: number;
}

function readMetrics(text: string): Metrics {
  const fams = parsePromText(text);
  const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  for (const s of fams.get('switchback_agent_drops_total')?.samples ?? []) drops[s.labels.reason as DropReason] = s.value;
  const one = (name: string) => fams.get(name)?.samples[0]?.value ?? 0;
  return { drops, delivered: one('switchback_agent_delivered_packets_total'), transit: one('switchback_agent_transit_packets_total') };
}

const totalDrops = (m: Metrics) => DROP_REASONS.reduce((n, r) => n + m.drops[r], 0);

async function startAgent(gw: string, mode: 'udp' | 'gre'): Promise<AgentProcess> {
  const ns = net.gwNs.get(gw)!;
  const underlay = mode === 'udp' ? ['--listen', `${net.endpoint(gw)}:4789`] : ['--underlay', 'gre', '--gre-insecure', '--local-address', net.endpoint(gw)];
  return startAgentProcess(h, ns, ['--id', gw, '--table', tables.get(gw)!, ...underlay, '--tun', 'sb0', '--metrics', `${net.endpoint(gw)}:9101`, '--hold', '0']);
}

async function stop(children: (ChildProcess | undefined)[]): Promise<void> {
  for (const c of children) {
    if (!c || c.exitCode !== null || c.signalCode !== null) continue;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
}

/** Waits until gw-a's counters have moved by `n` packets in all (drops + delivered + transit). */
async function settle(sender: Sender, before: Metrics, n: number): Promise<Metrics> {
  let now = before;
  const moved = (m: Metrics) => totalDrops(m) - totalDrops(before) + m.delivered - before.delivered + m.transit - before.transit;
  const end = Date.now() + 15_000;
  while (Date.now() < end) {
    now = await sender.metrics();
    if (moved(now) >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const delta = Object.fromEntries(DROP_REASONS.map((r) => [r, now.drops[r] - before.drops[r]]).filter(([, v]) => v));
  assert.is(moved(now), n, `every one of the ${n} packets is accounted for by gw-a's counters: drops ${JSON.stringify(delta)}, delivered ${now.delivered - before.delivered}, transit ${now.transit - before.transit}`);
  return now;
}

// ---- packets

/** An inner UDP packet from host b to `dst`. */
const inner = (dst: string, n: number, ttl = 64) => udp({ src: HOST_B, dst, ttl, id: n & 0xffff }, Buffer.from(`fuzz ${n}`), 4, 5000, LISTEN_PORT);

let counter = 1_000;
interface SealOptions {
  hop?: number;
  keyId?: number;
  key?: Buffer;
  vrf?: number;
  sender?: number;
  type?: number;
}
/** A datagram sealed as gw-b seals, with any header field overridden. */
function seal(plain: Uint8Array, o: SealOptions = {}): Buffer {
  const d = allocDatagram(plain.length);
  const c = counter++;
  writeTunnelHeader(d, (o.type ?? PacketType.DATA) as PacketType, o.hop ?? 16, o.keyId ?? link.keyId, o.vrf ?? 1, o.sender ?? selfNode, 0, c);
  sealDatagram(o.key ?? link.key, d, plain);
  return d;
}

const opsArb = fc.array(fc.record({ kind: fc.nat(4), at: fc.nat(2_000), value: fc.nat(255) }), { minLength: 1, maxLength: 4 });
/** What to send, and the one drop reason it must get where there is only one. */
const udpSpecArb = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('mutated' as const), base: fc.nat(), ops: opsArb }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('replay' as const), base: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('wrongKeyId' as const), delta: fc.integer({ min: 1, max: 255 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('wrongKey' as const), key: fc.uint8Array({ minLength: 32, maxLength: 32 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('wrongVrf' as const), vrf: fc.integer({ min: 2, max: 0xffffff }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('hopZero' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('unknownSender' as const), sender: fc.integer({ min: 4, max: 0xffffffff }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('brokenInner' as const), cut: fc.nat(19), first: fc.nat(255) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 120 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('randomHeader' as const), bytes: fc.uint8Array({ minLength: 36, maxLength: 80 }) }), weight: 1 },
);
type UdpSpec = typeof udpSpecArb extends fc.Arbitrary<infer T> ? T : never;

const EXPECTED: Partial<Record<UdpSpec['kind'], DropReason>> = {
  replay: 'replay',
  wrongKeyId: 'auth',
  wrongKey: 'auth',
  wrongVrf: 'no_route',
  hopZero: 'hop_limit',
  unknownSender: 'unknown_peer',
  brokenInner: 'malformed',
};

function udpPacket(s: UdpSpec, originals: Buffer[]): Buffer {
  switch (s.kind) {
    case 'mutated':
      return mutate(originals[s.base % originals.length]!, s.ops);
    case 'replay':
      return Buffer.from(originals[s.base % originals.length]!);
    case 'wrongKeyId': {
      // A key id the table does not hold for this peer (neither current, previous nor next).
      const held = new Set([link.keyId, link.previousKey.length ? link.previousKeyId : -1, link.nextKey.length ? link.nextKeyId : -1].map((x) => x & 0xff));
      let id = (link.keyId + s.delta) & 0xff;
      while (held.has(id)) id = (id + 1) & 0xff;
      return seal(inner(HOST_A, counter), { keyId: id });
    }
    case 'wrongKey':
      return seal(inner(HOST_A, counter), { key: Buffer.from(s.key) });
    case 'wrongVrf':
      return seal(inner(HOST_A, counter), { vrf: s.vrf });
    case 'hopZero':
      return seal(inner(HOST_C, counter), { hop: 0 });
    case 'unknownSender':
      return seal(inner(HOST_A, counter), { sender: s.sender });
    case 'brokenInner': {
      const p = Buffer.from(inner(HOST_A, counter)).subarray(0, s.cut);
      if (p.length) p[0] = s.first & 0x0f; // version nibble 0: not IP
      return seal(p);
    }
    case 'randomHeader': {
      // A header that passes the cheap checks, then garbage.
      const b = Buffer.from(s.bytes);
      b[0] = 1;
      b[1] = PacketType.DATA;
      b[7] = 0;
      return b;
    }
    default:
      return Buffer.from(s.bytes);
  }
}

// ---- suites

const s = suite('agent packet fuzz');
let agents: AgentProcess[] = [];
let sender: Sender | undefined;
let listeners: Listener[] = [];

s.before(async () => {
  h = new NetnsHarness();
  dir = mkdtempSync(join(tmpdir(), 'sb-fuzz-pkt-'));
  net = await buildTunnelNetwork(h, {
    sites: [
      { id: 'a', kind: 'office', prefix24: '10.1.0' },
      { id: 'b', kind: 'office', prefix24: '10.2.0' },
      { id: 'c', kind: 'datacenter', prefix24: '10.3.0' },
    ],
    gateways: [
      { id: 'gw-a', site: 'a', n: 1 },
      { id: 'gw-b', site: 'b', n: 2 },
      { id: 'gw-c', site: 'c', n: 3 },
    ],
    links: [
      { a: 'gw-a', b: 'gw-b', cost: 10 },
      { a: 'gw-a', b: 'gw-c', cost: 10 },
    ],
  });
  tables = await writeTables(net.topology, dir);
  // The hosts only receive. Without a way out, a host answers nothing the
  // fuzz delivered (ICMP port unreachable would be traffic the count of
  // gw-a's packets cannot tell from the fuzz's own).
  for (const ns of net.hostNs.values()) {
    const r = await h.exec(ns, 'ip', ['route', 'replace', 'blackhole', 'default']);
    assert.is(r.code, 0, r.stderr);
  }
  const bTable = FlowTable.fromJSON(JSON.parse(readFileSync(tables.get('gw-b')!, 'utf8')));
  link = bTable.peers.find((p) => p.gatewayId === 'gw-a')!;
  selfNode = bTable.nodeId;
  assert.ok(link && link.key.length === 32, 'gw-b holds a key for its link to gw-a');
});

s.after(async () => {
  await stop([sender?.child, ...agents.map((a) => a.child), ...listeners.map((l) => l.child)]);
  await h?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function bringUp(mode: 'udp' | 'gre'): Promise<Sender> {
  await stop([sender?.child, ...agents.map((a) => a.child), ...listeners.map((l) => l.child)]);
  agents = [await startAgent('gw-a', mode), await startAgent('gw-c', mode)];
  listeners = [await listen('a', HOST_A), await listen('c', HOST_C)];
  sender = await startSender(mode);
  // gw-a forwards to gw-c only once it has heard gw-c (UDP probes; GRE peers count as up).
  if (mode === 'udp') {
    await waitFor(async () => {
      const m = await sender!.metrics().catch(() => undefined);
      return m !== undefined && /switchback_agent_peer_up\{[^}]*peer="gw-c"[^}]*\} 1/.test(await rawMetrics());
    }, 'gw-a sees gw-c up', 30_000);
  } else await waitFor(async () => (await sender!.metrics().catch(() => undefined)) !== undefined, 'gw-a metrics', 30_000);
  return sender;
}

async function rawMetrics(): Promise<string> {
  const r = await h.exec(net.gwNs.get('gw-a')!, process.execPath, ['-e', `fetch('http://${net.endpoint('gw-a')}:9101/metrics').then(r => r.text()).then(console.log, () => {})`]);
  return r.stdout;
}

/** Sends `n` valid packets to each of host a (delivered) and host c (through gw-a to gw-c); checks they arrive. */
async function valid(snd: Sender, make: (dst: string, i: number) => Uint8Array, to: { host: string; port: number }, n: number, exact = true): Promise<Uint8Array[]> {
  const before = await snd.metrics();
  const [la, lc] = [listeners[0]!.count(), listeners[1]!.count()];
  const packets = [...Array.from({ length: n }, (_, i) => make(HOST_A, i)), ...Array.from({ length: n }, (_, i) => make(HOST_C, i))];
  await snd.send(packets, to);
  const after = await settle(snd, before, 2 * n);
  assert.is(after.delivered - before.delivered, n, 'valid packets for host a are delivered to the TUN');
  assert.is(after.transit - before.transit, n, 'valid packets for host c go on to gw-c');
  // (GRE: packets the fuzz had forwarded may still be on their way to host c.)
  const arrived = (l: Listener, from: number) => (exact ? l.count() - from === n : l.count() - from >= n);
  await waitFor(() => arrived(listeners[0]!, la) && arrived(listeners[1]!, lc), `${n} packets at host a and at host c`);
  return packets;
}

s('UDP: unauthenticated, replayed or otherwise bad tunnel packets are dropped by reason and never forwarded; the agent still forwards', async () => {
  const t = tally('agent-udp');
  const to = { host: net.endpoint('gw-a'), port: 4789 };
  const snd = await bringUp('udp');
  const originals = (await valid(snd, (dst, i) => seal(inner(dst, i)), to, 10)).map((p) => Buffer.from(p));
  const heard = [listeners[0]!.count(), listeners[1]!.count()];
  const start = await snd.metrics();
  await fc.assert(
    fc.asyncProperty(fc.array(udpSpecArb, { minLength: BATCH, maxLength: BATCH }), async (specs) => {
      const before = await snd.metrics();
      const packets = specs.map((x) => udpPacket(x, originals));
      const expected = new Map<DropReason, number>();
      for (const x of specs) {
        const r = EXPECTED[x.kind];
        if (r) expected.set(r, (expected.get(r) ?? 0) + 1);
        t.count(`sent.${x.kind}`);
      }
      await snd.send(packets, to);
      t.inputs += packets.length;
      const after = await settle(snd, before, packets.length);
      assert.is(after.delivered, before.delivered, 'nothing reached the TUN');
      assert.is(after.transit, before.transit, 'nothing was sent on to another peer');
      for (const [r, n] of expected) assert.ok(after.drops[r] - before.drops[r] >= n, `at least ${n} drops counted as ${r}`);
      assert.ok(agents[0]!.child.exitCode === null, `gw-a is alive:\n${agents[0]!.output().slice(-2000)}`);
      // A packet handler that threw is counted and logged by the port: a crash it survived.
      assert.not.match(agents[0]!.output(), /handler threw/, 'no packet made a handler throw');
      return true;
    }),
    { numRuns: UDP_RUNS, includeErrorInReport: true, endOnFailure: true },
  );
  const end = await snd.metrics();
  t.refused = totalDrops(end) - totalDrops(start);
  for (const r of DROP_REASONS) if (end.drops[r] > start.drops[r]) t.count(`drop.${r}`, end.drops[r] - start.drops[r]);
  assert.equal([listeners[0]!.count(), listeners[1]!.count()], heard, 'no fuzz packet reached host a or host c');
  // Still alive, still forwarding.
  await valid(snd, (dst, i) => seal(inner(dst, 1_000 + i)), to, 5);
  console.log(t.line());
  assert.is(t.refused, t.inputs, 'every fuzz packet was dropped and counted');
});

// GRE: key = VRF 1 (as the agent sends); the inner TTL is the hop limit.
const greSpecArb = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('mutated' as const), dst: fc.boolean(), ops: opsArb }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('wrongVrf' as const), vrf: fc.integer({ min: 2, max: 0xffffffff }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('ttlOut' as const), ttl: fc.nat(1) }), weight: 1 },
  // (An empty GRE payload is not sent at all: the sender's underlay refuses it.)
  { arbitrary: fc.record({ kind: fc.constant('short' as const), cut: fc.integer({ min: 1, max: 11 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('badVersion' as const), v: fc.integer({ min: 1, max: 7 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 120 }) }), weight: 2 },
);
type GreSpec = typeof greSpecArb extends fc.Arbitrary<infer T> ? T : never;
const GRE_EXPECTED: Partial<Record<GreSpec['kind'], DropReason>> = { wrongVrf: 'no_route', ttlOut: 'hop_limit', short: 'malformed', badVersion: 'malformed' };
const gre = (dst: string, i: number, ttl = 64, key = 1) => encodeGre(inner(dst, i, ttl), GRE_PROTO_IPV4, key);

function grePacket(s: GreSpec, i: number): Uint8Array {
  switch (s.kind) {
    case 'mutated': {
      const m = mutate(gre(s.dst ? HOST_A : HOST_C, i), s.ops);
      return m.length ? m : Buffer.from([0]);
    }
    case 'wrongVrf':
      return gre(HOST_A, i, 64, s.vrf);
    case 'ttlOut':
      return gre(HOST_C, i, s.ttl);
    case 'short':
      return gre(HOST_A, i).subarray(0, s.cut);
    case 'badVersion': {
      const b = Buffer.from(gre(HOST_A, i));
      b[1] = (b[1]! & 0xf8) | s.v;
      return b;
    }
    default:
      return s.bytes;
  }
}

s('GRE: random and mutated GRE packets from the peer are each dropped by reason or forwarded as what they decode to; the agent still forwards', async () => {
  const t = tally('agent-gre');
  const to = { host: net.endpoint('gw-a'), port: 0 };
  const snd = await bringUp('gre');
  await valid(snd, (dst, i) => gre(dst, i), to, 5, false);
  const start = await snd.metrics();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(greSpecArb, { minLength: BATCH, maxLength: BATCH }), async (specs) => {
      const before = await snd.metrics();
      const packets = specs.map((x) => grePacket(x, n++));
      const expected = new Map<DropReason, number>();
      for (const x of specs) {
        const r = GRE_EXPECTED[x.kind];
        if (r) expected.set(r, (expected.get(r) ?? 0) + 1);
      }
      await snd.send(packets, to);
      t.inputs += packets.length;
      // Every packet is either a counted drop or a forwarded one: none vanishes.
      const after = await settle(snd, before, packets.length);
      for (const [r, k] of expected) assert.ok(after.drops[r] - before.drops[r] >= k, `at least ${k} drops counted as ${r}`);
      assert.ok(agents[0]!.child.exitCode === null, `gw-a is alive:\n${agents[0]!.output().slice(-2000)}`);
      // A packet handler that threw is counted and logged by the port: a crash it survived.
      assert.not.match(agents[0]!.output(), /handler threw/, 'no packet made a handler throw');
      return true;
    }),
    { numRuns: GRE_RUNS, includeErrorInReport: true, endOnFailure: true },
  );
  const end = await snd.metrics();
  t.refused = totalDrops(end) - totalDrops(start);
  t.accepted = end.delivered - start.delivered + end.transit - start.transit;
  for (const r of DROP_REASONS) if (end.drops[r] > start.drops[r]) t.count(`drop.${r}`, end.drops[r] - start.drops[r]);
  await valid(snd, (dst, i) => gre(dst, 5_000 + i), to, 5, false);
  console.log(t.line());
  assert.ok(t.refused > t.inputs / 3, 'most random GRE is dropped');
});

s.run();
