// A FlowTable validated and compiled into what the packet path reads: one
// LPM over (VRF, prefix) for all VRFs, peers indexed by sender id, gateway id
// and (GRE mode) source address. Compiling is all-or-nothing: the first
// problem throws a SwitchbackError naming the field, and nothing the live
// data plane uses has been touched.
//
// Peer state that must outlive a table version (up/down from health, the
// measured path MTU, counters, the replay window) lives in a PeerRuntime
// carried from one compiled table to the next by gateway id.

import { inspect } from 'node:util';
import { invalid } from '../../common/errors.js';
import { LpmTable } from '../../common/lpm.js';
import { Action, type Endpoint, type FlowTable, MAX_VRF_ID, type Peer } from '../../common/model.js';
import { formatIp, isValidIp, parseIp, parsePrefix } from '../../common/prefix.js';
import { KEY_LENGTH } from './aead.js';
import { PeerCounters, RuleCounters } from './counters.js';
import { fmix32 } from './flow-hash.js';
import { MIN_UNDERLAY_MTU, type UnderlayMode, tunnelOverhead } from './overhead.js';
import { ReplayWindow } from './replay-window.js';
import type { PeerView } from './verdict.js';

const MAX_U32 = 0xffffffff;

export class PeerRuntime {
  up = true;
  /** Underlay path MTU measured by health; 0 = not measured. */
  pathMtu = 0;
  readonly counters = new PeerCounters();
  constructor(
    readonly nodeId: number,
    readonly replay: ReplayWindow,
  ) {}
}

/** Key material, kept out of JSON and util.inspect so a logged verdict never prints a key. */
export class PeerKeys {
  constructor(
    readonly key: Buffer,
    readonly keyId8: number,
    readonly previousKey: Buffer | null,
    readonly previousKeyId8: number,
    /** A key being rolled out: accepted on receive, never used to send. */
    readonly nextKey: Buffer | null = null,
    readonly nextKeyId8 = -1,
  ) {}

  /** The key for a received key id byte: current, previous or next (during a rotation), or null. */
  forKeyId(id: number): Buffer | null {
    if (id === this.keyId8) return this.key;
    if (this.previousKey !== null && id === this.previousKeyId8) return this.previousKey;
    if (this.nextKey !== null && id === this.nextKeyId8) return this.nextKey;
    return null;
  }

  toJSON(): string {
    return '[keys]';
  }

  [inspect.custom](): string {
    return `PeerKeys(id ${this.keyId8}${this.previousKey ? `, previous ${this.previousKeyId8}` : ''}${this.nextKey ? `, next ${this.nextKeyId8}` : ''})`;
  }
}

export class CompiledPeer implements PeerView {
  constructor(
    readonly gatewayId: string,
    readonly nodeId: number,
    readonly linkId: string,
    readonly endpoints: readonly Endpoint[],
    /** From the table (or the default when the table says 0). */
    readonly tableMtu: number,
    readonly overhead: number,
    readonly keys: PeerKeys,
    readonly runtime: PeerRuntime,
    /** Per-peer constant for rendezvous hashing. */
    readonly salt: number,
  ) {}

  get up(): boolean {
    return this.runtime.up;
  }

  get underlayMtu(): number {
    const measured = this.runtime.pathMtu;
    return measured > 0 && measured < this.tableMtu ? measured : this.tableMtu;
  }

  get tunnelMtu(): number {
    return this.underlayMtu - this.overhead;
  }

  toJSON(): Record<string, unknown> {
    return { gatewayId: this.gatewayId, nodeId: this.nodeId, linkId: this.linkId, endpoints: this.endpoints, up: this.up };
  }
}

export interface CompiledRule {
  readonly vrf: number;
  readonly prefix: string;
  readonly action: Action;
  readonly primaries: readonly CompiledPeer[];
  readonly backup: CompiledPeer | null;
  readonly counters: RuleCounters;
}

