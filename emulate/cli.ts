// `switchback emulate <scenario.yaml>`: the scenario on real namespaces,
// real agents, a real controller (and nats-server), measured with real pings;
// --compare runs the simulator on the same file and shows its prediction.
import { parseArgs } from 'node:util';
import { invalid } from '../common/errors.js';
import { integer } from '../sim/cli.js';
import { runScenario } from '../sim/run-scenario.js';
import { loadScenario } from '../sim/scenario.js';
import { checkCanEmulate, LATENCY_NOTE, runEmulation } from './emulation.js';
import { emulateText } from './report-text.js';

const help = `usage: switchback emulate <scenario.yaml> [--transport grpc|nats] [--compare] [--json] [--ping-interval MS]

Builds the scenario's topology in network namespaces (root, Linux): a real
agent per gateway, a host per site, veth pairs as the underlay links, a real
controller (and a real nats-server with --transport nats); enrolls every
gateway (mTLS bundles), applies the topology, waits until every agent is in
sync, then plays the scenario's events in real time while every demand runs
as pings between the hosts, and prints the same per-demand table as
\`switchback sim\`. Link latency cannot be emulated (no netem): the
simulator's job. Namespaces and processes are always removed.

  --transport grpc|nats   the agents' control session (default grpc)
  --compare               also run the simulator and print its predicted outage
  --json                  the result as JSON
  --ping-interval MS      demand probe interval (default 10)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      transport: { type: 'string', default: 'grpc' },
      compare: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'ping-interval': { type: 'string', default: '10' },
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
  const transport = values.transport;
  if (transport !== 'grpc' && transport !== 'nats') throw invalid('--transport', `must be grpc or nats, got '${transport}'`);
  const pingIntervalMs = integer(values['ping-interval'], '--ping-interval', 2, 10_000);
  const scenario = loadScenario(positionals[0]!);
  checkCanEmulate();
  const log = (l: string) => {
    if (!values.json) process.stdout.write(l + '\n');
  };
  log(`Note: ${LATENCY_NOTE}`);
  log(`Bringing up ${scenario.topology.gateways.length} gateways, ${scenario.topology.sites.length} sites, ${scenario.topology.links.length} links (${transport}) ...`);
  const result = await runEmulation(scenario, { transport, pingIntervalMs, log });
  if (values.compare) {
    const sim = await runScenario(scenario);
    for (const d of result.demands) {
      const p = sim.demands.find((x) => x.id === d.id);
      if (p) {
        d.predictedOutageMs = p.outageMs;
        d.predictedPathEnd = p.pathEnd;
      }
    }
  }
  process.stdout.write(values.json ? JSON.stringify(result, (_k, v) => (v instanceof Set ? [...v] : v), 2) + '\n' : emulateText(result, values.compare));
  return 0;
}
