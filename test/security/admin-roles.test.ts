// The role table and the plain-text loopback listener: every RPC has a
// role, roles nest, plain text is refused beyond loopback, and on loopback
// the caller is the trusted 'local' admin, journaled as '<claimed>@local'.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCredentialFile } from '../../common/admin-credential-file.js';
import type { SwitchbackError } from '../../common/errors.js';
import { AdminServiceService } from '../../proto/gen/switchback/v1/admin.js';
import { adminUsesTls, parseControllerConfig } from '../../controller/config.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { startController, type RunningController } from '../../controller/main.js';
import { isLoopbackAddress } from '../../controller/northbound/admin-auth.js';
import { mayCall, parseRole, ROLES, RPC_ROLES } from '../../controller/northbound/admin-roles.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const roles = suite('admin roles and the loopback listener');

roles('every RPC of the admin service has a role, and the table names no other', () => {
  const rpcs = Object.values(AdminServiceService).map((d) => d.path.slice(d.path.lastIndexOf('/') + 1)).sort();
  assert.equal(Object.keys(RPC_ROLES).sort(), rpcs);
});

roles('roles nest: viewer reads, operator changes the topology, admin handles identities', () => {
  assert.ok(mayCall('viewer', 'ListLinks') && mayCall('viewer', 'WatchEvents') && mayCall('viewer', 'WhoAmI'));
  assert.not.ok(mayCall('viewer', 'DrainLink'));
  assert.not.ok(mayCall('viewer', 'ApplyTopology'));
  assert.ok(mayCall('operator', 'DrainLink') && mayCall('operator', 'ApplyTopology') && mayCall('operator', 'PutLink') && mayCall('operator', 'GetRoutes'));
  for (const rpc of ['Enroll', 'Revoke', 'NatsConfig', 'IssueCredential', 'RotateLinkKeys']) {
    assert.not.ok(mayCall('operator', rpc), rpc);
    assert.ok(mayCall('admin', rpc), rpc);
  }
  for (const r of ROLES) assert.not.ok(mayCall(r, 'NoSuchRpc'), 'an RPC missing from the table is refused to everyone');
  assert.throws(() => parseRole('root'), /must be one of viewer, operator, admin/);
});

roles('plain text only on loopback: config refuses admin_tls off beyond loopback, auto picks TLS there', () => {
  assert.throws(() => parseControllerConfig('admin_listen: 0.0.0.0:7600\nadmin_tls: "off"\n', 'c.yaml'), /c\.yaml: the admin API on 0\.0\.0\.0:7600 is beyond loopback and must use TLS.*set admin_tls to auto or required/);
  assert.throws(() => parseControllerConfig('admin_tls: sometimes\n', 'c.yaml'), /admin_tls: must be one of auto, required, off/);
  assert.is(adminUsesTls('0.0.0.0:7600', 'auto'), true);
  assert.is(adminUsesTls('10.1.2.3:7600', 'auto'), true);
  assert.is(adminUsesTls('127.0.0.1:7600', 'auto'), false);
  assert.is(adminUsesTls('[::1]:7600', 'auto'), false);
  assert.is(adminUsesTls('localhost:7600', 'required'), true);
  assert.is(parseControllerConfig('admin_listen: 0.0.0.0:7600\n', 'c.yaml').adminTls, 'auto');
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '[::1]']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', '', undefined]) assert.not.ok(isLoopbackAddress(a), String(a));
});

let dir: string;
let running: RunningController;
roles('on plain-text loopback the caller is local/admin; the journal says <claimed>@local', async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-sec-plain-'));
  running = await startController({ dataDir: dir, adminListen: '127.0.0.1:0', bootstrapTopology: join(root, 'examples/topology.yaml') });
  const c = new AdminClient(running.adminAddress, { actor: 'alice' });
  try {
    assert.is(running.adminTls, false);
    assert.is(running.initialCredential, undefined, 'no credential is written without TLS');
    assert.equal(await c.call('whoAmI', {}), { name: 'local', role: 'admin' });
    const link = (await c.call('listLinks', {})).links[0]!.id;
    const r = await c.call('drainLink', { id: link, reason: 'x' });
    const e = (await c.call('listEvents', { afterSeq: r.journalSeq - 1, limit: 1 })).entries[0]!;
    assert.is(e.actor, 'alice@local');
  } finally {
    c.close();
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

roles('beyond loopback, auto means TLS: the first admin credential works, plain text does not', async () => {
  const d = mkdtempSync(join(tmpdir(), 'sb-sec-wide-'));
  const wide = await startController({ dataDir: d, adminListen: '0.0.0.0:0', adminTls: 'auto' });
  const port = wide.adminAddress.slice(wide.adminAddress.lastIndexOf(':') + 1);
  const c = readCredentialFile(wide.initialCredential!);
  const tls = new AdminClient(`127.0.0.1:${port}`, { tls: { keyPem: c.key, certPem: c.cert, caPem: c.ca }, timeoutMs: 5_000 });
  const plain = new AdminClient(`127.0.0.1:${port}`, { timeoutMs: 5_000 });
  try {
    assert.is(wide.adminTls, true);
    assert.equal(await tls.call('whoAmI', {}), { name: 'admin', role: 'admin' });
    await plain.call('whoAmI', {}).then(
      () => assert.unreachable('plain text answered'),
      (e: SwitchbackError) => assert.is(e.code, 'UNAVAILABLE'),
    );
  } finally {
    tls.close();
    plain.close();
    await wide.close();
    rmSync(d, { recursive: true, force: true });
  }
});

roles.run();
