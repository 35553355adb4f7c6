// Demand traffic: every demand sends real IP packets at its (sampled) rate
// into the data plane of its site's gateway, and each hop's data plane
// decides what happens to them (forward over which tunnel, deliver, drop and
// why). A packet is delivered when every piece of it (fragments included)
// reached an access side; it is lost at the first piece lost. Per-packet
// outcomes are kept in typed arrays for the analysis after the run.

import { parseIp } from '../common/prefix.js';
import { writeIpv4HeaderChecksum } from '../router-agent/dataplane/checksum.js';
import type { Verdict } from '../router-agent/dataplane/verdict.js';
import type { SimEngine } from './engine.js';
import type { SimNetwork } from './network.js';
import type { Demand } from './scenario.js';
import type { SimAgent } from './sim-agent.js';

export const STATUS_PENDING = 0;
export const STATUS_DELIVERED = 1;
export const STATUS_LOST = 2;

/** Outcomes of one demand's packets, indexed by packet number (send order). */
export class DemandRecord {
  readonly sampledPps: number;
  readonly weight: number;
  readonly intervalMs: number;
  count = 0;
  sendAt: Float64Array;
  status: Uint8Array;
  doneAt: Float64Array;
  /** Index into `paths` of the path the first piece took (delivered packets). */
  pathId: Int32Array;
  /** Latest time any hop on the path applied a table (before forwarding this packet). */
  tableAt: Float64Array;
  /** Index into `reasons` for lost packets. */
  reason: Uint8Array;
  readonly paths: string[][] = [];
  private readonly pathIndex = new Map<string, number>();
  readonly reasons: string[] = [];
  private readonly reasonIndex = new Map<string, number>();

  constructor(
    readonly demand: Demand,
    durationMs: number,
    maxSamplePps: number,
  ) {
    this.sampledPps = Math.min(demand.ratePps, maxSamplePps);
    this.weight = demand.ratePps / this.sampledPps;
    this.intervalMs = 1000 / this.sampledPps;
    const n = Math.ceil(durationMs / this.intervalMs) + 1;
    this.sendAt = new Float64Array(n);
    this.status = new Uint8Array(n);
    this.doneAt = new Float64Array(n);
    this.pathId = new Int32Array(n).fill(-1);
    this.tableAt = new Float64Array(n).fill(-Infinity);
    this.reason = new Uint8Array(n);
  }

  internPath(path: string[]): number {
    const key = path.join('>');
    let i = this.pathIndex.get(key);
    if (i === undefined) {
      i = this.paths.length;
      this.paths.push(path.slice());
      this.pathIndex.set(key, i);
    }
    return i;
  }

  internReason(r: string): number {
    let i = this.reasonIndex.get(r);
    if (i === undefined) {
      i = this.reasons.length;
      this.reasons.push(r);
      this.reasonIndex.set(r, i);
    }
    return i;
  }
}

interface InFlight {
  rec: DemandRecord;
  i: number;
  /** Pieces (fragments) not yet delivered or lost. */
  pending: number;
}

export interface TrafficContext {
  engine: SimEngine;
  network: SimNetwork;
  agents: ReadonlyMap<string, SimAgent>;
  /** Gateways of each site, in id order. */
  siteGateways: ReadonlyMap<string, readonly string[]>;
}

/** Starts every demand's packet train; returns the records the run fills. */
export function startTraffic(ctx: TrafficContext, demands: readonly Demand[], durationMs: number, maxSamplePps: number, sourceAddress: (d: Demand) => string): DemandRecord[] {
  return demands.map((d) => {
    const rec = new DemandRecord(d, durationMs, maxSamplePps);
    const template = buildPacket(d, sourceAddress(d));
    const phase = ctx.engine.random.next() * rec.intervalMs;
    const sendNext = () => {
      const now = ctx.engine.now();
      if (now >= durationMs) return;
      sendPacket(ctx, rec, template);
      const next = phase + rec.count * rec.intervalMs;
      if (next < durationMs) ctx.engine.at(next, sendNext);
    };
    ctx.engine.at(phase, sendNext);
    return rec;
  });
}