export interface CompiledTable {
  readonly gatewayId: string;
  readonly nodeId: number;
  readonly version: number;
  readonly epoch: number;
  readonly lpm: LpmTable<CompiledRule>;
  readonly rules: readonly CompiledRule[];
  readonly peers: readonly CompiledPeer[];
  readonly byNode: ReadonlyMap<number, CompiledPeer>;
  readonly byGateway: ReadonlyMap<string, CompiledPeer>;
  /** Canonical underlay address -> peer (GRE mode identifies a sender by its source address). */
  readonly byHost: ReadonlyMap<string, CompiledPeer>;
  /** The runtimes of exactly this table's peers, for the data plane to adopt. */
  readonly runtimes: Map<string, PeerRuntime>;
  readonly ruleCounters: Map<string, RuleCounters>;
}

export interface CompileContext {
  mode: UnderlayMode;
  defaultUnderlayMtu: number;
  /** State of the peers of the table in use. */
  runtimes: ReadonlyMap<string, PeerRuntime>;
  ruleCounters: ReadonlyMap<string, RuleCounters>;
  newReplayWindow(): ReplayWindow;
}

const isU32 = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_U32;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

export const ruleKey = (vrf: number, prefix: string) => `${vrf}|${prefix}`;

export function compileTable(t: FlowTable, ctx: CompileContext): CompiledTable {
  if (typeof t !== 'object' || t === null) throw invalid('table', 'must be a FlowTable object');
  if (!isU32(t.nodeId) || t.nodeId === 0) throw invalid('nodeId', `must be an integer 1-${MAX_U32}, got ${String(t.nodeId)}`);
  if (!Number.isSafeInteger(t.version) || t.version < 0) throw invalid('version', `must be a non-negative integer, got ${String(t.version)}`);
  if (!Number.isSafeInteger(t.epoch) || t.epoch < 0) throw invalid('epoch', `must be a non-negative integer, got ${String(t.epoch)}`);
  if (!Array.isArray(t.peers)) throw invalid('peers', 'must be a list');
  if (!Array.isArray(t.rules)) throw invalid('rules', 'must be a list');

  const peers: CompiledPeer[] = [];
  const byNode = new Map<number, CompiledPeer>();
  const byGateway = new Map<string, CompiledPeer>();
  const byHost = new Map<string, CompiledPeer>();
  const runtimes = new Map<string, PeerRuntime>();
  t.peers.forEach((p, i) => {
    const peer = compilePeer(p, `peers[${i}]`, t.nodeId, ctx);
    const f = `peers[${i}]`;
    if (byGateway.has(peer.gatewayId)) throw invalid(`${f}.gatewayId`, `duplicate peer '${peer.gatewayId}'`);
    const sameNode = byNode.get(peer.nodeId);
    if (sameNode) throw invalid(`${f}.nodeId`, `node id ${peer.nodeId} is also peer '${sameNode.gatewayId}'s`);
    if (ctx.mode === 'gre') {
      for (const ep of peer.endpoints) {
        const host = canonicalHost(ep.host);
        const other = host === null ? undefined : byHost.get(host);
        if (other && other !== peer) {
          throw invalid(`${f}.endpoints`, `address ${ep.host} is also peer '${other.gatewayId}'s; GRE mode tells peers apart by address`);
        }
        if (host !== null) byHost.set(host, peer);
      }
    }
    peers.push(peer);
    byNode.set(peer.nodeId, peer);
    byGateway.set(peer.gatewayId, peer);
    runtimes.set(peer.gatewayId, peer.runtime);
  });

  const lpm = new LpmTable<CompiledRule>();
  const rules: CompiledRule[] = [];
  const ruleCounters = new Map<string, RuleCounters>();
  const firstIndex = new Map<string, number>();
  t.rules.forEach((r, i) => {
    const f = `rules[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(f, 'must be a FlowRule object');
    if (!Number.isInteger(r.vrf) || r.vrf < 0 || r.vrf > MAX_VRF_ID) {
      throw invalid(`${f}.vrf`, `must be an integer 0-${MAX_VRF_ID} (24 bits), got ${String(r.vrf)}`);
    }
    const cidr = parsePrefix(r.prefix, `${f}.prefix`);
    const key = ruleKey(r.vrf, cidr.text);
    const dup = firstIndex.get(key);
    if (dup !== undefined) throw invalid(`${f}.prefix`, `duplicate rule for ${cidr.text} in VRF ${r.vrf} (also rules[${dup}])`);
    firstIndex.set(key, i);
    if (r.action !== Action.DELIVER && r.action !== Action.FORWARD && r.action !== Action.DROP) {
      throw invalid(`${f}.action`, `must be DELIVER, FORWARD or DROP, got ${String(r.action)}`);
    }
    let primaries: CompiledPeer[] = [];
    let backup: CompiledPeer | null = null;
    if (r.action === Action.FORWARD) {
      const hops = r.primary ?? [];
      if (!Array.isArray(hops)) throw invalid(`${f}.primary`, 'must be a list');
      primaries = hops.map((h, j) => nextHopPeer(h, `${f}.primary[${j}]`, byGateway));
      const seen = new Set<CompiledPeer>();
      primaries.forEach((p, j) => {
        if (seen.has(p)) throw invalid(`${f}.primary[${j}].gatewayId`, `'${p.gatewayId}' is listed twice`);
        seen.add(p);
      });
      if (r.backup !== undefined && r.backup !== null) backup = nextHopPeer(r.backup, `${f}.backup`, byGateway);
      if (primaries.length === 0 && backup === null) throw invalid(`${f}.primary`, 'a forward rule needs at least one next hop');
    }
    const counters = ctx.ruleCounters.get(key) ?? new RuleCounters();
    const rule: CompiledRule = Object.freeze({ vrf: r.vrf, prefix: cidr.text, action: r.action, primaries, backup, counters });
    lpm.insert(r.vrf, cidr, rule);
    rules.push(rule);
    ruleCounters.set(key, counters);
  });

  return Object.freeze({
    gatewayId: typeof t.gatewayId === 'string' ? t.gatewayId : '',
    nodeId: t.nodeId,
    version: t.version,
    epoch: t.epoch,
    lpm,
    rules,
    peers,
    byNode,
    byGateway,
    byHost,
    runtimes,
    ruleCounters,
  });
}

function nextHopPeer(h: unknown, f: string, byGateway: ReadonlyMap<string, CompiledPeer>): CompiledPeer {
  const id = (h as { gatewayId?: unknown } | null)?.gatewayId;
  if (typeof id !== 'string' || id === '') throw invalid(`${f}.gatewayId`, 'must name a peer');
  const peer = byGateway.get(id);
  if (!peer) throw invalid(`${f}.gatewayId`, `'${id}' is not a peer in this table`);
  return peer;
}

function compilePeer(p: Peer, f: string, ownNodeId: number, ctx: CompileContext): CompiledPeer {
  if (typeof p !== 'object' || p === null) throw invalid(f, 'must be a Peer object');
  if (typeof p.gatewayId !== 'string' || p.gatewayId === '') throw invalid(`${f}.gatewayId`, 'must be a non-empty string');
  if (!isU32(p.nodeId) || p.nodeId === 0) throw invalid(`${f}.nodeId`, `must be an integer 1-${MAX_U32}, got ${String(p.nodeId)}`);
  if (p.nodeId === ownNodeId) throw invalid(`${f}.nodeId`, `${p.nodeId} is this gateway's own node id`);
  if (typeof p.linkId !== 'string') throw invalid(`${f}.linkId`, 'must be a string');
  const endpoints = p.endpoints ?? [];
  if (!Array.isArray(endpoints)) throw invalid(`${f}.endpoints`, 'must be a list');
  endpoints.forEach((ep, j) => {
    if (typeof ep?.host !== 'string' || ep.host === '') throw invalid(`${f}.endpoints[${j}].host`, 'must be a non-empty string');
    if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) {
      throw invalid(`${f}.endpoints[${j}].port`, `must be 1-65535, got ${String(ep.port)}`);
    }
  });
  const mtu = p.mtu ?? 0;
  if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < MIN_UNDERLAY_MTU || mtu > 65535))) {
    throw invalid(`${f}.mtu`, `must be 0 (the default) or ${MIN_UNDERLAY_MTU}-65535, got ${String(mtu)}`);
  }
  if (!isBytes(p.key) || p.key.length !== KEY_LENGTH) {
    throw invalid(`${f}.key`, `must be ${KEY_LENGTH} bytes, got ${isBytes(p.key) ? p.key.length : typeof p.key}`);
  }
  if (!isU32(p.keyId)) throw invalid(`${f}.keyId`, `must be an integer 0-${MAX_U32}`);
  const hasPrevious = isBytes(p.previousKey) && p.previousKey.length > 0;
  if (p.previousKey !== undefined && p.previousKey !== null && !isBytes(p.previousKey)) {
    throw invalid(`${f}.previousKey`, 'must be bytes');
  }
  if (hasPrevious) {
    if (p.previousKey.length !== KEY_LENGTH) throw invalid(`${f}.previousKey`, `must be empty or ${KEY_LENGTH} bytes, got ${p.previousKey.length}`);
    if (!isU32(p.previousKeyId)) throw invalid(`${f}.previousKeyId`, `must be an integer 0-${MAX_U32}`);
    if ((p.previousKeyId & 0xff) === (p.keyId & 0xff)) {
      throw invalid(`${f}.previousKeyId`, `must differ from keyId ${p.keyId} in its low 8 bits (the tunnel header carries 8 bits of key id)`);
    }
  }
  const hasNext = isBytes(p.nextKey) && p.nextKey.length > 0;
  if (p.nextKey !== undefined && p.nextKey !== null && !isBytes(p.nextKey)) {
    throw invalid(`${f}.nextKey`, 'must be bytes');
  }
  if (hasNext) {
    if (p.nextKey.length !== KEY_LENGTH) throw invalid(`${f}.nextKey`, `must be empty or ${KEY_LENGTH} bytes, got ${p.nextKey.length}`);
    if (!isU32(p.nextKeyId)) throw invalid(`${f}.nextKeyId`, `must be an integer 0-${MAX_U32}`);
    if ((p.nextKeyId & 0xff) === (p.keyId & 0xff) || (hasPrevious && (p.nextKeyId & 0xff) === (p.previousKeyId & 0xff))) {
      throw invalid(`${f}.nextKeyId`, `must differ from keyId and previousKeyId in its low 8 bits (the tunnel header carries 8 bits of key id)`);
    }
  }

  const outerFamily = endpoints.length > 0 ? hostFamily(endpoints[0].host) : 6;
  const overhead = tunnelOverhead(ctx.mode, outerFamily);
  const tableMtu = mtu === 0 ? ctx.defaultUnderlayMtu : mtu;
  let runtime = ctx.runtimes.get(p.gatewayId);
  if (!runtime || runtime.nodeId !== p.nodeId) {
    // A new peer, or a gateway re-provisioned with another node id: its counter space is new.
    const fresh = new PeerRuntime(p.nodeId, ctx.newReplayWindow());
    if (runtime) fresh.up = runtime.up;
    runtime = fresh;
  }
  const keys = new PeerKeys(
    Buffer.from(p.key), // copied: the table object may be reused or changed by its owner
    p.keyId & 0xff,
    hasPrevious ? Buffer.from(p.previousKey) : null,
    hasPrevious ? p.previousKeyId & 0xff : -1,
    hasNext ? Buffer.from(p.nextKey) : null,
    hasNext ? p.nextKeyId & 0xff : -1,
  );
  const frozenEndpoints = Object.freeze(endpoints.map((ep) => Object.freeze({ host: ep.host, port: ep.port })));
  return new CompiledPeer(p.gatewayId, p.nodeId, p.linkId, frozenEndpoints, tableMtu, overhead, keys, runtime, fmix32(p.nodeId));
}

/**
 * The outer IP family toward a host: an IPv4 literal is 4; an IPv6 literal
 * or a name (which may resolve to IPv6) counts as 6, whose larger header
 * keeps the tunnel MTU safe either way.
 */
function hostFamily(host: string): 4 | 6 {
  return isValidIp(host) && !host.includes(':') ? 4 : 6;
}

/** The canonical text of an IP literal, or null for a name. */
export function canonicalHost(host: string): string | null {
  if (!isValidIp(host)) return null;
  const a = parseIp(host);
  return formatIp(a.family, a.bytes);
}
