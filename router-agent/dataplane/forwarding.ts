// The forwarding core of the router agent: packets in, verdicts out, no I/O
// and no clock (time comes in as `now`, milliseconds, used only to rate
// limit ICMP errors).
//
// Table swaps: setTable compiles the new FlowTable completely aside and then
// replaces one reference; every entry point reads that reference once, so a
// packet is decided wholly by the old table or wholly by the new one, and a
// table that does not compile leaves the old one in place.
//
// Buffers: fromAccess and fromGre may change the packet in place (MSS clamp,
// TTL decrement), and a 'deliver' verdict's bytes may be a view of the input.

import { SwitchbackError, invalid } from '../../common/errors.js';
import { Action, type FlowTable, MAX_VRF_ID } from '../../common/model.js';
import { type AeadBackend, TAG_LENGTH, allocDatagram, nodeCryptoAead } from './aead.js';
import { type CompiledPeer, type CompiledRule, type CompiledTable, canonicalHost, compileTable, type PeerRuntime } from './compiled-table.js';
import {
  type CountersSnapshot,
  DROP_INDEX,
  DROP_REASONS,
  DataPlaneCounters,
  type DropReason,
  type RuleCounters,
} from './counters.js';
import { type FastPathProgram, type FastPathSink, type FastPathTotals, buildFastPathProgram, emptyFastPathTotals, foldFastPathCounters, peerState } from './fast-path-program.js';
import { flowHash, fmix32 } from './flow-hash.js';
import { fragmentIpv4 } from './fragment.js';
import { GRE_HEADER_LENGTH, GRE_PROTO_IPV4, GRE_PROTO_IPV6, GreHeader, decodeGre, writeGreHeader } from './gre.js';
import { buildFragmentationNeeded, buildPacketTooBig, mayReplyWithIcmpError } from './icmp.js';
import { clampMss, mssForMtu } from './mss-clamp.js';
import { DEFAULT_UNDERLAY_MTU, MIN_UNDERLAY_MTU, type UnderlayMode, tunnelOverhead } from './overhead.js';
import { IPPROTO_TCP, IpPacket, decrementTtl, parseIpPacket, readInt32 } from './packet.js';
import { ReplayWindow } from './replay-window.js';
import {
  DEFAULT_HOP_LIMIT,
  PacketType,
  checkTunnelHeader,
  headerCounterHi,
  headerCounterLo,
  headerHopLimit,
  headerKeyId,
  headerSender,
  headerType,
  headerVrf,
  writeTunnelHeader,
} from './tunnel-header.js';
import type { DropVerdict, PeerView, Verdict } from './verdict.js';

export interface DataPlaneOptions {
  /** The VRF of packets read from the (first) TUN; GRE packets without a key are in it too. */
  accessVrf: number;
  /**
   * Further VRFs with an access port of their own (a gateway serving several
   * VRFs: one TUN each). Packets are delivered locally only in accessVrf and
   * these; every port shares this one data plane, so one counter seals for
   * all of them and no AEAD nonce is ever used twice under a link key.
   */
  extraAccessVrfs?: readonly number[];
  /**
   * The first 64-bit counter this node seals with; it must be above every
   * counter this node ever sealed with under the same keys, or nonces repeat
   * and peers refuse the packets as replays. The agent seeds it with
   * wall-clock microseconds << 12: a restart always starts higher than the
   * last run reached unless that run sent more than 4096 packets per
   * microsecond, and the peers' replay windows accept a jump forward.
   */
  initialCounter: bigint;
  /** Encapsulation for sent packets: AEAD-sealed UDP (default) or plain GRE (trusted underlays only). */
  underlay?: UnderlayMode;
  /** Underlay MTU of a peer whose table entry says 0 (default 1500). */
  defaultUnderlayMtu?: number;
  /** Hop limit put on data packets entering the tunnels here (default 16). */
  hopLimit?: number;
  /** Keys the ECMP flow hash, so the same flows spread differently on different gateways. */
  hashSeed?: number;
  /** ICMP errors generated per second, at most (default 200), with bursts of up to icmpBurst (default 50). */
  icmpPerSecond?: number;
  icmpBurst?: number;
  /**
   * Counters below this are refused as replays from every peer (default 0).
   * A freshly started agent has empty replay windows; an agent that knows the
   * peers' counters are wall-clock based can set this to (its start time minus
   * a clock-skew margin, in microseconds) << 12 to refuse packets recorded
   * before it started.
   */
  replayFloor?: bigint;
  /** Seals and opens UDP tunnel datagrams (default node:crypto); the bytes on the wire are the same whichever. */
  aead?: AeadBackend;
}

