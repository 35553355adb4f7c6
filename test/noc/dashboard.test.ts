// The NOC dashboard in a real browser (Debian's chromium, driven by
// playwright-core) against a real controller process with the example
// topology: the map shows every site and link, a drain through the admin
// API recolours the link and lands in the live feed without a reload.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import type { Topology } from '../../common/model.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Generous bounds: they only keep a broken run from hanging on a busy machine.
const WAIT = { timeout: 15_000 };
// A straight vertical or horizontal path has an empty box, which Playwright calls hidden.
const ATTACHED = { ...WAIT, state: 'attached' as const };

const dash = suite('NOC dashboard in chromium');
let dir: string;
let proc: ControllerProcess;
let admin: AdminClient;
let context: BrowserContext;
let page: Page;
let topo: Topology;
const pageErrors: string[] = [];

dash.before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  dir = mkdtempSync(join(tmpdir(), 'sb-noc-'));
  proc = await startControllerProcess(['--data-dir', join(dir, 'data')]);
  assert.ok(proc.dashboardUrl, `the controller printed its dashboard address:\n${proc.output()}`);
  admin = new AdminClient(proc.adminAddress, { actor: 'noc-test' });
  topo = (await admin.call('getTopology', {})).topology!;
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
  // Nothing may come from anywhere but the controller (no CDN).
  page.on('request', (r) => {
    if (!r.url().startsWith(proc.dashboardUrl!)) pageErrors.push(`external request: ${r.url()}`);
  });
});

