// Whether a demand could be carried at all: a path of usable links between an
// up gateway of its source site and an up gateway of a site announcing its
// prefix. When there is none, lost packets are "unreachable", not an outage
// the control system failed to repair. Recomputed at every scenario event
// (the only times the physical network changes).

import type { SimNetwork } from './network.js';
import type { Demand } from './scenario.js';

export interface Interval {
  start: number;
  end: number;
}

export class Reachability {
  /** Per demand id: the intervals with no physical path. */
  readonly intervals = new Map<string, Interval[]>();

  constructor(
    private readonly demands: readonly Demand[],
    private readonly network: SimNetwork,
    private readonly siteGateways: ReadonlyMap<string, readonly string[]>,
  ) {
    for (const d of demands) this.intervals.set(d.id, []);
  }

  update(now: number): void {
    const reached = new Map<string, Set<string>>();
    for (const d of this.demands) {
      let r = reached.get(d.from);
      if (!r) reached.set(d.from, (r = this.reachableFrom(d.from)));
      const ok = d.destSites.some((site) => (this.siteGateways.get(site) ?? []).some((g) => r!.has(g)));
      const list = this.intervals.get(d.id)!;
      const openIv = list.length > 0 && list[list.length - 1]!.end === Infinity;
      if (!ok && !openIv) list.push({ start: now, end: Infinity });
      if (ok && openIv) list[list.length - 1]!.end = now;
    }
  }

  finish(end: number): void {
    for (const list of this.intervals.values()) for (const iv of list) if (iv.end === Infinity) iv.end = end;
  }

  private reachableFrom(site: string): Set<string> {
    const seen = new Set<string>();
    const stack = (this.siteGateways.get(site) ?? []).filter((g) => this.network.isGatewayUp(g));
    for (const g of stack) seen.add(g);
    while (stack.length > 0) {
      const g = stack.pop()!;
      for (const l of this.network.linksOfGateway(g)) {
        if (!this.network.isUsable(l)) continue;
        const o = l.a === g ? l.b : l.a;
        if (!seen.has(o)) {
          seen.add(o);
          stack.push(o);
        }
      }
    }
    return seen;
  }
}
