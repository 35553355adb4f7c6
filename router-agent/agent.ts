// The agent process: wires the pure data plane to its ports (TUN, UDP or
// GRE underlay), to the health monitor and to the control session. This is
// the only place in router-agent/ where the core meets I/O; every decision
// is the data plane's, every packet move is a port's.
import type { Clock } from '../common/clock.js';
import { invalid, SwitchbackError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { Action, type FlowTable } from '../common/model.js';
import { type Cidr, parsePrefix, prefixContains } from '../common/prefix.js';
import type { AeadBackend } from './dataplane/aead.js';
import { DataPlane, type PeerView, type Verdict } from './dataplane/index.js';
import { NativeAead, loadNativeAead } from './io/native-aead.js';
import type { AccessPort } from './io/access-port.js';
import { FastPath, fastPathUnavailable } from './io/fast-path.js';
import { NativeUdpUnderlay } from './io/native-udp-underlay.js';
import { TunPort } from './io/tun-port.js';
import type { Endpoint, Underlay } from './io/underlay.js';

const log = createLogger('agent');

/** What the agent does with probes; the health monitor implements it. */
export interface ProbeSink {
  onProbe(peer: PeerView, payload: Uint8Array, now: number): void;
  onProbeReply(peer: PeerView, payload: Uint8Array, datagramLength: number, now: number): void;
  setPeers(peers: readonly PeerView[]): void;
}

export interface AgentOptions {
  gatewayId: string;
  clock: Clock;
  underlay: Underlay;
  /** The access side; absent in tests that drive the data plane without a device. */
  tun?: AccessPort;
  /** The VRF of `tun`; default: the VRF of the table's deliver rules (the first one not in vrfTuns). */
  accessVrf?: number;
  /**
   * Access ports of further VRFs (a gateway whose site has prefixes in
   * several VRFs): VRF id -> its port. One data plane serves them all.
   */
  vrfTuns?: ReadonlyMap<number, AccessPort>;
  hopLimit?: number;
  /** Seals and opens tunnel datagrams; default the native AEAD when its addon is built, else node:crypto. */
  aead?: AeadBackend;
  /**
   * Hand the common case (seal to one peer, open and deliver) to the native
   * fast path, in C inside the ports' read callbacks. Taken only where it
   * can be: native UDP socket, TUN devices, native AEAD; otherwise (and by
   * default) JS sees every packet.
   */
  fastPath?: boolean;
}

export type AgentEvent =
  | { type: 'table-applied'; version: number; epoch: number }
  | { type: 'table-refused'; version: number; error: SwitchbackError };

export class Agent {
  readonly gatewayId: string;
  private dp: DataPlane | undefined;
  private readonly clock: Clock;
  private readonly underlay: Underlay;
  private readonly tun?: AccessPort;
  private readonly vrfTuns: ReadonlyMap<number, AccessPort>;
  private readonly opts: AgentOptions;
  private fastPath: FastPath | undefined;
  private probes: ProbeSink | undefined;
  private readonly listeners = new Set<(e: AgentEvent) => void>();
  /** Routes are installed one change at a time, newest wins. */
  private routesPending: Map<AccessPort, string[]> | undefined;
  private routesBusy = false;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.gatewayId = opts.gatewayId;
    this.clock = opts.clock;
    this.underlay = opts.underlay;
    this.tun = opts.tun;
    this.vrfTuns = opts.vrfTuns ?? new Map();
    if (opts.accessVrf !== undefined && this.vrfTuns.has(opts.accessVrf)) {
      throw invalid('vrfTuns', `VRF ${opts.accessVrf} is the access VRF of the main TUN; it cannot have a second port`);
    }
    this.underlay.onDatagram((bytes, from) => this.fromUnderlay(bytes, from));
    this.tun?.onPacket((pkt) => this.fromAccess(pkt, undefined));
    for (const [vrf, port] of this.vrfTuns) port.onPacket((pkt) => this.fromAccess(pkt, vrf));
  }

  get dataPlane(): DataPlane | undefined {
    return this.dp;
  }

  on(l: (e: AgentEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Hands probes to the health monitor and sends what it asks for. */
  attachHealth(sink: ProbeSink): void {
    this.probes = sink;
    if (this.dp) sink.setPeers(this.dp.peers);
  }

  /**
   * Applies a table version: the whole of it or nothing. A refused table
   * leaves the previous one forwarding (fail-static) and is reported.
   */
  applyTable(t: FlowTable): boolean {
    try {
      const dp = this.dp ?? this.createDataPlane(t);
      dp.setTable(t);
      this.dp = dp;
    } catch (err) {
      const e = err instanceof SwitchbackError ? err : new SwitchbackError('INVALID_ARGUMENT', String(err));
      log.warn('table refused; keeping the previous one', { version: t.version, error: e.message });
      this.emit({ type: 'table-refused', version: t.version, error: e });
      return false;
    }
    this.probes?.setPeers(this.dp.peers);
    this.installRoutes(this.routesByPort(t, this.dp));
    this.emit({ type: 'table-applied', version: t.version, epoch: t.epoch });
    log.info('table applied', { version: t.version, rules: t.rules.length, peers: t.peers.length });
    return true;
  }

  /** Local fast failover: health says a peer's tunnel is down or back. */
  setPeerState(gatewayId: string, up: boolean): void {
    this.dp?.setPeerState(gatewayId, up);
  }

  /** Seals and sends a probe (or a probe reply) to a peer. */
  sendProbe(gatewayId: string, payload: Uint8Array, kind: 'probe' | 'probe-reply' = 'probe'): void {
    if (!this.dp) return;
    this.act(this.dp.sealProbe(gatewayId, payload, kind, this.clock.now()));
  }

  /** Counters for metrics and reports. */
  snapshot() {
    return this.dp?.snapshot();
  }

  async close(): Promise<void> {
    this.dp?.detachFastPath();
    this.fastPath?.close();
    this.fastPath = undefined;
    await this.underlay.close();
    // Closing a TUN removes its routes and the device.
    await this.tun?.close();
    for (const port of this.vrfTuns.values()) await port.close();
  }

  private createDataPlane(t: FlowTable): DataPlane {
    const accessVrf = this.opts.accessVrf ?? deliverVrf(t, this.vrfTuns);
    if (accessVrf === undefined) {
      throw new SwitchbackError('INVALID_ARGUMENT', `table ${t.version} delivers no prefix locally, so the access VRF is unknown: pass --vrf`, { field: 'accessVrf' });
    }
    if (this.vrfTuns.has(accessVrf)) {
      throw invalid('accessVrf', `VRF ${accessVrf} has a port of its own (--vrf-tun); name the main TUN's VRF with --vrf`);
    }
    const aead = this.aeadBackend();
    const dp = new DataPlane({
      accessVrf,
      extraAccessVrfs: [...this.vrfTuns.keys()],
      // Wall-clock microseconds << 12: a restarted agent never reuses a nonce
      // (see docs/protocol.md), and peers' replay windows accept the jump.
      initialCounter: BigInt(Math.floor(this.clock.wallMs() * 1000)) << 12n,
      underlay: this.underlay.kind === 'gre' ? 'gre' : 'udp',
      hopLimit: this.opts.hopLimit,
      aead,
    });
    if (this.opts.fastPath) this.startFastPath(dp, aead);
    return dp;
  }

  /** Hooks the native fast path in when every part it needs is native; logs why not otherwise. */
  private startFastPath(dp: DataPlane, aead: AeadBackend | undefined): void {
    // A data plane whose first table was refused leaves one behind.
    this.fastPath?.close();
    this.fastPath = undefined;
    const u = this.underlay;
    const ports = [this.tun, ...this.vrfTuns.values()];
    const why =
      fastPathUnavailable() ??
      (!(u instanceof NativeUdpUnderlay) ? 'the UDP underlay is not the native one (--udp-io native)' : null) ??
      (!ports.every((p) => p instanceof TunPort) ? 'an access port is not a TUN device' : null) ??
      (!(aead instanceof NativeAead) ? 'the tunnel AEAD is not the native one' : null);
    if (why !== null) {
      log.info('fast path off', { why });
      return;
    }
    try {
      // Slots in accessVrfs order: the main TUN, then the VRF ports.
      const fp = FastPath.open(u as NativeUdpUnderlay, ports as TunPort[], dp.nonce);
      dp.attachFastPath(fp, u.local.host.includes(':') ? 6 : 4);
      this.fastPath = fp;
      log.info('fast path on');
    } catch (err) {
      log.warn('fast path off', { why: (err as Error).message });
    }
  }

  private aeadBackend(): AeadBackend | undefined {
    if (this.opts.aead) return this.opts.aead;
    const native = loadNativeAead();
    log.info('tunnel AEAD', { implementation: native?.name ?? 'node:crypto' });
    return native ?? undefined;
  }

  private fromAccess(pkt: Uint8Array, vrf: number | undefined): void {
    if (!this.dp) return;
    this.act(this.dp.fromAccess(pkt, this.clock.now(), vrf));
  }

  /** The access port of a VRF the data plane serves. */
  private portOf(vrf: number): AccessPort | undefined {
    return vrf === this.dp?.accessVrf ? this.tun : this.vrfTuns.get(vrf);
  }

  private fromUnderlay(bytes: Uint8Array, from: Endpoint): void {
    if (!this.dp) return;
    const now = this.clock.now();
    this.act(this.underlay.kind === 'gre' ? this.dp.fromGre(bytes, from.host, now) : this.dp.fromUnderlay(bytes, now));
  }

  private act(v: Verdict): void {
    switch (v.type) {
      case 'send':
        this.underlay.send(v.bytes, endpointOf(v.peer, this.underlay));
        return;
      case 'send-fragments': {
        const to = endpointOf(v.peer, this.underlay);
        for (const d of v.datagrams) this.underlay.send(d, to);
        return;
      }
      case 'deliver':
      case 'reply':
        this.portOf(v.vrf)?.send(v.bytes);
        return;
      case 'probe':
        if (this.probes) this.probes.onProbe(v.peer, v.payload, this.clock.now());
        else this.sendProbe(v.peer.gatewayId, v.payload, 'probe-reply');
        return;
      case 'probe-reply':
        this.probes?.onProbeReply(v.peer, v.payload, v.datagramLength, this.clock.now());
        return;
      case 'drop':
        return; // counted by the data plane
    }
  }

  /**
   * Each port's kernel routes: the remote prefixes of its VRF. Ports that
   * share a kernel routing table cannot both route an overlapping prefix
   * (the kernel would send one VRF's hosts into the other VRF); the main
   * TUN keeps such a prefix and the other port goes without it, loudly.
   */
  private routesByPort(t: FlowTable, dp: DataPlane): Map<AccessPort, string[]> {
    const out = new Map<AccessPort, string[]>();
    const ports: [number, AccessPort][] = [];
    if (this.tun) ports.push([dp.accessVrf, this.tun]);
    for (const [vrf, port] of this.vrfTuns) ports.push([vrf, port]);
    for (const [vrf, port] of ports) {
      const mine = remotePrefixes(t, vrf);
      const taken = [...out].filter(([p]) => p.routeTable === port.routeTable).flatMap(([, r]) => r.map((q) => parsePrefix(q)));
      const clash = taken.length === 0 ? [] : mine.filter((p) => taken.some((q) => overlaps(parsePrefix(p), q)));
      if (clash.length) {
        log.error('remote prefixes of two VRFs overlap in one kernel routing table; not routed through this port', {
          port: port.name,
          vrf,
          table: port.routeTable ?? 'main',
          prefixes: clash,
          fix: `give VRF ${vrf}'s port a routing table of its own (--vrf-tun ${vrf}=${port.name}:TABLE) and an ip rule for its access interface`,
        });
      }
      out.set(port, mine.filter((p) => !clash.includes(p)));
    }
    return out;
  }

  private installRoutes(routes: Map<AccessPort, string[]>): void {
    if (routes.size === 0) return;
    this.routesPending = routes;
    if (this.routesBusy) return;
    this.routesBusy = true;
    void (async () => {
      while (this.routesPending) {
        const next = this.routesPending;
        this.routesPending = undefined;
        for (const [port, prefixes] of next) {
          try {
            await port.setRoutes(prefixes);
          } catch (err) {
            log.warn('installing routes failed', { port: port.name, error: (err as Error).message });
          }
        }
      }
      this.routesBusy = false;
    })();
  }

  private emit(e: AgentEvent): void {
    for (const l of this.listeners) l(e);
  }
}

/** The VRF whose prefixes this gateway delivers (its site's hosts), leaving out VRFs that have ports of their own. */
export function deliverVrf(t: FlowTable, except: ReadonlyMap<number, unknown> = new Map()): number | undefined {
  return t.rules.find((r) => r.action === Action.DELIVER && !except.has(r.vrf))?.vrf;
}

function overlaps(x: Cidr, y: Cidr): boolean {
  return x.family === y.family && (prefixContains(x, y.bytes) || prefixContains(y, x.bytes));
}

/** Prefixes of the access VRF reached through the tunnels: the kernel routes via the TUN. */
export function remotePrefixes(t: FlowTable, vrf: number): string[] {
  return t.rules.filter((r) => r.vrf === vrf && r.action === Action.FORWARD).map((r) => r.prefix).sort();
}

function endpointOf(peer: PeerView, underlay: Underlay): Endpoint {
  // A peer's first endpoint (the topology lists its preferred one first).
  const e = peer.endpoints[0];
  return { host: e?.host ?? '0.0.0.0', port: underlay.kind === 'gre' ? 0 : (e?.port ?? 0) };
}
