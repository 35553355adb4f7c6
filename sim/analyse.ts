// From per-packet outcomes to what a NOC engineer wants to know about a
// demand: its disruptions ("episodes"), how long each lasted and why.
//
// An episode is a cluster of lost packets (losses less than merge_gap_ms
// apart). It is an outage when at least half of the packets sent in it were
// lost, else degraded. Its start is the scenario event behind it (the latest
// event at or before the first loss), else the first lost packet; its end is
// the send time of the first packet delivered after it. The time between is
// split:
//   detection       failure -> the first health DOWN, on a gateway of the
//                   path the demand used before, for the next hop on it;
//   local failover  detection -> restored without a new table on the path;
//   reconvergence   detection -> restored by a table the controller pushed
//                   after the failure (some hop of the new path applied it);
//   repair          no path existed, or nothing restored it but the failure
//                   being repaired (or it was not restored by the end).
// Unreachable: no physical path existed during the episode (the split shows
// for how long, as repair), or the fix needed a table at an agent the
// controller could not reach (partition).

import type { ScenarioEvent, Timing } from './scenario.js';
import { describeEvent } from './scenario.js';
import { ms3, type DemandResult, type Episode, type RestoredBy } from './result.js';
import { STATUS_DELIVERED, STATUS_LOST, type DemandRecord } from './traffic.js';

export interface Interval {
  start: number;
  end: number;
}

export interface RunFacts {
  events: readonly ScenarioEvent[];
  peerDownAt: readonly { gw: string; peer: string; at: number }[];
  /** Per gateway: when its control channel was cut (partition). */
  partitioned: ReadonlyMap<string, readonly Interval[]>;
  /** Per demand id: when no physical path existed. */
  unreachable: ReadonlyMap<string, readonly Interval[]>;
  controllerDown: readonly Interval[];
  timing: Timing;
}

const within = (ivs: readonly Interval[] | undefined, t: number) => (ivs ?? []).some((iv) => iv.start <= t && t < iv.end);

function overlap(ivs: readonly Interval[] | undefined, a: number, b: number): number {
  let sum = 0;
  for (const iv of ivs ?? []) sum += Math.max(0, Math.min(b, iv.end) - Math.max(a, iv.start));
  return sum;
}

