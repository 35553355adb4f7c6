// The controller's HTTP API, over real HTTP to a controller started in
// process (real LMDB, example topology): state, the journal as server-sent
// events with replay, what-if, and drain/undrain refused to anyone but a
// loopback operator.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, parseControllerConfig } from '../../controller/config.js';
import { startController, type RunningController } from '../../controller/main.js';
import { isLoopback, isLoopbackHost, startHttpServer } from '../../controller/northbound/http-server.js';
import { until } from '../helpers/async-assert.js';

const api = suite('controller HTTP API');
let dir: string;
let running: RunningController;
let base: string;

api.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-http-'));
  running = await startController({ ...defaultConfig(), dataDir: join(dir, 'data'), adminListen: '127.0.0.1:0', southboundListen: '127.0.0.1:0', southboundInsecure: true, httpListen: '127.0.0.1:0' });
  base = running.http!.url.replace(/\/$/, '');
});

api.after(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; url?: string; localAddress?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${opts.url ?? base}${path}`, { method, headers: opts.headers, localAddress: opts.localAddress }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const post = (path: string, body: unknown = {}, headers: Record<string, string> = {}) =>
  send('POST', path, { headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const errorCode = (r: Reply) => (JSON.parse(r.body) as { error: { code: string } }).error.code;

/** Opens an event stream and collects its raw text until `stop()`. */
function events(path: string, headers: Record<string, string> = {}) {
  let text = '';
  let status = 0;
  const req = request(`${base}${path}`, { headers }, (res) => {
    status = res.statusCode!;
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
  });
  req.on('error', () => {});
  req.end();
  return {
    text: () => text,
    status: () => status,
    ids: () => [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])),
    stop: () => req.destroy(),
  };
}

api('health, static files with a strict CSP, 404 and 405', async () => {
  assert.is((await send('GET', '/healthz')).body, 'ok\n');
  const page = await send('GET', '/');
  assert.is(page.status, 200);
  assert.match(page.body, /<svg id="map"/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.not.match(page.body, /(src|href)="(?!\/[\w.]|data:)/, 'no external resource');
  assert.not.match((await send('GET', '/dashboard.js')).body, /(import|fetch|EventSource)\s*\(\s*['"`]https?:/, 'no external fetch');
  for (const f of ['/dashboard.js', '/dashboard.css']) assert.is((await send('GET', f)).status, 200, f);
  assert.is((await send('GET', '/../package.json')).status, 404);
  assert.is((await send('GET', '/nope')).status, 404);
  assert.is((await send('DELETE', '/api/state')).status, 405);
  assert.is((await send('GET', '/api/links/x/drain')).status, 405);
});

api('/api/state: every site, link and gateway, links unknown until an agent reports', async () => {
  const s = JSON.parse((await send('GET', '/api/state')).body);
  const topo = running.controller.topology();
  assert.equal(s.sites.map((x: { id: string }) => x.id).sort(), topo.sites.map((x) => x.id).sort());
  assert.equal(s.links.map((x: { id: string }) => x.id).sort(), topo.links.map((x) => x.id).sort());
  assert.is(s.gateways.length, topo.gateways.length);
  assert.ok(s.links.every((l: { state: string }) => l.state === 'unknown'));
  const fra = s.sites.find((x: { id: string }) => x.id === 'fra');
  assert.equal(fra, { id: 'fra', name: 'Frankfurt DC', kind: 'datacenter', region: 'eu', gateways: ['fra-gw1', 'fra-gw2'] });
});

api('drain and undrain: JSON only, loopback host only, same origin only; errors map to HTTP statuses', async () => {
  const id = 'ams-gw1--fra-gw1';
  assert.is((await send('POST', `/api/links/${id}/drain`, { body: '{}' })).status, 400, 'no JSON content type');
  assert.is((await post(`/api/links/${id}/drain`, '{nope')).status, 400, 'bad JSON');
  assert.is((await post(`/api/links/${id}/drain`, { reason: 7 })).status, 400, 'reason not a string');
  assert.is((await post(`/api/links/${id}/drain`, 'x'.repeat(5000))).status, 400, 'body too large');
  const foreign = await post(`/api/links/${id}/drain`, {}, { origin: 'http://evil.example' });
  assert.is(foreign.status, 403);
  assert.is(errorCode(foreign), 'PERMISSION_DENIED');
  assert.is((await post(`/api/links/${id}/drain`, {}, { host: 'evil.example' })).status, 403, 'DNS rebinding: not a loopback host');
  assert.is((await post('/api/links/no-such-link/drain')).status, 404);
  assert.ok(running.controller.links().every((l) => l.adminState !== 2), 'nothing was drained by refused requests');

  const ok = await post(`/api/links/${id}/drain`, { reason: 'fibre work' }, { origin: base });
  assert.is(ok.status, 200, ok.body);
  const entry = JSON.parse(ok.body).entry;
  assert.is(entry.action, 'link.drain');
  assert.match(entry.summary, /fibre work/);
  assert.is(entry.actor, 'dashboard@127.0.0.1');
  const again = await post(`/api/links/${id}/drain`);
  assert.is(again.status, 409);
  assert.is(errorCode(again), 'FAILED_PRECONDITION');
  const state = JSON.parse((await send('GET', '/api/state')).body);
  assert.is(state.links.find((l: { id: string }) => l.id === id).state, 'drained');
  assert.is((await post(`/api/links/${id}/undrain`)).status, 200);
});

