// Fuzzing the southbound session from a connected, authenticated agent: a
// real controller (LMDB store, mTLS gRPC listener, NATS transport on a real
// nats-server with the generated authorization) takes random, mutated and
// absurd SessionRequests from gateway o0001 while two well-behaved agents
// (o0002 over gRPC, o0003 over NATS) stay connected. Afterwards nothing
// escaped a handler, the store moved only by what o0001 may legitimately
// cause (its own links' state and cost), and the good agents still converge.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Client, credentials, Metadata, status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { connect, nkeyAuthenticator, type NatsConnection } from 'nats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../common/clock.js';
import { tableHash } from '../../common/flow-table.js';
import { setLogSink } from '../../common/log.js';
import type { Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import type { IssuedCredentials } from '../../controller/ca/ca.js';
import { startNatsSouthbound, type NatsSouthbound } from '../../controller/southbound/nats-session.js';
import { subjects } from '../../controller/southbound/nats-subjects.js';
import { Southbound } from '../../controller/southbound/southbound.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { SessionRequest, SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { ControlClient } from '../../router-agent/control/control-client.js';
import { GrpcTransport } from '../../router-agent/control/grpc-transport.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import { NatsTransport } from '../../router-agent/control/nats-transport.js';
import { FLEET_WIDE_LINK, fleetTopology } from '../helpers/fleet-topology.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';
import { until } from '../southbound/transport-contract.js';
import { fuzzRuns, mutate, tally, watchEscapes } from './fuzz-report.js';

const SELF = 'o0001';
const GOOD_GRPC = 'o0002';
const GOOD_NATS = 'o0003';
const SELF_LINKS = [`${SELF}--dc-a`, `${SELF}--dc-b`];
const GRPC_RUNS = fuzzRuns(300);
const NATS_RUNS = Math.ceil(GRPC_RUNS / 2);
const SESSION_PATH = '/switchback.v1.SouthboundService/Session';

// ---- what the fuzzer sends: symbolic specs, resolved against the live store when sent

type VersionSym = 'cur' | 'next' | 'prev' | 'huge' | number;
type HashSym = 'real' | Uint8Array;

const gwArb = fc.oneof(
  { arbitrary: fc.constant(SELF), weight: 6 },
  { arbitrary: fc.constantFrom(GOOD_GRPC, 'ghost', '', 'dc-a', '.', 'o0001\u0000'), weight: 2 },
  { arbitrary: fc.string({ maxLength: 80 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
);
const versionArb: fc.Arbitrary<VersionSym> = fc.oneof(fc.constantFrom<VersionSym>('cur', 'next', 'prev', 'huge'), fc.nat({ max: 1_000 }));
const hashArb: fc.Arbitrary<HashSym> = fc.oneof({ arbitrary: fc.constant<HashSym>('real'), weight: 3 }, { arbitrary: fc.uint8Array({ maxLength: 48 }), weight: 1 });
const linkArb = fc.oneof(
  { arbitrary: fc.constantFrom(...SELF_LINKS), weight: 4 },
  { arbitrary: fc.constantFrom(FLEET_WIDE_LINK, `${GOOD_GRPC}--dc-a`, 'nope', '', `${SELF}--${SELF}`), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
);
const u32 = fc.oneof(fc.nat({ max: 200_000 }), fc.constantFrom(0, 0xffffffff, 1_000_000));
const labelsArb = fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), { maxKeys: 6 });

const bodyArb = fc.oneof(
  fc.record({ kind: fc.constant('hello' as const), gw: gwArb, version: versionArb, epoch: fc.oneof(fc.nat(5), fc.constant(Number.MAX_SAFE_INTEGER)), hash: hashArb, agent: fc.string({ maxLength: 30 }) }),
  fc.record({ kind: fc.constant('ack' as const), gw: gwArb, version: versionArb, epoch: fc.nat(5), hash: hashArb }),
  fc.record({ kind: fc.constant('snapshotRequest' as const), gw: gwArb, reason: fc.string({ maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('linkReport' as const), gw: gwArb, peer: gwArb, link: linkArb, state: fc.integer({ min: -2, max: 7 }),
    rtt: u32, jitter: u32, loss: u32, mtu: u32, at: fc.oneof(fc.integer(), fc.constantFrom(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
  }),
  fc.record({
    kind: fc.constant('counters' as const), gw: gwArb,
    counters: fc.oneof(
      { arbitrary: fc.array(fc.record({ name: fc.string({ maxLength: 20 }), labels: labelsArb, value: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)) }), { maxLength: 6 }), weight: 8 },
      // One counter with a huge label map, or more counters than a message may hold.
      { arbitrary: fc.constantFrom('hugeLabels' as const, 'tooMany' as const), weight: 1 },
    ),
  }),
  fc.record({ kind: fc.constant('certificateRequest' as const), gw: gwArb, csr: fc.oneof(fc.string({ maxLength: 200 }), fc.constant('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')) }),
  fc.constant({ kind: 'empty' as const }),
);
type BodySpec = typeof bodyArb extends fc.Arbitrary<infer T> ? T : never;

const mutationArb = fc.array(fc.record({ kind: fc.nat(4), at: fc.nat(10_000), value: fc.nat(255) }), { minLength: 1, maxLength: 4 });
const frameArb = fc.oneof(
  { arbitrary: fc.record({ how: fc.constant('typed' as const), body: bodyArb }), weight: 5 },
  { arbitrary: fc.record({ how: fc.constant('mutated' as const), body: bodyArb, ops: mutationArb }), weight: 3 },
  { arbitrary: fc.record({ how: fc.constant('raw' as const), bytes: fc.uint8Array({ maxLength: 200 }) }), weight: 2 },
);
type FrameSpec = typeof frameArb extends fc.Arbitrary<infer T> ? T : never;
/** A conversation: a first frame that is usually a Hello of the session's own gateway, then more. */
const conversationArb = fc.tuple(
  fc.oneof(
    { arbitrary: fc.record({ how: fc.constant('typed' as const), body: fc.record({ kind: fc.constant('hello' as const), gw: fc.constant(SELF), version: versionArb, epoch: fc.nat(3), hash: hashArb, agent: fc.constant('fuzz') }) }), weight: 6 },
    { arbitrary: frameArb, weight: 2 },
  ),
  fc.array(frameArb, { maxLength: 12 }),
);

// ---- the running controller and agents

let ctl: Controller;
let store: LmdbStore;
let sb: Southbound;
let natsSb: NatsSouthbound;
let server: NatsServer;
let dir: string;
let agentDir: string;
let agentStore: LmdbTableStore;
let selfCreds: IssuedCredentials;
let selfSeed: string;
let grpcClient: Client;
let nc: NatsConnection;
const good: ControlClient[] = [];
let escapes: ReturnType<typeof watchEscapes>;
let restoreLog: (l: string) => void;
let refusalLogs = 0;

function versionOf(v: VersionSym): number {
  const cur = ctl.store.table(SELF)!.version;
  if (v === 'cur') return cur;
  if (v === 'next') return cur + 1;
  if (v === 'prev') return Math.max(0, cur - 1);
  if (v === 'huge') return Number.MAX_SAFE_INTEGER;
  return v;
}

function hashOf(h: HashSym, version: number): Buffer {
  if (h !== 'real') return Buffer.from(h);
  const t = ctl.store.tableAt(SELF, version) ?? ctl.store.table(SELF)!;
  return tableHash(t);
}

function message(b: BodySpec): SessionRequest {
  switch (b.kind) {
    case 'hello': {
      const v = versionOf(b.version);
      return { body: { $case: 'hello', hello: { gatewayId: b.gw, heldVersion: v, heldEpoch: b.epoch, tableHash: hashOf(b.hash, v), agentVersion: b.agent } } };
    }
    case 'ack': {
      const v = versionOf(b.version);
      return { body: { $case: 'ack', ack: { gatewayId: b.gw, epoch: b.epoch, version: v, tableHash: hashOf(b.hash, v) } } };
    }
    case 'snapshotRequest':
      return { body: { $case: 'snapshotRequest', snapshotRequest: { gatewayId: b.gw, reason: b.reason } } };
    case 'linkReport':
      return {
        body: {
          $case: 'linkReport',
          linkReport: { gatewayId: b.gw, peerGatewayId: b.peer, linkId: b.link, state: b.state, rttUs: b.rtt, jitterUs: b.jitter, lossPpm: b.loss, pathMtu: b.mtu, observedUnixMs: b.at },
        },
      };
    case 'counters': {
      let counters;
      if (b.counters === 'hugeLabels') {
        counters = [{ name: 'huge', labels: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, 'v'])), value: 1 }];
      } else if (b.counters === 'tooMany') {
        counters = Array.from({ length: 10_001 }, (_, i) => ({ name: `c${i}`, labels: {}, value: i }));
      } else counters = b.counters;
      return { body: { $case: 'counters', counters: { gatewayId: b.gw, counters } } };
    }
    case 'certificateRequest':
      return { body: { $case: 'certificateRequest', certificateRequest: { gatewayId: b.gw, csrPem: b.csr } } };
    default:
      return { body: undefined };
  }
}

function frame(f: FrameSpec): Buffer {
  if (f.how === 'raw') return Buffer.from(f.bytes);
  const bytes = SessionRequest.encode(message(f.body)).finish();
  return f.how === 'typed' ? Buffer.from(bytes) : mutate(bytes, f.ops);
}

interface Snapshot {
  topo: Topology;
  tables: Map<string, { version: number; hash: string }>;
  seq: number;
  acks: Map<string, number>;
}

function snapshot(): Snapshot {
  return {
    topo: structuredClone(ctl.store.topology()),
    tables: new Map(ctl.store.tables().map((t) => [t.gatewayId, { version: t.version, hash: tableHash(t).toString('hex') }])),
    seq: ctl.store.lastSeq(),
    acks: new Map([...ctl.store.acks()].map(([gw, a]) => [gw, a.version])),
  };
}

/** The store after fuzzing differs from `before` only by what o0001's own link reports and acks may cause. */
function assertOnlyLegitimateChanges(before: Snapshot): void {
  const after = snapshot();
  const entries = ctl.store.journal(before.seq, 100_000);
  for (const e of entries) {
    assert.is(e.actor, `agent:${SELF}`, `journal entry by ${e.actor}: ${e.summary}`);
    assert.ok(['link.oper', 'link.cost'].includes(e.action), `journal entry ${e.action}: ${e.summary}`);
    assert.ok(SELF_LINKS.includes(e.subject), `journal entry about ${e.subject}: ${e.summary}`);
  }
  const { links: linksBefore, ...restBefore } = before.topo;
  const { links: linksAfter, ...restAfter } = after.topo;
  assert.equal(restAfter, restBefore, 'sites, gateways, prefixes and VRFs unchanged');
  assert.is(linksAfter.length, linksBefore.length);
  for (const l of linksBefore) {
    const now = linksAfter.find((x) => x.id === l.id)!;
    if (SELF_LINKS.includes(l.id)) {
      const strip = ({ operState: _o, rttUs: _r, lossPpm: _l, changedUnixMs: _c, ...keep }: typeof l) => keep;
      assert.equal(strip(now), strip(l), `only measured state of ${l.id} changed`);
    } else assert.equal(now, l, `link ${l.id} untouched`);
  }
  const issued = new Set(entries.flatMap((e) => e.tables.map((t) => `${t.gatewayId}@${t.version}`)));
  for (const [gw, t] of after.tables) {
    const b = before.tables.get(gw)!;
    assert.ok(b, `no table appeared for ${gw}`);
    assert.ok(t.version >= b.version, `version of ${gw} never goes back`);
    if (t.version !== b.version) assert.ok(issued.has(`${gw}@${t.version}`), `version ${t.version} of ${gw} comes from a journaled link change`);
    else assert.is(t.hash, b.hash, `table of ${gw} unchanged at the same version`);
  }
  assert.is(after.tables.size, before.tables.size);
  for (const [gw, v] of after.acks) {
    assert.ok(v <= after.tables.get(gw)!.version, `ack of ${gw} (${v}) is of an issued version`);
    if (![SELF, GOOD_GRPC, GOOD_NATS].includes(gw)) assert.is(v, before.acks.get(gw), `ack of ${gw} untouched`);
  }
  for (const s of sb.core.sessions()) assert.ok([SELF, GOOD_GRPC, GOOD_NATS].includes(s.gatewayId), `session of ${s.gatewayId}`);
}

const acked = (gw: string) => ctl.store.ack(gw)?.version;
const current = (gw: string) => ctl.store.table(gw)!.version;

/** Sends the frames on one call, half-closes, and resolves with the call's status (or 'hang'). */
function converse(frames: Buffer[]): Promise<StatusObject | 'hang'> {
  return new Promise((resolve) => {
    const call: ClientDuplexStream<Buffer, Buffer> = grpcClient.makeBidiStreamRequest(SESSION_PATH, (b: Buffer) => b, (b: Buffer) => b, new Metadata());
    const timer = setTimeout(() => {
      call.cancel();
      resolve('hang');
    }, 10_000);
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', (s: StatusObject) => {
      clearTimeout(timer);
      resolve(s);
    });
    for (const f of frames) call.write(f);
    call.end();
  });
}

