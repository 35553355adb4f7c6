// Fuzzing the admin API of a real `switchback controller` process: random
// bytes and random-but-typed requests (ids that exist and ids that do not,
// absurd numbers, unicode, mutated example YAML) for every AdminService
// method. Every call ends with a gRPC status that says what was wrong (never
// a hang, never INTERNAL/UNKNOWN, never the process gone); a refused call
// changes neither the topology nor the journal.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchbackError } from '../../common/errors.js';
import type { Topology } from '../../common/model.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { AdminServiceService } from '../../proto/gen/switchback/v1/admin.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { fuzzRuns, mutate, tally } from './fuzz-report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = readFileSync(join(root, 'examples/topology.yaml'), 'utf8');
const RUNS = fuzzRuns(500);
const CALL_MS = 10_000;

type MethodDef = {
  path: string;
  responseStream: boolean;
  requestSerialize: (v: any) => Buffer;
  responseDeserialize: (b: Buffer) => any;
};
const methods = AdminServiceService as unknown as Record<string, MethodDef>;
const METHOD_NAMES = Object.keys(methods);
/** Methods that change nothing whatever they are sent. */
const READ_ONLY = new Set(['getTopology', 'exportTopology', 'getRoutes', 'listTables', 'listLinks', 'listEvents', 'watchEvents', 'listAgents', 'natsConfig', 'whoAmI']);

let proc: ControllerProcess;
let dir: string;
let client: Client;

interface Outcome {
  code: number;
  details: string;
  value?: any;
}

function md(): Metadata {
  const m = new Metadata();
  m.set('switchback-actor', 'fuzz');
  return m;
}

/** One unary call with bytes already serialized; resolves with the status. */
function callRaw(name: string, bytes: Buffer): Promise<Outcome> {
  const def = methods[name]!;
  if (def.responseStream) return watchRaw(def, bytes);
  return new Promise((resolve) => {
    client.makeUnaryRequest(def.path, (b: Buffer) => b, def.responseDeserialize, bytes, md(), { deadline: new Date(Date.now() + CALL_MS) }, (err: ServiceError | null, value?: unknown) =>
      resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '', value }),
    );
  });
}

/** A server stream (WatchEvents): a status, or the first entries, then cancelled by us. */
function watchRaw(def: MethodDef, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = client.makeServerStreamRequest(def.path, (b: Buffer) => b, def.responseDeserialize, bytes, md(), { deadline: new Date(Date.now() + CALL_MS) });
    let settled = false;
    const done = (o: Outcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    // A stream that was accepted just follows the journal: end it ourselves.
    const timer = setTimeout(() => {
      done({ code: status.OK, details: 'following' });
      stream.cancel();
    }, 150);
    stream.on('data', () => {});
    stream.on('error', (e: ServiceError) => {
      clearTimeout(timer);
      done({ code: e.code, details: e.details });
    });
    stream.on('status', (s: { code: number; details: string }) => {
      clearTimeout(timer);
      done({ code: s.code, details: s.details });
    });
  });
}

async function call(name: string, req: unknown): Promise<Outcome> {
  return callRaw(name, methods[name]!.requestSerialize(req));
}

async function topology(): Promise<Topology> {
  const o = await call('getTopology', {});
  assert.is(o.code, status.OK, o.details);
  return o.value.topology;
}

async function lastSeq(): Promise<number> {
  let after = 0;
  for (;;) {
    const o = await call('listEvents', { afterSeq: after, limit: 10_000 });
    assert.is(o.code, status.OK, o.details);
    if (!o.value.entries.length) return after;
    after = o.value.entries.at(-1).seq;
  }
}

/** Journal entries after `seq` made for a caller: the controller's own (scheduled link key rotation) are not the fuzz's doing. */
async function callerEntriesSince(seq: number): Promise<string[]> {
  const o = await call('listEvents', { afterSeq: seq, limit: 10_000 });
  assert.is(o.code, status.OK, o.details);
  return (o.value.entries as { actor: string; action: string; summary: string }[]).filter((e) => e.actor !== 'controller').map((e) => `${e.actor} ${e.action}: ${e.summary}`);
}

