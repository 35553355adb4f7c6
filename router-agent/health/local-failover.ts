// Local fast failover: the moment health declares a peer down, the data
// plane stops using it (rules whose primaries are all down switch to their
// precomputed backup next hop) without waiting for the controller; when the
// peer is up again (after the hold time) primary traffic returns.

import type { HealthMonitor } from './health-monitor.js';

/** The one data-plane operation failover needs. */
export interface PeerStatePort {
  setPeerState(gatewayId: string, up: boolean): void;
}

export interface LocalFailover {
  /**
   * Re-asserts every monitored peer's state on the data plane. Call after a
   * new table is applied: a table names peers afresh, and a peer health knows
   * to be down must not be used again just because the table was replaced.
   */
  resync(): void;
  /** Stops forwarding health events to the data plane. */
  close(): void;
}

export function wireLocalFailover(monitor: HealthMonitor, dataPlane: PeerStatePort): LocalFailover {
  const off = monitor.on((e) => {
    if (e.type === 'peer-down') dataPlane.setPeerState(e.peerId, false);
    else if (e.type === 'peer-up') dataPlane.setPeerState(e.peerId, true);
  });
  return {
    resync() {
      for (const s of monitor.allStats()) dataPlane.setPeerState(s.peerId, s.state === 'up');
    },
    close: off,
  };
}
