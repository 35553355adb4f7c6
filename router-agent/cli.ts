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
import { NativeUdpUnderlay, openUdpUnderlay, udpIoOption } from './io/native-udp-underlay.js';
import type { Underlay } from './io/underlay.js';
import { agentRegistry, agentStatusMetrics, serveMetrics } from './metrics.js';
import { attachAgentHealth } from './agent-health.js';
import { readBundleFile } from '../common/bundle.js';
import { resolve } from 'node:path';
import type { ControlClient } from './control/control-client.js';
import { controlConfigFromBundle, createControlClient, type ControlConfig } from './control/control-config.js';
import { LmdbTableStore } from './control/local-table-store.js';
import { CertRenewer } from './control/cert-renewer.js';
import { tunnelOverhead } from './dataplane/index.js';

const log = createLogger('agent');

export const agentHelp = `usage: switchback agent --bundle FILE [options]
       switchback agent --id GATEWAY --controller HOST:PORT --insecure [options]
       switchback agent --id GATEWAY --table table.json [options]

Runs the gateway agent: a TUN device for the site's hosts, tunnels to the
peers of its flow table, probes and local failover. With a controller it
keeps its last applied table in --state-dir and forwards on it while the
controller is away (fail-static), across its own restarts too.

table source (one of):
  --bundle FILE           enrollment bundle from 'switchback ctl enroll' (mTLS gRPC or NATS)
  --controller HOST:PORT  controller's southbound gRPC address (with --insecure: plain text, tests only)
  --nats URL              NATS server(s), comma-separated (credentials from --bundle)
  --transport grpc|nats   with a bundle naming both (default grpc)
  --table FILE            a fixed flow table (JSON, as FlowTable.toJSON), no controller
  --state-dir DIR         where the last applied table is kept (default ./data/agent-<id>)
  --renew-before DAYS     with --bundle: renew the certificate over the session when less than
                          this is left (default: a third of its lifetime); the bundle is rewritten

health:
  --probe-interval MS     probe every tunnel peer this often (default 100)
  --detect-multiplier N   down after N intervals without a reply (default 3)
  --hold MS               a recovered peer must stay up this long before it carries traffic (default 5000)
  --no-local-failover     do not switch to backups locally; wait for the controller
  --no-tun-offload        no TCP segmentation offload on the TUN devices (one packet per read and write)
  --no-fast-path          every packet through the JS data plane: no native fast path (in C) for
                          the common case (seal to one peer, open and deliver)

underlay:
  --underlay udp|gre      default udp (AEAD-sealed, crosses NAT)
  --listen HOST:PORT      UDP address to receive tunnel packets on (default 0.0.0.0:4789)
  --udp-io native|dgram   UDP socket I/O: batched (recvmmsg/sendmmsg, the native addon) or node:dgram
                          (default native when the addon is built, else dgram)
  --local-address IP      GRE: the local IPv4 address of the underlay
  --gre-insecure          required with --underlay gre: GRE is plaintext
  --underlay-mtu N        MTU of the underlay interface (default 1500)

access side:
  --tun NAME              TUN device name (default sb0)
  --tun-address CIDR      address of the TUN device (repeatable)
  --vrf ID                VRF of the --tun device's hosts (default: from the table)
  --vrf-tun ID=NAME[:TABLE]
                          another access VRF with a TUN device of its own (repeatable), for a
                          gateway whose site has prefixes in several VRFs: packets read from
                          NAME are looked up in VRF ID, VRF ID's packets are delivered to it,
                          and its remote prefixes are routed through it, in kernel routing
                          table TABLE when given (needed when they overlap another VRF's;
                          select it with 'ip rule add iif <access interface> lookup TABLE')

  --metrics HOST:PORT     Prometheus metrics (default 127.0.0.1:9101; 'off' to disable)`;

