// Route computation benchmark: `npm run bench:routing [-- sizes...]`.
// Each size runs in a fresh child process (with --expose-gc) so memory
// figures are not polluted by earlier sizes. Topologies come from
// sim/generate-topology.ts (regions, meshed datacenters, dual-homed offices,
// random extra tunnels; ~10 links per gateway, 10 prefixes per site).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { computeRoutingState, diffRoutes, recomputeAfterLinkChange } from '../controller/routing/index.js';
import { tableHash } from '../common/flow-table.js';
import { OperState } from '../common/model.js';
import { createRandom } from '../common/random.js';
import { generateTopology } from '../sim/generate-topology.js';

interface Result {
  gateways: number;
  links: number;
  rulesPerTable: number;
  fullMs: number;
  fullCpuMs: number;
  heapMB: number;
  peakRssMB: number;
  tableMs: number;
  incMedianMs: number;
  incMaxMs: number;
  incChangedMedian: number;
  deltaMedianMs: number;
  samples: number;
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mb = (bytes: number) => bytes / 1048576;

function child(size: number): Result {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const topo = generateTopology({ gateways: size, seed: 42 });
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const ext0 = process.memoryUsage().arrayBuffers;
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const state = computeRoutingState(topo);
  const fullMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const peakRss = process.resourceUsage().maxRSS * 1024 - rss0;
  gc();
  const mem = process.memoryUsage();
  const heapMB = mb(mem.heapUsed - heap0 + (mem.arrayBuffers - ext0));

  // One gateway's flow table, materialized and hashed (what the store does per changed table).
  const ids = [...state.routes.keys()];
  const rnd = createRandom(7);
  const tableTimes: number[] = [];
  let rulesPerTable = 0;
  for (let i = 0; i < 6; i++) {
    const r = state.routes.get(rnd.pick(ids))!;
    const t = performance.now();
    const rules = r.rules;
    tableHash({ gatewayId: r.gatewayId, nodeId: r.nodeId, version: 1, epoch: 1, rules, peers: r.peers });
    if (i > 0) tableTimes.push(performance.now() - t); // the first one warms up
    rulesPerTable = rules.length;
  }

  // One link goes down: several different links, each from the same base
  // state, after a few untimed ones (a running controller is warmed up).
  const usable = rnd.shuffle(topo.links.filter((l) => l.operState !== OperState.DOWN));
  const down = (id: string) => ({ ...topo, links: topo.links.map((l) => (l.id === id ? { ...l, operState: OperState.DOWN } : l)) });
  for (const link of usable.slice(0, 3)) recomputeAfterLinkChange(state, down(link.id), [link.id]);
  const picks = usable.slice(3, 3 + 9);
  const incTimes: number[] = [];
  const changed: number[] = [];
  const deltaTimes: number[] = [];
  for (const link of picks) {
    const topo2 = down(link.id);
    const t = performance.now();
    const next = recomputeAfterLinkChange(state, topo2, [link.id]);
    incTimes.push(performance.now() - t);
    changed.push(next.changedGateways.size);
    // The rule-level delta of every changed gateway (what a store would write and push).
    const t2 = performance.now();
    for (const id of next.changedGateways) diffRoutes(state, next, id);
    deltaTimes.push(performance.now() - t2);
  }
  return {
    gateways: size,
    links: topo.links.length,
    rulesPerTable,
    fullMs,
    fullCpuMs: (cpu.user + cpu.system) / 1000,
    heapMB,
    peakRssMB: mb(peakRss),
    tableMs: median(tableTimes),
    incMedianMs: median(incTimes),
    incMaxMs: Math.max(...incTimes),
    incChangedMedian: median(changed),
    deltaMedianMs: median(deltaTimes),
    samples: picks.length,
  };
}

function parent(sizes: number[]): void {
  const self = fileURLToPath(import.meta.url);
  const rows: Result[] = [];
  for (const size of sizes) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', self, '--child', String(size)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) {
      console.error(`size ${size}: child exited with ${r.status ?? r.signal}`);
      process.exitCode = 1;
      continue;
    }
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Result);
    process.stderr.write(`  ${size} gateways done\n`);
  }
  const f = (x: number, d = 0) => x.toFixed(d);
  console.log('\nroute computation (one process per size; times are wall clock)\n');
  console.log('| gateways | links | rules/table | full (ms) | full CPU (ms) | retained (MB) | peak RSS Δ (MB) | 1 table + hash (ms) | link down: median (ms) | max (ms) | gateways changed (median) | their deltas (ms, median) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.gateways} | ${r.links} | ${r.rulesPerTable} | ${f(r.fullMs)} | ${f(r.fullCpuMs)} | ${f(r.heapMB, 1)} | ${f(r.peakRssMB, 1)} | ${f(r.tableMs, 1)} | ${f(r.incMedianMs, 1)} | ${f(r.incMaxMs, 1)} | ${r.incChangedMedian} | ${f(r.deltaMedianMs, 1)} |`,
    );
  }
  console.log(`\nlink down: ${rows[0]?.samples ?? 0} different links per size (after 3 untimed warm-up ones), each recomputed`);
  console.log('incrementally from the same full state; "their deltas": diffRoutes for every gateway whose table changed.');
  console.log('retained: heap + typed arrays still held by the state after GC; peak RSS Δ: growth of the process peak RSS.');
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  console.log(JSON.stringify(child(Number(argv[1]))));
} else {
  const sizes = argv.length ? argv.map(Number) : [100, 300, 1000, 3000];
  parent(sizes);
}
