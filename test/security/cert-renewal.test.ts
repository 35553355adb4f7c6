// Certificate lifetime and renewal, against a real in-process controller
// (gRPC southbound over real sockets with real mutual TLS, LMDB store) and,
// for NATS, a real nats-server with the generated authorization: an expired
// certificate is refused by the TLS handshake; an agent whose certificate
// nears its end renews it over its session, rewrites its bundle and
// reconnects with the new one without losing its table; bad CSRs are
// refused with nothing stored; issuance is rate-limited; a revocation
// refuses renewed certificates too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_KIND, readBundleFile, writeBundleFile, type AgentBundle } from '../../common/bundle.js';
import { ManualClock, SystemClock } from '../../common/clock.js';
import { setLogSink } from '../../common/log.js';
import { parseControllerConfig } from '../../controller/config.js';
import { Controller } from '../../controller/controller.js';
import { GatewayCa, SPIFFE_PREFIX, type IssuedCredentials } from '../../controller/ca/ca.js';
import { x509 } from '../../controller/ca/x509.js';
import { startNatsSouthbound, type NatsSouthbound } from '../../controller/southbound/nats-session.js';
import { Southbound } from '../../controller/southbound/southbound.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import type { CertificateIssued, SessionResponse } from '../../proto/gen/switchback/v1/session.js';
import { CertRenewer } from '../../router-agent/control/cert-renewer.js';
import type { ControlClient } from '../../router-agent/control/control-client.js';
import { controlConfigFromBundle, createControlClient } from '../../router-agent/control/control-config.js';
import { GrpcTransport } from '../../router-agent/control/grpc-transport.js';
import { MemoryTableStore } from '../../router-agent/control/local-table-store.js';
import type { ControlSession } from '../../router-agent/control/transport.js';
import { until } from '../helpers/async-assert.js';
import { fleetTopology } from '../helpers/fleet-topology.js';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';

const DAY = 86_400_000;
const subtle = webcrypto.subtle;

interface Env {
  dir: string;
  store: LmdbStore;
  ctl: Controller;
  sb: Southbound;
}

async function startEnv(opts: { grpc?: boolean; insecure?: boolean; renewMinIntervalMs?: number } = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-renew-'));
  const clock = new SystemClock();
  const store = new LmdbStore({ path: dir });
  const ctl = new Controller({ store, clock });
  ctl.applyTopology(fleetTopology(8), 'test');
  const sb = await Southbound.start(
    ctl,
    store,
    { grpcListen: opts.grpc === false ? undefined : '127.0.0.1:0', insecure: opts.insecure, renewMinIntervalMs: opts.renewMinIntervalMs },
    clock,
  );
  return { dir, store, ctl, sb };
}

async function stopEnv(e: Env): Promise<void> {
  await e.sb.close();
  await e.store.close();
  rmSync(e.dir, { recursive: true, force: true });
}

/** The controller's own CA (same store, same key) with its clock set `daysAgo` in the past: certificates issued "then". */
const caAsOf = (e: Env, daysAgo: number) => GatewayCa.open(e.store, new ManualClock(0, Date.now() - daysAgo * DAY), () => {});

function bundleOf(e: Env, c: IssuedCredentials, nats: string[] = []): AgentBundle {
  return {
    kind: BUNDLE_KIND,
    version: 1,
    gatewayId: c.gatewayId,
    controller: { grpc: e.sb.grpcAddress ? [e.sb.grpcAddress] : [], nats },
    key: c.keyPem,
    cert: c.certPem,
    ca: c.caPem,
    natsSeed: c.natsSeed,
    serial: c.serial,
    notAfter: new Date(c.notAfterMs).toISOString(),
  };
}

const hello = (gatewayId: string) => ({ gatewayId, heldVersion: 0, heldEpoch: 0, tableHash: Buffer.alloc(0), agentVersion: 'test' });
const tlsOf = (b: { key: string; cert: string; ca: string }) => ({ keyPem: b.key, certPem: b.cert, caPem: b.ca });

