// Owner-only files and refusals at start, through the real commands: the
// agent refuses a bundle others can read, ctl a credential others can read,
// and the controller refuses plain text beyond loopback before it opens
// anything. ctl finds its credential in --credential or SWITCHBACK_CREDENTIAL.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE_KIND, writeBundleFile } from '../../common/bundle.js';
import { readCredentialFile } from '../../common/admin-credential-file.js';
import { startController, type RunningController } from '../../controller/main.js';
import { sb } from '../helpers/run-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const p = suite('owner-only key files and start-up refusals');
let dir: string;
p.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-sec-perm-'));
});
p.after(() => {
  delete process.env.SWITCHBACK_CREDENTIAL;
  rmSync(dir, { recursive: true, force: true });
});

p('the agent refuses a bundle readable by others (0644), naming the file and the fix', async () => {
  const f = join(dir, 'gw.bundle.json');
  writeBundleFile(f, {
    kind: BUNDLE_KIND, version: 1, gatewayId: 'fra-gw1', controller: { grpc: ['127.0.0.1:1'], nats: [] },
    key: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n', cert: '-----BEGIN CERTIFICATE-----\nx\n', ca: '-----BEGIN CERTIFICATE-----\ny\n',
    natsSeed: 'SUX', serial: 'AB', notAfter: '2030-01-01T00:00:00.000Z',
  });
  assert.is(statSync(f).mode & 0o777, 0o600, 'bundles are written owner-only');
  chmodSync(f, 0o644);
  const r = await sb('agent', '--bundle', f, '--metrics', 'off');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /^switchback: --bundle: /);
  assert.ok(r.stderr.includes(`${f} holds a private key but is accessible by group or others (mode 0644); fix it with: chmod 600 ${f}`), r.stderr);
  chmodSync(f, 0o640);
  assert.match((await sb('agent', '--bundle', f, '--metrics', 'off')).stderr, /mode 0640/, 'group-readable is refused too');
});

p('the controller refuses plain text beyond loopback and opens nothing', async () => {
  const data = join(dir, 'refused-data');
  const r = await sb('controller', '--listen', '0.0.0.0:0', '--admin-tls', 'off', '--data-dir', data, '--http', 'off', '--no-bootstrap');
  assert.ok(r.status !== 0, 'exit non-zero');
  assert.match(r.stderr, /^switchback: the admin API on 0\.0\.0\.0:0 is beyond loopback and must use TLS with client certificates: set admin_tls to auto or required/);
  assert.not.ok(existsSync(join(data, 'data.mdb')), 'no store was opened');
});

let running: RunningController;
p('ctl finds its credential in SWITCHBACK_CREDENTIAL or --credential, issues one, and refuses one others can read', async () => {
  running = await startController({ dataDir: join(dir, 'data'), adminListen: '127.0.0.1:0', adminTls: 'required', bootstrapTopology: join(root, 'examples/topology.yaml') });
  try {
    const addr = running.adminAddress;
    process.env.SWITCHBACK_CREDENTIAL = running.initialCredential!;
    const out = join(dir, 'olga.credential.json');
    const issued = await sb('ctl', '--controller', addr, 'credential', 'issue', 'olga', '--role', 'operator', '--out', out);
    assert.is(issued.status, 0, issued.stderr);
    assert.match(issued.stdout, /issued operator credential to olga/);
    assert.is(statSync(out).mode & 0o777, 0o600);
    assert.is(readCredentialFile(out).role, 'operator');
    delete process.env.SWITCHBACK_CREDENTIAL;
    const who = await sb('ctl', '--controller', addr, '--credential', out, '--json', 'whoami');
    assert.is(who.status, 0, who.stderr);
    assert.equal(JSON.parse(who.stdout), { name: 'olga', role: 'operator' });
    const plain = await sb('ctl', '--controller', addr, 'whoami');
    assert.is(plain.status, 1);
    assert.match(plain.stderr, /give --credential FILE or set SWITCHBACK_CREDENTIAL/);
    chmodSync(out, 0o644);
    const loose = await sb('ctl', '--controller', addr, '--credential', out, 'whoami');
    assert.is(loose.status, 2, loose.stderr);
    assert.match(loose.stderr, /--credential: .*accessible by group or others \(mode 0644\); fix it with: chmod 600/);
  } finally {
    await running.close();
  }
});

p.run();
