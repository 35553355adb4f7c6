// The admin API with TLS and roles, over real sockets: a controller with
// admin_tls required, its first admin credential from the data directory,
// people issued each role, and what each of them (and a gateway, and a
// stranger) may do.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCredentialFile, type ClientTls } from '../../common/admin-credential-file.js';
import { SystemClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { AdminServiceClient } from '../../proto/gen/switchback/v1/admin.js';
import { AdminCredentials } from '../../controller/ca/admin-credentials.js';
import { GatewayCa } from '../../controller/ca/ca.js';
import { INITIAL_ADMIN_CREDENTIAL } from '../../controller/config.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { startController, type RunningController } from '../../controller/main.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const t = suite('admin API authentication and roles');
let dir: string;
let running: RunningController;
let admin: AdminClient;
let adminTls: ClientTls;
const clients: AdminClient[] = [];
let link: string;

const connect = (tls: ClientTls) => {
  const c = new AdminClient(running.adminAddress, { tls, timeoutMs: 5_000 });
  clients.push(c);
  return c;
};
const issue = async (name: string, role: string): Promise<AdminClient> => {
  const r = await admin.call('issueCredential', { name, role, validityDays: 0 });
  return connect({ keyPem: r.keyPem, certPem: r.certPem, caPem: r.caPem });
};
const lastSeq = async () => (await admin.call('listEvents', { afterSeq: 0, limit: 100_000 })).entries.at(-1)!.seq;

async function refused(p: Promise<unknown>, code: string, re?: RegExp): Promise<SwitchbackError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SwitchbackError, String(e));
    assert.is(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  return assert.unreachable(`expected ${code}`) as never;
}

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-sec-'));
  running = await startController({
    dataDir: join(dir, 'data'),
    adminListen: '127.0.0.1:0',
    adminTls: 'required',
    southboundListen: '127.0.0.1:0',
    bootstrapTopology: join(root, 'examples/topology.yaml'),
  });
  assert.ok(running.initialCredential, 'the first TLS start writes an admin credential');
  const c = readCredentialFile(running.initialCredential!);
  adminTls = { keyPem: c.key, certPem: c.cert, caPem: c.ca };
  admin = connect(adminTls);
  link = (await admin.call('listLinks', {})).links[0]!.id;
});
t.after(async () => {
  for (const c of clients) c.close();
  await running.close();
  rmSync(dir, { recursive: true, force: true });
});

t('controller key material is owner-only: data directory 0700, store and initial credential 0600', () => {
  const data = join(dir, 'data');
  assert.is(statSync(data).mode & 0o777, 0o700);
  assert.is(running.initialCredential, join(data, INITIAL_ADMIN_CREDENTIAL));
  for (const f of [INITIAL_ADMIN_CREDENTIAL, 'data.mdb', 'lock.mdb']) assert.is(statSync(join(data, f)).mode & 0o777, 0o600, f);
});

t('the initial credential is admin; WhoAmI names the certificate user', async () => {
  assert.equal(await admin.call('whoAmI', {}), { name: 'admin', role: 'admin' });
  const v = await issue('vera', 'viewer');
  assert.equal(await v.call('whoAmI', {}), { name: 'vera', role: 'viewer' });
});

t('a viewer reads but cannot drain a link: PERMISSION_DENIED and nothing in the journal', async () => {
  const v = await issue('val', 'viewer');
  assert.ok((await v.call('listLinks', {})).links.length > 0);
  const before = await lastSeq();
  await refused(v.call('drainLink', { id: link, reason: 'test' }), 'PERMISSION_DENIED', /val \(role viewer\) may not call DrainLink: it needs role operator/);
  assert.is(await lastSeq(), before, 'the journal is unchanged');
  assert.ok((await v.call('listLinks', {})).links.every((l) => l.id !== link || l.adminState !== 2), 'the link is not drained');
});

t('an operator drains (the journal names them) but cannot enroll; an admin can', async () => {
  const o = await issue('oscar', 'operator');
  const r = await o.call('drainLink', { id: link, reason: 'maintenance' });
  const entry = (await admin.call('listEvents', { afterSeq: r.journalSeq - 1, limit: 1 })).entries[0]!;
  assert.is(entry.action, 'link.drain');
  assert.is(entry.actor, 'oscar');
  await o.call('undrainLink', { id: link });
  await refused(o.call('enroll', { gatewayId: 'fra-gw1', validityDays: 0 }), 'PERMISSION_DENIED', /needs role admin/);
  await refused(o.call('issueCredential', { name: 'eve', role: 'admin', validityDays: 0 }), 'PERMISSION_DENIED');
  const e = await admin.call('enroll', { gatewayId: 'fra-gw1', validityDays: 0 });
  assert.match(e.certPem, /BEGIN CERTIFICATE/);
  const last = (await admin.call('listEvents', { afterSeq: (await lastSeq()) - 1, limit: 1 })).entries[0]!;
  assert.is(last.action, 'gateway.enroll');
  assert.is(last.actor, 'admin');
});