// ---- typed requests: one object holding every field any request has; each
// method's serializer takes only its own fields.

function requestArb(t: Topology) {
  const siteIds = t.sites.map((s) => s.id);
  const gwIds = t.gateways.map((g) => g.id);
  const linkIds = t.links.map((l) => l.id);
  const weird = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('', ' ', '..', 'a'.repeat(300), 'fra\u0000', '__proto__', 'constructor'));
  const id = (known: string[]) => fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 3 }, { arbitrary: weird, weight: 2 });
  const anyId = id([...siteIds, ...gwIds, ...linkIds]);
  const u32 = fc.oneof(fc.nat(100), fc.constantFrom(0, 1, 65_535, 0x7fffffff, 0xffffffff));
  const u64 = fc.oneof(fc.nat(1_000), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));
  const i64 = fc.oneof(fc.integer(), fc.constantFrom(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
  const en = fc.integer({ min: -1, max: 5 });
  const site = fc.record({ id: id(siteIds), name: weird, kind: en, region: weird });
  const endpoint = fc.record({ host: fc.oneof(fc.constantFrom('198.51.100.1', '2001:db8::1', '::', '300.1.1.1', 'localhost'), weird), port: u32 });
  const gateway = fc.record({ id: id(gwIds), siteId: id(siteIds), nodeId: u32, endpoints: fc.array(endpoint, { maxLength: 3 }), underlayMtu: u32, lastSeenUnixMs: i64 });
  const link = fc.record({
    id: id(linkIds), a: id(gwIds), b: id(gwIds), cost: u32, capacityMbps: u32, mtu: u32, srlgs: fc.array(weird, { maxLength: 3 }),
    adminState: en, operState: en, rttUs: u32, lossPpm: u32, changedUnixMs: i64,
  });
  const prefix = fc.record({ siteId: id(siteIds), vrf: fc.oneof(fc.constantFrom('corp', 'acquired'), weird), cidr: fc.oneof(fc.constantFrom('10.99.0.0/16', '10.10.0.0/16', '10.0.0.1/33', '::/0', '0.0.0.0/0', 'fe80::/10'), weird) });
  const yamlArb = fc.oneof(
    fc.string({ maxLength: 200 }),
    // The example with a few bytes changed (built when sent, so a counterexample stays short).
    fc.array(fc.record({ kind: fc.nat(4), at: fc.nat(20_000), value: fc.nat(255) }), { minLength: 1, maxLength: 6 }).map((ops) => ({ mutatedExample: ops })),
    fc.constantFrom('', 'a: [', '{}', 'vrfs: 5', 'sites: [{id: x}]', '&a [*a]'),
  );
  return fc.record({
    id: anyId, reason: weird, gatewayId: id(gwIds), validityDays: u32, afterSeq: u64, limit: u32,
    yaml: yamlArb, source: weird, dryRun: fc.boolean(), name: weird, role: fc.oneof(fc.constantFrom('viewer', 'operator', 'admin'), weird),
    linkIds: fc.array(id(linkIds), { maxLength: 4 }),
    site: fc.option(site, { nil: undefined }), gateway: fc.option(gateway, { nil: undefined }), link: fc.option(link, { nil: undefined }), prefix: fc.option(prefix, { nil: undefined }),
  });
}

const s = suite('admin fuzz');

s.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-fuzz-admin-'));
  proc = await startControllerProcess(['--data-dir', dir, '--http', 'off']);
  client = new Client(proc.adminAddress, credentials.createInsecure());
});

s.after(async () => {
  client.close();
  await proc.kill();
  rmSync(dir, { recursive: true, force: true });
});