const s = suite('session fuzz');

s.before(async () => {
  restoreLog = setLogSink((l) => {
    if (l.includes('refused')) refusalLogs++;
  });
  dir = mkdtempSync(join(tmpdir(), 'sb-fuzz-session-'));
  const clock = new SystemClock();
  store = new LmdbStore({ path: dir });
  ctl = new Controller({ store, clock });
  ctl.applyTopology(fleetTopology(4), 'test');
  sb = await Southbound.start(ctl, store, { grpcListen: '127.0.0.1:0', ackTimeoutMs: 2_000 }, clock);
  selfCreds = await sb.ca.enroll(SELF);
  selfSeed = selfCreds.natsSeed;
  const goodCreds = await sb.ca.enroll(GOOD_GRPC);
  const goodNatsSeed = (await sb.ca.enroll(GOOD_NATS)).natsSeed;
  server = await startNatsServer({ config: sb.natsConfig().config });
  natsSb = await startNatsSouthbound(sb.core, ctl.store, { servers: server.url, nkeySeed: sb.ca.controllerNatsSeed, clock, beatMs: 500 });
  agentDir = mkdtempSync(join(tmpdir(), 'sb-fuzz-agents-'));
  agentStore = new LmdbTableStore(agentDir);
  good.push(
    new ControlClient({
      gatewayId: GOOD_GRPC, store: agentStore, backoff: { initialMs: 50, maxMs: 200 },
      transport: new GrpcTransport({ address: sb.grpcAddress!, tls: { keyPem: goodCreds.keyPem, certPem: goodCreds.certPem, caPem: goodCreds.caPem } }),
    }),
    new ControlClient({
      gatewayId: GOOD_NATS, store: agentStore, backoff: { initialMs: 50, maxMs: 200 },
      transport: new NatsTransport({ servers: server.url, gatewayId: GOOD_NATS, nkeySeed: goodNatsSeed, helloTimeoutMs: 2_000 }),
    }),
  );
  for (const c of good) c.start();
  await until(() => acked(GOOD_GRPC) === current(GOOD_GRPC) && acked(GOOD_NATS) === current(GOOD_NATS), 'the good agents in sync');
  grpcClient = new Client(sb.grpcAddress!, credentials.createSsl(Buffer.from(selfCreds.caPem), Buffer.from(selfCreds.keyPem), Buffer.from(selfCreds.certPem)));
  nc = await connect({ servers: server.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(selfSeed)), inboxPrefix: subjects(SELF).inboxPrefix });
  escapes = watchEscapes();
});

