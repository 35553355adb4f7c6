// Admin credentials at the CA: what the certificate carries, and every
// reason identify() refuses one, on a manual clock (expiry without waiting).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { AdminCredentials } from '../../controller/ca/admin-credentials.js';
import { GatewayCa } from '../../controller/ca/ca.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';

const c = suite('admin credentials');
const DAY = 86_400_000;
let dir: string;
let store: LmdbStore;
let ca: GatewayCa;
let creds: AdminCredentials;
const clock = new ManualClock(0, 1_800_000_000_000);

const peerOf = (pem: string): PeerCertificate => {
  const x = new X509Certificate(pem);
  const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1] ?? '';
  return { subject: { CN: cn }, subjectaltname: x.subjectAltName, serialNumber: x.serialNumber, raw: x.raw } as unknown as PeerCertificate;
};
const refusal = (fn: () => unknown): SwitchbackError => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SwitchbackError, String(e));
    return e;
  }
  return assert.unreachable('expected a refusal') as never;
};

c.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-sec-creds-'));
  store = new LmdbStore({ path: dir });
  ca = await GatewayCa.open(store, clock, () => {});
  creds = new AdminCredentials(ca, store, clock);
});
c.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

c('a credential names user and role in SAN URIs, is for clients only, signed by the CA, 90 days by default', async () => {
  const r = await creds.issue('oscar', 'operator');
  const x = new X509Certificate(r.certPem);
  assert.is(x.subjectAltName, 'URI:urn:switchback:user:oscar, URI:urn:switchback:role:operator');
  assert.ok(x.checkIssued(new X509Certificate(ca.caPem)) && x.verify(new X509Certificate(ca.caPem).publicKey));
  assert.equal(x.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.is(r.notAfterMs, clock.wallMs() + 90 * DAY);
  assert.equal(creds.identify(peerOf(r.certPem)), { name: 'oscar', role: 'operator', serial: r.serial });
});

c('identify refuses gateway certificates, unknown, revoked and expired credentials, and no certificate', async () => {
  const gw = await ca.enroll('fra-gw1');
  const e1 = refusal(() => creds.identify(peerOf(gw.certPem)));
  assert.is(e1.code, 'PERMISSION_DENIED');
  assert.match(e1.message, /gateway certificate \(gateway 'fra-gw1'\) cannot call the admin API/);
  assert.is(refusal(() => creds.identify(undefined)).code, 'UNAUTHENTICATED');
  const server = await ca.serverCredentials([]);
  assert.is(refusal(() => creds.identify(peerOf(server.certPem))).code, 'UNAUTHENTICATED', 'a CA certificate that is no credential');

  const v = await creds.issue('vera', 'viewer');
  const forgedSerial = { ...peerOf(v.certPem), serialNumber: '0ABC' } as PeerCertificate;
  assert.match(refusal(() => creds.identify(forgedSerial)).message, /was not issued by this controller/);

  const short = await creds.issue('sam', 'admin', 1);
  clock.advance(DAY + 1);
  const e2 = refusal(() => creds.identify(peerOf(short.certPem)));
  assert.is(e2.code, 'UNAUTHENTICATED');
  assert.match(e2.message, /expired/);

  assert.equal(creds.revoke('vera'), [v.serial]);
  const e3 = refusal(() => creds.identify(peerOf(v.certPem)));
  assert.is(e3.code, 'PERMISSION_DENIED');
  assert.match(e3.message, /revoked/);
  assert.is(refusal(() => creds.revoke('vera')).code, 'NOT_FOUND', 'nothing left to revoke');
  assert.is(creds.identify(peerOf((await creds.issue('vera', 'viewer')).certPem)).name, 'vera', 'a new credential for the name works');
});

c('a credential survives a restart of the store (issued serials are durable)', async () => {
  const r = await creds.issue('dora', 'admin');
  await store.close();
  store = new LmdbStore({ path: dir });
  ca = await GatewayCa.open(store, clock, () => {});
  creds = new AdminCredentials(ca, store, clock);
  assert.is(creds.identify(peerOf(r.certPem)).role, 'admin');
});

c.run();