s('every admin method, sent random bytes or random typed requests, answers with a clear status; refusals change nothing', async () => {
  const t = tally('admin-grpc');
  const initial = await topology();
  let baseline = initial;
  let seq = await lastSeq();
  const mutationArb = fc.array(fc.record({ kind: fc.nat(4), at: fc.nat(1_000), value: fc.nat(255) }), { minLength: 1, maxLength: 4 });
  const inputArb = fc.record({
    method: fc.constantFrom(...METHOD_NAMES),
    how: fc.constantFrom('typed', 'typed', 'typed', 'mutated', 'raw'),
    req: requestArb(initial),
    ops: mutationArb,
    bytes: fc.uint8Array({ maxLength: 300 }),
  });
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(inputArb, async ({ method, how, req, ops, bytes }) => {
      runs++;
      t.inputs++;
      let body: Buffer;
      if (how === 'raw') body = Buffer.from(bytes);
      else {
        const yaml = typeof req.yaml === 'string' ? req.yaml : mutate(Buffer.from(EXAMPLE), req.yaml.mutatedExample).toString('utf8');
        const typed = methods[method]!.requestSerialize({ ...req, yaml });
        body = how === 'typed' ? typed : mutate(typed, ops);
      }
      seq = await lastSeq();
      const o = await callRaw(method, body);
      t.count(`status.${status[o.code]}`);
      if (![status.OK, status.INVALID_ARGUMENT, status.NOT_FOUND].includes(o.code)) t.count(`${method}.${status[o.code]}`);
      assert.ok(proc.child.exitCode === null && proc.child.signalCode === null, `controller died after ${method}:\n${proc.output().slice(-2000)}`);
      assert.ok(o.code !== status.DEADLINE_EXCEEDED, `${method} hung`);
      assert.ok(o.code !== status.INTERNAL && o.code !== status.UNKNOWN, `${method} (${how}) answered ${status[o.code]}: ${o.details}`);
      if (o.code !== status.OK) {
        t.refused++;
        assert.ok(o.details.length > 0, `${method}: status ${status[o.code]} without a message`);
        // Nothing changed: same topology, no journal entry.
        assert.equal(await topology(), baseline, `${method} refused with ${status[o.code]} yet changed the topology`);
        assert.equal(await callerEntriesSince(seq), [], `${method} refused with ${status[o.code]} yet journaled a change`);
      } else {
        t.accepted++;
        if (READ_ONLY.has(method)) assert.equal(await callerEntriesSince(seq), [], `${method} is read-only`);
        baseline = await topology();
      }
      // Put the example back now and then, so that deletes do not leave nothing to fuzz.
      if (runs % 60 === 0) {
        const back = await call('applyTopology', { yaml: EXAMPLE, source: 'examples/topology.yaml', dryRun: false });
        assert.is(back.code, status.OK, back.details);
        baseline = await topology();
        seq = await lastSeq();
      }
      return true;
    }),
    { numRuns: RUNS, includeErrorInReport: true },
  );
  t.accepted = t.inputs - t.refused;
  console.log(t.line());
  const still = await call('listTables', {});
  assert.is(still.code, status.OK, 'the controller still serves');
  assert.ok(t.refused > RUNS / 4, `most random requests are refused (${t.refused})`);
});

s('a refusal naming a field the input spelt in unicode or control characters keeps its status and field (found by this fuzz)', async () => {
  const admin = new AdminClient(proc.adminAddress);
  try {
    for (const key of ['sités', '\u0003 Example', 'a%b']) {
      try {
        await admin.call('applyTopology', { yaml: `${key}: 1\n`, source: 'fuzz.yaml', dryRun: true });
        assert.unreachable('accepted');
      } catch (err) {
        assert.instance(err, SwitchbackError);
        assert.is((err as SwitchbackError).code, 'INVALID_ARGUMENT', (err as Error).message);
        assert.is((err as SwitchbackError).field, key);
        assert.match((err as Error).message, /fuzz\.yaml:1:/);
      }
    }
  } finally {
    admin.close();
  }
});

s.run();
