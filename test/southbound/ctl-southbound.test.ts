// The southbound commands a NOC engineer runs, against a real controller
// process: enroll writes a bundle an agent connects with (mTLS), agents
// shows it, nats-config writes the server authorization, revoke closes it;
// plus the controller's southbound configuration keys.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundleFile } from '../../common/bundle.js';
import { parseControllerConfig } from '../../controller/config.js';
import { controlConfigFromBundle, createControlClient } from '../../router-agent/control/control-config.js';
import { LmdbTableStore } from '../../router-agent/control/local-table-store.js';
import type { ControlClient, ControlEvent } from '../../router-agent/control/control-client.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { waitFor } from '../helpers/southbound-fleet.js';
import { sb } from '../helpers/run-cli.js';



const t = suite('switchback ctl: enroll, agents, nats-config, revoke');
let dir: string;
let proc: ControllerProcess;
let store: LmdbTableStore;
let agent: ControlClient | undefined;
const c = (...args: string[]) => sb('ctl', '--controller', proc.adminAddress, ...args);

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-ctl-sb-'));
  proc = await startControllerProcess(['--data-dir', join(dir, 'data')]);
  store = new LmdbTableStore(join(dir, 'agent'));
});
t.after(async () => {
  await agent?.stop();
  await proc?.kill('SIGTERM');
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

t('enroll writes an owner-only bundle an agent connects with over mutual TLS; agents shows it in sync', async () => {
  const gw = JSON.parse((await c('--json', 'agents')).stdout).agents[0].gatewayId as string;
  const file = join(dir, `${gw}.bundle.json`);
  const r = await c('enroll', gw, '--out', file, '--days', '30');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`enrolled ${gw}: certificate [0-9A-F]+, valid until`));
  assert.is(statSync(file).mode & 0o777, 0o600);
  const bundle = readBundleFile(file);
  const southbound = /southbound\s+grpc (\S+) \(mutual TLS\)/.exec(proc.output())![1];
  assert.equal(bundle.controller.grpc, [southbound]);
  assert.ok(Date.parse(bundle.notAfter) - Date.now() < 30.01 * 86_400_000);

  const events: ControlEvent[] = [];
  agent = createControlClient(controlConfigFromBundle(bundle), store);
  agent.on((e) => events.push(e));
  agent.start();
  await waitFor(() => events.some((e) => e.type === 'connected'), 'the agent connected');
  await waitFor(async () => {
    const a = JSON.parse((await c('--json', 'agents')).stdout).agents.find((x: { gatewayId: string }) => x.gatewayId === gw);
    return a.inSync && a.connected && a.transport === 'grpc' && a.enrolled;
  }, 'agents shows it connected and in sync', 20_000);
  const human = (await c('agents')).stdout;
  assert.match(human, /GATEWAY\s+HELD\s+CURRENT\s+IN SYNC\s+TRANSPORT\s+CONNECTED\s+LAST SEEN\s+CERTIFICATE/);
  assert.match(human, new RegExp(`^${gw}\\s+(\\d+)\\s+\\1\\s+yes\\s+grpc\\s+yes\\s`, 'm'));
});

t('nats-config writes the authorization with the enrolled gateway and its own subjects', async () => {
  const gw = readBundleFile(join(dir, readdirSync(dir).find((f) => f.endsWith('.bundle.json'))!)).gatewayId;
  const file = join(dir, 'nats-auth.conf');
  const r = await c('nats-config', '--out', file);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 gateway user\(s\)/);
  const conf = readFileSync(file, 'utf8');
  assert.match(conf, /authorization \{/);
  assert.match(conf, new RegExp(`# gateway ${gw}\\n.*"sb\\.${gw}\\.hello", "sb\\.${gw}\\.rpt", "\\$JS\\.API\\.DIRECT\\.GET\\.KV_sb-tables\\.\\$KV\\.sb-tables\\.${gw}"`));
  assert.not.match(conf, /(?<![A-Z2-7])SU[A-Z2-7]{56}(?![A-Z2-7])/, 'no seed in the server config');
});

t('revoke closes the session within a second and refuses the gateway from then on', async () => {
  const gw = JSON.parse((await c('--json', 'agents')).stdout).agents.find((a: { connected: boolean }) => a.connected).gatewayId as string;
  const sessions = agent!.stats.sessions;
  const r = await c('revoke', gw);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`revoked ${gw} \\(certificates [0-9A-F]+\\); its session was closed`));
  await waitFor(() => !agent!.connected, 'the session closed', 1000);
  await waitFor(() => /WARN .*refused certificate .*code=PERMISSION_DENIED .*is revoked/.test(proc.output()), 'the reconnection refused with a log line', 10_000);
  assert.is(agent!.stats.sessions, sessions, 'no new session');
  const a = JSON.parse((await c('--json', 'agents')).stdout).agents.find((x: { gatewayId: string }) => x.gatewayId === gw);
  assert.equal([a.revoked, a.connected, a.enrolled], [true, false, false]);
  assert.match((await c('events')).stdout, new RegExp(`gateway\\.revoke\\s+revoked ${gw}`));
  assert.ok(agent!.table, 'the agent keeps its table');
});

t('enroll and revoke of an unknown gateway fail with a clear message', async () => {
  for (const cmd of ['enroll', 'revoke']) {
    const r = await c(cmd, 'no-such-gw', '--out', join(dir, 'x.json'));
    assert.is(r.status, 1);
    assert.match(r.stderr, /gateway 'no-such-gw' not found/);
  }
});

t.run();

const cfg = suite('controller config: southbound keys');

cfg('southbound and NATS keys are read and validated', () => {
  const c1 = parseControllerConfig(
    ['southbound_listen: 0.0.0.0:7601', 'southbound_advertise: [ctl.example.net:7601, 192.0.2.1:7601]', 'southbound_names: ctl.example.net', 'nats_url: nats://a:4222, nats://b:4222'].join('\n'),
    '/etc/switchback/controller.yaml',
  );
  assert.is(c1.southboundListen, '0.0.0.0:7601');
  assert.equal(c1.southboundAdvertise, ['ctl.example.net:7601', '192.0.2.1:7601']);
  assert.equal(c1.southboundNames, ['ctl.example.net']);
  assert.equal(c1.natsUrls, ['nats://a:4222', 'nats://b:4222']);
  assert.is(c1.southboundInsecure, false);
  assert.is(parseControllerConfig('southbound_insecure: true', 'c.yaml').southboundInsecure, true);
  assert.is(parseControllerConfig('', 'c.yaml').southboundListen, '127.0.0.1:7601');
  assert.throws(() => parseControllerConfig('southbound_listen: nowhere', 'c.yaml'), /southbound_listen.*not host:port/);
  assert.throws(() => parseControllerConfig('southbound_insecure: yes please', 'c.yaml'), /southbound_insecure.*true or false/);
  assert.throws(() => parseControllerConfig('nats_url: [ ]', 'c.yaml'), /nats_url/);
  assert.throws(() => parseControllerConfig('nats_url: "http://x y"', 'c.yaml'), /not a NATS URL/);
  assert.throws(() => parseControllerConfig('southbound_advertise: [a:1, 7]', 'c.yaml'), /southbound_advertise/);
});

cfg.run();
