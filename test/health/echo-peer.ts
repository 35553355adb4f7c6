// A scripted far end for health tests: probes sent through `send` come back
// as replies after `rttMs` on the manual clock while the path is up, and
// vanish while it is down or when `drop` says so.
import type { ManualClock } from '../../common/clock.js';
import type { HealthMonitor, ProbePayload } from '../../router-agent/health/index.js';

export interface EchoPath {
  up: boolean;
  rttMs: number;
  /** Drops the probe when it returns true (called once per probe, in order). */
  drop?: (p: ProbePayload) => boolean;
  /** Largest padded size that gets through. */
  mtu?: number;
}

export class EchoPeers {
  readonly paths = new Map<string, EchoPath>();
  readonly sent: { peerId: string; at: number; payload: ProbePayload }[] = [];
  monitor!: HealthMonitor;

  constructor(private readonly clock: ManualClock) {}

  path(peerId: string, p: Partial<EchoPath> = {}): EchoPath {
    const path = { up: true, rttMs: 10, ...p };
    this.paths.set(peerId, path);
    return path;
  }

  readonly send = (peerId: string, payload: ProbePayload): void => {
    this.sent.push({ peerId, at: this.clock.now(), payload });
    const path = this.paths.get(peerId);
    if (!path || !path.up) return;
    if (path.drop?.(payload)) return;
    if (payload.size !== undefined && path.mtu !== undefined && payload.size > path.mtu) return;
    const rtt = path.rttMs;
    this.clock.setTimeout(() => {
      // A path that went down while the probe was out loses the reply too.
      if (path.up) this.monitor.onProbeReply(peerId, { ...payload });
    }, rtt);
  };
}
