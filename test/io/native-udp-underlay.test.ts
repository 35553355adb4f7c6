import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { NativeUdpUnderlay, nativeUdpUnavailable, openUdpUnderlay, udpIoOption } from '../../router-agent/io/native-udp-underlay.js';
import { UdpUnderlay } from '../../router-agent/io/udp-underlay.js';
import { DEFAULT_SOCKET_BUFFER, MAX_PENDING_SENDS } from '../../router-agent/io/underlay.js';
import { rejects, until } from '../helpers/async-assert.js';
import { underlayContract } from './underlay-contract.js';

// The addon is built by `npm install`; a missing one is a failure here, not a skip.
assert.is(nativeUdpUnavailable(), null);

underlayContract(
  'udp (native, batched)',
  async () => {
    const a = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
    const b = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { ports: true, maxPayload: 65507 },
);

const udp = suite('NativeUdpUnderlay');

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));
const open = (bindAddress = '127.0.0.1') => NativeUdpUnderlay.open({ bindAddress, port: 0 });

udp('a burst from a dgram sender arrives complete, many datagrams per callback', async () => {
  const u = await open();
  const raw = createSocket('udp4');
  try {
    const n = 256;
    const ids: number[] = [];
    // Datagrams handled in one native callback share one turn: the microtask
    // queued by the first of them runs after the callback returns.
    let turns = 0;
    let inTurn = false;
    u.onDatagram((bytes, from) => {
      ids.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32BE(0));
      assert.equal(from, { host: '127.0.0.1', port: raw.address().port });
      if (!inTurn) {
        inTurn = true;
        turns++;
        queueMicrotask(() => (inTurn = false));
      }
    });
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', r));
    for (let i = 0; i < n; i++) {
      const msg = Buffer.alloc(64); // dgram keeps the buffer until sent
      msg.writeUInt32BE(i, 0);
      raw.send(msg, u.local.port, '127.0.0.1');
    }
    await until(() => ids.length === n, `${n} datagrams`);
    assert.equal(ids, Array.from({ length: n }, (_, i) => i));
    assert.ok(turns < n / 4, `${n} datagrams in ${turns} callbacks`);
    assert.is(u.counters.rxPackets, n);
    assert.is(u.counters.rxBytes, n * 64);
  } finally {
    raw.close();
    await u.close();
  }
});

