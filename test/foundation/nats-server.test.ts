import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, StringCodec } from 'nats';
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js';

const helper = suite('nats-server test helper');
let server: NatsServer;

helper.before(async () => {
  server = await startNatsServer();
});
helper.after(async () => {
  await server?.stop();
});

helper('a real server answers on a free loopback port, with JetStream', async () => {
  const nc = await connect({ servers: server.url });
  const sc = StringCodec();
  const sub = nc.subscribe('t.echo', { max: 1 });
  (async () => {
    for await (const m of sub) m.respond(sc.encode(`re:${sc.decode(m.data)}`));
  })();
  const reply = await nc.request('t.echo', sc.encode('hi'), { timeout: 2000 });
  assert.is(sc.decode(reply.data), 're:hi');
  const jsm = await nc.jetstreamManager();
  const info = await jsm.getAccountInfo();
  assert.ok(info.limits !== undefined);
  await nc.close();
});

helper('restart keeps the port and JetStream store', async () => {
  let nc = await connect({ servers: server.url });
  const kv = await (nc.jetstream()).views.kv('restart_check');
  await kv.put('k', new TextEncoder().encode('v1'));
  await nc.close();
  server = await server.restart();
  nc = await connect({ servers: server.url });
  const kv2 = await (nc.jetstream()).views.kv('restart_check');
  const e = await kv2.get('k');
  assert.is(new TextDecoder().decode(e?.value), 'v1');
  await nc.close();
});

helper.run();