api('drain refused to a client that is not on loopback', async () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1') && isLoopback('127.10.0.3'));
  assert.not.ok(isLoopback('192.0.2.2') || isLoopback('::ffff:10.0.0.1') || isLoopback('fd00::2') || isLoopback(undefined));
  assert.ok(isLoopbackHost('127.0.0.1:7680') && isLoopbackHost('localhost:1') && isLoopbackHost('[::1]:7680'));
  assert.not.ok(isLoopbackHost('evil.example:7680') || isLoopbackHost('127.0.0.1.evil.example') || isLoopbackHost(undefined));
  // With a real non-loopback address on this host, over a real socket.
  const addr = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  if (!addr) return;
  const wide = await startHttpServer({ listen: '0.0.0.0:0', controller: running.controller, registry: new (await import('prom-client')).Registry() });
  try {
    const port = wide.address.split(':').at(-1);
    const r = await send('POST', '/api/links/ams-gw1--fra-gw1/drain', { url: `http://${addr}:${port}`, headers: { 'content-type': 'application/json', host: `127.0.0.1:${port}` }, body: '{}', localAddress: addr });
    assert.is(r.status, 403, r.body);
    assert.match(JSON.parse(r.body).error.message, new RegExp(`only loopback clients.*${addr.replace(/\./g, '\\.')}`));
    assert.is((await send('GET', '/api/state', { url: `http://${addr}:${port}`, localAddress: addr })).status, 200, 'reading is open');
  } finally {
    await wide.close();
  }
});

api('/api/events: replays from ?after= and Last-Event-ID, then follows the journal live', async () => {
  const last = running.controller.store.lastSeq();
  assert.ok(last >= 3);
  const all = events('/api/events?after=0');
  await until(() => all.ids().includes(last), 'replay up to the last entry');
  assert.equal(all.ids(), Array.from({ length: last }, (_, i) => i + 1), 'every entry once, in order');
  const resumed = events('/api/events?after=0', { 'last-event-id': String(last - 1) });
  await until(() => resumed.ids().length >= 1, 'the resumed stream replays');
  assert.equal(resumed.ids(), [last], 'Last-Event-ID wins over ?after=');
  // A change is pushed to both without a new request.
  running.controller.drainLink('ams-gw1--fra-gw1', 'test', 'live');
  await until(() => all.ids().includes(last + 1) && resumed.ids().includes(last + 1), 'the live entry');
  assert.match(all.text(), /event: journal\ndata: \{"seq":\d+,[^\n]*"action":"link\.drain"/);
  running.controller.undrainLink('ams-gw1--fra-gw1', 'test');
  all.stop();
  resumed.stop();
  const bad = await send('GET', '/api/events?after=x');
  assert.is(bad.status, 400);
});

api('/api/whatif: the worst single failures of the current topology, limited', async () => {
  const r = await send('GET', '/api/whatif?limit=3');
  assert.is(r.status, 200);
  const w = JSON.parse(r.body);
  assert.is(w.failures.length, 3);
  assert.is(w.journalSeq, running.controller.store.lastSeq());
  assert.ok(w.sitePairs > 0 && w.connectedPairs === w.sitePairs);
  assert.match(w.failures[0].name, /^(site|gateway|link|srlg) /);
  for (const bad of ['0', 'x', '-1', '100000']) assert.is((await send('GET', `/api/whatif?limit=${bad}`)).status, 400, bad);
});

api('closing the controller ends open event streams', async () => {
  const s = events('/api/events');
  await until(() => s.status() === 200, 'stream open');
  const http = running.http!;
  // close() resolves although a stream was open (the after hook closes again: idempotent at the process level).
  await http.close();
  const r = await send('GET', '/healthz').catch((e: Error) => e);
  assert.ok(r instanceof Error, 'the port is closed');
});

api('http_listen in controller.yaml: default, an address, off, and a bad value named', () => {
  assert.is(parseControllerConfig('data_dir: d\n', 'c.yaml').httpListen, '127.0.0.1:7680');
  assert.is(parseControllerConfig('http_listen: 0.0.0.0:9000\n', 'c.yaml').httpListen, '0.0.0.0:9000');
  assert.is(parseControllerConfig('http_listen: "off"\n', 'c.yaml').httpListen, undefined);
  assert.throws(() => parseControllerConfig('http_listen: 7680\n', 'c.yaml'), /http_listen/);
  assert.throws(() => parseControllerConfig('http_listen: nohost\n', 'c.yaml'), /http_listen.*not host:port/);
});

api.run();
