// The GRE port against the real kernel, inside a fresh network namespace
// (raw sockets see every protocol-47 packet of their namespace, so the host's
// own traffic stays out of it). A second namespace joined by a veth holds a
// peer for the tests that need a real link.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { GreUnderlay, MAX_GRE_PAYLOAD } from '../../router-agent/io/gre-underlay.js';
import { rejects, until } from '../helpers/async-assert.js';
import { NetnsHarness, runFileInNamespace } from '../helpers/netns.js';
import { MAX_PENDING_SENDS } from '../../router-agent/io/underlay.js';
import { underlayContract } from './underlay-contract.js';

const env = await runFileInNamespace(import.meta.url, 'gre', async (h, ns) => {
  const peer = await h.namespace('gre-peer');
  await h.veth({ ns, ifname: 'sbt-gre0', address: '10.96.0.1/24' }, { ns: peer, ifname: 'sbt-gre1', address: '10.96.0.2/24' });
  return { peer };
});

const LOCAL = '10.96.0.1';
const PEER = '10.96.0.2';

underlayContract(
  'gre (loopback, inside a namespace)',
  async () => {
    const a = await GreUnderlay.open({ localAddress: '127.0.0.1', allowPlaintext: true });
    const b = await GreUnderlay.open({ localAddress: '127.0.0.2', allowPlaintext: true });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { ports: false, maxPayload: MAX_GRE_PAYLOAD },
);

const gre = suite('GreUnderlay');

gre('refuses to open without the explicit plaintext flag', async () => {
  for (const allowPlaintext of [undefined, false, 'true', 1]) {
    const err = await rejects(
      () => GreUnderlay.open({ localAddress: LOCAL, allowPlaintext } as unknown as { localAddress: string; allowPlaintext: boolean }),
      /unauthenticated and unencrypted.*trusted underlays.*allowPlaintext: true.*--gre-insecure/,
    );
    assert.ok(SwitchbackError.is(err, 'FAILED_PRECONDITION'));
  }
});

gre('bad options are clear errors', async () => {
  await rejects(() => GreUnderlay.open({ localAddress: '2001:db8::1', allowPlaintext: true }), /gre\.localAddress.*IPv4 only/);
  await rejects(() => GreUnderlay.open({ localAddress: 'gw-a', allowPlaintext: true }), /gre\.localAddress/);
  const notHere = await rejects(() => GreUnderlay.open({ localAddress: '10.96.0.99', allowPlaintext: true }), /gre\.localAddress.*10\.96\.0\.99 is not an address of this host/);
  assert.ok(SwitchbackError.is(notHere, 'UNAVAILABLE'));
  await rejects(() => GreUnderlay.open({ localAddress: PEER, allowPlaintext: true }), /not an address of this host/);
  await rejects(() => GreUnderlay.open({ localAddress: LOCAL, allowPlaintext: true, ttl: 0 }), /gre\.ttl/);
  await rejects(() => GreUnderlay.open({ localAddress: LOCAL, allowPlaintext: true, recvBufferSize: -1 }), /gre\.recvBufferSize/);
});

// raw-socket, used directly, to see the whole IPv4 packet the port puts on the wire.
interface Sniffer {
  on(ev: 'message', cb: (buf: Buffer) => void): void;
  close(): void;
}
const raw = createRequire(import.meta.url)('raw-socket') as { createSocket(o: { protocol: number; bufferSize: number }): Sniffer };

gre('puts the payload behind its own IPv4 header: protocol 47, its source address, DF, TTL', async () => {
  const sniffer = raw.createSocket({ protocol: 47, bufferSize: 65536 });
  const port = await GreUnderlay.open({ localAddress: '127.0.0.5', allowPlaintext: true, ttl: 17 });
  try {
    const seen: Buffer[] = [];
    sniffer.on('message', (buf) => seen.push(Buffer.from(buf)));
    const payload = Buffer.from('2000080000000007', 'hex'); // a GRE header with key 7, as the data plane builds it
    port.send(payload, { host: '127.0.0.6', port: 0 });
    await until(() => seen.length === 1, 'the packet on the wire');
    const p = seen[0];
    assert.is(p[0], 0x45);
    assert.is(p.readUInt16BE(2), 20 + payload.length);
    assert.is(p[6] & 0x40, 0x40, 'DF set: an oversize packet fails loudly instead of fragmenting');
    assert.is(p[8], 17);
    assert.is(p[9], 47);
    assert.is([...p.subarray(12, 16)].join('.'), '127.0.0.5');
    assert.is([...p.subarray(16, 20)].join('.'), '127.0.0.6');
    assert.ok(p.subarray(20).equals(payload));
    // Nobody holds 127.0.0.6: the port ignored its own packet coming back over loopback.
    await until(() => port.counters.rxForeign === 1, 'its own packet, ignored');
    assert.is(port.counters.rxPackets, 0);
  } finally {
    sniffer.close();
    await port.close();
  }
});

gre('a burst beyond the send-queue bound is dropped and counted, never queued without limit', async () => {
  const port = await GreUnderlay.open({ localAddress: '127.0.0.7', allowPlaintext: true });
  try {
    const extra = 500;
    for (let i = 0; i < MAX_PENDING_SENDS + extra; i++) port.send(new Uint8Array(64), { host: '127.0.0.8', port: 0 });
    assert.is(port.counters.txDropped, extra);
    await until(() => port.counters.txPackets + port.counters.txErrors === MAX_PENDING_SENDS, 'the accepted sends to complete', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; counters ${JSON.stringify(port.counters)}`);
    });
  } finally {
    await port.close();
  }
});

gre('over a veth: an ICMP error from a peer that does not speak GRE leaves the port working; echoes come back', async () => {
  const port = await GreUnderlay.open({ localAddress: LOCAL, allowPlaintext: true });
  const h = new NetnsHarness();
  const unreachablesSent = async () => {
    const snmp = (await h.exec(env.peer, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Icmp: '));
    const [names, values] = snmp.map((l) => l.split(/\s+/));
    return Number(values[names.indexOf('OutDestUnreachs')]);
  };
  try {
    // Nothing in the peer namespace listens to protocol 47 yet: its kernel
    // answers "protocol unreachable" (raw-socket would close a socket the
    // kernel reported that error on).
    port.send(Uint8Array.of(0, 0, 8, 0, 1, 2, 3, 4), { host: PEER, port: 0 });
    await until(async () => (await unreachablesSent()) >= 1, 'the peer to answer with ICMP destination unreachable');

    const echo = h.spawn(env.peer, process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../helpers/gre-echo.ts', import.meta.url)), PEER], {
      env: { ...process.env, SWITCHBACK_LOG: 'warn' },
    });
    let out = '';
    echo.stdout!.on('data', (d) => (out += d));
    echo.stderr!.on('data', (d) => (out += d));
    await until(() => out.includes('ready'), 'the echo peer to start', 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; its output: ${out}`);
    });

    const got: { bytes: number[]; host: string }[] = [];
    port.onDatagram((bytes, from) => got.push({ bytes: [...bytes], host: from.host }));
    for (let i = 1; i <= 3; i++) port.send(Uint8Array.of(0, 0, 8, 0, i, i, i), { host: PEER, port: 0 });
    await until(() => got.length === 3, 'three echoes from the peer');
    assert.equal(
      got.map((g) => g.bytes[4]).sort(),
      [1, 2, 3],
    );
    assert.ok(got.every((g) => g.host === PEER && g.bytes.length === 7));
    assert.is(port.counters.rxErrors, 0);
    // Over the veth (MTU 1500) a payload too big for one unfragmented packet is a counted send error.
    const before = port.counters.txErrors;
    port.send(new Uint8Array(3000), { host: PEER, port: 0 });
    await until(() => port.counters.txErrors === before + 1, 'the EMSGSIZE send error');
  } finally {
    await h.cleanup();
    await port.close();
  }
});

gre.run();