/** Opens a gRPC session with these credentials: the session and what the controller sends on it, or the refusal. */
async function openSession(e: Env, tls: { keyPem: string; certPem: string; caPem: string }, gw: string) {
  const transport = new GrpcTransport({ address: e.sb.grpcAddress!, tls, openTimeoutMs: 3000 });
  const got: SessionResponse[] = [];
  try {
    const session = await transport.open(hello(gw), { message: (m) => got.push(m), closed: () => {} });
    return { ok: true as const, session, got, transport };
  } catch (err) {
    await transport.close();
    return { ok: false as const, code: (err as { code: string }).code, message: (err as Error).message };
  }
}

async function csrFor(subject: string, opts: { san?: string; keys?: webcrypto.CryptoKeyPair; alg?: 'P-256' | 'RSA' } = {}): Promise<string> {
  const keys =
    opts.keys ??
    ((opts.alg === 'RSA'
      ? await subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])
      : await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys: keys as unknown as CryptoKeyPair,
    signingAlgorithm: opts.alg === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' },
    extensions: opts.san ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.san }])] : [],
  });
  return csr.toString('pem');
}

/** An agent on its bundle: control client plus renewer, as `switchback agent --bundle` runs them. */
function startAgent(bundlePath: string, transport?: 'grpc' | 'nats', renew: { renewBeforeMs?: number; answerTimeoutMs?: number } = {}) {
  const bundle = readBundleFile(bundlePath);
  const clock = new SystemClock();
  const client = createControlClient(controlConfigFromBundle(bundle, transport), new MemoryTableStore(), { clock, backoff: { initialMs: 20, maxMs: 200 } });
  const tables: number[] = [];
  client.on((ev) => ev.type === 'table' && tables.push(ev.table.version));
  const renewer = new CertRenewer({ bundlePath, bundle, client, clock, answerTimeoutMs: renew.answerTimeoutMs ?? 5000, renewBeforeMs: renew.renewBeforeMs, retry: { initialMs: 50, maxMs: 500 } });
  client.start();
  renewer.start();
  return {
    client,
    renewer,
    tables,
    stop: async () => {
      await renewer.stop();
      await client.stop();
    },
  };
}

const notAfterOf = (pem: string) => Date.parse(new X509Certificate(pem).validTo);
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.replace(/^0+/, '');

// ---------------------------------------------------------------------------
const expiry = suite('certificate expiry');
let e: Env;
expiry.before(async () => {
  e = await startEnv();
});
expiry.after(() => stopEnv(e));

expiry('the gRPC southbound refuses an expired client certificate in the TLS handshake; the same one still valid is accepted', async () => {
  const then = await caAsOf(e, 10);
  const expired = await then.enroll('o0001', 1);
  assert.ok(expired.notAfterMs < Date.now(), 'the certificate is expired');
  const refused = await openSession(e, { keyPem: expired.keyPem, certPem: expired.certPem, caPem: expired.caPem }, 'o0001');
  assert.not.ok(refused.ok, 'an expired certificate opened a session');
  assert.is(!refused.ok && refused.code, 'UNAVAILABLE');
  assert.is(e.sb.core.session('o0001'), undefined);

  // The control: same CA, gateway and issue time, only a later end.
  const valid = await then.enroll('o0001', 30);
  const accepted = await openSession(e, { keyPem: valid.keyPem, certPem: valid.certPem, caPem: valid.caPem }, 'o0001');
  assert.ok(accepted.ok, !accepted.ok ? accepted.message : '');
  await until(() => e.sb.core.session('o0001') !== undefined, 'session of o0001');
  if (accepted.ok) {
    accepted.session.close();
    await accepted.transport.close();
  }
});

expiry('a session that outlives its certificate is ended when the certificate expires', async () => {
  // Issued so that it ends about three seconds from now.
  const short = await (await caAsOf(e, 1 - 3000 / DAY)).enroll('o0003', 1);
  assert.ok(short.notAfterMs > Date.now(), 'still valid at connect');
  const transport = new GrpcTransport({ address: e.sb.grpcAddress!, tls: { keyPem: short.keyPem, certPem: short.certPem, caPem: short.caPem }, openTimeoutMs: 3000 });
  let closedWith: { code: string; message: string } | undefined;
  await transport.open(hello('o0003'), { message: () => {}, closed: (err) => (closedWith = err) });
  assert.ok(e.sb.core.session('o0003'));
  await until(() => closedWith !== undefined, 'session ended at expiry', 10_000);
  assert.ok(Date.now() >= short.notAfterMs, 'not before the certificate ended');
  assert.is(closedWith!.code, 'UNAUTHENTICATED');
  assert.match(closedWith!.message, /certificate of gateway 'o0003' expired/);
  assert.is(e.sb.core.session('o0003'), undefined);
  await transport.close();
});

