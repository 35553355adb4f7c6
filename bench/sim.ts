// Benchmarks of the simulator. Run: npm run bench:sim
//
// 1. what-if: every single failure (links, gateways, sites, shared-risk
//    groups) of a generated topology of about 200 sites and 1,000 links,
//    ranked against the baseline. Target: under 10 s.
// 2. probing: 60 s of virtual time for 1,000 gateways probing every tunnel
//    peer at 100 ms, with the real controller (MemoryStore), health monitors
//    and control channel, and one link failure at 30 s. Target: under 30 s
//    of wall time.
// Each runs in a child process of its own so that its peak memory (max RSS)
// is its own. `tsx bench/sim.ts whatif|probe` runs one and prints its figures.
// The children run with a 64 MB young generation (--max-semi-space-size):
// a simulation allocates a few small objects per probe, nearly all dead
// within milliseconds of virtual time, and the default 16 MB young
// generation promotes enough of them to double the wall time and the peak
// memory of the probing run.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateTopology } from '../sim/generate-topology.js';
import { runScenario } from '../sim/run-scenario.js';
import { DEFAULT_LINK_NET, DEFAULT_TIMING, type Scenario } from '../sim/scenario.js';
import { whatIf } from '../sim/whatif.js';

interface Figures {
  name: string;
  wallMs: number;
  /** CPU time of the process (user + system) over the same span: what wall time is on an idle core. */
  cpuMs: number;
  maxRssMb: number;
  target: string;
  detail: Record<string, number | string>;
}

const mb = () => Math.round(process.resourceUsage().maxRSS / 1024);

function cpuSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

function benchWhatIf(): Figures {
  // 210 gateways at 9.5 links each: about 200 sites (offices and two-gateway datacenters) and 1,000 links.
  const topo = generateTopology({ gateways: 210, seed: 1, linksPerGateway: 9.5 });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = whatIf(topo);
  const wallMs = performance.now() - t0;
  return {
    name: 'what-if sweep of all single failures',
    wallMs,
    cpuMs: cpuSince(c0),
    maxRssMb: mb(),
    target: '< 10 s',
    detail: {
      sites: r.topology.sites,
      gateways: r.topology.gateways,
      links: r.topology.links,
      srlgs: r.topology.srlgs,
      sitePairs: r.topology.sitePairs,
      failures: r.failures.length,
      worst: r.failures[0]!.name,
    },
  };
}

async function benchProbe(): Promise<Figures> {
  // One prefix per site keeps the 1,000 flow tables (1,000 rules each) to what
  // the controller and store must hold; probing does not depend on them.
  const topo = generateTopology({ gateways: 1000, seed: 1, linksPerGateway: 4, prefixesPerSite: 1 });
  const link = topo.links.find((l) => l.srlgs.length > 0 && l.a.includes('-of'))!;
  const scenario: Scenario = {
    name: 'bench: 1,000 gateways probing',
    source: 'bench/sim.ts',
    topologySource: 'generated',
    topology: topo,
    network: { defaults: { ...DEFAULT_LINK_NET }, links: new Map() },
    demands: [],
    timing: { ...DEFAULT_TIMING, durationMs: 60_000, seed: 1 },
    routing: {},
    events: [
      { kind: 'link_down', link: link.id, atMs: 30_000 },
    ],
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await runScenario(scenario);
  const wallMs = performance.now() - t0;
  const cpuMs = cpuSince(c0);
  const eventsRun = r.engine.eventsRun;
  const sessions = topo.links.length * 2;
  return {
    name: '60 s virtual, 1,000 gateways probing at 100 ms',
    wallMs,
    cpuMs,
    maxRssMb: mb(),
    target: '< 30 s',
    detail: {
      gateways: topo.gateways.length,
      links: topo.links.length,
      probeSessions: sessions,
      probesSent: sessions * 600,
      engineEvents: eventsRun,
      eventsPerSecond: Math.round(eventsRun / (wallMs / 1000)),
      journalEntries: r.controller.journalEntries,
      linkReports: r.controller.reportsDelivered,
      peerDownEvents: r.gateways.reduce((a, g) => a + g.peerDownEvents, 0),
    },
  };
}

const NODE_FLAGS = ['--max-semi-space-size=64'];

const which = process.argv[2];
if (which === 'whatif' || which === 'probe') {
  process.stdout.write(JSON.stringify(which === 'whatif' ? benchWhatIf() : await benchProbe()) + '\n');
} else {
  const self = fileURLToPath(import.meta.url);
  for (const name of ['whatif', 'probe']) {
    const r = spawnSync(process.execPath, [...NODE_FLAGS, '--import', 'tsx', self, name], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      process.exitCode = 1;
      continue;
    }
    const f = JSON.parse(r.stdout.trim().split('\n').pop()!) as Figures;
    const detail = Object.entries(f.detail)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)
      .join(', ');
    process.stdout.write(`${f.name}: ${(f.wallMs / 1000).toFixed(2)} s wall, ${(f.cpuMs / 1000).toFixed(2)} s CPU (target ${f.target}), peak RSS ${f.maxRssMb} MB (node ${NODE_FLAGS.join(' ')})\n  ${detail}\n`);
  }
}