function sendPacket(ctx: TrafficContext, rec: DemandRecord, template: Uint8Array): void {
  const now = ctx.engine.now();
  const i = rec.count++;
  rec.sendAt[i] = now;
  // The site's access side uses the first gateway that is up (as VRRP would).
  const gw = (ctx.siteGateways.get(rec.demand.from) ?? []).find((g) => ctx.network.isGatewayUp(g) && ctx.agents.get(g)?.running);
  const f: InFlight = { rec, i, pending: 1 };
  if (gw === undefined) {
    lose(ctx, f, 'source-gateway-down');
    return;
  }
  const agent = ctx.agents.get(gw)!;
  const dp = agent.plane(rec.demand.vrfId);
  const v = dp.fromAccess(template.slice(), now, rec.demand.vrfId);
  handle(ctx, f, gw, [gw], agent.appliedAt, v);
}

function handle(ctx: TrafficContext, f: InFlight, at: string, path: string[], tableAt: number, v: Verdict): void {
  switch (v.type) {
    case 'send':
      carry(ctx, f, at, v.peer.linkId, v.bytes, path, tableAt);
      return;
    case 'send-fragments':
      f.pending += v.datagrams.length - 1;
      for (const d of v.datagrams) carry(ctx, f, at, v.peer.linkId, d, path, tableAt);
      return;
    case 'deliver':
      f.pending--;
      if (f.rec.status[f.i] === STATUS_PENDING && f.pending === 0) {
        f.rec.status[f.i] = STATUS_DELIVERED;
        f.rec.doneAt[f.i] = ctx.engine.now();
        f.rec.pathId[f.i] = f.rec.internPath(path);
        f.rec.tableAt[f.i] = tableAt;
      }
      return;
    case 'reply':
      lose(ctx, f, 'mtu (ICMP error to the sender)');
      return;
    case 'drop':
      lose(ctx, f, `${v.reason} at ${at}`);
      return;
    default:
      lose(ctx, f, `unexpected ${v.type} at ${at}`);
  }
}

function carry(ctx: TrafficContext, f: InFlight, from: string, linkId: string, bytes: Uint8Array, path: string[], tableAt: number): void {
  ctx.network.send(
    from,
    linkId,
    'data',
    bytes.length,
    f.rec.weight,
    (to) => {
      const agent = ctx.agents.get(to);
      if (!agent || !agent.running) {
        lose(ctx, f, `gateway ${to} down`);
        return;
      }
      const v = agent.plane(f.rec.demand.vrfId).fromUnderlay(bytes, ctx.engine.now());
      handle(ctx, f, to, [...path, to], Math.max(tableAt, agent.appliedAt), v);
    },
    (reason) => lose(ctx, f, `${reason} on ${linkId}`),
  );
}

function lose(ctx: TrafficContext, f: InFlight, reason: string): void {
  if (f.rec.status[f.i] !== STATUS_PENDING) return;
  f.rec.status[f.i] = STATUS_LOST;
  f.rec.doneAt[f.i] = ctx.engine.now();
  f.rec.reason[f.i] = f.rec.internReason(reason);
}

/** A UDP packet of the demand's size to its address (IPv4 without DF: big ones are fragmented, as the data plane does). */
export function buildPacket(d: Demand, source: string): Uint8Array {
  const dst = parseIp(d.address).bytes;
  const src = parseIp(source).bytes;
  const len = Math.max(d.packetBytes, d.family === 4 ? 28 : 48);
  const out = new Uint8Array(len);
  const udp = d.family === 4 ? 20 : 40;
  if (d.family === 4) {
    out[0] = 0x45;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
    out[8] = 64;
    out[9] = 17;
    out.set(src, 12);
    out.set(dst, 16);
    writeIpv4HeaderChecksum(out, 0, 20);
  } else {
    out[0] = 0x60;
    const pl = len - 40;
    out[4] = pl >>> 8;
    out[5] = pl & 0xff;
    out[6] = 17;
    out[7] = 64;
    out.set(src, 8);
    out.set(dst, 24);
  }
  // UDP ports 40000 -> 5001; checksum 0 (allowed over IPv4; the simulator never checks it).
  out[udp] = 0x9c;
  out[udp + 1] = 0x40;
  out[udp + 2] = 0x13;
  out[udp + 3] = 0x89;
  out[udp + 4] = (len - udp) >>> 8;
  out[udp + 5] = (len - udp) & 0xff;
  return out;
}
