// Micro-benchmark of the UDP underlay ports alone over loopback, no TUN and
// no data plane: node:dgram (UdpUnderlay) against the batched native port
// (NativeUdpUnderlay) with and without segmentation offload. One process
// sends 1400-byte datagrams from one port to another in turns of 64 (as the
// agent does after one batch of TUN reads), keeping at most WINDOW in
// flight, and counts what arrives. Columns: datagrams per second delivered
// and process CPU per delivered datagram (user + system, so the kernel's
// work inside the syscalls counts); then the round trip of one 100-byte
// datagram bounced back by the other port (ping-pong, one at a time), which
// shows whether queueing sends for a batched flush delays a lone packet.
// Run: npm run bench:udp-underlay [-- --count N]

import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { NativeUdpUnderlay } from '../router-agent/io/native-udp-underlay.js';
import { UdpUnderlay } from '../router-agent/io/udp-underlay.js';
import type { Underlay } from '../router-agent/io/underlay.js';

const { values: opts } = parseArgs({ options: { count: { type: 'string', default: '200000' }, size: { type: 'string', default: '1400' } }, strict: true });
const COUNT = Number(opts.count);
const SIZE = Number(opts.size);
if (!Number.isInteger(COUNT) || COUNT < 1000 || !Number.isInteger(SIZE) || SIZE < 1 || SIZE > 65507) {
  console.error('usage: npm run bench:udp-underlay [-- --count N (>= 1000)] [--size BYTES]');
  process.exit(2);
}
const TURN = 64;
const WINDOW = 1024;

type Open = () => Promise<Underlay>;
const local = { bindAddress: '127.0.0.1', port: 0 };
const ROWS: [string, Open][] = [
  ['dgram (UdpUnderlay)', () => UdpUnderlay.open(local)],
  ['native, sendmmsg/recvmmsg', () => NativeUdpUnderlay.open({ ...local, segmentationOffload: false })],
  ['native + UDP GSO/GRO', () => NativeUdpUnderlay.open(local)],
];

async function run(open: Open): Promise<{ pps: number; cpuUs: number; lost: number }> {
  const a = await open();
  const b = await open();
  let received = 0;
  b.onDatagram(() => received++);
  const payload = new Uint8Array(SIZE);
  let sent = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise<void>((done) => {
    let idle = 0;
    const step = () => {
      if (received >= COUNT) return done();
      const inFlight = sent - received;
      if (sent < COUNT && inFlight < WINDOW) {
        for (let i = 0; i < TURN && sent < COUNT; i++, sent++) a.send(payload, b.local);
        idle = 0;
      } else if (sent >= COUNT && ++idle > 2000) {
        return done(); // the rest was lost (a full receive buffer)
      }
      setImmediate(step);
    };
    step();
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(cpu0);
  await Promise.all([a.close(), b.close()]);
  return { pps: received / s, cpuUs: (c.user + c.system) / received, lost: COUNT - received };
}

const PINGS = 2000;

/** Median and 99th percentile round trip, microseconds. */
async function pingPong(open: Open): Promise<{ median: number; p99: number }> {
  const a = await open();
  const b = await open();
  b.onDatagram((bytes, from) => b.send(bytes, from));
  const rtts: number[] = [];
  await new Promise<void>((done) => {
    let t0 = 0n;
    const ping = () => {
      t0 = process.hrtime.bigint();
      a.send(new Uint8Array(100), b.local);
    };
    a.onDatagram(() => {
      rtts.push(Number(process.hrtime.bigint() - t0) / 1e3);
      if (rtts.length === PINGS) done();
      else ping();
    });
    ping();
  });
  await Promise.all([a.close(), b.close()]);
  rtts.sort((x, y) => x - y);
  return { median: rtts[PINGS >> 1], p99: rtts[Math.floor(PINGS * 0.99)] };
}

console.log(`# bench:udp-underlay: ${COUNT} datagrams of ${SIZE} bytes over loopback, turns of ${TURN}, window ${WINDOW}; ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results: string[][] = [];
for (const [name, open] of ROWS) {
  await run(open); // warm-up
  const r = await run(open);
  const p = await pingPong(open);
  results.push([name, (r.pps / 1e3).toFixed(0), r.cpuUs.toFixed(2), String(r.lost), `${p.median.toFixed(0)} / ${p.p99.toFixed(0)}`]);
}
const head = ['port', 'kdatagrams/s delivered', 'CPU µs per datagram', 'lost', `ping-pong RTT µs median / p99 (${PINGS})`];
for (const l of [head, head.map(() => '---'), ...results]) console.log(`| ${l.join(' | ')} |`);
console.log(`# load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
