// The reason Switchback exists: an office tunneled to two datacenters keeps
// talking to datacenter 2 when its direct tunnel dies. A ping every 10 ms
// runs from the office host to the datacenter-2 host; the primary path's
// underlay veth goes down; the pings continue through datacenter 1, and the
// controller hears of it, recomputes and every agent acknowledges the new
// tables. The test asserts recovery and convergence, not times.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NetnsHarness, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { pingSeries, startControlledNetwork, type AgentRow, type ControlledNetwork } from '../helpers/controlled-network.js';
import { linkId, type NetworkSpec } from '../helpers/tunnel-network.js';
import { waitFor } from '../helpers/agent-process.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`e2e needs root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');

export const threeSites: NetworkSpec = {
  sites: [
    { id: 'office', kind: 'office', prefix24: '10.1.0' },
    { id: 'dc1', kind: 'datacenter', prefix24: '10.2.0' },
    { id: 'dc2', kind: 'datacenter', prefix24: '10.3.0' },
  ],
  gateways: [
    { id: 'o1', site: 'office', n: 1 },
    { id: 'd1', site: 'dc1', n: 2 },
    { id: 'd2', site: 'dc2', n: 3 },
  ],
  // Office to dc2: direct (10) is primary, via dc1 (10 + 5) the backup.
  links: [
    { a: 'o1', b: 'd2', cost: 10 },
    { a: 'o1', b: 'd1', cost: 10 },
    { a: 'd1', b: 'd2', cost: 5 },
  ],
};

const failover = suite('failover end to end');
let h: NetnsHarness;
let cn: ControlledNetwork;

failover.before(async () => {
  h = new NetnsHarness();
  cn = await startControlledNetwork(h, threeSites, { probeIntervalMs: 100, detectMultiplier: 3, holdMs: 5000 });
});
failover.after(async () => {
  await h?.cleanup();
  cn?.close();
});

failover('the primary tunnel dies: pings continue via the other datacenter; routes converge', async () => {
  const primary = linkId('o1', 'd2');
  const before = await cn.waitInSync();
  const ping = pingSeries(h, cn.net.hostNs.get('office')!, '10.3.0.10', 700, 10);
  await new Promise((r) => setTimeout(r, 2000));
  const [ns, ifname] = cn.net.linkIf.get(primary)!.a;
  await h.setLink(ns, ifname, 'down');
  const { sent, answered } = await ping.done;

  const lost = sent - answered.size;
  const lastLost = Math.max(-1, ...[...Array(sent).keys()].map((i) => i + 1).filter((s) => !answered.has(s)));
  console.log(`  ${answered.size}/${sent} answered; ${lost} lost (${lost * 10} ms at 10 ms per ping); last lost seq ${lastLost}`);
  assert.ok(answered.size > 0.8 * sent, 'most pings are answered');
  // Recovered: every one of the last 200 pings (2 s) was answered.
  for (let s = sent - 200; s <= sent; s++) assert.ok(answered.has(s), `ping ${s} after recovery`);
  assert.ok(lost > 0, 'the cut did interrupt traffic (the test cut the path it meant to)');

  // The controller learned the link is down and pushed new tables; every agent acked.
  await waitFor(async () => {
    const links = await cn.ctlJson<{ id: string; operState: number }[]>('links');
    return links.find((l) => l.id === primary)?.operState === 2;
  }, `${primary} reported down`);
  const after: AgentRow[] = await cn.waitInSync();
  const moved = after.filter((a) => a.version > before.find((b) => b.gatewayId === a.gatewayId)!.version);
  assert.ok(moved.length >= 2, `new tables pushed and acknowledged: ${JSON.stringify(after)}`);
  const events = await cn.ctl('events');
  assert.match(events.stdout, new RegExp(`link\\.oper\\s+link (o1-d2|d2-o1) down, reported by (o1|d2)`));
  const routes = await cn.ctlJson<{ routes: { rule: { prefix: string; primary: { gatewayId: string }[] } }[] }>('routes', 'o1');
  const toDc2 = routes.routes.find((r) => r.rule.prefix === '10.3.0.0/24')!;
  assert.equal(toDc2.rule.primary.map((p) => p.gatewayId), ['d1'], 'the office now routes to dc2 through dc1');
});

if (!process.env.SB_NO_RUN) failover.run();