s.after(async () => {
  escapes.stop();
  setLogSink(restoreLog);
  grpcClient.close();
  await nc.close();
  await Promise.all(good.map((c) => c.stop()));
  await natsSb.close();
  await sb.close();
  await server.stop();
  await agentStore.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(agentDir, { recursive: true, force: true });
});

let before: Snapshot;

s('gRPC: random and mutated SessionRequests from an authenticated agent each end with a status, never a hang or an escaped exception', async () => {
  before = snapshot();
  const t = tally('session-grpc');
  const refusedBefore = sb.core.stats.refused;
  await fc.assert(
    fc.asyncProperty(conversationArb, async ([first, rest]) => {
      const frames = [frame(first), ...rest.map(frame)];
      t.inputs += frames.length;
      const st = await converse(frames);
      if (st === 'hang') {
        t.count('hang');
        return false;
      }
      t.count(`status.${status[st.code]}`);
      // Every refusal that ends a call says why.
      if (st.code !== status.OK) assert.ok(st.details.length > 0, `status ${status[st.code]} without a message`);
      return st.code !== status.INTERNAL && st.code !== status.UNKNOWN;
    }),
    { numRuns: GRPC_RUNS, includeErrorInReport: true },
  );
  // An oversize frame is refused by grpc-js itself.
  t.inputs++;
  const big = await converse([Buffer.alloc((1 << 20) + 10, 0x0a)]);
  assert.ok(big !== 'hang' && big.code === status.RESOURCE_EXHAUSTED, `oversize frame: ${big === 'hang' ? big : status[big.code]}`);
  t.count('status.RESOURCE_EXHAUSTED');
  t.refused = sb.core.stats.refused - refusedBefore + 1;
  t.crashes = escapes.errors.length;
  console.log(t.line());
  assert.equal(escapes.errors, [], 'no exception escaped a handler');
  assert.ok(t.refused > GRPC_RUNS / 2, `most of the garbage is refused (${t.refused})`);
});