const ORIGIN_ACCESS = 0;
const ORIGIN_TUNNEL = 1;
const ORIGIN_GRE = 2;
/** An ICMP error this node generated about a transit packet. */
const ORIGIN_LOCAL = 3;

const D_NO_ROUTE = DROP_INDEX.no_route;
const D_NO_NEXT_HOP = DROP_INDEX.no_usable_next_hop;
const D_AUTH = DROP_INDEX.auth;
const D_REPLAY = DROP_INDEX.replay;
const D_HOP = DROP_INDEX.hop_limit;
const D_MTU = DROP_INDEX.mtu;
const D_MALFORMED = DROP_INDEX.malformed;
const D_UNKNOWN_PEER = DROP_INDEX.unknown_peer;
const D_POLICY = DROP_INDEX.policy;

const DROP_VERDICTS: readonly DropVerdict[] = DROP_REASONS.map((reason) => Object.freeze({ type: 'drop', reason }) as DropVerdict);
const U64_LIMIT = 1n << 64n;
const MAX_DATAGRAM_PAYLOAD = 65535 - 40 - 8;

export class DataPlane {
  readonly accessVrf: number;
  /** accessVrf first, then the extra access VRFs, without repeats. */
  readonly accessVrfs: readonly number[];
  readonly mode: UnderlayMode;
  readonly hopLimit: number;
  readonly defaultUnderlayMtu: number;
  readonly counters = new DataPlaneCounters();

  private readonly extraVrfs: ReadonlySet<number>;
  private current: CompiledTable | null = null;
  private runtimes: ReadonlyMap<string, PeerRuntime> = new Map();
  private ruleCounters: ReadonlyMap<string, RuleCounters> = new Map();
  /**
   * The 64-bit send counter (the AEAD nonce) as [hi, lo, exhausted]: in a
   * typed array so the native fast path seals from the same counter and no
   * nonce is ever used twice.
   */
  readonly nonce = new Uint32Array(3);
  /** What the native fast path did, once folded in (snapshot() folds). */
  readonly fastPathTotals: FastPathTotals = emptyFastPathTotals();
  private fast: { sink: FastPathSink; socketFamily: 4 | 6; program: FastPathProgram | null } | null = null;
  private readonly floorHi: number;
  private readonly floorLo: number;
  private readonly hashSeed: number;
  private readonly icmpPerMs: number;
  private readonly icmpBurst: number;
  private icmpTokens: number;
  private icmpAt = Number.NaN;
  /** Parse scratch: one for the packet in hand, one for an ICMP error generated about it. */
  private readonly pkt = new IpPacket();
  private readonly icmpPkt = new IpPacket();
  private readonly gre = new GreHeader();
  private readonly aead: AeadBackend;