/**
 * Why Node's TLS refuses a client certificate: a server that requests one
 * but (unlike the southbound, which keeps Node's default rejectUnauthorized
 * and so drops the connection) lets the handshake finish and reports
 * OpenSSL's verification result.
 */
async function tlsVerdict(server: { caPem: string; keyPem: string; certPem: string }, client: IssuedCredentials): Promise<string> {
  return new Promise((resolve, reject) => {
    const srv = createServer({ ca: server.caPem, key: server.keyPem, cert: server.certPem, requestCert: true, rejectUnauthorized: false }, (s) => {
      srv.close();
      resolve(s.authorized ? 'authorized' : String(s.authorizationError));
      s.end();
    });
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const s: TLSSocket = connect({ host: '127.0.0.1', port, ca: client.caPem, key: client.keyPem, cert: client.certPem, servername: 'localhost' });
      s.on('error', () => {});
      s.on('close', () => s.destroy());
    });
  });
}

expiry("the reason the handshake fails is OpenSSL's CERT_HAS_EXPIRED", async () => {
  const then = await caAsOf(e, 10);
  const server = await e.sb.ca.serverCredentials([]);
  const verdictExpired = await tlsVerdict({ caPem: e.sb.ca.caPem, ...server }, await then.enroll('o0002', 1));
  assert.is(verdictExpired, 'CERT_HAS_EXPIRED');
  assert.is(await tlsVerdict({ caPem: e.sb.ca.caPem, ...server }, await then.enroll('o0002', 30)), 'authorized');
});

expiry.run();

// ---------------------------------------------------------------------------
const renew = suite('certificate renewal over the gRPC session');
let logs: string[];
let restore: (l: string) => void;
renew.before(async () => {
  e = await startEnv();
  logs = [];
  restore = setLogSink((l) => logs.push(l));
});
renew.after(async () => {
  setLogSink(restore);
  await stopEnv(e);
});

renew('an agent whose certificate nears its end renews it, rewrites its bundle and reconnects with the new one, keeping its table', async () => {
  // Issued 80 days ago for 90: a ninth of its life left, under the third that triggers renewal.
  const old = await (await caAsOf(e, 80)).enroll('o0003', 90);
  const path = join(e.dir, 'o0003.bundle.json');
  writeBundleFile(path, bundleOf(e, old));
  const agent = startAgent(path);
  try {
    await until(() => agent.renewer.stats.renewed === 1, 'renewal', 10_000);
    const b = readBundleFile(path);
    assert.is.not(b.key, old.keyPem, 'a new key');
    assert.is.not(b.cert, old.certPem);
    assert.is(b.ca, old.caPem);
    assert.is(b.controller.grpc[0], e.sb.grpcAddress);
    assert.is(b.natsSeed, old.natsSeed, 'the NATS credentials stay');
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.is(serialOf(b.cert), b.serial);
    const newNotAfter = notAfterOf(b.cert);
    assert.ok(newNotAfter > old.notAfterMs + 70 * DAY, 'a later end (90 days from now)');
    assert.is(Date.parse(b.notAfter), newNotAfter);
    // The new key is the one in the certificate, and the certificate is the CA's.
    const x = new X509Certificate(b.cert);
    assert.ok(x.checkPrivateKey(createPrivateKey(b.key)));
    assert.ok(x.verify(new X509Certificate(b.ca).publicKey));
    assert.is(x.subjectAltName, `URI:${SPIFFE_PREFIX}o0003`);

    // The controller records the serial and shows the newest end; the journal names the agent.
    const enr = e.sb.ca.enrollments().get('o0003')!;
    assert.ok(enr.serials.includes(b.serial) && enr.serials.includes(old.serial));
    assert.is(e.sb.agents().agents.find((a) => a.gatewayId === 'o0003')!.certNotAfterUnixMs, newNotAfter);
    const entry = e.ctl.store.journal(0, 10_000).find((j) => j.action === 'gateway.renew' && j.subject === 'o0003');
    assert.ok(entry, 'renewal journaled');
    assert.is(entry!.actor, 'agent:o0003');

    // Reconnected with the new certificate: refuse the old serial and make the agent reconnect again.
    await until(() => agent.client.stats.sessions >= 2 && agent.client.connected, 'reconnect after renewal');
    const cur = e.sb.ca.enrollments().get('o0003')!;
    e.store.putEnrollment({ ...cur, serials: cur.serials.filter((s) => s !== old.serial), revokedSerials: [...cur.revokedSerials, old.serial] });
    const sessions = agent.client.stats.sessions;
    agent.client.reconnect('test: prove the new certificate is in use');
    await until(() => agent.client.stats.sessions > sessions && agent.client.connected && e.sb.core.session('o0003') !== undefined, 'accepted with the renewed certificate');
    assert.not.ok(logs.some((l) => l.includes('refused certificate') && l.includes('o0003')), logs.filter((l) => l.includes('o0003')).join('\n'));

    // The table was never lost: one table version, applied once, still held; later sessions were in sync.
    assert.is(agent.tables.length, 1);
    assert.is(agent.client.table?.version, e.ctl.store.table('o0003')!.version);
    assert.ok(agent.client.stats.inSync >= 2);
  } finally {
    await agent.stop();
  }
});

