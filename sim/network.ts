// The simulated underlay: one in-memory link per topology link, with a
// one-way latency, random loss, a gray-failure drop rate and a capacity, and
// gateways that can be down. A packet is lost when the link or either end is
// down when it is sent or when it would arrive (it was in flight), or when the
// dice say so. Bytes carried are counted per link in one-second buckets for
// utilisation (capacity is reported against, not enforced).

import type { Topology } from '../common/model.js';
import type { SimEngine } from './engine.js';
import { linkNet, type NetworkSpec } from './scenario.js';

export type PacketKind = 'data' | 'probe';

export type LossReason = 'link-down' | 'gateway-down' | 'random-loss' | 'gray';

export interface SimLink {
  readonly id: string;
  readonly a: string;
  readonly b: string;
  readonly capacityMbps: number;
  latencyMs: number;
  lossPct: number;
  grayDropPct: number;
  grayProbeDropPct: number;
  /** Failed by an event (link_down, srlg_down); gateways being down is separate. */
  failed: boolean;
  /** Which SRLGs hold it down (an SRLG and a link event may overlap). */
  readonly failedBy: Set<string>;
  readonly srlgs: readonly string[];
  /** Bytes carried per one-second bucket (data packets only, scaled by what each stands for). */
  readonly bytesPerSecond: Map<number, number>;
}

export class SimNetwork {
  readonly links = new Map<string, SimLink>();
  private readonly gatewayDown = new Set<string>();
  private readonly linksOf = new Map<string, SimLink[]>();

  constructor(
    private readonly engine: SimEngine,
    topology: Topology,
    spec: NetworkSpec,
  ) {
    for (const l of topology.links) {
      const net = linkNet(spec, l.id);
      const link: SimLink = {
        id: l.id,
        a: l.a,
        b: l.b,
        capacityMbps: l.capacityMbps,
        latencyMs: net.latencyMs,
        lossPct: net.lossPct,
        grayDropPct: 0,
        grayProbeDropPct: 0,
        failed: false,
        failedBy: new Set(),
        srlgs: l.srlgs,
        bytesPerSecond: new Map(),
      };
      this.links.set(l.id, link);
      for (const g of [l.a, l.b]) {
        const list = this.linksOf.get(g) ?? [];
        list.push(link);
        this.linksOf.set(g, list);
      }
    }
  }

  link(id: string): SimLink {
    const l = this.links.get(id);
    if (!l) throw new Error(`no simulated link '${id}'`);
    return l;
  }

  linksOfGateway(gw: string): readonly SimLink[] {
    return this.linksOf.get(gw) ?? [];
  }

  isGatewayUp(gw: string): boolean {
    return !this.gatewayDown.has(gw);
  }

  setGatewayUp(gw: string, up: boolean): void {
    if (up) this.gatewayDown.delete(gw);
    else this.gatewayDown.add(gw);
  }

  /** Down by a link event or by any of its SRLGs. */
  setFailed(link: SimLink, cause: string, failed: boolean): void {
    if (failed) link.failedBy.add(cause);
    else link.failedBy.delete(cause);
    link.failed = link.failedBy.size > 0;
  }

  /** Can carry packets now: not failed, both ends up. */
  isUsable(link: SimLink): boolean {
    return !link.failed && !this.gatewayDown.has(link.a) && !this.gatewayDown.has(link.b);
  }

  /**
   * Sends a packet from gateway `from` over `linkId` to its other end.
   * `arrive` runs at the far end after the latency; `lost` (if given) runs at
   * the time the packet is lost, with why.
   */
  send(
    from: string,
    linkId: string,
    kind: PacketKind,
    bytes: number,
    weight: number,
    arrive: (to: string) => void,
    lost?: (reason: LossReason) => void,
  ): void {
    const link = this.links.get(linkId);
    const to = link ? (link.a === from ? link.b : link.b === from ? link.a : undefined) : undefined;
    if (!link || to === undefined) {
      lost?.('link-down');
      return;
    }
    const why = this.blocked(link, from, to);
    if (why) {
      lost?.(why);
      return;
    }
    const rnd = this.engine.random;
    if (link.lossPct > 0 && rnd.next() * 100 < link.lossPct) {
      lost?.('random-loss');
      return;
    }
    const gray = kind === 'data' ? link.grayDropPct : link.grayProbeDropPct;
    if (gray > 0 && rnd.next() * 100 < gray) {
      lost?.('gray');
      return;
    }
    if (kind === 'data') {
      const sec = Math.floor(this.engine.now() / 1000);
      link.bytesPerSecond.set(sec, (link.bytesPerSecond.get(sec) ?? 0) + bytes * weight);
    }
    this.engine.setTimeout(() => {
      const w = this.blocked(link, from, to);
      if (w) lost?.(w);
      else arrive(to);
    }, link.latencyMs);
  }

  /**
   * A probe and its echo as one event: both ways are decided when it is sent
   * (the same loss and gray dice as two crossings), and the echo arrives
   * after twice the latency if the link and both ends are still up then and
   * the far end answers. (A failure and repair both inside one round trip
   * would go unnoticed; a probe per interval would not notice it either.)
   */
  roundTrip(from: string, linkId: string, answers: (to: string) => boolean, back: () => void): void {
    const link = this.links.get(linkId);
    const to = link ? (link.a === from ? link.b : link.b === from ? link.a : undefined) : undefined;
    if (!link || to === undefined || this.blocked(link, from, to)) return;
    const rnd = this.engine.random;
    for (let way = 0; way < 2; way++) {
      if (link.lossPct > 0 && rnd.next() * 100 < link.lossPct) return;
      if (link.grayProbeDropPct > 0 && rnd.next() * 100 < link.grayProbeDropPct) return;
    }
    this.engine.setTimeout(() => {
      if (!this.blocked(link, from, to) && answers(to)) back();
    }, 2 * link.latencyMs);
  }

  private blocked(link: SimLink, from: string, to: string): LossReason | undefined {
    if (this.gatewayDown.has(from) || this.gatewayDown.has(to)) return 'gateway-down';
    if (link.failed) return 'link-down';
    return undefined;
  }
}
