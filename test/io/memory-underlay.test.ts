import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { MemoryHub } from '../../router-agent/io/memory-underlay.js';
import { until } from '../helpers/async-assert.js';
import { underlayContract } from './underlay-contract.js';

underlayContract(
  'memory',
  async () => {
    const hub = new MemoryHub();
    const a = hub.open({ host: '10.0.0.1', port: 0 });
    const b = hub.open({ host: '10.0.0.2', port: 4789 });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { ports: true, maxPayload: 65507 },
);

const mem = suite('MemoryHub');

mem('a scheduler of its own decides when datagrams arrive (the simulator runs them in virtual time)', () => {
  const queue: (() => void)[] = [];
  const hub = new MemoryHub({ schedule: (fn) => queue.push(fn) });
  const a = hub.open({ host: '10.0.0.1', port: 1000 });
  const b = hub.open({ host: '10.0.0.2', port: 1000 });
  const got: number[][] = [];
  b.onDatagram((bytes) => got.push([...bytes]));
  const msg = Uint8Array.of(1, 2, 3);
  a.send(msg, b.local);
  msg[0] = 99; // the wire took a copy at send time
  a.send(Uint8Array.of(4), { host: '10.0.0.9', port: 1000 });
  assert.is(got.length, 0);
  assert.is(queue.length, 2);
  for (const run of queue.splice(0)) run();
  assert.equal(got, [[1, 2, 3]]);
  assert.is(hub.undeliverable, 1);
  assert.is(a.counters.txPackets, 2, 'a datagram nobody receives still left the sender, as with UDP');
});

mem('addresses: one port per address, port 0 picks a free one, a closed address can be reused', async () => {
  const hub = new MemoryHub();
  const a = hub.open({ host: '10.0.0.1', port: 5000 });
  const dup = (() => {
    try {
      hub.open({ host: '10.0.0.1', port: 5000 });
    } catch (err) {
      return err;
    }
  })();
  assert.ok(SwitchbackError.is(dup, 'ALREADY_EXISTS'));
  const e1 = hub.open({ host: '10.0.0.1', port: 0 });
  const e2 = hub.open({ host: '10.0.0.1', port: 0 });
  assert.is.not(e1.local.port, e2.local.port);
  assert.ok(e1.local.port >= 49152);
  await a.close();
  const again = hub.open({ host: '10.0.0.1', port: 5000 });
  const got: number[] = [];
  again.onDatagram((b) => got.push(b[0]));
  e1.send(Uint8Array.of(7), again.local);
  await until(() => got.length === 1, 'delivery to the reopened address');
  assert.is(a.counters.rxPackets, 0, 'the closed port saw nothing');
});

mem('bad addresses are refused with the field named', () => {
  const hub = new MemoryHub();
  assert.throws(() => hub.open({ host: 'gw-a', port: 1 }), /memory\.host.*IP address/);
  assert.throws(() => hub.open({ host: '10.0.0.1', port: 70000 }), /memory\.port/);
  assert.throws(() => hub.open(null as unknown as { host: string; port: number }), /memory/);
  const a = hub.open({ host: '::1', port: 1 });
  assert.throws(() => a.onDatagram('x' as unknown as () => void), /onDatagram/);
});

mem.run();
