// The NOC dashboard: draws /api/state, follows /api/events (server-sent
// events fed by the journal) and re-reads the state when the journal moves,
// so the page stays current without a reload. Plain browser JS, no build.
const SVG = 'http://www.w3.org/2000/svg';
const SITE_W = 120;
const SITE_H = 46;
const CELL_W = 170;
const CELL_H = 110;
const FEED_MAX = 200;

const $ = (id) => document.getElementById(id);
let current = null;
let selectedLink = null;

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function html(name, attrs = {}, text) {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** One column per region (sorted), datacenters on top, offices below. */
function layout(sites) {
  const regions = [...new Set(sites.map((s) => s.region || '-'))].sort();
  const pos = new Map();
  const columns = [];
  let x = 20;
  let height = 0;
  for (const region of regions) {
    const dcs = sites.filter((s) => (s.region || '-') === region && s.kind === 'datacenter');
    const offices = sites.filter((s) => (s.region || '-') === region && s.kind !== 'datacenter');
    const cols = Math.max(1, Math.min(3, Math.max(dcs.length, Math.ceil(Math.sqrt(offices.length)))));
    let y = 50;
    const place = (group) => {
      group.forEach((s, i) => {
        const row = Math.floor(i / cols);
        const col = i % cols;
        // Stagger odd rows so links between neighbours do not overlap sites.
        const shift = row % 2 ? CELL_W / 2 : 0;
        pos.set(s.id, { x: x + col * CELL_W + CELL_W / 2 + (cols > 1 ? shift / 2 : 0), y: y + row * CELL_H + SITE_H / 2 });
      });
      y += Math.ceil(group.length / cols) * CELL_H;
    };
    place(dcs);
    if (dcs.length && offices.length) y += 20;
    place(offices);
    const width = cols * CELL_W + CELL_W / 4;
    columns.push({ region, x, width, height: y });
    height = Math.max(height, y);
    x += width + 30;
  }
  return { pos, columns, width: x, height: height + 10 };
}

function fmtRtt(us) {
  if (!us) return '–';
  return us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : `${(us / 1000).toFixed(1)} ms`;
}

function fmtLoss(ppm) {
  return `${(ppm / 10_000).toFixed(ppm && ppm < 1000 ? 2 : 1)}%`;
}

function fmtAgo(ms) {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return new Date(ms).toLocaleString();
}

function drawMap(state) {
  const svg = $('map');
  const { pos, columns, width, height } = layout(state.sites);
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${Math.max(width, 300)} ${Math.max(height, 200)}`);
  for (const c of columns) {
    svg.append(el('rect', { class: 'region-box', x: c.x, y: 8, width: c.width, height: c.height, rx: 8, 'data-region': c.region }));
    svg.append(el('text', { class: 'region-title', x: c.x + 10, y: 28 }, c.region));
  }
  // Links between the same two sites are fanned out as curves.
  const pairs = new Map();
  for (const l of state.links) {
    const key = [l.siteA, l.siteB].sort().join('|');
    pairs.set(key, [...(pairs.get(key) ?? []), l]);
  }
  const linkLayer = el('g', { id: 'links' });
  const labelLayer = el('g', { id: 'link-labels' });
  for (const group of pairs.values()) {
    group.forEach((l, i) => {
      const a = pos.get(l.siteA);
      const b = pos.get(l.siteB);
      if (!a || !b) return;
      const [p, q] = l.siteA <= l.siteB ? [a, b] : [b, a];
      const dx = q.x - p.x;
      const dy = q.y - p.y;
      const len = Math.hypot(dx, dy) || 1;
      const bend = (i - (group.length - 1) / 2) * 28 + (len < 1 ? 40 : 0);
      const mx = (p.x + q.x) / 2 - (dy / len) * bend;
      const my = (p.y + q.y) / 2 + (dx / len) * bend;
      const title = `${l.id}: ${l.a} – ${l.b}, ${l.state}, cost ${l.effectiveCost}${l.effectiveCost !== l.cost ? ` (configured ${l.cost})` : ''}`;
      const path = el('path', {
        class: `link${selectedLink === l.id ? ' selected' : ''}`,
        d: `M ${p.x} ${p.y} Q ${mx} ${my} ${q.x} ${q.y}`,
        'data-link': l.id,
        'data-state': l.state,
        'data-admin': l.adminState,
        'data-oper': l.operState,
      });
      path.append(el('title', {}, title));
      path.addEventListener('click', () => selectLink(l.id));
      linkLayer.append(path);
      // The curve's midpoint (t = 0.5 of the quadratic).
      const lx = (p.x + 2 * mx + q.x) / 4;
      const ly = (p.y + 2 * my + q.y) / 4;
      labelLayer.append(el('text', { class: 'link-label', x: lx, y: ly, 'data-link-label': l.id }, l.rttUs ? `${fmtRtt(l.rttUs)} · ${fmtLoss(l.lossPpm)}` : '–'));
    });
  }
  svg.append(linkLayer);
  for (const s of state.sites) {
    const p = pos.get(s.id);
    const g = el('g', { class: 'site', 'data-site': s.id, 'data-kind': s.kind, transform: `translate(${p.x - SITE_W / 2} ${p.y - SITE_H / 2})` });
    g.append(el('title', {}, `${s.name} (${s.kind}, ${s.region}): ${s.gateways.join(', ') || 'no gateways'}`));
    g.append(el('rect', { width: SITE_W, height: SITE_H, rx: s.kind === 'datacenter' ? 3 : 12 }));
    g.append(el('text', { class: 'site-id', x: SITE_W / 2, y: 18 }, s.id));
    g.append(el('text', { x: SITE_W / 2, y: 34 }, s.name.length > 20 ? `${s.name.slice(0, 19)}…` : s.name));
    svg.append(g);
  }
  svg.append(labelLayer);
}

function drawGateways(state) {
  const body = $('gateways').tBodies[0];
  body.replaceChildren(
    ...state.gateways.map((g) => {
      const sync = g.version === 0 ? 'no table' : g.ackedVersion === 0 ? 'never' : g.inSync ? 'in-sync' : 'behind';
      const tr = html('tr', { 'data-gateway': g.id, 'data-sync': sync, 'data-connected': g.connected ? 'yes' : 'no' });
      tr.append(
        html('td', {}, g.id),
        html('td', {}, g.siteId),
        html('td', { class: 'version' }, String(g.version)),
        html('td', { class: 'acked' }, String(g.ackedVersion)),
        html('td', { class: 'sync', 'data-sync': sync }, sync),
        html('td', {}, g.connected ? g.transport || 'yes' : g.transport ? `${g.transport} (away)` : '–'),
        html('td', { class: 'last-seen', title: g.lastSeenUnixMs ? new Date(g.lastSeenUnixMs).toISOString() : '' }, fmtAgo(g.lastSeenUnixMs)),
      );
      return tr;
    }),
  );
}

function render(state) {
  current = state;
  $('epoch').textContent = `epoch ${state.epoch} · journal #${state.journalSeq} · ${state.sites.length} sites · ${state.links.length} links`;
  drawMap(state);
  drawGateways(state);
  if (selectedLink) showLinkDetail(selectedLink);
}

async function refresh() {
  const r = await fetch('/api/state', { cache: 'no-store' });
  if (r.ok) render(await r.json());
}

let pending = null;
/** Coalesces bursts of events into one state read. */
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    refresh().catch(() => {});
  }, 150);
}