export const agentOptions = {
  id: { type: 'string' },
  table: { type: 'string' },
  bundle: { type: 'string' },
  controller: { type: 'string' },
  insecure: { type: 'boolean', default: false },
  nats: { type: 'string' },
  transport: { type: 'string' },
  'state-dir': { type: 'string' },
  'renew-before': { type: 'string' },
  'probe-interval': { type: 'string', default: '100' },
  'detect-multiplier': { type: 'string', default: '3' },
  hold: { type: 'string', default: '5000' },
  'no-local-failover': { type: 'boolean', default: false },
  'no-tun-offload': { type: 'boolean', default: false },
  'no-fast-path': { type: 'boolean', default: false },
  underlay: { type: 'string', default: 'udp' },
  listen: { type: 'string', default: '0.0.0.0:4789' },
  'udp-io': { type: 'string' },
  'local-address': { type: 'string' },
  'gre-insecure': { type: 'boolean', default: false },
  'underlay-mtu': { type: 'string', default: '1500' },
  tun: { type: 'string', default: 'sb0' },
  'tun-address': { type: 'string', multiple: true },
  vrf: { type: 'string' },
  'vrf-tun': { type: 'string', multiple: true },
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

/** ' (native I/O)' or ' (dgram I/O)' for the UDP underlay, for the start-up line. */
function underlayIo(u: Underlay): string {
  return u.kind !== 'udp' ? '' : u instanceof NativeUdpUnderlay ? ' (native I/O)' : ' (dgram I/O)';
}

export interface VrfTunSpec {
  vrf: number;
  name: string;
  table?: number;
}

/** `--vrf-tun ID=NAME[:TABLE]` values, checked before any device is opened. */
export function parseVrfTuns(values: readonly string[], mainTun: string, mainVrf: number | undefined): VrfTunSpec[] {
  const out: VrfTunSpec[] = [];
  for (const v of values) {
    const m = /^(\d+)=([^:=]+)(?::(\d+))?$/.exec(v);
    if (!m) throw invalid('--vrf-tun', `'${v}' is not VRF=NAME or VRF=NAME:TABLE (e.g. 2=sb1:102)`);
    const vrf = positiveInt(m[1]!, '--vrf-tun', 1, 0xffffff);
    const name = m[2]!;
    const table = m[3] === undefined ? undefined : positiveInt(m[3], '--vrf-tun', 1, 0xffffffff);
    if (table !== undefined && table >= 253 && table <= 255) throw invalid('--vrf-tun', `table ${table} is one of the kernel's own (default, main, local): pick another`);
    if (vrf === mainVrf) throw invalid('--vrf-tun', `VRF ${vrf} is already the --vrf of the --tun device`);
    if (name === mainTun) throw invalid('--vrf-tun', `device ${name} is already the --tun device`);
    if (out.some((o) => o.vrf === vrf)) throw invalid('--vrf-tun', `VRF ${vrf} is given twice`);
    if (out.some((o) => o.name === name)) throw invalid('--vrf-tun', `device ${name} is given twice`);
    out.push({ vrf, name, ...(table === undefined ? {} : { table }) });
  }
  return out;
}

type AgentValues = ReturnType<typeof parseArgs<{ options: typeof agentOptions }>>['values'];

/** The control session the flags ask for, if any. */
function controlFromArgs(values: AgentValues): ControlConfig | undefined {
  const transport = values.transport;
  if (transport !== undefined && transport !== 'grpc' && transport !== 'nats') throw invalid('--transport', `must be grpc or nats, got '${transport}'`);
  if (values.bundle) {
    const b = readBundleFile(values.bundle);
    if (values.id && values.id !== b.gatewayId) throw invalid('--id', `the bundle is for gateway '${b.gatewayId}', not '${values.id}'`);
    const withOverrides = {
      ...b,
      controller: {
        grpc: values.controller ? [values.controller] : b.controller.grpc,
        nats: values.nats ? values.nats.split(',') : b.controller.nats,
      },
    };
    return controlConfigFromBundle(withOverrides, transport ?? (values.nats ? 'nats' : undefined));
  }
  if (!values.id) return undefined;
  if (values.nats) return { gatewayId: values.id, transport: 'nats', nats: { servers: values.nats.split(',') } };
  if (values.controller) {
    if (!values.insecure) throw invalid('--insecure', 'without a --bundle the gRPC session is plain text: say so with --insecure (local tests only)');
    return { gatewayId: values.id, transport: 'grpc', grpc: { address: values.controller, insecure: true } };
  }
  return undefined;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: agentOptions, strict: true });
  if (values.help) {
    process.stdout.write(agentHelp + '\n');
    return 0;
  }
  const control = controlFromArgs(values);
  const gatewayId = control?.gatewayId ?? values.id;
  if (!gatewayId) throw invalid('--id', 'the gateway id is required (or a --bundle)');
  let table: FlowTable | undefined;
  if (values.table) {
    if (control) throw invalid('--table', 'use either a fixed --table or a controller, not both');
    table = readTableFile(values.table);
    if (table.gatewayId && table.gatewayId !== gatewayId) {
      throw invalid('--table', `the table is for gateway '${table.gatewayId}', not '${gatewayId}'`);
    }
  } else if (!control) {
    throw invalid('--table', 'a table source is required: --bundle, --controller or --table');
  }
  const probe = {
    intervalMs: positiveInt(values['probe-interval'], '--probe-interval', 10, 60_000),
    multiplier: positiveInt(values['detect-multiplier'], '--detect-multiplier', 1, 100),
    holdMs: positiveInt(values.hold, '--hold', 0, 3_600_000),
  };
  const mode = values.underlay;
  if (mode !== 'udp' && mode !== 'gre') throw invalid('--underlay', `must be udp or gre, got '${mode}'`);
  const udpIo = udpIoOption(values['udp-io']);
  const underlayMtu = positiveInt(values['underlay-mtu'], '--underlay-mtu', 576, 9216);
  const vrf = values.vrf === undefined ? undefined : positiveInt(values.vrf, '--vrf', 1, 0xffffff);
  const vrfTunSpecs = parseVrfTuns(values['vrf-tun'] ?? [], values.tun, vrf);
  if (values['renew-before'] !== undefined && !values.bundle) throw invalid('--renew-before', 'only with --bundle (the certificate renewed is the bundle\'s)');
  const renewBeforeMs = values['renew-before'] === undefined ? undefined : positiveInt(values['renew-before'], '--renew-before', 1, 3650) * 86_400_000;

  let underlay: Underlay;
  if (mode === 'gre') {
    if (!values['local-address']) throw invalid('--local-address', 'GRE needs the local underlay IPv4 address');
    underlay = await GreUnderlay.open({ localAddress: values['local-address'], allowPlaintext: values['gre-insecure'] });
  } else {
    const l = hostPort(values.listen, '--listen');
    underlay = await openUdpUnderlay({ bindAddress: l.host, port: l.port }, udpIo);
  }
  let tun: TunPort | undefined;
  const vrfTuns = new Map<number, TunPort>();
  try {
    const mtu = underlayMtu - tunnelOverhead(mode, 4);
    const offload = !values['no-tun-offload'];
    tun = await TunPort.open({ name: values.tun, mtu, addresses: values['tun-address'] ?? [], offload });
    for (const s of vrfTunSpecs) vrfTuns.set(s.vrf, await TunPort.open({ name: s.name, mtu, routeTable: s.table, offload }));
  } catch (err) {
    for (const t of vrfTuns.values()) await t.close();
    await tun?.close();
    await underlay.close();
    throw err;
  }
  const clock = new SystemClock();
  const agent = new Agent({ gatewayId, clock, underlay, tun, accessVrf: vrf, vrfTuns, fastPath: !values['no-fast-path'] });
  let client: ControlClient | undefined;
  let store: LmdbTableStore | undefined;
  if (control) {
    store = new LmdbTableStore(values['state-dir'] ?? resolve('data', `agent-${gatewayId}`));
    client = createControlClient(control, store, { clock });
  }
  // Probes travel in the authenticated UDP tunnel format; a GRE peer (often
  // an ordinary router) cannot answer them, so GRE mode runs without probes
  // and without local failover: peers count as up, the controller reroutes.
  const health =
    mode === 'udp'
      ? attachAgentHealth(agent, { clock, probe, localFailover: !values['no-local-failover'], reports: client })
      : undefined;
  if (!health) log.warn('GRE mode: no tunnel probes, so no local failover; use the UDP underlay for fast failover');
  if (table && !agent.applyTable(table)) {
    health?.close();
    await agent.close();
    throw new SwitchbackError('INVALID_ARGUMENT', `the table in ${values.table} was refused (see the log)`, { field: '--table' });
  }
  client?.on((e) => {
    if (e.type === 'table') agent.applyTable(e.table);
    else if (e.type === 'connected') log.info('control session up', { epoch: e.epoch, transport: e.transport });
    else if (e.type === 'disconnected') log.warn('control session down; forwarding on the last table', { reason: e.reason });
  });
  client?.start();
  // The bundle's certificate is renewed over the session before it runs out.
  const renewer =
    client && values.bundle
      ? new CertRenewer({
          bundlePath: values.bundle,
          bundle: readBundleFile(values.bundle),
          client,
          clock,
          renewBeforeMs,
        })
      : undefined;
  renewer?.start();
  let metricsAddress = 'off';
  let metricsServer: { close(): void } | undefined;
  if (values.metrics !== 'off') {
    hostPort(values.metrics, '--metrics');
    const extra = agentStatusMetrics({ health, tuns: [tun, ...vrfTuns.values()], control: client && control ? { client, transport: control.transport } : undefined });
    const m = await serveMetrics(agentRegistry({ snapshot: () => agent.snapshot(), extra }, gatewayId), values.metrics);
    metricsServer = m.server;
    metricsAddress = m.address;
  }
  const source = table ? `table ${table.version}` : `controller via ${control!.transport}, held table ${client!.table?.version ?? 'none'}`;
  process.stdout.write(
    `switchback agent ${gatewayId}: ${mode} underlay ${underlay.local.host}:${underlay.local.port}${underlayIo(underlay)}, tun ${tun.name} mtu ${tun.mtu}${tun.offload ? ' (offload)' : ''}${[...vrfTuns].map(([v, t]) => `, vrf ${v} tun ${t.name}${t.routeTable === undefined ? '' : ` table ${t.routeTable}`}`).join('')}, ${source}, metrics ${metricsAddress}\n`,
  );
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      log.info(`${sig}: shutting down`);
      metricsServer?.close();
      health?.close();
      (renewer?.stop() ?? Promise.resolve())
        .then(() => client?.stop())
        .then(() => agent.close())
        .then(() => store?.close())
        .then(done, done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