udp('sends of one turn are queued and leave together in the next microtask, not on a timer', async () => {
  const a = await open();
  const b = await open();
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(bytes[0]));
    for (let i = 0; i < 100; i++) a.send(Uint8Array.of(i), b.local);
    assert.equal(a.ioStats().queued, 100);
    assert.is(a.counters.txPackets, 0);
    await null; // the flush queued by the first send runs before this continuation
    // Equal sizes to one peer: two offloaded messages (64 + 36), which b's
    // socket receives whole and cuts back into the 100 datagrams.
    assert.equal(a.ioStats(), { queued: 0, waits: 0, offloaded: 2, offloadOff: 0, lastError: 0, coalesced: 0 });
    assert.is(a.counters.txPackets, 100);
    assert.is(a.counters.txBytes, 100);
    await until(() => got.length === 100, 'all 100 at b');
    assert.equal(got, Array.from({ length: 100 }, (_, i) => i));
    assert.is(b.ioStats().coalesced, 2);
    assert.equal([b.counters.rxPackets, b.counters.rxBytes], [100, 100]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('segmentation offload cuts runs at a new size or peer; the datagrams arrive as sent', async () => {
  const a = await open();
  const b = await open();
  const c = await open();
  try {
    const atB: string[] = [];
    const atC: string[] = [];
    b.onDatagram((bytes) => atB.push(`${bytes[0]}:${bytes.length}`));
    c.onDatagram((bytes) => atC.push(`${bytes[0]}:${bytes.length}`));
    const plan: [number, number, typeof b][] = [
      [1, 1000, b], [2, 1000, b], [3, 500, b], // a run closed by a shorter datagram
      [4, 1000, b], [5, 1200, b], // a longer one starts a new run
      [6, 1200, c], [7, 1200, c], // another peer
      [8, 1200, b],
    ];
    for (const [id, size, to] of plan) {
      const m = new Uint8Array(size);
      m[0] = id;
      a.send(m, to.local);
    }
    await until(() => atB.length === 6 && atC.length === 2, 'every datagram');
    assert.equal(atB, ['1:1000', '2:1000', '3:500', '4:1000', '5:1200', '8:1200']);
    assert.equal(atC, ['6:1200', '7:1200']);
    assert.is(a.ioStats().offloaded, 2, '[1,2,3] and [6,7]');
    assert.equal([b.ioStats().coalesced, c.ioStats().coalesced], [1, 1]);
    assert.equal([a.counters.txPackets, a.counters.txBytes], [8, 1000 * 3 + 500 + 1200 * 4]);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

udp('segmentationOffload: false sends every datagram as its own message', async () => {
  const a = await NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0, segmentationOffload: false });
  const b = await open();
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(bytes.length));
    for (let i = 0; i < 10; i++) a.send(new Uint8Array(100), b.local);
    await until(() => got.length === 10, '10 datagrams');
    assert.is(a.ioStats().offloaded, 0);
    assert.is(b.ioStats().coalesced, 0);
    await rejects(() => NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0, segmentationOffload: 1 as unknown as boolean }), /segmentationOffload/);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('IPv6: binds ::1, exchanges datagrams, names the sender, refuses IPv4 destinations as counted drops', async () => {
  const a = await open('::1');
  const b = await open('::1');
  try {
    assert.is(a.local.host, '::1');
    const got: string[] = [];
    b.onDatagram((bytes, from) => got.push(`${from.host} ${from.port} ${bytes.length}`));
    a.send(new Uint8Array(1200), b.local);
    await until(() => got.length === 1, 'the IPv6 datagram');
    assert.equal(got, [`::1 ${a.local.port} 1200`]);
    a.send(Uint8Array.of(1), { host: '127.0.0.1', port: b.local.port });
    a.send(Uint8Array.of(1), { host: 'fe80::1%no-such-if0', port: b.local.port });
    assert.is(a.counters.txDropped, 2);
    // A datagram from a dgram sender to the native port, and back.
    const raw = createSocket('udp6');
    try {
      const back: string[] = [];
      raw.on('message', (m) => back.push(m.toString()));
      await new Promise<void>((r) => raw.bind(0, '::1', r));
      b.onDatagram((bytes, from) => b.send(Buffer.from(`echo ${bytes.toString()}`), from));
      raw.send('hi', b.local.port, '::1');
      await until(() => back.length === 1, 'the echo at the dgram socket');
      assert.equal(back, ['echo hi']);
    } finally {
      raw.close();
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('bad input of every kind is a counted drop; a refused send is a counted error and the rest still go', async () => {
  const a = await open();
  const b = await open();
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(bytes[0]));
    const to = b.local;
    const bad: [unknown, unknown][] = [
      [new Uint16Array(4), to],
      [new DataView(new ArrayBuffer(4)), to],
      [[1, 2, 3], to],
      [undefined, to],
      [Uint8Array.of(1), { host: '127.0.0.1' }],
      [Uint8Array.of(1), { host: '127.0.0.1', port: '80' }],
      [Uint8Array.of(1), { host: '127.0.0.1', port: NaN }],
      [Uint8Array.of(1), { host: '127.0.0.01', port: to.port }],
      [Uint8Array.of(1), { host: '::1', port: to.port }],
      [Uint8Array.of(1), { host: 'x'.repeat(10_000), port: to.port }],
      [Uint8Array.of(1), { host: '127.0.0.1\u0000junk', port: to.port }],
      [Uint8Array.of(1), 'not an endpoint'],
    ];
    for (const [bytes, dest] of bad) a.send(bytes as Uint8Array, dest as typeof to);
    assert.is(a.counters.txDropped, bad.length);
    // No SO_BROADCAST: the kernel refuses this one (EACCES) and sendmmsg goes on with the next.
    a.send(Uint8Array.of(1), { host: '255.255.255.255', port: to.port });
    a.send(Uint8Array.of(2), to);
    await until(() => got.length === 1, 'the good datagram');
    assert.equal(got, [2]);
    assert.is(a.counters.txErrors, 1);
    assert.is(a.counters.txPackets, 1);
    assert.is(a.counters.txDropped, bad.length);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('close while datagrams are queued: they are sent or counted, later sends are drops, nothing throws', async () => {
  const a = await open();
  const b = await open();
  try {
    const got: number[] = [];
    b.onDatagram((bytes) => got.push(bytes[0]));
    for (let i = 0; i < 50; i++) a.send(Uint8Array.of(i), b.local);
    assert.is(a.ioStats().queued, 50);
    await a.close(); // before the flush microtask: close sends what the socket takes
    await null;
    a.send(Uint8Array.of(99), b.local);
    const c = a.counters;
    assert.is(c.txPackets + c.txDropped, 51);
    assert.is(c.txPackets, 50, 'an empty loopback socket takes all 50');
    await until(() => got.length === 50, 'the 50 sent at close');
    assert.equal(a.bufferSizes(), { recv: 0, send: 0 });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('closed from inside its own receive callback: the rest of the batch is dropped, nothing more arrives, the process goes on', async () => {
  const a = await open();
  const b = await open();
  try {
    let calls = 0;
    b.onDatagram(() => {
      calls++;
      void b.close(); // inside the addon's callback: its teardown must wait until the callback returns
    });
    for (let i = 0; i < 20; i++) a.send(Uint8Array.of(i), b.local);
    await until(() => calls >= 1, 'the first datagram');
    for (let i = 0; i < 20; i++) a.send(Uint8Array.of(i), b.local);
    await new Promise((r) => setTimeout(r, 50));
    assert.is(calls, 1, 'one delivery, then closed');
    assert.is(b.counters.rxPackets, 1, 'the one datagram handled');
    assert.equal(b.bufferSizes(), { recv: 0, send: 0 }, 'the socket is closed');
    // The addon is still sound: a new port works.
    const c = await open();
    const got: number[] = [];
    c.onDatagram((bytes) => got.push(bytes[0]));
    a.send(Uint8Array.of(7), c.local);
    await until(() => got.length === 1, 'a datagram to a new port');
    await c.close();
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('a burst beyond the queue bound is dropped and counted; room again after the flush', async () => {
  const a = await open();
  const b = await open();
  try {
    const extra = 500;
    for (let i = 0; i < MAX_PENDING_SENDS + extra; i++) a.send(new Uint8Array(64), b.local);
    assert.is(a.counters.txDropped, extra);
    await until(() => a.counters.txPackets + a.counters.txErrors === MAX_PENDING_SENDS, 'the queue to drain');
    a.send(new Uint8Array(64), b.local);
    assert.is(a.counters.txDropped, extra, 'room again once the queue drained');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('asks for large socket buffers; as root gets them past the sysctl limit (SO_RCVBUFFORCE)', async () => {
  const u = await open();
  try {
    const got = u.bufferSizes();
    const root = process.getuid?.() === 0;
    assert.ok(got.recv >= (root ? DEFAULT_SOCKET_BUFFER : Math.min(DEFAULT_SOCKET_BUFFER, sysctl('rmem_max'))), `recv buffer ${got.recv}`);
    assert.ok(got.send >= (root ? DEFAULT_SOCKET_BUFFER : Math.min(DEFAULT_SOCKET_BUFFER, sysctl('wmem_max'))), `send buffer ${got.send}`);
  } finally {
    await u.close();
  }
});

udp('bind problems and bad options are clear errors', async () => {
  const u = await open();
  try {
    const inUse = await rejects(() => NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: u.local.port }), /EADDRINUSE/);
    assert.ok(SwitchbackError.is(inUse, 'ALREADY_EXISTS'));
    assert.match((inUse as Error).message, new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${u.local.port}`));
  } finally {
    await u.close();
  }
  const notLocal = await rejects(() => NativeUdpUnderlay.open({ bindAddress: '192.0.2.77', port: 0 }), /EADDRNOTAVAIL/);
  assert.ok(SwitchbackError.is(notLocal, 'UNAVAILABLE'));
  const badAddr = await rejects(() => NativeUdpUnderlay.open({ bindAddress: '999.1.1.1', port: 0 }), /udp\.bindAddress/);
  assert.ok(SwitchbackError.is(badAddr, 'INVALID_ARGUMENT'));
  await rejects(() => NativeUdpUnderlay.open({ bindAddress: 'localhost', port: 0 }), /udp\.bindAddress/);
  await rejects(() => NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: -1 }), /udp\.port/);
  await rejects(() => NativeUdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0, sendBufferSize: 1.5 }), /udp\.sendBufferSize/);
  await rejects(() => NativeUdpUnderlay.open(null as unknown as { bindAddress: string; port: number }), /options must be an object/);
});

udp('openUdpUnderlay: native by default when built, dgram on request; the option is checked', async () => {
  const n = await openUdpUnderlay({ bindAddress: '127.0.0.1', port: 0 });
  const d = await openUdpUnderlay({ bindAddress: '127.0.0.1', port: 0 }, 'dgram');
  try {
    assert.ok(n instanceof NativeUdpUnderlay);
    assert.ok(d instanceof UdpUnderlay);
    // The two talk to each other.
    const got: string[] = [];
    d.onDatagram((bytes, from) => got.push(`${from.port} ${bytes[0]}`));
    n.send(Uint8Array.of(7), d.local);
    await until(() => got.length === 1, 'native to dgram');
    assert.equal(got, [`${n.local.port} 7`]);
    // An offloaded run reaches a socket without receive coalescing as separate datagrams.
    for (let i = 0; i < 10; i++) n.send(Uint8Array.of(i, 0, 0), d.local);
    await until(() => got.length === 11, 'the run, one by one');
    assert.equal(got.slice(1), Array.from({ length: 10 }, (_, i) => `${n.local.port} ${i}`));
    assert.is(n.ioStats().offloaded, 1);
  } finally {
    await Promise.all([n.close(), d.close()]);
  }
  assert.is(udpIoOption(undefined), 'auto');
  assert.is(udpIoOption('dgram'), 'dgram');
  assert.throws(() => udpIoOption('fast'), /--udp-io/);
});

udp.run();
