// Terminal reports: a simulation run and a what-if sweep as aligned tables.
import { renderTable } from '../cli/table.js';
import type { DemandResult, Episode, SimResult, TimelineEntry } from './result.js';
import type { WhatIfResult } from './whatif.js';

const sec = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const num = (x: number | undefined | null, d = 1) => (x === undefined || x === null ? '-' : x.toFixed(d).replace(/\.0+$/, ''));
const path = (p: string[]) => (p.length ? p.join(' > ') : '-');

export function simText(r: SimResult): string {
  const s = r.scenario;
  const t = s.timing;
  const out: string[] = [];
  out.push(`Scenario: ${s.name} (${s.source}), seed ${s.seed}, ${s.durationMs / 1000} s of virtual time`);
  out.push(
    `Timing: probes every ${t.probeIntervalMs} ms, down after ${t.detectMultiplier} (detection ${Number(t.probeIntervalMs) * Number(t.detectMultiplier)} ms), ` +
      `hold ${t.holdMs} ms, control delay ${t.controlDelayMs} ms, compute ${t.computeMs} ms, local failover ${t.localFailover ? 'on' : 'OFF'}`,
  );
  out.push(`Utilisation assumes ${s.packetBytes}-byte packets (unless a demand sets packet_bytes); at most ${t.maxSamplePps} packets per demand per second are simulated.`);
  out.push('');
  out.push('Timeline');
  for (const line of timelineLines(r.timeline)) out.push(`  ${line}`);
  if (r.timelineTruncated) out.push(`  ... ${r.timelineTruncated} more entries (see --json)`);
  out.push('');
  out.push('Demands');
  out.push(
    indent(
      renderTable(
        ['DEMAND', 'FROM', 'TO', 'STATUS', 'OUTAGE ms', 'UNREACH ms', 'LOST', 'LOSS %', 'STRETCH', 'PATH AT START', 'PATH AT END'],
        r.demands.map((d) => [d.id, d.from, d.to, d.status, num(d.outageMs), num(d.unreachableMs), d.packetsLost, num(d.lossPct, 2), num(d.maxStretch, 2), path(d.pathStart), path(d.pathEnd)]),
      ),
    ),
  );
  const disrupted = r.demands.filter((d) => d.episodes.length > 0);
  if (disrupted.length) {
    out.push('Disruptions (outage = detection + local failover + reconvergence + repair)');
    out.push(
      indent(
        renderTable(
          ['DEMAND', 'KIND', 'FROM s', 'MS', 'DETECT', 'LOCAL', 'RECONV', 'REPAIR', 'RESTORED BY', 'LOST', 'STRETCH', 'CAUSE', 'PATH BEFORE -> AFTER'],
          disrupted.flatMap((d: DemandResult) =>
            d.episodes.map((e: Episode) => [
              d.id,
              e.kind + (e.reason ? ` (${e.reason})` : ''),
              (e.startMs / 1000).toFixed(3),
              num(e.durationMs),
              num(e.split.detectionMs),
              num(e.split.localFailoverMs),
              num(e.split.reconvergenceMs),
              num(e.split.repairMs),
              e.restoredBy,
              e.packetsLost,
              num(e.stretch, 2),
              e.cause ?? '-',
              `${path(e.pathBefore)} -> ${path(e.pathAfter)}`,
            ]),
          ),
        ),
      ),
    );
  }
  out.push('Links');
  out.push(
    indent(
      renderTable(
        ['LINK', 'CAPACITY Mbit/s', 'BASELINE', 'PEAK', 'PEAK UTIL %', 'DOWN ms', 'STATE', ''],
        r.links.map((l) => [l.id, l.capacityMbps, num(l.baselineMbps, 2), num(l.peakMbps, 2), num(l.peakUtilisationPct, 1), num(l.downMs), l.state, l.overloaded ? 'OVERLOADED' : '']),
      ),
    ),
  );
  const c = r.controller;
  out.push(
    `Controller: ${c.journalEntries} journal entries, ${c.tablesPushed} tables pushed (${c.pushesLost} lost), ${c.reportsDelivered} link reports delivered (${c.reportsLost} lost), ${c.epochs} epoch${c.epochs === 1 ? '' : 's'}`,
  );
  const cut = r.gateways.filter((g) => g.controlUnreachableMs > 0 || g.downMs > 0);
  if (cut.length) {
    out.push('Gateways that were down or could not reach the controller');
    out.push(indent(renderTable(['GATEWAY', 'SITE', 'DOWN ms', 'NO CONTROLLER ms', 'TABLES APPLIED'], cut.map((g) => [g.id, g.site, num(g.downMs), num(g.controlUnreachableMs), g.tablesApplied]))));
  }
  return out.join('\n') + '\n';
}