  constructor(opts: DataPlaneOptions) {
    if (typeof opts !== 'object' || opts === null) throw invalid('options', 'must be an object');
    if (!Number.isInteger(opts.accessVrf) || opts.accessVrf < 0 || opts.accessVrf > MAX_VRF_ID) {
      throw invalid('accessVrf', `must be an integer 0-${MAX_VRF_ID}, got ${String(opts.accessVrf)}`);
    }
    this.accessVrf = opts.accessVrf;
    const extra = opts.extraAccessVrfs ?? [];
    if (!Array.isArray(extra)) throw invalid('extraAccessVrfs', 'must be an array of VRF ids');
    extra.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v > MAX_VRF_ID) throw invalid(`extraAccessVrfs[${i}]`, `must be an integer 0-${MAX_VRF_ID}, got ${String(v)}`);
    });
    this.extraVrfs = new Set(extra.filter((v) => v !== opts.accessVrf));
    this.accessVrfs = Object.freeze([opts.accessVrf, ...this.extraVrfs]);
    [this.nonce[0], this.nonce[1]] = split64(opts.initialCounter, 'initialCounter');
    [this.floorHi, this.floorLo] = split64(opts.replayFloor ?? 0n, 'replayFloor');
    const mode = opts.underlay ?? 'udp';
    if (mode !== 'udp' && mode !== 'gre') throw invalid('underlay', `must be 'udp' or 'gre', got ${String(mode)}`);
    this.mode = mode;
    this.defaultUnderlayMtu = intOption(opts.defaultUnderlayMtu, DEFAULT_UNDERLAY_MTU, MIN_UNDERLAY_MTU, 65535, 'defaultUnderlayMtu');
    this.hopLimit = intOption(opts.hopLimit, DEFAULT_HOP_LIMIT, 1, 255, 'hopLimit');
    this.hashSeed = intOption(opts.hashSeed, 0, 0, 0xffffffff, 'hashSeed');
    this.icmpPerMs = intOption(opts.icmpPerSecond, 200, 1, 1_000_000, 'icmpPerSecond') / 1000;
    this.icmpBurst = intOption(opts.icmpBurst, 50, 1, 1_000_000, 'icmpBurst');
    this.icmpTokens = this.icmpBurst;
    const aead = opts.aead ?? nodeCryptoAead;
    if (typeof aead !== 'object' || aead === null || typeof aead.seal !== 'function' || typeof aead.open !== 'function') {
      throw invalid('aead', 'must have seal() and open() functions');
    }
    this.aead = aead;
  }

  /**
   * Validates and compiles `t`, then makes it the table in use. A table that
   * does not validate throws a SwitchbackError naming the field, and the
   * table in use stays. (Epoch and version ordering is the control client's
   * business; any valid table is accepted here.)
   */
  setTable(t: FlowTable): void {
    const floorHi = this.floorHi;
    const floorLo = this.floorLo;
    const compiled = compileTable(t, {
      mode: this.mode,
      defaultUnderlayMtu: this.defaultUnderlayMtu,
      runtimes: this.runtimes,
      ruleCounters: this.ruleCounters,
      newReplayWindow: () => new ReplayWindow(floorHi, floorLo),
    });
    this.runtimes = compiled.runtimes;
    this.ruleCounters = compiled.ruleCounters;
    this.current = compiled; // the one reference the packet path reads
    this.reprogram();
  }

  /**
   * Hands the common case to a native fast path (UDP mode only): from now on
   * every table and peer change reprograms it, and it shares this data
   * plane's send counter, replay windows and counters.
   */
  attachFastPath(sink: FastPathSink, socketFamily: 4 | 6): void {
    if (this.mode !== 'udp') throw invalid('fastPath', 'the fast path seals UDP tunnels; GRE mode has none');
    if (socketFamily !== 4 && socketFamily !== 6) throw invalid('socketFamily', `must be 4 or 6, got ${String(socketFamily)}`);
    this.detachFastPath();
    this.fast = { sink, socketFamily, program: null };
    this.reprogram();
  }

  /** Takes everything back to JS: the fast path gets an empty program. */
  detachFastPath(): void {
    const f = this.fast;
    if (f === null) return;
    this.foldFastPath();
    this.fast = null;
    f.sink.install(null);
  }

  get tableVersion(): number | null {
    return this.current?.version ?? null;
  }

  get tableEpoch(): number | null {
    return this.current?.epoch ?? null;
  }

  /** The MTU for the TUN: the default underlay MTU less this mode's overhead over IPv4. */
  get accessMtu(): number {
    return this.defaultUnderlayMtu - tunnelOverhead(this.mode, 4);
  }

  get peers(): readonly PeerView[] {
    return this.current?.peers ?? [];
  }

  peer(gatewayId: string): PeerView | undefined {
    return this.current?.byGateway.get(gatewayId);
  }

  /**
   * Health's verdict on a peer's tunnel. Primaries that are down are
   * skipped, then the backup is used. False when the peer is not in the table.
   */
  setPeerState(gatewayId: string, up: boolean): boolean {
    const rt = this.runtimes.get(gatewayId);
    if (rt === undefined) return false;
    rt.up = up === true;
    this.updateFastPathPeer(gatewayId);
    return true;
  }

  /**
   * The underlay path MTU health measured to a peer (IP packet bytes), or 0
   * to forget it. It only ever lowers the table's MTU. False when the peer is
   * not in the table.
   */
  setPeerPathMtu(gatewayId: string, mtu: number): boolean {
    if (!Number.isInteger(mtu) || (mtu !== 0 && (mtu < MIN_UNDERLAY_MTU || mtu > 65535))) {
      throw invalid('mtu', `must be 0 or ${MIN_UNDERLAY_MTU}-65535, got ${String(mtu)}`);
    }
    const rt = this.runtimes.get(gatewayId);
    if (rt === undefined) return false;
    rt.pathMtu = mtu;
    this.updateFastPathPeer(gatewayId);
    return true;
  }

  /**
   * A packet read from an access port: the TUN of `vrf` (default the access
   * VRF). A VRF with no access port here is dropped as 'no_route'.
   */
  fromAccess(pkt: Uint8Array, now: number, vrf: number = this.accessVrf): Verdict {
    if (!(pkt instanceof Uint8Array)) return this.drop(D_MALFORMED);
    if (vrf !== this.accessVrf && !this.extraVrfs.has(vrf)) return this.drop(D_NO_ROUTE);
    const t = this.current;
    if (t === null) return this.drop(D_NO_ROUTE);
    const p = this.pkt;
    if (!parseIpPacket(pkt, p)) return this.drop(D_MALFORMED);
    const bytes = p.totalLength === pkt.length ? pkt : pkt.subarray(0, p.totalLength);
    return this.route(t, vrf, bytes, p, ORIGIN_ACCESS, 0, now);
  }

  /** Whether `vrf` has an access port here (packets in it may be delivered locally). */
  servesVrf(vrf: number): boolean {
    return vrf === this.accessVrf || this.extraVrfs.has(vrf);
  }

  /**
   * A UDP payload received on the underlay. Nothing about it is trusted
   * until it authenticates under the key of the peer its header names; only
   * then is the replay window consulted and moved.
   */
  fromUnderlay(datagram: Uint8Array, now: number): Verdict {
    if (!(datagram instanceof Uint8Array) || checkTunnelHeader(datagram, TAG_LENGTH) !== null) return this.drop(D_MALFORMED);
    const t = this.current;
    if (t === null) return this.drop(D_UNKNOWN_PEER);
    const peer = t.byNode.get(headerSender(datagram));
    if (peer === undefined) return this.drop(D_UNKNOWN_PEER);
    const key = peer.keys.forKeyId(headerKeyId(datagram));
    if (key === null) return this.drop(D_AUTH);
    const plain = this.aead.open(key, datagram);
    if (plain === null) return this.drop(D_AUTH);
    if (!peer.runtime.replay.accept(headerCounterHi(datagram), headerCounterLo(datagram))) return this.drop(D_REPLAY);
    const pc = peer.runtime.counters;
    pc.rxPackets++;
    pc.rxBytes += datagram.length;

    const type = headerType(datagram);
    if (type !== PacketType.DATA) {
      this.counters.probesReceived++;
      return { type: type === PacketType.PROBE ? 'probe' : 'probe-reply', peer, payload: plain, datagramLength: datagram.length };
    }
    const hop = headerHopLimit(datagram);
    if (hop === 0) return this.drop(D_HOP);
    const p = this.pkt;
    if (!parseIpPacket(plain, p)) return this.drop(D_MALFORMED);
    const bytes = p.totalLength === plain.length ? plain : plain.subarray(0, p.totalLength);
    return this.route(t, headerVrf(datagram), bytes, p, ORIGIN_TUNNEL, hop, now);
  }

  /**
   * A GRE packet (IP protocol 47 payload, outer IP header removed) from
   * `sourceHost`. Only in GRE mode are peers known by address; otherwise
   * every GRE packet is from an unknown peer. No key = the access VRF.
   */
  fromGre(packet: Uint8Array, sourceHost: string, now: number): Verdict {
    if (!(packet instanceof Uint8Array)) return this.drop(D_MALFORMED);
    const t = this.current;
    if (t === null) return this.drop(D_UNKNOWN_PEER);
    let peer = t.byHost.get(sourceHost);
    if (peer === undefined && typeof sourceHost === 'string') {
      const canonical = canonicalHost(sourceHost);
      if (canonical !== null) peer = t.byHost.get(canonical);
    }
    if (peer === undefined) return this.drop(D_UNKNOWN_PEER);
    const g = this.gre;
    if (!decodeGre(packet, g)) return this.drop(D_MALFORMED);
    const inner = packet.subarray(g.payloadOffset);
    const p = this.pkt;
    if (!parseIpPacket(inner, p)) return this.drop(D_MALFORMED);
    if ((p.family === 4) !== (g.protocol === GRE_PROTO_IPV4)) return this.drop(D_MALFORMED);
    const pc = peer.runtime.counters;
    pc.rxPackets++;
    pc.rxBytes += packet.length;
    const vrf = g.hasKey ? g.key : this.accessVrf;
    if (vrf > MAX_VRF_ID) return this.drop(D_NO_ROUTE);
    const bytes = p.totalLength === inner.length ? inner : inner.subarray(0, p.totalLength);
    return this.route(t, vrf, bytes, p, ORIGIN_GRE, -1, now);
  }

  /**
   * Seals a health probe (or the reply to one) for a peer. The payload is
   * opaque here and may be padded to any size (path MTU probing); MTU is
   * not checked. Drop 'unknown_peer' when the peer is not in the table.
   */
  sealProbe(gatewayId: string, payload: Uint8Array, kind: 'probe' | 'probe-reply', now: number): Verdict {
    void now; // part of the entry-point shape; probes need no time here
    if (!(payload instanceof Uint8Array)) throw invalid('payload', 'must be bytes');
    if (payload.length > MAX_DATAGRAM_PAYLOAD - TAG_LENGTH - 20) throw invalid('payload', `is too large (${payload.length} bytes)`);
    if (kind !== 'probe' && kind !== 'probe-reply') throw invalid('kind', `must be 'probe' or 'probe-reply', got ${String(kind)}`);
    const t = this.current;
    const peer = t?.byGateway.get(gatewayId);
    if (t === null || peer === undefined) return this.drop(D_UNKNOWN_PEER);
    const type = kind === 'probe' ? PacketType.PROBE : PacketType.PROBE_REPLY;
    this.counters.probesSent++;
    return { type: 'send', peer, bytes: this.seal(t, peer, type, 1, 0, payload) };
  }

  snapshot(): CountersSnapshot {
    this.foldFastPath();
    const c = this.counters;
    const drops = {} as Record<DropReason, number>;
    DROP_REASONS.forEach((r, i) => (drops[r] = c.drops[i]));
    const t = this.current;
    return {
      tableVersion: t?.version ?? null,
      drops,
      deliveredPackets: c.deliveredPackets,
      deliveredBytes: c.deliveredBytes,
      transitPackets: c.transitPackets,
      icmpErrors: c.icmpErrors,
      fragmented: c.fragmented,
      mssClamped: c.mssClamped,
      probesReceived: c.probesReceived,
      probesSent: c.probesSent,
      rules: (t?.rules ?? []).map((r) => ({
        vrf: r.vrf,
        prefix: r.prefix,
        action: r.action === Action.DELIVER ? 'deliver' : r.action === Action.FORWARD ? 'forward' : 'drop',
        packets: r.counters.packets,
        bytes: r.counters.bytes,
      })),
      peers: (t?.peers ?? []).map((p) => ({
        gatewayId: p.gatewayId,
        nodeId: p.nodeId,
        linkId: p.linkId,
        up: p.up,
        tunnelMtu: p.tunnelMtu,
        txPackets: p.runtime.counters.txPackets,
        txBytes: p.runtime.counters.txBytes,
        rxPackets: p.runtime.counters.rxPackets,
        rxBytes: p.runtime.counters.rxBytes,
      })),
      ...(this.fast !== null ? { fastPath: { ...this.fastPathTotals } } : {}),
    };
  }

  // -------------------------------------------------------------------------

  /** Folds the fast path's counters in, then gives it a program for the table and peer states now. */
  private reprogram(): void {
    const f = this.fast;
    if (f === null) return;
    this.foldFastPath();
    const t = this.current;
    const program =
      t === null
        ? null
        : buildFastPathProgram(t, {
            accessVrfs: this.accessVrfs,
            hopLimit: this.hopLimit,
            hashSeed: this.hashSeed,
            floorHi: this.floorHi,
            floorLo: this.floorLo,
            socketFamily: f.socketFamily,
          });
    f.sink.install(program);
    f.program = program;
  }

  /** A peer's up flag or MTU changed: the fast path reads them from the program's shared array. */
  private updateFastPathPeer(gatewayId: string): void {
    const p = this.fast?.program;
    const i = p?.peerIndex.get(gatewayId);
    if (p && i !== undefined) p.peerStates[i] = peerState(p.peers[i]);
  }

  private foldFastPath(): void {
    const p = this.fast?.program;
    if (p) foldFastPathCounters(p, this.counters, this.fastPathTotals);
  }

  private route(t: CompiledTable, vrf: number, pkt: Uint8Array, p: IpPacket, origin: number, hopIn: number, now: number): Verdict {
    const rule: CompiledRule | undefined =
      p.family === 4 ? t.lpm.lookup4(vrf, readInt32(pkt, p.dstOffset)) : t.lpm.lookup6(vrf, pkt, p.dstOffset);
    if (rule === undefined) return this.drop(D_NO_ROUTE);
    const rc = rule.counters;
    rc.packets++;
    rc.bytes += pkt.length;
    if (rule.action === Action.DELIVER) {
      // A packet in a VRF without an access port here must not reach one: that would join two VRFs.
      if (vrf !== this.accessVrf && !this.extraVrfs.has(vrf)) return this.drop(D_NO_ROUTE);
      this.counters.deliveredPackets++;
      this.counters.deliveredBytes += pkt.length;
      return { type: 'deliver', vrf, bytes: pkt };
    }
    if (rule.action !== Action.FORWARD) return this.drop(D_POLICY);

    let hopOut = this.hopLimit;
    if (origin === ORIGIN_TUNNEL) {
      if (hopIn <= 1) return this.drop(D_HOP);
      hopOut = hopIn - 1;
    }
    // GRE has no hop limit of its own: a GRE hop is an IP hop.
    const ipHop = origin === ORIGIN_GRE || (origin === ORIGIN_TUNNEL && this.mode === 'gre');
    if (ipHop && p.ttl <= 1) return this.drop(D_HOP);

    const peer = this.choose(rule, pkt, p);
    if (peer === null) return this.drop(D_NO_NEXT_HOP);
    if (ipHop) decrementTtl(pkt, p);

    const mtu = peer.tunnelMtu;
    if (pkt.length > mtu) return this.oversize(t, vrf, pkt, p, peer, origin, hopOut, mtu, now);
    if (p.protocol === IPPROTO_TCP && clampMss(pkt, p, mssForMtu(p.family as 4 | 6, mtu))) this.counters.mssClamped++;
    if (origin === ORIGIN_TUNNEL || origin === ORIGIN_GRE) this.counters.transitPackets++;
    return { type: 'send', peer, bytes: this.encapsulate(t, peer, vrf, hopOut, pkt, p.family) };
  }

  /** Rendezvous (highest random weight) hashing over the live primaries: when one goes down, only its flows move. */
  private choose(rule: CompiledRule, pkt: Uint8Array, p: IpPacket): CompiledPeer | null {
    const prim = rule.primaries;
    if (prim.length === 1) {
      if (prim[0].runtime.up) return prim[0];
    } else if (prim.length > 1) {
      const h = flowHash(pkt, p, this.hashSeed);
      let best: CompiledPeer | null = null;
      let bestScore = -1;
      for (let i = 0; i < prim.length; i++) {
        const c = prim[i];
        if (!c.runtime.up) continue;
        const score = fmix32(h ^ c.salt);
        if (score > bestScore) {
          bestScore = score;
          best = c;
        }
      }
      if (best !== null) return best;
    }
    const b = rule.backup;
    return b !== null && b.runtime.up ? b : null;
  }

  /**
   * A packet larger than the tunnel: IPv4 without DF is fragmented; DF or
   * IPv6 is dropped (counted 'mtu') and its sender told the MTU: on the
   * access side by a 'reply' to the TUN, in transit by an ICMP error routed
   * back through the tunnels like any packet.
   */
  private oversize(
    t: CompiledTable,
    vrf: number,
    pkt: Uint8Array,
    p: IpPacket,
    peer: CompiledPeer,
    origin: number,
    hopOut: number,
    mtu: number,
    now: number,
  ): Verdict {
    if (p.family === 4 && !p.dontFragment) {
      const fragments = fragmentIpv4(pkt, p, mtu);
      if (fragments === null) return this.drop(D_MTU);
      this.counters.fragmented++;
      if (origin === ORIGIN_TUNNEL || origin === ORIGIN_GRE) this.counters.transitPackets++;
      const datagrams = fragments.map((f) => this.encapsulate(t, peer, vrf, hopOut, f, 4));
      return { type: 'send-fragments', peer, datagrams };
    }
    this.counters.drops[D_MTU]++;
    if (origin === ORIGIN_LOCAL || !mayReplyWithIcmpError(pkt, p) || !this.takeIcmpToken(now)) return DROP_VERDICTS[D_MTU];
    const icmp = p.family === 4 ? buildFragmentationNeeded(pkt, p, mtu) : buildPacketTooBig(pkt, p, mtu);
    this.counters.icmpErrors++;
    if (origin === ORIGIN_ACCESS) return { type: 'reply', vrf, bytes: icmp };
    const ip = this.icmpPkt;
    parseIpPacket(icmp, ip);
    return this.route(t, vrf, icmp, ip, ORIGIN_LOCAL, 0, now);
  }

  private encapsulate(t: CompiledTable, peer: CompiledPeer, vrf: number, hop: number, pkt: Uint8Array, family: number): Uint8Array {
    if (this.mode === 'gre') {
      const out = new Uint8Array(GRE_HEADER_LENGTH + pkt.length);
      writeGreHeader(out, 0, family === 4 ? GRE_PROTO_IPV4 : GRE_PROTO_IPV6, vrf);
      out.set(pkt, GRE_HEADER_LENGTH);
      const pc = peer.runtime.counters;
      pc.txPackets++;
      pc.txBytes += out.length;
      return out;
    }
    return this.seal(t, peer, PacketType.DATA, hop, vrf, pkt);
  }

  private seal(t: CompiledTable, peer: CompiledPeer, type: PacketType, hop: number, vrf: number, payload: Uint8Array): Uint8Array {
    const n = this.nonce;
    if (n[2] !== 0) {
      throw new SwitchbackError('RESOURCE_EXHAUSTED', 'the 64-bit tunnel counter is used up: a nonce would repeat');
    }
    const out = allocDatagram(payload.length);
    writeTunnelHeader(out, type, hop, peer.keys.keyId8, vrf, t.nodeId, n[0], n[1]);
    n[1] = (n[1] + 1) >>> 0;
    if (n[1] === 0) {
      n[0] = (n[0] + 1) >>> 0;
      if (n[0] === 0) n[2] = 1;
    }
    this.aead.seal(peer.keys.key, out, payload);
    const pc = peer.runtime.counters;
    pc.txPackets++;
    pc.txBytes += out.length;
    return out;
  }

  /** Token bucket: ICMP errors are rate limited (RFC 1812 4.3.2.8, RFC 4443 2.4(f)). */
  private takeIcmpToken(now: number): boolean {
    if (Number.isFinite(now)) {
      if (Number.isNaN(this.icmpAt) || now < this.icmpAt) this.icmpAt = now;
      else if (now > this.icmpAt) {
        this.icmpTokens = Math.min(this.icmpBurst, this.icmpTokens + (now - this.icmpAt) * this.icmpPerMs);
        this.icmpAt = now;
      }
    }
    if (this.icmpTokens < 1) return false;
    this.icmpTokens -= 1;
    return true;
  }

  private drop(reason: number): DropVerdict {
    this.counters.drops[reason]++;
    return DROP_VERDICTS[reason];
  }
}

function split64(v: bigint | undefined, field: string): [number, number] {
  if (typeof v !== 'bigint' || v < 0n || v >= U64_LIMIT) throw invalid(field, 'must be a bigint 0 to 2^64-1');
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

function intOption(v: number | undefined, dflt: number, min: number, max: number, field: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw invalid(field, `must be an integer ${min}-${max}, got ${String(v)}`);
  return v;
}
