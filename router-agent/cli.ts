// `switchback agent`: the gateway agent process.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SystemClock } from '../common/clock.js';
import { invalid, SwitchbackError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { FlowTable } from '../common/model.js';
import { parseIp } from '../common/prefix.js';
import { Agent } from './agent.js';
import { GreUnderlay } from './io/gre-underlay.js';
import { TunPort } from './io/tun-port.js';
import { UdpUnderlay } from './io/udp-underlay.js';
import type { Underlay } from './io/underlay.js';
import { agentRegistry, serveMetrics } from './metrics.js';
import { tunnelOverhead } from './dataplane/index.js';

const log = createLogger('agent');

export const agentHelp = `usage: switchback agent --id GATEWAY --table table.json [options]

Runs the gateway agent: a TUN device for the site's hosts, tunnels to the
peers of its flow table, probes and local failover.

table source:
  --table FILE            a flow table (JSON, as FlowTable.toJSON) to forward with

underlay:
  --underlay udp|gre      default udp (AEAD-sealed, crosses NAT)
  --listen HOST:PORT      UDP address to receive tunnel packets on (default 0.0.0.0:4789)
  --local-address IP      GRE: the local IPv4 address of the underlay
  --gre-insecure          required with --underlay gre: GRE is plaintext
  --underlay-mtu N        MTU of the underlay interface (default 1500)

access side:
  --tun NAME              TUN device name (default sb0)
  --tun-address CIDR      address of the TUN device (repeatable)
  --vrf ID                VRF of this site's hosts (default: from the table)

  --metrics HOST:PORT     Prometheus metrics (default 127.0.0.1:9101; 'off' to disable)`;

export const agentOptions = {
  id: { type: 'string' },
  table: { type: 'string' },
  underlay: { type: 'string', default: 'udp' },
  listen: { type: 'string', default: '0.0.0.0:4789' },
  'local-address': { type: 'string' },
  'gre-insecure': { type: 'boolean', default: false },
  'underlay-mtu': { type: 'string', default: '1500' },
  tun: { type: 'string', default: 'sb0' },
  'tun-address': { type: 'string', multiple: true },
  vrf: { type: 'string' },
  metrics: { type: 'string', default: '127.0.0.1:9101' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function readTableFile(path: string): FlowTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalid('--table', `cannot read ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid('--table', `${path} is not JSON: ${(err as Error).message}`);
  }
  if (!json || typeof json !== 'object') throw invalid('--table', `${path} must hold a flow table object`);
  return FlowTable.fromJSON(json);
}

function hostPort(v: string, field: string): { host: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = v.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(v.slice(i + 1));
  if (i < 1 || !Number.isInteger(port) || port < 0 || port > 65535) throw invalid(field, `'${v}' is not host:port`);
  parseIp(host, field);
  return { host, port };
}

function positiveInt(v: string, field: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(field, `must be an integer ${min}-${max}, got '${v}'`);
  return Number(v);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: agentOptions, strict: true });
  if (values.help) {
    process.stdout.write(agentHelp + '\n');
    return 0;
  }
  if (!values.id) throw invalid('--id', 'the gateway id is required');
  if (!values.table) throw invalid('--table', 'a table source is required');
  const table = readTableFile(values.table);
  if (table.gatewayId && table.gatewayId !== values.id) {
    throw invalid('--table', `the table is for gateway '${table.gatewayId}', not '${values.id}'`);
  }
  const mode = values.underlay;
  if (mode !== 'udp' && mode !== 'gre') throw invalid('--underlay', `must be udp or gre, got '${mode}'`);
  const underlayMtu = positiveInt(values['underlay-mtu'], '--underlay-mtu', 576, 9216);
  const vrf = values.vrf === undefined ? undefined : positiveInt(values.vrf, '--vrf', 1, 0xffffff);

  let underlay: Underlay;
  if (mode === 'gre') {
    if (!values['local-address']) throw invalid('--local-address', 'GRE needs the local underlay IPv4 address');
    underlay = await GreUnderlay.open({ localAddress: values['local-address'], allowPlaintext: values['gre-insecure'] });
  } else {
    const l = hostPort(values.listen, '--listen');
    underlay = await UdpUnderlay.open({ bindAddress: l.host, port: l.port });
  }
  let tun: TunPort | undefined;
  try {
    tun = await TunPort.open({ name: values.tun, mtu: underlayMtu - tunnelOverhead(mode, 4), addresses: values['tun-address'] ?? [] });
  } catch (err) {
    await underlay.close();
    throw err;
  }
  const agent = new Agent({ gatewayId: values.id, clock: new SystemClock(), underlay, tun, accessVrf: vrf });
  if (!agent.applyTable(table)) {
    await agent.close();
    throw new SwitchbackError('INVALID_ARGUMENT', `the table in ${values.table} was refused (see the log)`, { field: '--table' });
  }
  let metricsAddress = 'off';
  let metricsServer: { close(): void } | undefined;
  if (values.metrics !== 'off') {
    hostPort(values.metrics, '--metrics');
    const m = await serveMetrics(agentRegistry(agent, values.id), values.metrics);
    metricsServer = m.server;
    metricsAddress = m.address;
  }
  process.stdout.write(
    `switchback agent ${values.id}: ${mode} underlay ${underlay.local.host}:${underlay.local.port}, tun ${tun.name} mtu ${tun.mtu}, table ${table.version}, metrics ${metricsAddress}\n`,
  );
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      log.info(`${sig}: shutting down`);
      metricsServer?.close();
      agent.close().then(done, done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
