// The native UDP underlay when the socket buffer is full. On plain loopback a
// send never waits (the skb leaves the socket's account at once), so this file
// re-runs itself in a fresh namespace whose loopback has a slow token-bucket
// qdisc: queued skbs stay charged to the tiny send buffer and sendmmsg meets
// EAGAIN, which must keep the rest queued until the socket is writable.
import { execFileSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NativeUdpUnderlay } from '../../router-agent/io/native-udp-underlay.js';
import { until } from '../helpers/async-assert.js';
import { requireCommand, runFileInNamespace } from '../helpers/netns.js';

await runFileInNamespace(import.meta.url, 'udp-bp');
requireCommand('tc', 'iproute2');
execFileSync('tc', ['qdisc', 'replace', 'dev', 'lo', 'root', 'tbf', 'rate', '20mbit', 'burst', '16kb', 'latency', '2s']);

const bp = suite('NativeUdpUnderlay: full socket buffer');

const pair = async () => {
  const a = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0, sendBufferSize: 4096 });
  const b = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  return { a, b };
};

bp('EAGAIN keeps the rest queued, in order, and sends it when the socket is writable', async () => {
  const { a, b } = await pair();
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(new DataView(bytes.buffer, bytes.byteOffset).getUint16(0)));
    const n = 300;
    for (let i = 0; i < n; i++) {
      const m = new Uint8Array(1400);
      new DataView(m.buffer).setUint16(0, i);
      a.send(m, b.local);
    }
    await null; // the flush: the buffer fills after a few datagrams
    const q = a.ioStats();
    assert.ok(q.waits >= 1, 'the queue waited for the socket');
    assert.ok(q.queued > 0 && q.queued < n, `${q.queued} still queued`);
    await until(() => got.length === n, `all ${n} datagrams at b`);
    assert.equal(got, Array.from({ length: n }, (_, i) => i));
    const c = a.counters;
    assert.equal([c.txPackets, c.txBytes, c.txDropped, c.txErrors], [n, n * 1400, 0, 0]);
    assert.is(a.ioStats().queued, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

bp('close while the queue waits: what is left is counted as dropped', async () => {
  const { a, b } = await pair();
  try {
    const n = 300;
    for (let i = 0; i < n; i++) a.send(new Uint8Array(1400), b.local);
    await null;
    assert.ok(a.ioStats().queued > 0, 'datagrams wait');
    await a.close();
    const c = a.counters;
    assert.ok(c.txDropped > 0, `${c.txDropped} dropped at close`);
    assert.is(c.txPackets + c.txDropped, n);
    assert.is(a.ioStats().queued, 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

bp('runs larger than the path MTU are sent one by one (the kernel does not fragment offloaded runs)', async () => {
  execFileSync('ip', ['link', 'set', 'lo', 'mtu', '1500']);
  const a = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  const b = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(bytes.length));
    for (let i = 0; i < 5; i++) a.send(new Uint8Array(3000), b.local);
    for (let i = 0; i < 5; i++) a.send(new Uint8Array(1000), b.local);
    await until(() => got.length === 10, 'all 10 datagrams, the big ones fragmented');
    assert.equal(got, [3000, 3000, 3000, 3000, 3000, 1000, 1000, 1000, 1000, 1000]);
    const q = a.ioStats();
    assert.is(q.offloadOff, 0, 'offload stays on');
    assert.is(q.offloaded, 1, 'the 1000-byte run still goes as one message');
    assert.equal([a.counters.txPackets, a.counters.txErrors], [10, 0]);
  } finally {
    await Promise.all([a.close(), b.close()]);
    execFileSync('ip', ['link', 'set', 'lo', 'mtu', '65536']);
  }
});

bp.run();