s('NATS: random and mutated Hello requests and reports on the gateway subjects are refused or answered, never dropped silently', async () => {
  const t = tally('session-nats');
  const refusedBefore = sb.core.stats.refused;
  const hello = subjects(SELF).hello;
  const report = subjects(SELF).report;
  await fc.assert(
    fc.asyncProperty(conversationArb, async ([first, rest]) => {
      t.inputs++;
      let answer: SessionResponse;
      try {
        answer = SessionResponse.decode((await nc.request(hello, frame(first), { timeout: 5_000 })).data);
      } catch (err) {
        t.count('hello.noAnswer');
        throw err;
      }
      const kind = answer.body?.$case ?? 'none';
      t.count(`hello.${kind}`);
      if (kind === 'refusal' && answer.body?.$case === 'refusal') {
        assert.ok(answer.body.refusal.code && answer.body.refusal.message, 'a refusal names a code and a reason');
      } else assert.ok(['snapshot', 'delta', 'inSync'].includes(kind), `hello answered with ${kind}`);
      for (const f of rest) {
        t.inputs++;
        nc.publish(report, frame(f));
      }
      await nc.flush();
      return true;
    }),
    { numRuns: NATS_RUNS, includeErrorInReport: true },
  );
  // Reports are one-way: wait until the controller has read the last of them.
  await nc.flush();
  const probe = await nc.request(hello, SessionRequest.encode({ body: { $case: 'hello', hello: { gatewayId: SELF, heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' } } }).finish(), { timeout: 5_000 });
  assert.ok(SessionResponse.decode(probe.data).body?.$case === 'snapshot', 'the controller still opens a session for o0001');
  t.refused = sb.core.stats.refused - refusedBefore;
  t.crashes = escapes.errors.length;
  console.log(t.line());
  assert.equal(escapes.errors, [], 'no exception escaped a handler');
  assert.ok(t.refused > NATS_RUNS / 2, `most of the garbage is refused (${t.refused})`);
});

s('afterwards the store moved only by o0001\'s own link state, and the well-behaved agents converge after a drain', async () => {
  assertOnlyLegitimateChanges(before);
  const legit = ctl.store.journal(before.seq, 100_000);
  console.log(`fuzz: session legitimate effects: ${legit.length} journal entries (${legit.filter((e) => e.action === 'link.oper').length} link.oper, ${legit.filter((e) => e.action === 'link.cost').length} link.cost), nothing else`);
  for (const c of good) assert.is(c.stats.sessions, 1, 'the good agents were never disconnected');
  ctl.drainLink(FLEET_WIDE_LINK, 'test', 'fuzz check');
  await until(() => acked(GOOD_GRPC) === current(GOOD_GRPC) && acked(GOOD_NATS) === current(GOOD_NATS), 'the good agents acknowledge the drain');
  ctl.undrainLink(FLEET_WIDE_LINK, 'test');
  await until(() => acked(GOOD_GRPC) === current(GOOD_GRPC) && acked(GOOD_NATS) === current(GOOD_NATS), 'the good agents acknowledge the undrain');
  assert.ok(refusalLogs > 0, 'refusals are logged');
  assert.equal(escapes.errors, []);
});

s.run();
