// Micro-benchmark of the pure data plane on one core, no I/O: how many
// 1400-byte packets per second fromAccess turns into sealed datagrams
// (parse + LPM + ECMP choice + MSS check + AES-256-GCM seal), and how many
// fromUnderlay opens and delivers; plus raw seal/open and the GRE path for
// scale. Run: npm run bench:dataplane-core
//
// The packets are UDP over IPv4 to a forwarded prefix; every timed pass
// runs the same packets. Figures are medians of 5 passes.

import { Action, type FlowTable } from '../common/model.js';
import { SEAL_OVERHEAD, allocDatagram, openDatagram, sealDatagram } from '../router-agent/dataplane/aead.js';
import { DataPlane } from '../router-agent/dataplane/forwarding.js';
import { tunnelOverhead } from '../router-agent/dataplane/overhead.js';
import { writeTunnelHeader } from '../router-agent/dataplane/tunnel-header.js';

const PACKET = 1400;
const BATCH = 50_000;
const PASSES = 5;

const key = Buffer.alloc(32, 7);
const peer = (gatewayId: string, nodeId: number) => ({
  gatewayId,
  nodeId,
  linkId: `l-${gatewayId}`,
  endpoints: [{ host: `192.0.2.${nodeId}`, port: 4789 }],
  mtu: 1500,
  key,
  keyId: 1,
  previousKey: Buffer.alloc(0),
  previousKeyId: 0,
  nextKey: Buffer.alloc(0),
  nextKeyId: 0,
});
const table = (nodeId: number, peers: ReturnType<typeof peer>[], rules: FlowTable['rules']): FlowTable => ({
  gatewayId: `gw${nodeId}`,
  nodeId,
  version: 1,
  epoch: 1,
  peers,
  rules,
});
const rule = (vrf: number, prefix: string, action: Action, primary: string[] = []) => ({
  vrf,
  prefix,
  action,
  primary: primary.map((g) => ({ gatewayId: g, linkId: '', cost: 1 })),
  destSiteId: '',
});

function ipv4Udp(dst: number, sport: number, total: number): Uint8Array {
  const b = new Uint8Array(total);
  b[0] = 0x45;
  b[2] = total >>> 8;
  b[3] = total & 0xff;
  b[6] = 0x40; // DF
  b[8] = 64;
  b[9] = 17;
  b.set([10, 1, 0, 10], 12);
  b.set([10, 2, (dst >>> 8) & 0xff, dst & 0xff], 16);
  b[20] = sport >>> 8;
  b[21] = sport & 0xff;
  b[23] = 53;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i] << 8) | b[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b[10] = (~sum >>> 8) & 0xff;
  b[11] = ~sum & 0xff;
  return b;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function measure(name: string, fn: () => number, prepare: () => void = () => {}): number {
  prepare();
  fn(); // warm up
  const rates: number[] = [];
  for (let i = 0; i < PASSES; i++) {
    prepare();
    const t0 = process.hrtime.bigint();
    const n = fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(n / dt);
  }
  const r = median(rates);
  const gbit = (r * PACKET * 8) / 1e9;
  console.log(`${name.padEnd(44)} ${Math.round(r).toLocaleString('en').padStart(10)} pkt/s  ${gbit.toFixed(2)} Gbit/s inner`);
  return r;
}

const a = new DataPlane({ accessVrf: 10, initialCounter: 1n << 40n });
a.setTable(table(1, [peer('B', 2), peer('C', 3)], [rule(10, '10.1.0.0/16', Action.DELIVER), rule(10, '10.2.0.0/16', Action.FORWARD, ['B', 'C'])]));
const b = new DataPlane({ accessVrf: 10, initialCounter: 1n << 40n });
b.setTable(table(2, [peer('A', 1)], [rule(10, '10.2.0.0/16', Action.DELIVER)]));
const agre = new DataPlane({ accessVrf: 10, initialCounter: 1n, underlay: 'gre' });
agre.setTable(table(1, [peer('B', 2), peer('C', 3)], [rule(10, '10.2.0.0/16', Action.FORWARD, ['B', 'C'])]));

const packets = Array.from({ length: 1024 }, (_, i) => ipv4Udp(i, 1024 + i, PACKET));

console.log(`node ${process.version}, ${PACKET}-byte inner packets, median of ${PASSES} passes of ${BATCH.toLocaleString('en')}`);
console.log(`overhead: UDP mode ${tunnelOverhead('udp', 4)} B over IPv4 (${tunnelOverhead('udp', 6)} over IPv6) = 20 outer IP + 8 UDP + ${SEAL_OVERHEAD} header+tag; GRE mode ${tunnelOverhead('gre', 4)} B`);

measure('fromAccess (parse+LPM+ECMP+seal)', () => {
  let sent = 0;
  for (let i = 0; i < BATCH; i++) if (a.fromAccess(packets[i & 1023], 0).type === 'send') sent++;
  if (sent !== BATCH) throw new Error(`only ${sent} sent`);
  return BATCH;
});

// Fresh datagrams for every pass, made untimed: the same ones twice would be replays.
const datagrams: Uint8Array[] = [];
measure(
  'fromUnderlay (open+replay+LPM+deliver)',
  () => {
    let delivered = 0;
    for (const d of datagrams) if (b.fromUnderlay(d, 0).type === 'deliver') delivered++;
    if (delivered !== datagrams.length) throw new Error(`only ${delivered} of ${datagrams.length} delivered`);
    return delivered;
  },
  () => {
    datagrams.length = 0;
    for (let i = 0; datagrams.length < BATCH; i++) {
      const v = a.fromAccess(packets[i & 1023], 0);
      if (v.type === 'send' && v.peer.gatewayId === 'B') datagrams.push(v.bytes);
    }
  },
);

measure('raw AES-256-GCM seal (1400 B)', () => {
  const p = packets[0];
  for (let i = 0; i < BATCH; i++) {
    const d = allocDatagram(p.length);
    writeTunnelHeader(d, 1, 16, 1, 10, 1, 0, i);
    sealDatagram(key, d, p);
  }
  return BATCH;
});

const one = allocDatagram(PACKET);
writeTunnelHeader(one, 1, 16, 1, 10, 1, 0, 1);
sealDatagram(key, one, packets[0]);
measure('raw AES-256-GCM open (1400 B)', () => {
  for (let i = 0; i < BATCH; i++) if (openDatagram(key, one) === null) throw new Error('open failed');
  return BATCH;
});

measure('fromAccess in GRE mode (no crypto)', () => {
  for (let i = 0; i < BATCH; i++) agre.fromAccess(packets[i & 1023], 0);
  return BATCH;
});