/** Timeline lines; table applications at one instant are folded into one line. */
function timelineLines(tl: TimelineEntry[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < tl.length; i++) {
    const e = tl[i]!;
    if (e.kind === 'table') {
      let j = i;
      while (j + 1 < tl.length && tl[j + 1]!.kind === 'table' && tl[j + 1]!.atMs === e.atMs) j++;
      const n = j - i + 1;
      out.push(`${sec(e.atMs).padStart(11)}  ${'table'.padEnd(11)}${n === 1 ? e.text : `${n} gateways applied new tables (${tl.slice(i, j + 1).map((x) => x.subject).join(', ')})`}`);
      i = j;
      continue;
    }
    out.push(`${sec(e.atMs).padStart(11)}  ${e.kind.padEnd(11)}${e.text}`);
  }
  return out;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
}

export function whatIfText(r: WhatIfResult, top = 30): string {
  const out: string[] = [];
  const t = r.topology;
  const p = r.predictions;
  out.push(`What-if: ${r.failures.length} failures (${r.pairsIncluded ? 'single and pairs' : 'single'}) on ${t.sites} sites, ${t.gateways} gateways, ${t.links} links, ${t.srlgs} shared-risk groups; ${t.sitePairs} site pairs`);
  out.push(
    `Predicted outage: ${p.localFailoverMs} ms when a loop-free backup covers it (detection: ${p.detectMultiplier} x ${p.probeIntervalMs} ms), ` +
      `else ${p.controllerMs} ms (detection + ${p.controlDelayMs} ms report + ${p.computeMs} ms compute + ${p.controlDelayMs} ms push)`,
  );
  out.push(`Baseline: ${r.baseline.connectedPairs} of ${t.sitePairs} site pairs connected${r.baseline.overloadedLinks.length ? `; ${r.baseline.overloadedLinks.length} links already overloaded` : ''}`);
  for (const d of r.baseline.demands) out.push(`  demand ${d.id}: ${d.connected ? `${path(d.path)} (${d.latencyMs} ms)` : 'NOT CONNECTED'}`);
  out.push('');
  const shown = r.failures.slice(0, top);
  out.push(`Ranked by impact${shown.length < r.failures.length ? ` (top ${shown.length} of ${r.failures.length}; --top N or --json for all)` : ''}`);
  out.push(
    indent(
      renderTable(
        ['#', 'FAILURE', 'PAIRS CUT', 'GONE WITH IT', 'HIT', 'LOCAL', 'CONTROLLER', 'OUTAGE ms', 'WORST STRETCH', 'OVERLOADED', 'DEMANDS LOST'],
        shown.map((f, i) => [
          i + 1,
          f.name,
          f.disconnectedPairs,
          f.lostWithFailure,
          f.affectedPairs,
          f.coveredLocally,
          f.needController,
          num(f.predictedOutageMs, 0),
          f.worstStretch ? `${f.worstStretch.stretch} (${f.worstStretch.from}->${f.worstStretch.to})` : '-',
          f.overloadedLinks.length ? f.overloadedLinks.map((l) => `${l.id} ${l.utilisationPct}%`).join(', ') : '-',
          demandsLost(f),
        ]),
      ),
    ),
  );
  return out.join('\n') + '\n';
}

/** Demands cut off, and those gone with a failed site (marked). */
function demandsLost(f: { disconnectedDemands: string[]; demandsGoneWithFailure: string[] }): string {
  const all = [...f.disconnectedDemands, ...f.demandsGoneWithFailure.map((d) => `${d} (site down)`)];
  return all.length ? all.join(', ') : '-';
}