t('a gateway certificate is refused by the admin API, on unary calls and on the event stream', async () => {
  const e = await admin.call('enroll', { gatewayId: 'ams-gw1', validityDays: 0 });
  const gw = connect({ keyPem: e.keyPem, certPem: e.certPem, caPem: e.caPem });
  await refused(gw.call('listLinks', {}), 'PERMISSION_DENIED', /gateway certificate \(gateway 'ams-gw1'\) cannot call the admin API/);
  await refused(gw.call('whoAmI', {}), 'PERMISSION_DENIED');
  const err = await new Promise<Error>((resolve) => {
    const stop = gw.watch(0, () => assert.unreachable('no journal entry reaches a gateway'), (x) => {
      stop();
      resolve(x);
    });
  });
  assert.ok(SwitchbackError.is(err, 'PERMISSION_DENIED'), err.message);
});

t('a revoked credential is refused', async () => {
  const r = await issue('rita', 'operator');
  assert.is((await r.call('whoAmI', {})).name, 'rita');
  const rev = await admin.call('revoke', { gatewayId: 'user:rita' });
  assert.is(rev.serials.length, 1);
  // Checked on every call, also on a connection opened before the revocation.
  await refused(r.call('listLinks', {}), 'PERMISSION_DENIED', /revoked/);
  const last = (await admin.call('listEvents', { afterSeq: (await lastSeq()) - 1, limit: 1 })).entries[0]!;
  assert.is(last.action, 'credential.revoke');
});

t('a certificate from a different CA is refused at the TLS handshake', async () => {
  const otherDir = mkdtempSync(join(tmpdir(), 'sb-sec-other-'));
  const store = new LmdbStore({ path: otherDir });
  try {
    const clock = new SystemClock();
    const otherCa = await GatewayCa.open(store, clock, () => {});
    const forged = await new AdminCredentials(otherCa, store, clock).issue('mallory', 'admin');
    // Trusts the real controller's CA, presents the stranger's certificate.
    const m = connect({ keyPem: forged.keyPem, certPem: forged.certPem, caPem: adminTls.caPem });
    const before = await lastSeq();
    await refused(m.call('drainLink', { id: link, reason: 'x' }), 'UNAVAILABLE');
    assert.is(await lastSeq(), before);
  } finally {
    await store.close();
    rmSync(otherDir, { recursive: true, force: true });
  }
});

t('no client certificate on the TLS listener is refused; so is plain text', async () => {
  const noCert = new AdminServiceClient(running.adminAddress, credentials.createSsl(Buffer.from(adminTls.caPem)));
  try {
    const code = await new Promise<number>((resolve) =>
      noCert.listLinks({}, new Metadata(), { deadline: new Date(Date.now() + 5_000) }, (err) => resolve(err ? err.code : 0)),
    );
    assert.is(code, 14 /* UNAVAILABLE: the handshake failed */);
  } finally {
    noCert.close();
  }
  const plain = new AdminClient(running.adminAddress, { timeoutMs: 5_000 });
  clients.push(plain);
  await refused(plain.call('whoAmI', {}), 'UNAVAILABLE');
});

t('a person credential is not a gateway: the southbound refuses it', async () => {
  const r = await admin.call('issueCredential', { name: 'gw-impostor', role: 'admin', validityDays: 1 });
  const { X509Certificate } = await import('node:crypto');
  const x = new X509Certificate(r.certPem);
  const peer = { raw: x.raw, subject: { CN: 'gw-impostor' }, subjectaltname: x.subjectAltName, serialNumber: x.serialNumber } as never;
  assert.throws(() => running.southbound.ca.identify(peer), /does not name a gateway/);
  assert.match(x.subjectAltName ?? '', /URI:urn:switchback:user:gw-impostor, URI:urn:switchback:role:admin/);
});

t('IssueCredential refuses bad names, roles and validity with a clear error', async () => {
  await refused(admin.call('issueCredential', { name: 'Bad Name', role: 'viewer', validityDays: 0 }), 'INVALID_ARGUMENT', /not a user name/);
  await refused(admin.call('issueCredential', { name: 'local', role: 'viewer', validityDays: 0 }), 'INVALID_ARGUMENT', /reserved/);
  await refused(admin.call('issueCredential', { name: 'zed', role: 'root', validityDays: 0 }), 'INVALID_ARGUMENT', /viewer, operator, admin/);
  await refused(admin.call('issueCredential', { name: 'zed', role: 'viewer', validityDays: 4000 }), 'INVALID_ARGUMENT', /1\.\.3650/);
  await refused(admin.call('revoke', { gatewayId: 'user:nobody' }), 'NOT_FOUND');
});

t.run();