/** Sends CSRs on an open session of `gw` and collects the certificates that come back. */
async function sessionFor(gw: string, daysAgo = 80): Promise<{ c: IssuedCredentials; session: ControlSession; issued: CertificateIssued[]; close: () => Promise<void> }> {
  const c = await (await caAsOf(e, daysAgo)).enroll(gw, 90);
  const r = await openSession(e, { keyPem: c.keyPem, certPem: c.certPem, caPem: c.caPem }, gw);
  if (!r.ok) throw new Error(r.message);
  const issued: CertificateIssued[] = [];
  const t = setInterval(() => {
    for (const m of r.got.splice(0)) if (m.body?.$case === 'certificate') issued.push(m.body.certificate);
  }, 5);
  return {
    c,
    session: r.session,
    issued,
    close: async () => {
      clearInterval(t);
      r.session.close();
      await r.transport.close();
    },
  };
}

const request = (gatewayId: string, csrPem: string) => ({ body: { $case: 'certificateRequest' as const, certificateRequest: { gatewayId, csrPem } } });

renew('CSRs for another gateway, with foreign names, a broken signature or an RSA key are refused with a log line; nothing is stored', async () => {
  const s = await sessionFor('o0004');
  try {
    const otherBefore = JSON.stringify(e.sb.ca.enrollments().get('o0001') ?? null);
    const before = e.sb.ca.enrollments().get('o0004')!;
    const seq = e.ctl.store.lastSeq();
    const refusedBefore = e.sb.core.stats.refused;
    const good = await csrFor('CN=o0004', { san: SPIFFE_PREFIX + 'o0004' });
    // Flip a byte of the signature (the last bytes of the DER).
    const der = Buffer.from(x509.PemConverter.decodeFirst(good));
    der[der.length - 3] ^= 0x01;
    const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    const bad = [
      request('o0001', await csrFor('CN=o0001')), // names another gateway in the message
      request('o0004', await csrFor('CN=o0001')), // CSR subject is another gateway
      request('o0004', await csrFor('CN=o0004,O=evil')), // not exactly the gateway
      request('o0004', await csrFor('CN=o0004', { san: SPIFFE_PREFIX + 'o0001' })), // SAN for another gateway
      request('o0004', tampered),
      request('o0004', await csrFor('CN=o0004', { alg: 'RSA' })),
      request('o0004', 'not a csr'),
      request('o0004', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'),
    ];
    for (const m of bad) s.session.send(m);
    // Then a good one: answered after every refusal (one gateway's requests are handled in order).
    s.session.send(request('o0004', good));
    await until(() => s.issued.length === 1, 'the good CSR answered');
    assert.is(e.sb.core.stats.refused - refusedBefore, bad.length);
    const reasons = logs.filter((l) => l.includes('refused certificateRequest')).join('\n');
    for (const re of [/names gateway 'o0001' on the session of 'o0004'/, /does not name exactly/, /only spiffe:\/\/switchback\/gateway\/o0004 may be named/, /signature does not verify/, /key type RSASSA-PKCS1-v1_5 is not accepted/, /must be a PEM CERTIFICATE REQUEST/, /not a PKCS#10 request/]) {
      assert.match(reasons, re);
    }
    // Exactly one certificate issued, for the good CSR's key; nothing else stored or journaled.
    const after = e.sb.ca.enrollments().get('o0004')!;
    assert.equal(after.serials, [...before.serials, s.issued[0]!.serial].slice(-4));
    assert.is(e.ctl.store.lastSeq(), seq + 1);
    assert.is(JSON.stringify(e.sb.ca.enrollments().get('o0001') ?? null), otherBefore);
    assert.is(new X509Certificate(s.issued[0]!.certPem).subject, 'CN=o0004');
    assert.is(s.issued[0]!.caPem, e.sb.ca.caPem);

    // At most one certificate per minute per gateway.
    const refused = e.sb.renewal.stats.refused;
    s.session.send(request('o0004', await csrFor('CN=o0004')));
    await until(() => e.sb.renewal.stats.refused === refused + 1, 'rate limit refusal');
    assert.match(logs.filter((l) => l.includes('refused certificateRequest')).at(-1)!, /RESOURCE_EXHAUSTED.*at most one per 60 s/);
    assert.is(e.sb.ca.enrollments().get('o0004')!.serials.length, after.serials.length);
    assert.is(s.issued.length, 1);
  } finally {
    await s.close();
  }
});

renew('a revocation after renewal refuses the renewed certificate and the old one', async () => {
  const old = await (await caAsOf(e, 80)).enroll('o0005', 90);
  const path = join(e.dir, 'o0005.bundle.json');
  writeBundleFile(path, bundleOf(e, old));
  const agent = startAgent(path);
  let renewed: AgentBundle;
  try {
    await until(() => agent.renewer.stats.renewed === 1 && agent.client.stats.sessions >= 2 && agent.client.connected, 'renewal and reconnect', 10_000);
    renewed = readBundleFile(path);
    const r = e.sb.revoke('o0005', 'test');
    assert.ok(r.serials.includes(renewed.serial) && r.serials.includes(old.serial), r.serials.join(','));
    await until(() => e.sb.core.session('o0005') === undefined, 'session closed');
  } finally {
    await agent.stop();
  }
  for (const b of [tlsOf(renewed), { keyPem: old.keyPem, certPem: old.certPem, caPem: old.caPem }]) {
    const res = await openSession(e, b, 'o0005');
    assert.not.ok(res.ok);
    assert.is(!res.ok && res.code, 'PERMISSION_DENIED');
  }
  // And a revoked gateway gets no new certificate.
  assert.is(e.sb.ca.enrollments().get('o0005')!.serials.length, 0);
});

renew.run();

// ---------------------------------------------------------------------------
const retries = suite('certificate renewal retries');
let re: Env;
let retryLogs: string[];
retries.before(async () => {
  re = await startEnv({ renewMinIntervalMs: 2000 });
  retryLogs = [];
  restore = setLogSink((l) => retryLogs.push(l));
});
retries.after(async () => {
  setLogSink(restore);
  await stopEnv(re);
});

retries('a refused renewal is retried with backoff, logged, and succeeds once the controller issues again', async () => {
  // Enrolled just now: the controller refuses another certificate for 2 s.
  const c = await re.sb.ca.enroll('o0008', 1);
  const path = join(re.dir, 'o0008.bundle.json');
  writeBundleFile(path, bundleOf(re, c));
  // Renew when less than two days are left: at once.
  const agent = startAgent(path, 'grpc', { renewBeforeMs: 2 * DAY, answerTimeoutMs: 300 });
  try {
    await until(() => agent.renewer.stats.renewed === 1, 'renewal after the refusals', 15_000);
    assert.ok(agent.renewer.stats.failures >= 1, 'at least one attempt failed');
    assert.ok(agent.renewer.stats.requests >= 2);
    assert.ok(retryLogs.some((l) => l.includes('refused certificateRequest') && l.includes('RESOURCE_EXHAUSTED')));
    assert.ok(retryLogs.some((l) => l.includes('certificate renewal failed; will retry') && l.includes('did not answer')), retryLogs.join('\n'));
    assert.is(re.sb.renewal.stats.issued, 1);
    assert.ok(notAfterOf(readBundleFile(path).cert) > c.notAfterMs);
    // The retries reused one key: the certificate is for it and only one was issued.
    assert.is(re.sb.ca.enrollments().get('o0008')!.serials.length, 2);
  } finally {
    await agent.stop();
  }
});

retries.run();

// ---------------------------------------------------------------------------
const insecure = suite('certificate renewal needs an authenticated session');
let ie: Env;
insecure.before(async () => {
  ie = await startEnv({ insecure: true });
});
insecure.after(() => stopEnv(ie));

insecure('a plain-text (--insecure) session gets no certificate', async () => {
  await ie.sb.ca.enroll('o0006');
  const t = new GrpcTransport({ address: ie.sb.grpcAddress!, insecure: true });
  const got: SessionResponse[] = [];
  const session = await t.open(hello('o0006'), { message: (m) => got.push(m), closed: () => {} });
  const refused = ie.sb.core.stats.refused;
  const before = ie.sb.ca.enrollments().get('o0006')!.serials.length;
  session.send(request('o0006', await csrFor('CN=o0006')));
  await until(() => ie.sb.core.stats.refused === refused + 1, 'refusal');
  assert.is(ie.sb.ca.enrollments().get('o0006')!.serials.length, before);
  assert.not.ok(got.some((m) => m.body?.$case === 'certificate'));
  session.close();
  await t.close();
});

insecure.run();

// ---------------------------------------------------------------------------
const overNats = suite('certificate renewal over the NATS session');
let ne: Env;
let server: NatsServer;
let nats: NatsSouthbound;
overNats.before(async () => {
  ne = await startEnv({ grpc: false });
});
overNats.after(async () => {
  // Sessions end (a Refusal on NATS) before the NATS connection closes.
  await ne.sb.close();
  await nats?.close();
  await server?.stop();
  await stopEnv(ne);
});

overNats('an agent on NATS renews its certificate over its session and keeps its session and table', async () => {
  const old = await (await caAsOf(ne, 80)).enroll('o0007', 90);
  // The server runs the authorization `switchback ctl nats-config` generates: the subject is the identity.
  server = await startNatsServer({ config: ne.sb.natsConfig().config });
  nats = await startNatsSouthbound(ne.sb.core, ne.ctl.store, { servers: server.url, nkeySeed: ne.sb.ca.controllerNatsSeed, clock: new SystemClock(), beatMs: 200 });
  const path = join(ne.dir, 'o0007.bundle.json');
  writeBundleFile(path, bundleOf(ne, old, [server.url]));
  const agent = startAgent(path, 'nats');
  try {
    await until(() => agent.renewer.stats.renewed === 1, 'renewal over NATS', 10_000);
    const b = readBundleFile(path);
    assert.is.not(b.cert, old.certPem);
    assert.ok(notAfterOf(b.cert) > old.notAfterMs);
    assert.ok(ne.sb.ca.enrollments().get('o0007')!.serials.includes(b.serial));
    // NATS authenticates with the NKey, which did not change: the session goes on.
    assert.is(agent.client.stats.sessions, 1);
    assert.ok(agent.client.connected);
    assert.is(agent.client.table?.version, ne.ctl.store.table('o0007')!.version);
  } finally {
    await agent.stop();
  }
});

overNats.run();

// ---------------------------------------------------------------------------
const config = suite('certificate configuration keys');

config('controller.yaml sets the validity and the renewal rate; bad values are refused naming the key', () => {
  const c = parseControllerConfig('cert_validity_days: 30\ncert_renew_min_interval_s: 600\n', '/tmp/controller.yaml');
  assert.is(c.certValidityDays, 30);
  assert.is(c.certRenewMinIntervalS, 600);
  assert.is(parseControllerConfig('', '/tmp/controller.yaml').certValidityDays, undefined);
  for (const bad of ['cert_validity_days: 0', 'cert_validity_days: 4000', 'cert_validity_days: 1.5', "cert_validity_days: '90'", 'cert_renew_min_interval_s: -1']) {
    assert.throws(() => parseControllerConfig(bad + '\n', '/tmp/controller.yaml'), (err: Error) => err.message.includes(bad.split(':')[0]!));
  }
});

config.run();
