// The emulation report: the simulator's per-demand table (measured), with
// the simulator's prediction beside each figure under --compare.
import { renderTable } from '../cli/table.js';
import type { EmulateResult } from './emulation.js';

const num = (x: number | undefined) => (x === undefined ? '-' : String(Math.round(x * 10) / 10));
const path = (p: string[] | undefined) => (p && p.length ? p.join(' > ') : '-');

export function emulateText(r: EmulateResult, compare = false): string {
  const s = r.scenario;
  const out: string[] = [];
  out.push(`Emulation: ${s.name} (${s.source}), ${s.durationMs / 1000} s of real time, transport ${s.transport} (${s.security === 'mtls' ? 'mTLS bundles' : 'plain-text gRPC: enrolling failed'})`);
  out.push(`Timing: agents probe every ${s.timing.probeIntervalMs} ms, down after ${s.timing.detectMultiplier}, hold ${s.timing.holdMs} ms; demands pinged every ${s.pingIntervalMs} ms (outage: from the cut to the send time of the first probe answered again)`);
  for (const n of r.notes) out.push(`Note: ${n}`);
  out.push('');
  out.push('Events');
  for (const e of r.events) out.push(`  ${(e.atMs / 1000).toFixed(3).padStart(8)} s  ${e.event}${e.skipped ? `  SKIPPED (${e.skipped})` : e.lateMs ? `  (${e.lateMs} ms late)` : ''}`);
  if (!r.events.length) out.push('  (none)');
  out.push('');
  out.push('Demands');
  const head = ['DEMAND', 'FROM', 'TO', 'STATUS', 'OUTAGE ms', ...(compare ? ['SIM OUTAGE ms'] : []), 'LOST', 'LOSS %', 'PATH AT START', 'PATH AT END'];
  const rows = r.demands.map((d) => [
    d.id, d.from, d.to, d.skipped ? `skipped: ${d.skipped}` : d.status, d.skipped ? '-' : num(d.outageMs), ...(compare ? [num(d.predictedOutageMs)] : []),
    d.skipped ? '-' : d.packetsLost, d.skipped ? '-' : num(d.lossPct), path(d.pathStart), path(d.pathEnd),
  ]);
  out.push(indent(renderTable(head, rows)));
  const eps = r.demands.flatMap((d) => d.episodes.map((e) => [d.id, e.kind, (e.startMs / 1000).toFixed(3), num(e.durationMs), e.packetsLost, e.restoredBy === 'not-restored' ? 'not restored' : 'restored', e.cause ?? '-']));
  if (eps.length) {
    out.push('Disruptions (measured: runs of lost probes, timed by the answered ones around them)');
    out.push(indent(renderTable(['DEMAND', 'KIND', 'FROM s', 'MS', 'LOST', 'END', 'CAUSE'], eps)));
  }
  if (r.agentsAtEnd.length) {
    const bad = r.agentsAtEnd.filter((a) => !a.inSync || !a.connected);
    out.push(`Agents at the end: ${r.agentsAtEnd.length - bad.length} of ${r.agentsAtEnd.length} connected and in sync${bad.length ? ` (not: ${bad.map((a) => a.gatewayId).join(', ')})` : ''}`);
  } else out.push('Agents at the end: unknown (the controller was down)');
  return out.join('\n') + '\n';
}

function indent(s: string): string {
  return s.split('\n').map((l) => (l ? `  ${l}` : l)).join('\n');
}
