// `switchback sim`: run a scenario in virtual time (docs/simulator.md), or
// generate a large random multi-region topology for what-if and scenarios.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { invalid, SwitchbackError } from '../common/errors.js';
import { topologyToYaml } from '../controller/topology/topology-yaml.js';
import { generateTopology } from './generate-topology.js';
import { simHtml } from './report-html.js';
import { simText } from './report-text.js';
import { runScenario } from './run-scenario.js';
import { loadScenario } from './scenario.js';

const help = `usage: switchback sim <scenario.yaml> [--json] [--report out.html] [--seed N]
       switchback sim --generate <gateways> [--seed N] [--regions N]
                      [--links-per-gateway N] [--prefixes-per-site N] [--out topology.yaml]

Runs a scenario in virtual time with the real controller, routing, health
monitor and data plane, and prints a timeline and, per demand, the outage
split into detection, local failover and controller reconvergence, the path
before and after, latency stretch and packets lost; per link, utilisation
against capacity. The format of scenario files is in docs/simulator.md;
examples/scenario-dc-loss.yaml is a complete one.

  --json            the full result as JSON (byte-identical for the same scenario and seed)
  --report FILE     also write a self-contained HTML report (map and timeline)
  --seed N          override timing.seed

--generate writes a random multi-region topology in the format of
\`switchback ctl apply\` (to --out, or to standard output): about 5% of the
gateways in datacenters (two per datacenter, hubs meshed across regions),
offices dual-homed to two datacenters of their region, extra tunnels up to
--links-per-gateway (default 10). Same options and seed, same topology.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      report: { type: 'string' },
      seed: { type: 'string' },
      generate: { type: 'string' },
      regions: { type: 'string' },
      'links-per-gateway': { type: 'string' },
      'prefixes-per-site': { type: 'string' },
      out: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help + '\n');
    return 0;
  }
  const seed = values.seed === undefined ? undefined : integer(values.seed, '--seed', 0, 0xffffffff);
  if (values.generate !== undefined) {
    if (positionals.length > 0) throw invalid('generate', 'takes no scenario file');
    const topo = generateTopology({
      gateways: integer(values.generate, '--generate', 2, 65535),
      seed: seed ?? 1,
      ...(values.regions !== undefined ? { regions: integer(values.regions, '--regions', 1, 1000) } : {}),
      ...(values['links-per-gateway'] !== undefined ? { linksPerGateway: number(values['links-per-gateway'], '--links-per-gateway', 1, 1000) } : {}),
      ...(values['prefixes-per-site'] !== undefined ? { prefixesPerSite: integer(values['prefixes-per-site'], '--prefixes-per-site', 0, 1000) } : {}),
    });
    const yaml = topologyToYaml(topo);
    if (values.out) {
      writeFileSync(values.out, yaml);
      process.stderr.write(`wrote ${values.out}: ${topo.sites.length} sites, ${topo.gateways.length} gateways, ${topo.links.length} links\n`);
    } else process.stdout.write(yaml);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(help + '\n');
    return 2;
  }
  const scenario = loadScenario(positionals[0]!, { seed });
  const result = await runScenario(scenario);
  if (values.report) {
    try {
      writeFileSync(values.report, simHtml(result));
    } catch (err) {
      throw new SwitchbackError('INVALID_ARGUMENT', `cannot write the report to ${values.report}: ${(err as Error).message}`, { field: '--report' });
    }
  }
  process.stdout.write(values.json ? JSON.stringify(result, null, 2) + '\n' : simText(result));
  if (values.report && !values.json) process.stdout.write(`\nHTML report: ${values.report}\n`);
  return 0;
}

export function integer(text: string, field: string, min: number, max: number): number {
  const v = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(v) || v < min || v > max) throw invalid(field, `expected an integer ${min}..${max}, got '${text}'`);
  return v;
}

function number(text: string, field: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) throw invalid(field, `expected a number ${min}..${max}, got '${text}'`);
  return v;
}
