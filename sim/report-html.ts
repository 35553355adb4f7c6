// One self-contained HTML file per report: inline CSS and SVG, no scripts
// from anywhere, no fonts, no network. A map of the topology (sites placed
// by region: datacenters on an inner ring, offices outside) with links
// coloured by state and utilisation (or, for what-if, by the impact of
// losing them), a timeline chart of events and each demand's disruptions,
// and the tables of the text report.

import type { SimResult } from './result.js';
import type { WhatIfResult } from './whatif.js';

export interface MapSite {
  id: string;
  name: string;
  kind: string;
  region: string;
}
export interface MapGateway {
  id: string;
  site: string;
}
export interface MapLink {
  id: string;
  a: string;
  b: string;
  colour: string;
  width: number;
  dashed?: boolean;
  title: string;
}

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#5b6473;margin:0 0 4px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dde1e7;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b3261e;font-weight:600}.warn{color:#a15c00}.ok{color:#1e7d32}
svg{background:#fff;border:1px solid #dde1e7}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:18px;height:4px;vertical-align:middle;margin-right:4px}
`;

/** Positions: regions side by side; in each, datacenters on an inner ring and offices on an outer one. */
function layout(sites: MapSite[], gateways: MapGateway[], W: number, H: number) {
  const regions = [...new Set(sites.map((s) => s.region || '(none)'))].sort();
  const pos = new Map<string, { x: number; y: number }>();
  const colW = W / regions.length;
  regions.forEach((region, ri) => {
    const cx = colW * (ri + 0.5);
    const cy = H / 2;
    const inRegion = sites.filter((s) => (s.region || '(none)') === region).sort((a, b) => (a.id < b.id ? -1 : 1));
    const dcs = inRegion.filter((s) => s.kind === 'datacenter');
    const offices = inRegion.filter((s) => s.kind !== 'datacenter');
    const r1 = Math.min(colW, H) * 0.16;
    const r2 = Math.min(colW * 0.45, H * 0.42);
    dcs.forEach((s, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, dcs.length) - Math.PI / 2;
      pos.set(s.id, dcs.length === 1 ? { x: cx, y: cy } : { x: cx + r1 * Math.cos(a), y: cy + r1 * Math.sin(a) });
    });
    offices.forEach((s, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, offices.length) - Math.PI / 2 + 0.3;
      pos.set(s.id, { x: cx + r2 * Math.cos(a), y: cy + r2 * Math.sin(a) });
    });
  });
  const gpos = new Map<string, { x: number; y: number }>();
  const bySite = new Map<string, string[]>();
  for (const g of gateways) (bySite.get(g.site) ?? bySite.set(g.site, []).get(g.site)!).push(g.id);
  for (const [site, gws] of bySite) {
    const p = pos.get(site) ?? { x: W / 2, y: H / 2 };
    gws.sort().forEach((g, i) => {
      const off = gws.length === 1 ? 0 : (i - (gws.length - 1) / 2) * 14;
      gpos.set(g, { x: p.x + off, y: p.y });
    });
  }
  return { pos, gpos, regions, colW };
}

export function mapSvg(sites: MapSite[], gateways: MapGateway[], links: MapLink[], W = 1000, H = 620): string {
  const { pos, gpos, regions, colW } = layout(sites, gateways, W, H);
  const many = sites.length > 60;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="topology map">`];
  regions.forEach((r, i) => {
    parts.push(`<text x="${f1(colW * (i + 0.5))}" y="20" text-anchor="middle" font-size="13" fill="#5b6473">${esc(r)}</text>`);
    if (i > 0) parts.push(`<line x1="${f1(colW * i)}" y1="8" x2="${f1(colW * i)}" y2="${H - 8}" stroke="#eef1f5"/>`);
  });
  // Healthy links first, so the interesting ones are drawn on top.
  const ordered = [...links].sort((a, b) => (a.colour === '#9aa5b1' ? 0 : 1) - (b.colour === '#9aa5b1' ? 0 : 1) || (a.id < b.id ? -1 : 1));
  for (const l of ordered) {
    const p = gpos.get(l.a);
    const q = gpos.get(l.b);
    if (!p || !q) continue;
    parts.push(
      `<line x1="${f1(p.x)}" y1="${f1(p.y)}" x2="${f1(q.x)}" y2="${f1(q.y)}" stroke="${l.colour}" stroke-width="${f1(l.width)}"${l.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linecap="round"><title>${esc(l.title)}</title></line>`,
    );
  }
  for (const s of sites) {
    const p = pos.get(s.id);
    if (!p) continue;
    const dc = s.kind === 'datacenter';
    const r = dc ? 9 : 6;
    parts.push(
      dc
        ? `<rect x="${f1(p.x - r - 6)}" y="${f1(p.y - r)}" width="${2 * r + 12}" height="${2 * r}" rx="3" fill="#1f4e8c"><title>${esc(`${s.name} (${s.id}), datacenter, ${s.region}`)}</title></rect>`
        : `<circle cx="${f1(p.x)}" cy="${f1(p.y)}" r="${r}" fill="#5a7fb0"><title>${esc(`${s.name} (${s.id}), office, ${s.region}`)}</title></circle>`,
    );
    if (!many || dc) parts.push(`<text x="${f1(p.x)}" y="${f1(p.y - r - 5)}" text-anchor="middle" font-size="${many ? 9 : 12}" fill="#1d2330">${esc(s.id)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function utilColour(pct: number): string {
  if (pct > 100) return '#b3261e';
  if (pct >= 80) return '#e8710a';
  if (pct >= 50) return '#f2b01e';
  if (pct > 0) return '#34a853';
  return '#9aa5b1';
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body>\n${body}\n</body></html>\n`;
}

function table(header: string[], rows: (string | number)[][], numeric: number[] = []): string {
  const th = header.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="n"' : ''}>${typeof c === 'string' && c.startsWith('<') ? c : esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

const EP_COLOUR: Record<string, string> = { outage: '#b3261e', degraded: '#f2b01e', unreachable: '#7a8594' };

/** Events on a top row, then one row per demand with its disruptions as bars. */
function timelineSvg(r: SimResult, W = 1000): string {
  const left = 150;
  const right = 20;
  const rowH = 22;
  const top = 46;
  const dur = r.scenario.durationMs;
  const H = top + rowH * r.demands.length + 30;
  const x = (ms: number) => left + ((W - left - right) * Math.max(0, Math.min(dur, ms))) / dur;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="timeline">`];
  const step = niceStep(dur / 10);
  for (let t = 0; t <= dur + 1e-9; t += step) {
    parts.push(`<line x1="${f1(x(t))}" y1="${top - 8}" x2="${f1(x(t))}" y2="${H - 24}" stroke="#eef1f5"/>`);
    parts.push(`<text x="${f1(x(t))}" y="${H - 8}" text-anchor="middle" font-size="11" fill="#5b6473">${f1(t / 1000)} s</text>`);
  }
  const events = r.timeline.filter((e) => e.kind === 'event');
  events.forEach((e, i) => {
    parts.push(`<line x1="${f1(x(e.atMs))}" y1="${top - 10}" x2="${f1(x(e.atMs))}" y2="${H - 24}" stroke="#1f4e8c" stroke-dasharray="3 3"><title>${esc(`${e.atMs} ms: ${e.text}`)}</title></line>`);
    parts.push(`<text x="${f1(x(e.atMs) + 3)}" y="${14 + (i % 2) * 14}" font-size="11" fill="#1f4e8c">${esc(e.text)}</text>`);
  });
  r.demands.forEach((d, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(d.id)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 8}" width="${W - left - right}" height="4" fill="#cfe8d4"/>`);
    for (const e of d.episodes) {
      const w = Math.max(2, x(e.endMs) - x(e.startMs));
      parts.push(
        `<rect x="${f1(x(e.startMs))}" y="${y + 3}" width="${f1(w)}" height="14" fill="${EP_COLOUR[e.kind]}"><title>${esc(
          `${d.id}: ${e.kind}${e.reason ? ` (${e.reason})` : ''} ${e.durationMs} ms from ${e.startMs} ms; detection ${e.split.detectionMs}, local failover ${e.split.localFailoverMs}, reconvergence ${e.split.reconvergenceMs}, repair ${e.split.repairMs}; restored by ${e.restoredBy}`,
        )}</title></rect>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function simHtml(r: SimResult): string {
  const gateways: MapGateway[] = r.gateways.map((g) => ({ id: g.id, site: g.site }));
  const s = r.scenario;
  const t = s.timing;
  const links: MapLink[] = r.links.map((l) => ({
    id: l.id,
    a: l.a,
    b: l.b,
    colour: l.state === 'down' || l.downMs > 0 ? '#b3261e' : utilColour(l.peakUtilisationPct),
    dashed: l.state === 'down' || l.downMs > 0,
    width: 1.5 + Math.min(4, Math.log10(Math.max(10, l.capacityMbps)) - 1),
    title: `${l.id}: ${l.capacityMbps} Mbit/s, peak ${l.peakMbps} Mbit/s (${l.peakUtilisationPct}%)${l.overloaded ? ' OVERLOADED' : ''}; down ${l.downMs} ms; latency ${l.latencyMs} ms`,
  }));
  const body = [
    `<h1>${esc(s.name)}</h1>`,
    `<p class="meta">${esc(s.source)} · seed ${s.seed} · ${s.durationMs / 1000} s virtual · probes ${t.probeIntervalMs} ms × ${t.detectMultiplier} · hold ${t.holdMs} ms · control delay ${t.controlDelayMs} ms · compute ${t.computeMs} ms · local failover ${t.localFailover ? 'on' : 'off'} · utilisation at ${s.packetBytes}-byte packets</p>`,
    '<h2>Topology</h2>',
    '<p class="legend"><span><i class="sw" style="background:#34a853"></i>&lt;50%</span><span><i class="sw" style="background:#f2b01e"></i>50–80%</span><span><i class="sw" style="background:#e8710a"></i>80–100%</span><span><i class="sw" style="background:#b3261e"></i>overloaded or down (dashed)</span><span><i class="sw" style="background:#9aa5b1"></i>no demand traffic</span></p>',
    mapSvg(r.sites, gateways, links),
    '<h2>Timeline</h2>',
    '<p class="legend"><span><i class="sw" style="background:#b3261e"></i>outage</span><span><i class="sw" style="background:#f2b01e"></i>degraded</span><span><i class="sw" style="background:#7a8594"></i>unreachable</span></p>',
    timelineSvg(r),
    '<h2>Demands</h2>',
    table(
      ['demand', 'from', 'to', 'status', 'outage ms', 'unreachable ms', 'lost', 'loss %', 'max stretch', 'path at start', 'path at end'],
      r.demands.map((d) => [
        d.id,
        d.from,
        d.to,
        `<span class="${d.status === 'ok' ? 'ok' : d.status === 'disrupted' ? 'warn' : 'bad'}">${esc(d.status)}</span>`,
        d.outageMs,
        d.unreachableMs,
        d.packetsLost,
        d.lossPct,
        d.maxStretch ?? '-',
        d.pathStart.join(' › '),
        d.pathEnd.join(' › '),
      ]),
      [4, 5, 6, 7, 8],
    ),
    '<h2>Disruptions</h2>',
    table(
      ['demand', 'kind', 'start s', 'duration ms', 'detection', 'local failover', 'reconvergence', 'repair', 'restored by', 'lost', 'stretch', 'cause', 'path before', 'path after'],
      r.demands.flatMap((d) =>
        d.episodes.map((e) => [
          d.id,
          e.kind + (e.reason ? ` (${e.reason})` : ''),
          (e.startMs / 1000).toFixed(3),
          e.durationMs,
          e.split.detectionMs,
          e.split.localFailoverMs,
          e.split.reconvergenceMs,
          e.split.repairMs,
          e.restoredBy,
          e.packetsLost,
          e.stretch ?? '-',
          e.cause ?? '-',
          e.pathBefore.join(' › '),
          e.pathAfter.join(' › '),
        ]),
      ),
      [2, 3, 4, 5, 6, 7, 9, 10],
    ),
    '<h2>Links</h2>',
    table(
      ['link', 'capacity Mbit/s', 'baseline Mbit/s', 'peak Mbit/s', 'peak utilisation %', 'down ms', 'state', ''],
      r.links.map((l) => [l.id, l.capacityMbps, l.baselineMbps, l.peakMbps, l.peakUtilisationPct, l.downMs, l.state, l.overloaded ? '<span class="bad">OVERLOADED</span>' : '']),
      [1, 2, 3, 4, 5],
    ),
    '<h2>Event log</h2>',
    table(
      ['time s', 'kind', 'what'],
      r.timeline.map((e) => [(e.atMs / 1000).toFixed(3), e.kind, e.text]),
      [0],
    ),
    r.timelineTruncated ? `<p class="meta">${r.timelineTruncated} more entries in the JSON output.</p>` : '',
  ];
  return page(`Switchback simulation: ${s.name}`, body.join('\n'));
}

export function whatIfHtml(r: WhatIfResult, sites: MapSite[], gateways: MapGateway[], links: { id: string; a: string; b: string; capacityMbps: number }[], top = 200): string {
  // A link is coloured by how bad losing it alone is.
  const single = new Map(r.failures.filter((f) => f.elements.length === 1 && f.elements[0]!.kind === 'link').map((f) => [f.elements[0]!.id, f]));
  const mapLinks: MapLink[] = links.map((l) => {
    const f = single.get(l.id);
    const cut = f ? f.disconnectedPairs + f.disconnectedDemands.length : 0;
    const ctl = f ? f.needController : 0;
    const colour = !f ? '#9aa5b1' : cut > 0 ? '#b3261e' : f.overloadedLinks.length > 0 ? '#e8710a' : ctl > 0 ? '#f2b01e' : f.affectedPairs > 0 ? '#34a853' : '#9aa5b1';
    return {
      id: l.id,
      a: l.a,
      b: l.b,
      colour,
      width: 1.5 + Math.min(4, Math.log10(Math.max(10, l.capacityMbps)) - 1),
      title: f
        ? `${l.id} fails: ${f.disconnectedPairs} site pairs cut, ${f.affectedPairs} hit (${f.coveredLocally} by local failover, ${f.needController} wait for the controller), outage ${f.predictedOutageMs ?? 0} ms`
        : `${l.id}: not swept (drained or down)`,
    };
  });
  const p = r.predictions;
  const shown = r.failures.slice(0, top);
  const body = [
    '<h1>Switchback what-if</h1>',
    `<p class="meta">${r.failures.length} failures (${r.pairsIncluded ? 'single and pairs' : 'single'}) · ${r.topology.sites} sites · ${r.topology.gateways} gateways · ${r.topology.links} links · ${r.topology.srlgs} shared-risk groups · ${r.topology.sitePairs} site pairs</p>`,
    `<p class="meta">Predicted outage: ${p.localFailoverMs} ms with a loop-free backup (detection), else ${p.controllerMs} ms (detection + ${p.controlDelayMs} + ${p.computeMs} + ${p.controlDelayMs} ms).</p>`,
    '<h2>Topology: what losing each link does</h2>',
    '<p class="legend"><span><i class="sw" style="background:#b3261e"></i>cuts site pairs or demands</span><span><i class="sw" style="background:#e8710a"></i>overloads a link</span><span><i class="sw" style="background:#f2b01e"></i>some traffic waits for the controller</span><span><i class="sw" style="background:#34a853"></i>local failover covers it</span><span><i class="sw" style="background:#9aa5b1"></i>no traffic affected</span></p>',
    mapSvg(sites, gateways, mapLinks),
    `<h2>Failures ranked by impact${shown.length < r.failures.length ? ` (top ${shown.length} of ${r.failures.length})` : ''}</h2>`,
    table(
      ['#', 'failure', 'pairs cut', 'gone with it', 'pairs hit', 'local failover', 'controller', 'outage ms', 'worst stretch', 'overloaded', 'demands lost'],
      shown.map((f, i) => [
        i + 1,
        f.name,
        f.disconnectedPairs,
        f.lostWithFailure,
        f.affectedPairs,
        f.coveredLocally,
        f.needController,
        f.predictedOutageMs ?? '-',
        f.worstStretch ? `${f.worstStretch.stretch} (${f.worstStretch.from} → ${f.worstStretch.to})` : '-',
        f.overloadedLinks.map((l) => `${l.id} ${l.utilisationPct}%`).join(', ') || '-',
        demandsLost(f),
      ]),
      [0, 2, 3, 4, 5, 6, 7],
    ),
  ];
  return page('Switchback what-if', body.join('\n'));
}

/** Demands cut off, and those gone with a failed site (marked). */
function demandsLost(f: { disconnectedDemands: string[]; demandsGoneWithFailure: string[] }): string {
  const all = [...f.disconnectedDemands, ...f.demandsGoneWithFailure.map((d) => `${d} (site down)`)];
  return all.length ? all.join(', ') : '-';
}
