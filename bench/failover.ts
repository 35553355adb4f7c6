// Benchmark of failover, the reason Switchback exists: the scenario of
// test/e2e/failover.test.ts (office o1 tunneled to dc1 and dc2, a ping from
// the office host to the dc2 host, the primary tunnel's underlay veth taken
// down) run again and again in network namespaces with real controller and
// agent processes, at probe intervals of 50, 100 and 300 ms, with local fast
// failover and without it (the agents then wait for the controller's new
// tables). Per run it measures the outage (lost pings x ping spacing) and
// its stages; per setting it prints the median and p90.
// Target: outage under 3 x probe interval + 50 ms with local failover.
//
//   npm run bench:failover [-- --runs N] [--ping-ms 5|10] [--intervals 50,100,300] [--hold-ms MS] [--json FILE]
//
// --json FILE writes every run's figures and its timeline (the agents'
// health and table lines, ms from the cut) for a closer look.
//
// Needs root and iproute2 (network namespaces). One network per setting;
// between runs the link is restored and the network waited back in sync.
// The hold time (a recovered peer's wait before it carries traffic again)
// only slows the restore between runs, so it is short here (default 1 s).
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { NetnsHarness, netnsPrerequisites } from '../test/helpers/netns.js';
import { startControlledNetwork } from '../test/helpers/controlled-network.js';
import { FailoverRunner, type RunFigures } from './failover-run.js';

const missing = netnsPrerequisites();
if (missing) {
  process.stderr.write(`bench:failover needs network namespaces: ${missing}\n`);
  process.exit(2);
}
// The scenario's topology is the e2e test's own; importing the file must not run its suite.
process.env.SB_NO_RUN = '1';
const { threeSites } = await import('../test/e2e/failover.test.js');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    'ping-ms': { type: 'string', default: '10' },
    intervals: { type: 'string', default: '50,100,300' },
    'hold-ms': { type: 'string', default: '1000' },
    multiplier: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const runs = int(values.runs, '--runs', 1, 1000);
const pingMs = int(values['ping-ms'], '--ping-ms', 2, 1000);
const holdMs = int(values['hold-ms'], '--hold-ms', 0, 60_000);
const multiplier = int(values.multiplier, '--multiplier', 1, 100);
const intervals = values.intervals.split(',').map((s) => int(s, '--intervals', 10, 60_000));

interface Setting {
  probeIntervalMs: number;
  localFailover: boolean;
  runs: RunFigures[];
  failures: string[];
  /** Per failed run: what diagnose() found (in the --json file). */
  failureDetails: string[];
}

const started = Date.now();
const load0 = loadavg();
const settings: Setting[] = [];
for (const localFailover of [true, false]) {
  for (const probeIntervalMs of intervals) {
    const s: Setting = { probeIntervalMs, localFailover, runs: [], failures: [], failureDetails: [] };
    settings.push(s);
    // A failed run (a restore that timed out, say) is reported, and the network rebuilt for the next one.
    while (s.runs.length < runs && s.failures.length < 3) {
      const h = new NetnsHarness();
      let runner: FailoverRunner | undefined;
      try {
        const cn = await startControlledNetwork(h, threeSites, {
          probeIntervalMs, detectMultiplier: multiplier, holdMs, localFailover,
          env: { SWITCHBACK_LOG: 'info' },
        });
        try {
          runner = new FailoverRunner(h, cn, { probeIntervalMs, localFailover, pingMs });
          while (s.runs.length < runs) {
            const f = await runner.run();
            s.runs.push(f);
            progress(`${label(s)} run ${s.runs.length}/${runs}: outage ${f.outageMs.toFixed(0)} ms (${f.lost} lost), detect ${f.detectMs.toFixed(0)}/${f.detectOtherMs.toFixed(0)}, traffic back ${f.resumeMs.toFixed(0)}, reconv ${f.reconvMs.toFixed(0)} (report ${f.reportMs.toFixed(0)} + push ${f.pushMs.toFixed(0)})${f.gaps > 1 ? `, ${f.gaps} gaps` : ''}${f.falseDowns ? `, ${f.falseDowns} false peer-down` : ''}${f.flips ? `, ${f.flips} link.oper flips` : ''}`);
          }
        } finally {
          cn.close();
        }
      } catch (err) {
        s.failures.push((err as Error).message.split('\n')[0]!);
        progress(`${label(s)} run ${s.runs.length + 1}/${runs} failed: ${(err as Error).message}`);
        const details = await runner?.diagnose().catch((e: Error) => `diagnose failed: ${e.message}`);
        s.failureDetails.push(`${(err as Error).message}\n${details ?? ''}`);
      } finally {
        await h.cleanup();
      }
    }
  }
}
const load1 = loadavg();
const minutes = (Date.now() - started) / 60_000;

if (values.json) writeFileSync(values.json, JSON.stringify({ pingMs, holdMs, multiplier, load: { before: load0, after: load1 }, settings }, null, 2) + '\n');
printReport();

