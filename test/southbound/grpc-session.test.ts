// The southbound session over gRPC with mutual TLS, certificates from the
// controller's CA: the transport contract, then what only gRPC has (TLS
// handshake, raw corrupt frames, plain text when explicitly insecure).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../../common/clock.js';
import { setLogSink } from '../../common/log.js';
import { Controller } from '../../controller/controller.js';
import { GatewayCa, type IssuedCredentials } from '../../controller/ca/ca.js';
import { startGrpcSouthbound } from '../../controller/southbound/grpc-session.js';
import { Southbound } from '../../controller/southbound/southbound.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { SessionRequest } from '../../proto/gen/switchback/v1/session.js';
import { GrpcTransport } from '../../router-agent/control/grpc-transport.js';
import { fleetTopology } from '../helpers/fleet-topology.js';
import { CONTRACT_GATEWAYS, OFFICES, runTransportContract, until } from './transport-contract.js';

interface Running {
  ctl: Controller;
  sb: Southbound;
  store: LmdbStore;
  dir: string;
  creds: Map<string, IssuedCredentials>;
}

async function startGrpcController(opts: { insecure?: boolean } = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-grpc-'));
  const clock = new SystemClock();
  const store = new LmdbStore({ path: dir });
  const ctl = new Controller({ store, clock });
  ctl.applyTopology(fleetTopology(OFFICES), 'test');
  const sb = await Southbound.start(ctl, store, { grpcListen: '127.0.0.1:0', insecure: opts.insecure }, clock);
  const creds = new Map<string, IssuedCredentials>();
  for (const gw of CONTRACT_GATEWAYS) creds.set(gw, await sb.ca.enroll(gw));
  return { ctl, sb, store, dir, creds };
}

async function stopGrpcController(r: Running): Promise<void> {
  await r.sb.close();
  await r.store.close();
  rmSync(r.dir, { recursive: true, force: true });
}

const tlsOf = (c: IssuedCredentials) => ({ keyPem: c.keyPem, certPem: c.certPem, caPem: c.caPem });

runTransportContract('gRPC (mTLS)', async () => {
  const r = await startGrpcController();
  return {
    ctl: r.ctl,
    southbound: r.sb,
    transportName: 'grpc',
    transport: (gw, credentialsOf = gw) => new GrpcTransport({ address: r.sb.grpcAddress!, tls: tlsOf(r.creds.get(credentialsOf)!) }),
    close: () => stopGrpcController(r),
  };
});

const g = suite('gRPC southbound edges');
let r: Running;
let logs: string[];
let restore: (l: string) => void;
g.before(async () => {
  r = await startGrpcController();
  logs = [];
  restore = setLogSink((l) => logs.push(l));
});
g.after(async () => {
  setLogSink(restore);
  await stopGrpcController(r);
});

/** A bidirectional call that sends raw bytes, as a broken or hostile agent would. */
function rawCall(c: IssuedCredentials, frames: Buffer[]): Promise<ServiceError> {
  const client = new Client(r.sb.grpcAddress!, credentials.createSsl(Buffer.from(c.caPem), Buffer.from(c.keyPem), Buffer.from(c.certPem)));
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest('/switchback.v1.SouthboundService/Session', (b: Buffer) => b, (b: Buffer) => b, new Metadata());
    call.on('data', () => {});
    call.on('error', (e: ServiceError) => {
      client.close();
      resolve(e);
    });
    for (const f of frames) call.write(f);
  });
}

g('corrupt and truncated protobuf frames end the call with INVALID_ARGUMENT and a log line; the store is untouched', async () => {
  const seq = r.ctl.store.lastSeq();
  const garbage = await rawCall(r.creds.get('o0001')!, [Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])]);
  assert.is(garbage.code, status.INVALID_ARGUMENT);
  assert.match(garbage.details, /corrupt SessionRequest/);
  const hello = Buffer.from(SessionRequest.encode({ body: { $case: 'hello', hello: { gatewayId: 'o0001', heldVersion: 5, heldEpoch: 1, tableHash: Buffer.alloc(32, 1), agentVersion: 'x' } } }).finish());
  const truncated = await rawCall(r.creds.get('o0001')!, [hello.subarray(0, hello.length - 10)]);
  assert.is(truncated.code, status.INVALID_ARGUMENT);
  const notHello = await rawCall(r.creds.get('o0001')!, [Buffer.from(SessionRequest.encode({ body: { $case: 'snapshotRequest', snapshotRequest: { gatewayId: 'o0001', reason: '' } } }).finish())]);
  assert.is(notHello.code, status.FAILED_PRECONDITION);
  assert.ok(logs.filter((l) => l.includes('refused message')).length >= 3, logs.join('\n'));
  assert.is(r.ctl.store.lastSeq(), seq);
  assert.is(r.ctl.store.ack('o0001'), undefined);
});

g('a certificate from another CA fails the TLS handshake', async () => {
  const otherDir = mkdtempSync(join(tmpdir(), 'sb-otherca-'));
  const otherStore = new LmdbStore({ path: otherDir });
  const forged = await (await GatewayCa.open(otherStore, new SystemClock(), () => {})).enroll('o0001');
  await otherStore.close();
  rmSync(otherDir, { recursive: true, force: true });
  const tr = new GrpcTransport({ address: r.sb.grpcAddress!, tls: { keyPem: forged.keyPem, certPem: forged.certPem, caPem: r.sb.ca.caPem }, openTimeoutMs: 3000 });
  try {
    await tr.open({ gatewayId: 'o0001', heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' }, { message: () => {}, closed: () => {} });
    assert.unreachable('a forged certificate was accepted');
  } catch (e) {
    assert.is((e as { code: string }).code, 'UNAVAILABLE');
  }
  await tr.close();
  assert.is(r.sb.core.session('o0001'), undefined);
});

g('plain text only when explicitly insecure: the Hello names the gateway', async () => {
  const insecure = await startGrpcController({ insecure: true });
  const tr = new GrpcTransport({ address: insecure.sb.grpcAddress!, insecure: true });
  const got: string[] = [];
  const s = await tr.open({ gatewayId: 'o0002', heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: '' }, { message: (m) => got.push(m.body?.$case ?? ''), closed: () => {} });
  await until(() => got.length === 1, 'snapshot');
  assert.equal(got, ['snapshot']);
  s.close();
  await tr.close();
  await stopGrpcController(insecure);
  assert.throws(() => new GrpcTransport({ address: '127.0.0.1:1' }), /TLS credentials .* or an explicit insecure flag/);
  try {
    await startGrpcSouthbound(r.sb.core, { listen: '127.0.0.1:0' });
    assert.unreachable('started without TLS and without --insecure');
  } catch (e) {
    assert.match((e as Error).message, /needs a CA for mTLS, or --insecure/);
  }
});

g.run();