function addFeedItem(e, fresh) {
  const feed = $('feed');
  if (feed.querySelector(`li[data-seq="${e.seq}"]`)) return;
  const li = html('li', { 'data-seq': e.seq, 'data-action': e.action, 'data-subject': e.subject, class: fresh ? 'fresh' : '' });
  li.title = new Date(e.atUnixMs).toISOString() + (e.tables.length ? ` · ${e.tables.length} table(s) changed` : '');
  li.append(
    html('span', { class: 'seq' }, `#${e.seq}`),
    html('span', { class: 'action' }, e.action),
    html('span', { class: 'summary' }, e.summary),
    html('span', { class: 'actor' }, `— ${e.actor}, ${new Date(e.atUnixMs).toLocaleTimeString()}`),
  );
  // Newest first; entries arrive in order, but a replay may interleave.
  const after = [...feed.children].find((x) => Number(x.dataset.seq) < e.seq);
  feed.insertBefore(li, after ?? null);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

function follow() {
  const live = $('live');
  const es = new EventSource('/api/events');
  let replayed = false;
  es.addEventListener('open', () => {
    live.dataset.live = 'open';
    live.textContent = 'live';
  });
  es.addEventListener('error', () => {
    live.dataset.live = es.readyState === EventSource.CLOSED ? 'closed' : 'connecting';
    live.textContent = es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…';
  });
  es.addEventListener('journal', (m) => {
    const e = JSON.parse(m.data);
    addFeedItem(e, replayed);
    if (current && e.seq > current.journalSeq) refreshSoon();
  });
  es.addEventListener('ack', () => refreshSoon());
  // Entries replayed on connect are not flashed as fresh.
  setTimeout(() => (replayed = true), 500);
}

function selectLink(id) {
  selectedLink = id;
  for (const p of document.querySelectorAll('.link')) p.classList.toggle('selected', p.dataset.link === id);
  showLinkDetail(id);
}

function showLinkDetail(id) {
  const l = current?.links.find((x) => x.id === id);
  const box = $('link-detail');
  if (!l) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.dataset.link = id;
  $('link-detail-title').textContent = `${l.id} (${l.a} – ${l.b})`;
  $('link-detail-text').textContent = `${l.state}, RTT ${fmtRtt(l.rttUs)}, loss ${fmtLoss(l.lossPpm)}, cost ${l.effectiveCost}`;
  $('link-drain').disabled = l.adminState === 'drained';
  $('link-undrain').disabled = l.adminState !== 'drained';
}

async function operate(verb) {
  const id = $('link-detail').dataset.link;
  const err = $('link-detail-error');
  err.textContent = '';
  const reason = verb === 'drain' ? 'from the NOC dashboard' : undefined;
  const r = await fetch(`/api/links/${encodeURIComponent(id)}/${verb}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(reason ? { reason } : {}),
  });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    err.textContent = body.error?.message ?? `${verb} failed (${r.status})`;
  }
  refreshSoon();
}

async function runWhatIf() {
  const button = $('whatif-run');
  const list = $('whatif-results');
  button.disabled = true;
  $('whatif-summary').textContent = 'running…';
  try {
    const r = await fetch('/api/whatif?limit=10', { cache: 'no-store' });
    const w = await r.json();
    if (!r.ok) throw new Error(w.error?.message ?? r.statusText);
    $('whatif-summary').textContent = `journal #${w.journalSeq}: ${w.connectedPairs}/${w.sitePairs} site pairs connected; local failover ≈ ${w.localFailoverMs} ms, controller ≈ ${w.controllerMs} ms`;
    list.replaceChildren(
      ...w.failures.map((f) => {
        const li = html('li', { 'data-failure': f.name, 'data-disconnected': f.disconnectedPairs });
        const parts = [];
        if (f.disconnectedPairs) parts.push(`${f.disconnectedPairs} pair(s) cut off`);
        if (f.lostWithFailure) parts.push(`${f.lostWithFailure} pair(s) lost with the failed site`);
        parts.push(`${f.affectedPairs} affected (${f.coveredLocally} by local failover, ${f.needController} wait for the controller)`);
        if (f.predictedOutageMs !== null) parts.push(`outage ≈ ${f.predictedOutageMs} ms`);
        if (f.worstStretch) parts.push(`worst stretch ${f.worstStretch.stretch.toFixed(2)}× ${f.worstStretch.from}→${f.worstStretch.to}`);
        li.append(html('strong', {}, f.name), html('span', { class: 'impact' }, ` — ${parts.join('; ')}`));
        return li;
      }),
    );
    if (!w.failures.length) list.replaceChildren(html('li', {}, 'no single failure has any impact'));
  } catch (e) {
    $('whatif-summary').textContent = `what-if failed: ${e.message}`;
  } finally {
    button.disabled = false;
  }
}

$('whatif-run').addEventListener('click', () => runWhatIf());
$('link-drain').addEventListener('click', () => operate('drain'));
$('link-undrain').addEventListener('click', () => operate('undrain'));
// RTT and loss are not journaled (they are figures, not changes): poll them.
setInterval(() => refreshSoon(), 5000);
refresh().then(follow, (e) => {
  $('live').textContent = `cannot read state: ${e.message}`;
  follow();
});
