// The agent process: wires the pure data plane to its ports (TUN, UDP or
// GRE underlay), to the health monitor and to the control session. This is
// the only place in router-agent/ where the core meets I/O; every decision
// is the data plane's, every packet move is a port's.
import type { Clock } from '../common/clock.js';
import { SwitchbackError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { Action, type FlowTable } from '../common/model.js';
import type { AeadBackend } from './dataplane/aead.js';
import { DataPlane, type PeerView, type Verdict } from './dataplane/index.js';
import { loadNativeAead } from './io/native-aead.js';
import type { TunPort } from './io/tun-port.js';
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
  tun?: TunPort;
  /** The VRF of this site's hosts; default: the VRF of the table's deliver rules. */
  accessVrf?: number;
  hopLimit?: number;
  /** Seals and opens tunnel datagrams; default the native AEAD when its addon is built, else node:crypto. */
  aead?: AeadBackend;
}

export type AgentEvent =
  | { type: 'table-applied'; version: number; epoch: number }
  | { type: 'table-refused'; version: number; error: SwitchbackError };

export class Agent {
  readonly gatewayId: string;
  private dp: DataPlane | undefined;
  private readonly clock: Clock;
  private readonly underlay: Underlay;
  private readonly tun?: TunPort;
  private readonly opts: AgentOptions;
  private probes: ProbeSink | undefined;
  private readonly listeners = new Set<(e: AgentEvent) => void>();
  /** Routes are installed one change at a time, newest wins. */
  private routesPending: string[] | undefined;
  private routesBusy = false;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.gatewayId = opts.gatewayId;
    this.clock = opts.clock;
    this.underlay = opts.underlay;
    this.tun = opts.tun;
    this.underlay.onDatagram((bytes, from) => this.fromUnderlay(bytes, from));
    this.tun?.onPacket((pkt) => this.fromAccess(pkt));
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
    this.installRoutes(remotePrefixes(t, this.dp.accessVrf));
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
    await this.underlay.close();
    // Closing the TUN removes its routes and the device.
    await this.tun?.close();
  }

  private createDataPlane(t: FlowTable): DataPlane {
    const accessVrf = this.opts.accessVrf ?? deliverVrf(t);
    if (accessVrf === undefined) {
      throw new SwitchbackError('INVALID_ARGUMENT', `table ${t.version} delivers no prefix locally, so the access VRF is unknown: pass --vrf`, { field: 'accessVrf' });
    }
    return new DataPlane({
      accessVrf,
      // Wall-clock microseconds << 12: a restarted agent never reuses a nonce
      // (see docs/protocol.md), and peers' replay windows accept the jump.
      initialCounter: BigInt(Math.floor(this.clock.wallMs() * 1000)) << 12n,
      underlay: this.underlay.kind === 'gre' ? 'gre' : 'udp',
      hopLimit: this.opts.hopLimit,
      aead: this.aeadBackend(),
    });
  }

  private aeadBackend(): AeadBackend | undefined {
    if (this.opts.aead) return this.opts.aead;
    const native = loadNativeAead();
    log.info('tunnel AEAD', { implementation: native?.name ?? 'node:crypto' });
    return native ?? undefined;
  }

  private fromAccess(pkt: Uint8Array): void {
    if (!this.dp) return;
    this.act(this.dp.fromAccess(pkt, this.clock.now()));
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
        this.tun?.write(v.bytes);
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

  private installRoutes(prefixes: string[]): void {
    if (!this.tun) return;
    this.routesPending = prefixes;
    if (this.routesBusy) return;
    this.routesBusy = true;
    void (async () => {
      while (this.routesPending) {
        const next = this.routesPending;
        this.routesPending = undefined;
        try {
          await this.tun!.setRoutes(next);
        } catch (err) {
          log.warn('installing routes failed', { error: (err as Error).message });
        }
      }
      this.routesBusy = false;
    })();
  }

  private emit(e: AgentEvent): void {
    for (const l of this.listeners) l(e);
  }
}

/** The VRF whose prefixes this gateway delivers: its site's hosts. */
export function deliverVrf(t: FlowTable): number | undefined {
  return t.rules.find((r) => r.action === Action.DELIVER)?.vrf;
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