export function analyseDemand(rec: DemandRecord, facts: RunFacts, end: number): DemandResult {
  const d = rec.demand;
  const n = rec.count;
  const w = rec.weight;
  const latency = (i: number) => rec.doneAt[i]! - rec.sendAt[i]!;
  const pathOf = (i: number) => (i >= 0 && rec.pathId[i]! >= 0 ? rec.paths[rec.pathId[i]!]! : []);

  // Clusters of lost packets.
  const clusters: { a: number; b: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (rec.status[i] !== STATUS_LOST) continue;
    const last = clusters[clusters.length - 1];
    if (last && rec.sendAt[i]! - rec.sendAt[last.b]! < facts.timing.mergeGapMs) last.b = i;
    else clusters.push({ a: i, b: i });
  }

  const episodes: Episode[] = [];
  for (const { a, b } of clusters) {
    let prev = -1;
    for (let i = a - 1; i >= 0; i--) if (rec.status[i] === STATUS_DELIVERED) { prev = i; break; }
    let next = -1;
    for (let i = b + 1; i < n; i++) if (rec.status[i] === STATUS_DELIVERED) { next = i; break; }
    let lost = 0;
    let sent = 0;
    const reasons: Record<string, number> = {};
    for (let i = a; i <= b; i++) {
      if (rec.status[i] === STATUS_DELIVERED) sent++;
      if (rec.status[i] === STATUS_LOST) {
        sent++;
        lost++;
        const r = rec.reasons[rec.reason[i]!]!;
        reasons[r] = (reasons[r] ?? 0) + 1;
      }
    }
    const firstLossAt = rec.doneAt[a]!;
    const notBefore = prev >= 0 ? rec.sendAt[prev]! - 1000 : -Infinity;
    let cause: ScenarioEvent | undefined;
    for (const e of facts.events) if (e.atMs <= firstLossAt && e.atMs >= notBefore) cause = e;
    const start = cause ? Math.min(cause.atMs, rec.sendAt[a]!) : rec.sendAt[a]!;
    const stop = next >= 0 ? rec.sendAt[next]! : end;
    const before = pathOf(prev);
    const after = pathOf(next);

    let restoredBy: RestoredBy;
    if (next < 0) restoredBy = 'not-restored';
    else if (rec.tableAt[next]! >= start) restoredBy = 'controller';
    else if (after.join('>') !== before.join('>')) restoredBy = 'local-failover';
    else restoredBy = 'repair';

    // Detection: the first DOWN for a hop of the old path, at or after the failure.
    const hops = new Set<string>();
    for (let k = 0; k + 1 < before.length; k++) hops.add(`${before[k]}>${before[k + 1]}`);
    // A hop downstream may detect after the source sent the first packet that
    // got through (it was on its way): bound by that packet's arrival.
    const bound = next >= 0 ? rec.doneAt[next]! : end;
    let detectedAt: number | undefined;
    for (const p of facts.peerDownAt) {
      if (p.at < start || p.at > bound) continue;
      if (hops.has(`${p.gw}>${p.peer}`) && (detectedAt === undefined || p.at < detectedAt)) detectedAt = p.at;
    }
    const noPath = overlap(facts.unreachable.get(d.id), start, stop);
    const split = { detectionMs: 0, localFailoverMs: 0, reconvergenceMs: 0, repairMs: 0 };
    const from = Math.min(detectedAt ?? start, stop);
    split.detectionMs = ms3(from - start);
    // While no path existed nothing could restore traffic: that is repair time.
    const rest = Math.max(0, stop - from - noPath);
    split.repairMs = ms3(noPath);
    if (restoredBy === 'local-failover') split.localFailoverMs = ms3(rest);
    else if (restoredBy === 'controller') split.reconvergenceMs = ms3(rest);
    else split.repairMs = ms3(noPath + rest);

    let kind: Episode['kind'] = lost * 2 >= sent ? 'outage' : 'degraded';
    let reason: string | undefined;
    if (noPath > 0) {
      kind = 'unreachable';
      reason = 'no-path';
    } else if (kind === 'outage' && (restoredBy === 'controller' || restoredBy === 'not-restored')) {
      const at = detectedAt ?? start;
      const cut = before.find((gw) => within(facts.partitioned.get(gw), at));
      if (cut) {
        kind = 'unreachable';
        reason = `control-partition:${cut}`;
      } else if (within(facts.controllerDown, at)) reason = 'controller-down';
    }

    const lb = prev >= 0 ? latency(prev) : undefined;
    const la = next >= 0 ? latency(next) : undefined;
    episodes.push({
      kind,
      ...(reason ? { reason } : {}),
      ...(cause ? { cause: `${describeEvent(cause)} at ${cause.atMs} ms`, causeAtMs: cause.atMs } : {}),
      startMs: ms3(start),
      endMs: ms3(stop),
      durationMs: ms3(stop - start),
      packetsLost: Math.round(lost * w),
      packetsSent: Math.round(sent * w),
      restoredBy,
      split,
      pathBefore: before,
      pathAfter: after,
      ...(lb !== undefined ? { latencyBeforeMs: ms3(lb) } : {}),
      ...(la !== undefined ? { latencyAfterMs: ms3(la) } : {}),
      ...(lb !== undefined && la !== undefined && lb > 0 ? { stretch: ms3(la / lb) } : {}),
      lossReasons: sortKeys(reasons),
    });
  }

  let sentAll = 0;
  let lostAll = 0;
  let first = -1;
  let last = -1;
  let maxLatency = 0;
  for (let i = 0; i < n; i++) {
    const s = rec.status[i];
    if (s === STATUS_DELIVERED) {
      sentAll++;
      if (first < 0) first = i;
      last = i;
      maxLatency = Math.max(maxLatency, latency(i));
    } else if (s === STATUS_LOST) {
      sentAll++;
      lostAll++;
    }
  }
  const outageMs = episodes.filter((e) => e.kind === 'outage').reduce((x, e) => x + e.durationMs, 0);
  const unreachableMs = episodes.filter((e) => e.kind === 'unreachable').reduce((x, e) => x + e.durationMs, 0);
  let status: DemandResult['status'] = 'ok';
  if (episodes.length > 0) {
    const lastEp = episodes[episodes.length - 1]!;
    if (lastEp.restoredBy === 'not-restored') status = lastEp.kind === 'unreachable' ? 'unreachable' : 'down-at-end';
    else status = episodes.every((e) => e.kind === 'unreachable') ? 'unreachable' : 'disrupted';
  }
  const ls = first >= 0 ? latency(first) : undefined;
  return {
    id: d.id,
    from: d.from,
    to: d.to,
    vrf: d.vrf,
    prefix: d.prefix,
    address: d.address,
    ratePps: d.ratePps,
    sampledPps: ms3(rec.sampledPps),
    packetBytes: d.packetBytes,
    packetsSent: Math.round(sentAll * w),
    packetsLost: Math.round(lostAll * w),
    lossPct: sentAll ? ms3((lostAll / sentAll) * 100) : 0,
    status,
    outageMs: ms3(outageMs),
    unreachableMs: ms3(unreachableMs),
    pathStart: pathOf(first),
    pathEnd: pathOf(last),
    ...(ls !== undefined ? { latencyStartMs: ms3(ls) } : {}),
    ...(last >= 0 ? { latencyEndMs: ms3(latency(last)) } : {}),
    ...(ls !== undefined && ls > 0 ? { maxStretch: ms3(maxLatency / ls) } : {}),
    episodes,
  };
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}