dash.after(async () => {
  await context?.close();
  admin?.close();
  await proc?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const strokeOf = (id: string) => page.locator(`[data-link="${id}"]`).evaluate((e) => getComputedStyle(e).stroke);

dash('draws every site and every link of the topology', async () => {
  assert.ok(topo.sites.length >= 5 && topo.links.length >= 5, 'the example topology is not trivial');
  await page.goto(proc.dashboardUrl!);
  await page.locator('[data-site]').nth(topo.sites.length - 1).waitFor(WAIT);
  assert.is(await page.locator('[data-site]').count(), topo.sites.length);
  for (const s of topo.sites) {
    const site = page.locator(`[data-site="${s.id}"]`);
    assert.is(await site.count(), 1, `site ${s.id} drawn once`);
    assert.is(await site.getAttribute('data-kind'), s.kind === 1 ? 'datacenter' : 'office', `site ${s.id} kind`);
    assert.ok((await site.boundingBox())!.width > 0, `site ${s.id} is visible`);
  }
  assert.is(await page.locator('path[data-link]').count(), topo.links.length);
  for (const l of topo.links) {
    const link = page.locator(`path[data-link="${l.id}"]`);
    assert.is(await link.count(), 1, `link ${l.id} drawn once`);
    // No agent has reported yet: the state is unknown, not up.
    assert.is(await link.getAttribute('data-state'), 'unknown', `link ${l.id} state`);
    assert.ok(await page.locator(`[data-link-label="${l.id}"]`).textContent(), `link ${l.id} has a label`);
  }
  // Datacenters sit above the offices of their region.
  const regions = new Set(topo.sites.map((s) => s.region));
  for (const region of regions) {
    const ys = async (kind: number) =>
      Promise.all(topo.sites.filter((s) => s.region === region && s.kind === kind).map(async (s) => (await page.locator(`[data-site="${s.id}"]`).boundingBox())!.y));
    const dcs = await ys(1);
    const offices = await ys(2);
    if (dcs.length && offices.length) assert.ok(Math.max(...dcs) < Math.min(...offices), `region ${region}: datacenters on top`);
  }
  // One row per gateway, with its table version.
  for (const g of topo.gateways) {
    const row = page.locator(`#gateways tr[data-gateway="${g.id}"]`);
    assert.is(await row.count(), 1, `gateway ${g.id} row`);
    assert.ok(Number(await row.locator('td.version').textContent()) >= 1, `gateway ${g.id} has a table version`);
    assert.is(await row.getAttribute('data-sync'), 'never', `gateway ${g.id} never acknowledged`);
  }
  // The feed shows the bootstrap entry.
  await page.locator('#feed li[data-seq="1"]').waitFor(WAIT);
  await page.locator('#live[data-live="open"]').waitFor(WAIT);
});

dash('a drain through the admin API recolours the link and appears in the feed, without a reload', async () => {
  const link = topo.links[0]!;
  await page.evaluate(() => ((window as unknown as { noReload: number }).noReload = 42));
  const before = await strokeOf(link.id);
  const { journalSeq } = await admin.call('drainLink', { id: link.id, reason: 'browser test' });
  assert.ok(journalSeq > 1);
  await page.locator(`path[data-link="${link.id}"][data-state="drained"]`).waitFor(ATTACHED);
  const after = await strokeOf(link.id);
  assert.is.not(after, before, 'the link changed colour');
  assert.is(after, 'rgb(216, 154, 0)', 'drained links are amber');
  const item = page.locator(`#feed li[data-seq="${journalSeq}"]`);
  await item.waitFor(WAIT);
  assert.match((await item.textContent())!, new RegExp(`drained link ${link.id} \\(browser test\\)`));
  assert.match((await item.textContent())!, /noc-test@/);
  // Newest entry first.
  assert.is(await page.locator('#feed li').first().getAttribute('data-seq'), String(journalSeq));
  assert.is(await page.evaluate(() => (window as unknown as { noReload?: number }).noReload), 42, 'the page was not reloaded');
  // The other links kept their state.
  for (const l of topo.links.slice(1)) assert.is(await page.locator(`path[data-link="${l.id}"]`).getAttribute('data-state'), 'unknown');
});

dash('an operator on loopback undrains the link from the dashboard; the journal names the dashboard', async () => {
  const link = topo.links[0]!;
  await page.locator(`path[data-link="${link.id}"]`).dispatchEvent('click');
  await page.locator('#link-undrain:not([disabled])').click(WAIT);
  await page.locator(`path[data-link="${link.id}"][data-state="unknown"]`).waitFor(ATTACHED);
  const last = (await admin.call('listEvents', { afterSeq: 0, limit: 1000 })).entries.at(-1)!;
  assert.is(last.action, 'link.undrain');
  assert.match(last.actor, /^dashboard@(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
  await page.locator(`#feed li[data-seq="${last.seq}"]`).waitFor(WAIT);
  assert.is(await page.evaluate(() => (window as unknown as { noReload?: number }).noReload), 42, 'still no reload');
});

dash('the what-if panel lists the worst single failures of the current topology', async () => {
  await page.locator('#whatif-run').click();
  const first = page.locator('#whatif-results li[data-failure]').first();
  await first.waitFor(WAIT);
  const n = await page.locator('#whatif-results li[data-failure]').count();
  assert.ok(n >= 1 && n <= 10, `1-10 failures listed, got ${n}`);
  const name = (await first.getAttribute('data-failure'))!;
  assert.match(name, /^(link|gateway|site|srlg) /);
  assert.match((await first.textContent())!, /affected/);
});

dash('a screenshot of the dashboard is a non-empty PNG', async () => {
  const file = join(dir, 'dashboard.png');
  await page.screenshot({ path: file, fullPage: true });
  const png = readFileSync(file);
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'PNG signature');
  assert.is(png.subarray(12, 16).toString('latin1'), 'IHDR');
  assert.ok(png.readUInt32BE(16) >= 800 && png.readUInt32BE(20) >= 400, `image size ${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`);
  assert.ok(png.length > 20_000, `a drawn page, not a blank one (${png.length} bytes)`);
  // To look at it: SWITCHBACK_KEEP_SCREENSHOT=/tmp/dashboard.png
  if (process.env.SWITCHBACK_KEEP_SCREENSHOT) copyFileSync(file, process.env.SWITCHBACK_KEEP_SCREENSHOT);
});

dash('the page made no external request and raised no error', () => {
  assert.equal(pageErrors, []);
});

dash.run();
