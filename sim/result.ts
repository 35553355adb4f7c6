// What a simulation run reports (the --json output, and what the text and
// HTML reports render). Plain data only, every list in a fixed order and
// every time a number of virtual milliseconds rounded to the microsecond, so
// the same scenario and seed give byte-identical JSON.

export interface OutageSplit {
  /** From the failure to the first health DOWN on the demand's path. */
  detectionMs: number;
  /** From detection to traffic flowing over the precomputed backup (no controller involved). */
  localFailoverMs: number;
  /** From detection to traffic flowing over a path in a table the controller pushed. */
  reconvergenceMs: number;
  /** Waiting for the failure itself to be repaired (nothing else restored traffic). */
  repairMs: number;
}

export type EpisodeKind =
  /** Nothing (or almost nothing) got through. */
  | 'outage'
  /** Some packets lost, most delivered (random loss, a gray failure). */
  | 'degraded'
  /** No path existed for part of it (the destination or the source was cut off), or the fix needed a controller that could not reach the agent: not a failover failure. */
  | 'unreachable';

export type RestoredBy = 'local-failover' | 'controller' | 'repair' | 'not-restored';

export interface Episode {
  kind: EpisodeKind;
  /** Why it is 'unreachable': 'no-path', or 'control-partition:<gateway>' / 'controller-down'. */
  reason?: string;
  /** The failure: the scenario event behind it, if one was found. */
  cause?: string;
  causeAtMs?: number;
  /** From the cause (or the first loss) to the first packet delivered again (or the end). */
  startMs: number;
  endMs: number;
  durationMs: number;
  packetsLost: number;
  packetsSent: number;
  restoredBy: RestoredBy;
  split: OutageSplit;
  pathBefore: string[];
  pathAfter: string[];
  latencyBeforeMs?: number;
  latencyAfterMs?: number;
  /** latencyAfter / latencyBefore. */
  stretch?: number;
  /** What the data planes and links said about the lost packets (reason: count). */
  lossReasons: Record<string, number>;
}

export interface DemandResult {
  id: string;
  from: string;
  to: string;
  vrf: string;
  prefix: string;
  address: string;
  ratePps: number;
  /** Packets actually simulated per second (each stands for ratePps / sampledPps). */
  sampledPps: number;
  packetBytes: number;
  packetsSent: number;
  packetsLost: number;
  lossPct: number;
  status: 'ok' | 'disrupted' | 'unreachable' | 'down-at-end';
  /** Sum of the durations of 'outage' episodes. */
  outageMs: number;
  unreachableMs: number;
  pathStart: string[];
  pathEnd: string[];
  latencyStartMs?: number;
  latencyEndMs?: number;
  /** Worst latency stretch against the start of the run. */
  maxStretch?: number;
  episodes: Episode[];
}

export interface LinkResult {
  id: string;
  a: string;
  b: string;
  capacityMbps: number;
  latencyMs: number;
  /** Highest one-second load before the first event (Mbit/s). */
  baselineMbps: number;
  /** Highest one-second load over the run. */
  peakMbps: number;
  peakAtMs: number;
  peakUtilisationPct: number;
  overloaded: boolean;
  /** Time the link could not carry traffic (failed or an end down). */
  downMs: number;
  /** At the end of the run. */
  state: 'up' | 'down';
  srlgs: string[];
}

export interface GatewayResult {
  id: string;
  site: string;
  /** Time the gateway was down. */
  downMs: number;
  /** Time its agent ran but could not reach the controller (partition, controller down). */
  controlUnreachableMs: number;
  tablesApplied: number;
  finalTableVersion: number;
  peerDownEvents: number;
}

export interface TimelineEntry {
  atMs: number;
  kind: 'event' | 'peer-down' | 'peer-up' | 'journal' | 'table' | 'report-lost' | 'push-lost';
  subject: string;
  text: string;
}

export interface SimResult {
  scenario: {
    name: string;
    source: string;
    seed: number;
    durationMs: number;
    timing: Record<string, number | boolean>;
    routing: Record<string, number | boolean>;
    /** Packet size utilisation is computed with (demands may set their own). */
    packetBytes: number;
  };
  sites: { id: string; name: string; kind: string; region: string }[];
  demands: DemandResult[];
  links: LinkResult[];
  gateways: GatewayResult[];
  controller: {
    journalEntries: number;
    reportsDelivered: number;
    reportsLost: number;
    tablesPushed: number;
    pushesLost: number;
    epochs: number;
  };
  timeline: TimelineEntry[];
  /** Timeline entries left out to keep the report bounded. */
  timelineTruncated: number;
  engine: { eventsRun: number };
}

/** Milliseconds rounded to the microsecond (stable, readable JSON). */
export const ms3 = (x: number): number => Math.round(x * 1000) / 1000;
