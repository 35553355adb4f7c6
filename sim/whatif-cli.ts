// `switchback whatif <topology-or-scenario.yaml>`: every single failure (and
// every pair with --pairs) against the baseline, ranked by impact.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMap, isScalar, parseDocument } from 'yaml';
import { SwitchbackError } from '../common/errors.js';
import type { Topology } from '../common/model.js';
import { parseTopologyYaml } from '../controller/topology/topology-yaml.js';
import { integer } from './cli.js';
import { whatIfHtml } from './report-html.js';
import { whatIfText } from './report-text.js';
import { parseScenario, type Scenario } from './scenario.js';
import { whatIf, type WhatIfOptions, type WhatIfResult } from './whatif.js';

const help = `usage: switchback whatif <topology-or-scenario.yaml> [--pairs] [--json] [--report out.html]
                        [--top N] [--max-pairs N]

Fails every link, gateway, site and shared-risk group in turn (and every pair
of them with --pairs), compares with the baseline using the real routing, and
ranks the failures by impact: site pairs and demands that lose connectivity,
links overloaded, predicted outage (detection when a loop-free backup covers
it, else detection + control delay + compute + push), worst stretch.

A topology file (the format of \`switchback ctl apply\`) is swept with default
timing; a scenario file (docs/simulator.md) adds its demands (for overloads
and latency stretch), its timing and routing options.

  --pairs           also every pair of single failures
  --json            the full result as JSON
  --report FILE     also write a self-contained HTML report
  --top N           rows in the text table (default 30)
  --max-pairs N     refuse --pairs sweeps larger than this (default 100000)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      pairs: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      report: { type: 'string' },
      top: { type: 'string' },
      'max-pairs': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(help + '\n');
    return 2;
  }
  const top = values.top === undefined ? 30 : integer(values.top, '--top', 1, 1_000_000);
  const maxPairs = values['max-pairs'] === undefined ? undefined : integer(values['max-pairs'], '--max-pairs', 1, 100_000_000);
  const { topology, scenario } = loadInput(positionals[0]!);
  const result = whatIf(topology, { ...optionsFrom(scenario), pairs: values.pairs, ...(maxPairs ? { maxPairs } : {}) });
  if (values.report) writeReport(values.report, result, topology);
  process.stdout.write(values.json ? JSON.stringify(result, null, 2) + '\n' : whatIfText(result, top));
  return 0;
}

/** A topology file or a scenario file, told apart by their top-level keys. */
export function loadInput(path: string): { topology: Topology; scenario?: Scenario } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot read ${path}: ${(err as Error).message}`, { field: 'file', source: path });
  }
  const doc = parseDocument(text, { prettyErrors: false });
  const keys = isMap(doc.contents) ? doc.contents.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')) : [];
  if (keys.some((k) => ['topology', 'topology_file', 'demands', 'events', 'timing'].includes(k))) {
    const scenario = parseScenario(text, path);
    return { topology: scenario.topology, scenario };
  }
  return { topology: parseTopologyYaml(text, path) };
}

export function optionsFrom(s: Scenario | undefined): WhatIfOptions {
  if (!s) return {};
  return { routing: s.routing, timing: s.timing, demands: s.demands, network: s.network };
}

function writeReport(file: string, r: WhatIfResult, t: Topology): void {
  const kind = (k: number) => (k === 1 ? 'datacenter' : 'office');
  const html = whatIfHtml(
    r,
    t.sites.map((s) => ({ id: s.id, name: s.name, kind: kind(s.kind), region: s.region })),
    t.gateways.map((g) => ({ id: g.id, site: g.siteId })),
    t.links.map((l) => ({ id: l.id, a: l.a, b: l.b, capacityMbps: l.capacityMbps })),
  );
  try {
    writeFileSync(file, html);
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot write the report to ${file}: ${(err as Error).message}`, { field: '--report' });
  }
}
