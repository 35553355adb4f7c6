import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { UdpUnderlay } from '../../router-agent/io/udp-underlay.js';
import { DEFAULT_SOCKET_BUFFER, MAX_PENDING_SENDS } from '../../router-agent/io/underlay.js';
import { rejects, until } from '../helpers/async-assert.js';
import { underlayContract } from './underlay-contract.js';

underlayContract(
  'udp',
  async () => {
    const a = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
    const b = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { ports: true, maxPayload: 65507 },
);

const udp = suite('UdpUnderlay');

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));

udp('asks for large socket buffers and gets what the kernel allows', async () => {
  const u = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  try {
    const got = u.bufferSizes();
    // Linux doubles the value it grants (bookkeeping overhead) and caps it at *mem_max.
    assert.ok(got.recv >= Math.min(DEFAULT_SOCKET_BUFFER, sysctl('rmem_max')), `recv buffer ${got.recv}`);
    assert.ok(got.send >= Math.min(DEFAULT_SOCKET_BUFFER, sysctl('wmem_max')), `send buffer ${got.send}`);
  } finally {
    await u.close();
  }
});

udp('IPv6: binds ::1, exchanges datagrams, refuses IPv4 destinations as counted drops', async () => {
  const a = await UdpUnderlay.open({ bindAddress: '::1', port: 0 });
  const b = await UdpUnderlay.open({ bindAddress: '::1', port: 0 });
  try {
    assert.is(a.local.host, '::1');
    const got: string[] = [];
    b.onDatagram((bytes, from) => got.push(`${from.host} ${bytes.length}`));
    a.send(new Uint8Array(1200), b.local);
    await until(() => got.length === 1, 'the IPv6 datagram');
    assert.equal(got, ['::1 1200']);
    a.send(Uint8Array.of(1), { host: '127.0.0.1', port: b.local.port });
    assert.is(a.counters.txDropped, 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('arbitrary bytes from any UDP sender are handed over as they came', async () => {
  const u = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  const raw = createSocket('udp4');
  try {
    const got: Uint8Array[] = [];
    u.onDatagram((b) => got.push(b));
    const junk = Buffer.from([0xff, 0x00, 0x13, 0x37]);
    raw.send(junk, u.local.port, '127.0.0.1');
    await until(() => got.length === 1, 'the foreign datagram');
    assert.equal([...got[0]], [...junk]);
  } finally {
    raw.close();
    await u.close();
  }
});

udp('a burst beyond the send-queue bound is dropped and counted, never queued without limit', async () => {
  const a = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  const b = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  try {
    const extra = 500;
    for (let i = 0; i < MAX_PENDING_SENDS + extra; i++) a.send(new Uint8Array(64), b.local);
    assert.is(a.counters.txDropped, extra);
    await until(() => a.counters.txPackets + a.counters.txErrors === MAX_PENDING_SENDS, 'the accepted sends to complete');
    a.send(new Uint8Array(64), b.local);
    assert.is(a.counters.txDropped, extra, 'room again once the queue drained');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

udp('bind problems and bad options are clear errors', async () => {
  const u = await UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0 });
  try {
    const inUse = await rejects(() => UdpUnderlay.open({ bindAddress: '127.0.0.1', port: u.local.port }), /EADDRINUSE/);
    assert.ok(SwitchbackError.is(inUse, 'ALREADY_EXISTS'));
    assert.match((inUse as Error).message, new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${u.local.port}`));
  } finally {
    await u.close();
  }
  const notLocal = await rejects(() => UdpUnderlay.open({ bindAddress: '192.0.2.77', port: 0 }), /EADDRNOTAVAIL/);
  assert.ok(SwitchbackError.is(notLocal, 'UNAVAILABLE'));
  const badAddr = await rejects(() => UdpUnderlay.open({ bindAddress: '999.1.1.1', port: 0 }), /udp\.bindAddress/);
  assert.ok(SwitchbackError.is(badAddr, 'INVALID_ARGUMENT'));
  await rejects(() => UdpUnderlay.open({ bindAddress: 'localhost', port: 0 }), /udp\.bindAddress/);
  await rejects(() => UdpUnderlay.open({ bindAddress: '127.0.0.1', port: -1 }), /udp\.port/);
  await rejects(() => UdpUnderlay.open({ bindAddress: '127.0.0.1', port: 0, recvBufferSize: 10 }), /udp\.recvBufferSize/);
  await rejects(() => UdpUnderlay.open(undefined as unknown as { bindAddress: string; port: number }), /options must be an object/);
});

udp.run();