function printReport(): void {
  const out: string[] = [];
  const cores = cpus().length;
  out.push(`Failover: office o1 -> dc2 host, primary tunnel o1--d2 cut (underlay veth down), ${runs} runs per setting, detect multiplier ${multiplier}, hold ${holdMs} ms`);
  const all = settings.flatMap((s) => s.runs);
  out.push(`ping every ${pingMs} ms asked; ping really sent every ${fmt(median(all.map((r) => r.spacingMs)), 1)} ms (median) while answered, every ${fmt(median(all.map((r) => r.outageSpacingMs)), 1)} ms across outages`);
  out.push(`outage = lost pings x the spacing ping kept across the outage (lost x ${pingMs} ms would understate it)`);
  out.push(`machine: ${cores} cores shared with other work; load average ${load0.map((x) => x.toFixed(2)).join(' ')} before, ${load1.map((x) => x.toFixed(2)).join(' ')} after; ${minutes.toFixed(1)} min`);
  out.push('');
  out.push('Outage and its stages, ms (median / p90)');
  const head = ['probe', 'local fo', 'runs', 'false downs', 'flips', 'lost pings', `lost x ${pingMs} ms`, 'outage', 'detect (1st end)', 'detect (2nd end)', 'traffic back', 'local failover', 'target', 'met'];
  const rows = settings.map((s) => {
    const target = 3 * s.probeIntervalMs + 50;
    const met = s.runs.filter((r) => r.outageMs < target).length;
    return [
      `${s.probeIntervalMs} ms`, s.localFailover ? 'on' : 'off', String(s.runs.length) + (s.failures.length ? ` (${s.failures.length} failed)` : ''),
      String(s.runs.reduce((n, r) => n + r.falseDowns, 0)), String(s.runs.reduce((n, r) => n + r.flips, 0)),
      mp(s.runs.map((r) => r.lost), 0), mp(s.runs.map((r) => r.lost * pingMs)), mp(s.runs.map((r) => r.outageMs)), mp(s.runs.map((r) => r.detectMs)), mp(s.runs.map((r) => r.detectOtherMs)),
      mp(s.runs.map((r) => r.resumeMs)), s.localFailover ? mp(s.runs.map((r) => r.localMs!)) : '-',
      s.localFailover ? `< ${target}` : '-', s.localFailover ? `${met}/${s.runs.length}` : '-',
    ];
  });
  out.push(...table(head, rows));
  out.push('  detect: cut -> first agent logs the peer down; 2nd end: the other end of the tunnel (traffic needs both);');
  out.push('  traffic back: cut -> first ping answered again; local failover: first peer-down -> traffic back;');
  out.push('  false downs: peer-down lines while the ping ran that the cut did not cause (an agent not scheduled for a detection time);');
  out.push("  flips: the controller set the cut link up again on the periodic report of the end that had not yet noticed the cut.");
  out.push('');
  out.push('Controller reconvergence, ms (median / p90)');
  const head2 = ['probe', 'local fo', 'report (peer-down -> link.oper)', 'push (link.oper -> last agent applied)', 'total (peer-down -> last applied)'];
  out.push(...table(head2, settings.map((s) => [
    `${s.probeIntervalMs} ms`, s.localFailover ? 'on' : 'off',
    mp(s.runs.map((r) => r.reportMs)), mp(s.runs.map((r) => r.pushMs)), mp(s.runs.map((r) => r.reconvMs)),
  ])));
  out.push('');
  out.push('Target with local failover: outage under 3 x probe interval + 50 ms');
  for (const s of settings.filter((x) => x.localFailover)) {
    const target = 3 * s.probeIntervalMs + 50;
    const o = s.runs.map((r) => r.outageMs);
    const verdict = o.length === 0 ? 'no runs' : quantile(o, 0.9) < target ? 'met (p90 under)' : median(o) < target ? 'median under, p90 over' : 'NOT met';
    out.push(`  ${String(s.probeIntervalMs).padStart(3)} ms probes: target ${target} ms, median ${fmt(median(o))}, p90 ${fmt(quantile(o, 0.9))}: ${verdict}`);
  }
  const failed = settings.filter((s) => s.failures.length);
  if (failed.length) {
    out.push('');
    for (const s of failed) out.push(`failed runs at ${label(s)}: ${s.failures.join('; ')}`);
  }
  out.push('');
  out.push('For comparison (documented figures, not measured here):');
  out.push("  OpenVPN with 'keepalive 10 60' restarts a dead tunnel after 60-120 s;");
  out.push('  Tailscale documents up to about 15 s for subnet-router failover.');
  process.stdout.write(out.join('\n') + '\n');
}

function label(s: Pick<Setting, 'probeIntervalMs' | 'localFailover'>): string {
  return `probe ${s.probeIntervalMs} ms, local failover ${s.localFailover ? 'on' : 'off'}`;
}

function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

/** Nearest-rank quantile. */
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function mp(xs: number[], digits = 0): string {
  return `${fmt(median(xs), digits)} / ${fmt(quantile(xs, 0.9), digits)}`;
}

function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), ...rows.map(line)];
}

function int(v: string, field: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    process.stderr.write(`${field}: must be an integer ${min}-${max}, got '${v}'\n`);
    process.exit(2);
  }
  return n;
}
