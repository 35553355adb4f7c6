// The controller CA: kept in the store across restarts, gateway certificates
// with the identity in CN and SAN URI, identification of a TLS peer against
// issue and revocation records, and the bundle file an agent reads.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { BUNDLE_KIND, parseBundle, readBundleFile, writeBundleFile, type AgentBundle } from '../../common/bundle.js';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import type { ControllerEvent } from '../../controller/events.js';
import { GatewayCa, SPIFFE_PREFIX } from '../../controller/ca/ca.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';

const DAY = 86_400_000;
let dir: string;
let store: LmdbStore;
let clock: ManualClock;
let events: ControllerEvent[];
const c = suite('controller CA');
c.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-ca-'));
  store = new LmdbStore({ path: dir });
  clock = new ManualClock(0, Date.now());
  events = [];
});
c.after.each(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What Node's TLS reports for a peer presenting this certificate. */
const peerOf = (pem: string): PeerCertificate => {
  const x = new X509Certificate(pem);
  const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1] ?? '';
  return { subject: { CN: cn }, subjectaltname: x.subjectAltName, serialNumber: x.serialNumber, raw: x.raw } as unknown as PeerCertificate;
};
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SwitchbackError, String(e));
    return e.code;
  }
  return 'none';
};

c('the CA is created once and kept in the store; enrollments survive a restart', async () => {
  const ca = await GatewayCa.open(store, clock, (e) => events.push(e));
  const issued = await ca.enroll('fra-gw1');
  await store.close();
  store = new LmdbStore({ path: dir });
  const again = await GatewayCa.open(store, clock, (e) => events.push(e));
  assert.is(again.caPem, ca.caPem);
  assert.is(again.controllerNatsPublicKey, ca.controllerNatsPublicKey);
  assert.is(again.identify(peerOf(issued.certPem)), 'fra-gw1');
});

c('a gateway certificate names the gateway in CN and SAN URI, is signed by the CA, for clients, 90 days', async () => {
  const ca = await GatewayCa.open(store, clock, () => {});
  const issued = await ca.enroll('fra-gw1');
  const x = new X509Certificate(issued.certPem);
  const caCert = new X509Certificate(ca.caPem);
  assert.ok(x.verify(caCert.publicKey), 'signed by the CA');
  assert.ok(x.checkIssued(caCert));
  assert.match(x.subject, /CN=fra-gw1/);
  assert.is(x.subjectAltName, `URI:${SPIFFE_PREFIX}fra-gw1`);
  assert.equal(x.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'clientAuth only');
  assert.ok(!x.ca);
  const days = (Date.parse(x.validTo) - clock.wallMs()) / DAY;
  assert.ok(days > 89.9 && days <= 90, `valid ${days} days`);
  assert.ok(caCert.ca);
  assert.match(issued.keyPem, /BEGIN PRIVATE KEY/);
  assert.match(issued.natsSeed, /^SU[A-Z2-7]+$/);
});

c('identify accepts only issued, unrevoked certificates that name a gateway', async () => {
  const ca = await GatewayCa.open(store, clock, (e) => events.push(e));
  const one = await ca.enroll('fra-gw1');
  const two = await ca.enroll('fra-gw1');
  assert.is(ca.identify(peerOf(one.certPem)), 'fra-gw1', 'an earlier certificate stays valid');
  assert.is(ca.identify(peerOf(two.certPem)), 'fra-gw1');
  const server = await ca.serverCredentials(['ctl.example.net']);
  assert.is(code(() => ca.identify(peerOf(server.certPem))), 'UNAUTHENTICATED');
  assert.is(code(() => ca.identify(undefined)), 'UNAUTHENTICATED');
  const forged = { ...peerOf(one.certPem), serialNumber: 'ABCDEF' } as PeerCertificate;
  assert.is(code(() => ca.identify(forged)), 'PERMISSION_DENIED');
  ca.revoke('fra-gw1');
  assert.equal(events, [{ type: 'revoked', gatewayId: 'fra-gw1' }]);
  assert.ok(ca.isRevoked('fra-gw1'));
  assert.is(code(() => ca.identify(peerOf(one.certPem))), 'PERMISSION_DENIED');
  assert.is(code(() => ca.identify(peerOf(two.certPem))), 'PERMISSION_DENIED');
  const three = await ca.enroll('fra-gw1');
  assert.not.ok(ca.isRevoked('fra-gw1'), 'a new enrollment lifts the revocation');
  assert.is(ca.identify(peerOf(three.certPem)), 'fra-gw1');
  assert.is(code(() => ca.identify(peerOf(two.certPem))), 'PERMISSION_DENIED', 'for the new certificate only');
});

c('bad enrollment input is refused and stores nothing', async () => {
  const ca = await GatewayCa.open(store, clock, () => {});
  const refusal = async (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error) => e.message);
  assert.match(await refusal(ca.enroll('Not An Id')), /not a gateway id/);
  assert.match(await refusal(ca.enroll('fra-gw1', 0)), /validityDays/);
  assert.match(await refusal(ca.enroll('fra-gw1', 5000)), /validityDays/);
  assert.is(ca.enrollments().size, 0);
});

c('the server certificate is for the configured names, localhost and loopback, for servers', async () => {
  const ca = await GatewayCa.open(store, clock, () => {});
  const s = new X509Certificate((await ca.serverCredentials(['ctl.example.net', '192.0.2.7'])).certPem);
  for (const n of ['DNS:localhost', 'IP Address:127.0.0.1', 'DNS:ctl.example.net', 'IP Address:192.0.2.7']) assert.ok(s.subjectAltName!.includes(n), `${n} in ${s.subjectAltName}`);
  assert.ok(s.checkHost('ctl.example.net'));
  assert.equal(s.keyUsage, ['1.3.6.1.5.5.7.3.1']);
});

const bundle = (): AgentBundle => ({
  kind: BUNDLE_KIND, version: 1, gatewayId: 'fra-gw1', controller: { grpc: ['127.0.0.1:7601'], nats: [] },
  key: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n', cert: '-----BEGIN CERTIFICATE-----\nx\n', ca: '-----BEGIN CERTIFICATE-----\ny\n',
  natsSeed: 'SUX', serial: 'AB', notAfter: '2030-01-01T00:00:00.000Z',
});

c('the bundle is written owner-only, also over an existing file, and read back', () => {
  const f = join(dir, 'b.json');
  writeFileSync(f, 'old', { mode: 0o644 });
  writeBundleFile(f, bundle());
  assert.is(statSync(f).mode & 0o777, 0o600);
  assert.equal(readBundleFile(f), bundle());
});

c('a damaged bundle is refused naming the field', () => {
  const bad = (patch: Record<string, unknown>) => JSON.stringify({ ...bundle(), ...patch });
  assert.throws(() => parseBundle('{'), /not JSON/);
  assert.throws(() => parseBundle(bad({ kind: 'other' })), /kind/);
  assert.throws(() => parseBundle(bad({ version: 2 })), /unsupported bundle version/);
  assert.throws(() => parseBundle(bad({ key: 'nope' })), /key: must be a PEM PRIVATE KEY/);
  assert.throws(() => parseBundle(bad({ gatewayId: '' })), /gatewayId/);
  assert.throws(() => parseBundle(bad({ controller: { grpc: [], nats: [] } })), /names no gRPC address and no NATS URL/);
  assert.throws(() => parseBundle(bad({ controller: { grpc: [3] } })), /controller.grpc/);
  assert.throws(() => readBundleFile(join(dir, 'missing.json')), /cannot read/);
});

c.run();
