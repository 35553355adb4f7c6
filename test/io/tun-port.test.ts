// The TUN port against the real kernel. A TUN device belongs to the network
// namespace of the process that creates it, so this file re-runs itself
// inside a fresh namespace (runFileInNamespace) and everything below runs there.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SwitchbackError } from '../../common/errors.js';
import { TunPort } from '../../router-agent/io/tun-port.js';
import { rejects, until } from '../helpers/async-assert.js';
import { requireCommand, runFileInNamespace } from '../helpers/netns.js';
import { ACK, SYN, refTransportChecksum, storedTransportChecksum, tcp } from '../dataplane/build-packets.js';

await runFileInNamespace(import.meta.url, 'tun');
requireCommand('ping', 'iputils-ping');

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

// --- minimal IPv4 / ICMP, independent of the data plane under test elsewhere ---

function sum16(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

interface Ipv4 {
  src: string;
  dst: string;
  protocol: number;
  ihl: number;
  total: number;
}

function parseIpv4(p: Uint8Array): Ipv4 | null {
  if (p.length < 20 || p[0] >> 4 !== 4) return null;
  const ihl = (p[0] & 0x0f) * 4;
  const total = (p[2] << 8) | p[3];
  if (ihl < 20 || total > p.length) return null;
  return { src: p.subarray(12, 16).join('.'), dst: p.subarray(16, 20).join('.'), protocol: p[9], ihl, total };
}

const ICMP = 1;

/** The echo reply to an ICMP echo request: addresses swapped, type 0, checksums recomputed. */
function echoReply(req: Uint8Array, h: Ipv4): Buffer {
  const r = Buffer.from(req.subarray(0, h.total));
  r.set(req.subarray(16, 20), 12);
  r.set(req.subarray(12, 16), 16);
  r[8] = 64;
  r[10] = r[11] = 0;
  r.writeUInt16BE(sum16(r, 0, h.ihl), 10);
  r[h.ihl] = 0; // echo reply
  r[h.ihl + 2] = r[h.ihl + 3] = 0;
  r.writeUInt16BE(sum16(r, h.ihl, h.total), h.ihl + 2);
  return r;
}

const tun = suite('TunPort (inside a network namespace)');

tun('ping through the device: the echo request arrives on onPacket, the written reply completes ping', async () => {
  const port = await TunPort.open({ name: 'sbt-tun0', mtu: 1400, addresses: ['10.99.0.1/24'] });
  try {
    assert.is(port.name, 'sbt-tun0');
    const link = await run('ip', ['-o', 'link', 'show', 'dev', 'sbt-tun0']);
    assert.match(link.out, /mtu 1400/);
    assert.match(link.out, /<[^>]*\bUP\b/);
    assert.match((await run('ip', ['-o', 'address', 'show', 'dev', 'sbt-tun0'])).out, /inet 10\.99\.0\.1\/24/);

    const requests: Ipv4[] = [];
    port.onPacket((pkt) => {
      const h = parseIpv4(pkt);
      if (!h || h.protocol !== ICMP || pkt[h.ihl] !== 8) return; // IPv6 router solicitations etc.
      requests.push(h);
      assert.is(sum16(pkt, 0, h.ihl), 0, 'the kernel sent a valid IPv4 header checksum');
      port.send(echoReply(pkt, h));
    });
    const ping = await run('ping', ['-c', '1', '-W', '5', '-n', '10.99.0.2']);
    assert.is(ping.code, 0, ping.out);
    assert.match(ping.out, /1 received/);
    assert.is(requests.length, 1);
    assert.equal([requests[0].src, requests[0].dst], ['10.99.0.1', '10.99.0.2']);
    assert.is(port.counters.txPackets, 1);
    assert.ok(port.counters.rxPackets >= 1);
  } finally {
    await port.close();
  }
  const gone = await run('ip', ['link', 'show', 'dev', 'sbt-tun0']);
  assert.is.not(gone.code, 0, 'the device disappears on close');
});

tun('setRoutes installs, changes and removes only its own routes; close removes them', async () => {
  const port = await TunPort.open({ name: 'sbt-tun1', mtu: 1400, addresses: ['10.99.1.1/24'] });
  const routes = async () => (await run('ip', ['-o', 'route', 'show', 'dev', 'sbt-tun1'])).out;
  const routes6 = async () => (await run('ip', ['-o', '-6', 'route', 'show', 'dev', 'sbt-tun1'])).out;
  try {
    await port.setRoutes(['10.50.0.0/16', '10.51.0.0/24', '2001:db8:99::/48']);
    let now = await routes();
    assert.match(now, /^10\.50\.0\.0\/16 /m);
    assert.match(now, /^10\.51\.0\.0\/24 /m);
    assert.match(await routes6(), /^2001:db8:99::\/48 /m);
    assert.equal(port.routes(), ['10.50.0.0/16', '10.51.0.0/24', '2001:db8:99::/48']);

    // A route someone else added through the device stays; an unchanged one is not rewritten.
    assert.is((await run('ip', ['route', 'add', '10.60.0.0/16', 'dev', 'sbt-tun1'])).code, 0);
    assert.is((await run('ip', ['route', 'replace', '10.51.0.0/24', 'dev', 'sbt-tun1', 'mtu', '1300'])).code, 0);
    await port.setRoutes(['10.51.0.0/24', '10.52.0.0/24']);
    now = await routes();
    assert.not.match(now, /^10\.50\.0\.0\/16 /m);
    assert.match(now, /^10\.51\.0\.0\/24 .*mtu 1300/m);
    assert.match(now, /^10\.52\.0\.0\/24 /m);
    assert.match(now, /^10\.60\.0\.0\/16 /m);
    assert.not.match(await routes6(), /2001:db8:99::/);

    // Bad input: refused before any change.
    const err = await rejects(() => port.setRoutes(['10.53.0.0/16', '10.1.2.3/8']), /routes\[1\].*host bits/);
    assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'));
    await rejects(() => port.setRoutes(['10.53.0.0']), /routes\[0\].*length is missing/);
    assert.not.match(await routes(), /10\.53\.0\.0/);
    assert.equal(port.routes(), ['10.51.0.0/24', '10.52.0.0/24']);

    // Concurrent calls apply in call order.
    await Promise.all([port.setRoutes(['10.54.0.0/16']), port.setRoutes(['10.55.0.0/16'])]);
    now = await routes();
    assert.not.match(now, /10\.54\.0\.0/);
    assert.match(now, /^10\.55\.0\.0\/16 /m);
  } finally {
    await port.close();
  }
  assert.is((await run('ip', ['route', 'show', '10.55.0.0/16'])).out, '');
  await rejects(() => port.setRoutes(['10.56.0.0/16']), /closed/);
  await port.close(); // idempotent
});

tun('bad writes are counted drops, never exceptions', async () => {
  const port = await TunPort.open({ name: 'sbt-tun2', mtu: 1280 });
  try {
    port.send(new Uint8Array(0));
    port.send(new Uint8Array(1281));
    port.send(new Uint8Array(70_000));
    port.send('not bytes' as unknown as Uint8Array);
    assert.equal(port.counters.txDrops, { invalid: 1, empty: 1, oversize: 2, queueFull: 0, rejected: 0, closed: 0 }, 'refused at once');
    port.send(new Uint8Array(40)); // version nibble 0: the kernel refuses it
    const junk = randomBytes(200);
    junk[0] = 0x00;
    port.send(junk);
    await null; // the batch is written from a microtask
    assert.equal(port.counters.txDrops, { invalid: 1, empty: 1, oversize: 2, queueFull: 0, rejected: 2, closed: 0 });
    assert.is(port.counters.txPackets, 0);
  } finally {
    await port.close();
  }
  port.send(new Uint8Array(40));
  assert.is(port.counters.txDrops.closed, 1);
});

tun('a throwing handler is counted and reading goes on', async () => {
  const port = await TunPort.open({ name: 'sbt-tun3', mtu: 1400, addresses: ['10.99.3.1/24'] });
  try {
    port.onPacket(() => {
      throw new Error('handler bug');
    });
    await run('ping', ['-c', '1', '-W', '1', '-n', '10.99.3.2']);
    await until(() => port.counters.handlerErrors >= 1, 'a handler error');
    const seen: Ipv4[] = [];
    port.onPacket((p) => {
      const h = parseIpv4(p);
      if (h?.protocol === ICMP) seen.push(h);
    });
    await run('ping', ['-c', '1', '-W', '1', '-n', '10.99.3.2']);
    await until(() => seen.length >= 1, 'a packet after the handler threw');
    assert.is(seen[0].dst, '10.99.3.2');
  } finally {
    await port.close();
  }
});

tun('a device deleted under the port: a counted read error, no busy loop, close still works', async () => {
  const port = await TunPort.open({ name: 'sbt-tun6', mtu: 1400 });
  await port.setRoutes(['10.70.0.0/16']);
  port.onPacket(() => {});
  assert.is((await run('ip', ['link', 'delete', 'dev', 'sbt-tun6'])).code, 0);
  await until(() => port.counters.rxErrors === 1, 'the read error');
  await new Promise((r) => setTimeout(r, 50));
  assert.is(port.counters.rxErrors, 1, 'reading stopped after the error');
  await port.close();
  port.send(new Uint8Array(40));
  assert.is(port.counters.txDrops.closed, 1);
});

tun('bad options get clear errors and leave no device behind', async () => {
  const invalidName = await rejects(() => TunPort.open({ name: 'x'.repeat(16), mtu: 1400 }), /tun\.name.*1-15 characters/);
  assert.ok(SwitchbackError.is(invalidName, 'INVALID_ARGUMENT'));
  await rejects(() => TunPort.open({ name: 'bad name', mtu: 1400 }), /tun\.name.*may hold only/);
  await rejects(() => TunPort.open({ name: 'a/b', mtu: 1400 }), /tun\.name/);
  await rejects(() => TunPort.open({ name: 'sbt-tun4', mtu: 20 }), /tun\.mtu.*68-65535/);
  await rejects(() => TunPort.open({ name: 'sbt-tun4', mtu: 1400, addresses: ['10.99.4.1'] }), /tun\.addresses\[0\]/);
  await rejects(() => TunPort.open({ name: 'sbt-tun4', mtu: 1400, addresses: ['10.99.4.1/33'] }), /tun\.addresses\[0\].*0-32/);
  assert.is.not((await run('ip', ['link', 'show', 'dev', 'sbt-tun4'])).code, 0, 'validation failed before creating anything');

  // A failure after the device exists (the second address is a duplicate) removes it again.
  const dup = await rejects(() => TunPort.open({ name: 'sbt-tun4', mtu: 1400, addresses: ['10.99.4.1/24', '10.99.4.1/24'] }), /10\.99\.4\.1\/24.*already assigned/);
  assert.ok(SwitchbackError.is(dup, 'ALREADY_EXISTS'));
  assert.is.not((await run('ip', ['link', 'show', 'dev', 'sbt-tun4'])).code, 0, 'no device left after a failed open');

  // The same name twice: the kernel refuses, the error says which call and why.
  const first = await TunPort.open({ name: 'sbt-tun5', mtu: 1400 });
  try {
    const busy = await rejects(() => TunPort.open({ name: 'sbt-tun5', mtu: 1400 }), /sbt-tun5.*TUNSETIFF.*busy.*EBUSY/i);
    assert.ok(SwitchbackError.is(busy, 'ALREADY_EXISTS'));
  } finally {
    await first.close();
  }

  // Without a name the kernel picks one.
  const auto = await TunPort.open({ mtu: 1400 });
  try {
    assert.match(auto.name, /^tun\d+$/);
  } finally {
    await auto.close();
  }
});

tun('with offload the kernel takes coalesced TCP segments and hands over super-packets, cut into valid segments', async () => {
  // A TCP connection between the namespace's own stack (a net server on the
  // device's address) and a peer the test plays by hand through the device.
  const port = await TunPort.open({ name: 'sbt-tun7', mtu: 1400, addresses: ['10.99.7.1/24'] });
  const server = createServer();
  let accepted: Socket | undefined;
  try {
    assert.ok(port.offload, 'the kernel agreed to TSO');
    const data = randomBytes(3000);
    const reply = randomBytes(10_000); // within the first congestion window: no ACKs needed
    let got = Buffer.alloc(0);
    server.on('connection', (s) => {
      accepted = s;
      s.on('error', () => {});
      s.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.length === data.length) s.write(reply);
      });
    });
    await new Promise<void>((r) => server.listen(5555, '10.99.7.1', r));

    const PSH = 0x08;
    let synAck: Buffer | undefined;
    const fromServer: Buffer[] = [];
    port.onPacket((p) => {
      const h = parseIpv4(p);
      if (!h || h.protocol !== 6) return;
      if (p[h.ihl + 13] & SYN) synAck = p;
      else if (p.length > h.ihl + (p[h.ihl + 12] >> 4) * 4) fromServer.push(p);
    });
    let id = 1;
    const ip = () => ({ src: '10.99.7.2', dst: '10.99.7.1', id: id++ });
    const seg = (seq: number, flags: number, payload?: Uint8Array, ackNo?: number) =>
      tcp(ip(), { sport: 40000, dport: 5555, seq, ackNo, flags, payload, options: flags === SYN ? [2, 4, 0x05, 0x28] : undefined }); // MSS 1320
    port.send(seg(1000, SYN));
    await until(() => synAck !== undefined, 'the SYN-ACK');
    const ackNo = (synAck!.readUInt32BE(24) + 1) >>> 0;
    port.send(seg(1001, ACK, undefined, ackNo));
    // Three data segments sent in one turn leave in one write.
    for (let i = 0; i < 3; i++) port.send(seg(1001 + i * 1000, ACK | (i === 2 ? PSH : 0), data.subarray(i * 1000, (i + 1) * 1000), ackNo));
    await until(() => got.length === data.length, 'the server got the data');
    assert.equal(got, data, 'in order and intact');
    let st = port.offloadStats();
    assert.is(st.txSuperPackets, 1, 'one coalesced write');
    assert.is(st.txCoalesced, 3, 'of the three data segments');
    assert.is(st.txFallbacks, 0);

    const replied = () => fromServer.reduce((n, p) => n + p.length - 40, 0);
    await until(() => replied() >= reply.length, 'the reply');
    const bySeq = [...fromServer].sort((a, b) => a.readUInt32BE(24) - b.readUInt32BE(24));
    assert.equal(Buffer.concat(bySeq.map((p) => p.subarray(40))), reply, 'the reply, whole');
    for (const p of bySeq) {
      assert.ok(p.length - 40 <= 1320, `segments respect the MSS: ${p.length - 40}`);
      assert.is(storedTransportChecksum(p, 16), refTransportChecksum(p, 16), 'each segment has a complete TCP checksum');
    }
    st = port.offloadStats();
    assert.ok(st.rxSuperPackets >= 1, `the kernel handed over super-packets: ${JSON.stringify(st)}`);
    assert.ok(st.rxSegments > st.rxSuperPackets);
    assert.is(st.rxMalformed, 0);
  } finally {
    accepted?.destroy();
    server.close();
    await port.close();
  }
});

tun('offload can be turned off, and bad values for it are refused', async () => {
  const port = await TunPort.open({ name: 'sbt-tun8', mtu: 1400, offload: false });
  try {
    assert.not.ok(port.offload);
  } finally {
    await port.close();
  }
  await rejects(() => TunPort.open({ name: 'sbt-tun8', mtu: 1400, offload: 'yes' as unknown as boolean }), /tun\.offload.*true or false/);
});

tun.run();
