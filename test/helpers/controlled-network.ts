// A whole Switchback deployment in namespaces: the tunnel network of
// tunnel-network.ts, plus a NOC namespace running a real controller process,
// with a point-to-point management veth to every gateway, and a real agent
// process per gateway connected to the controller (plain-text gRPC).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { topologyToYaml } from '../../controller/topology/topology-yaml.js';
import { startAgentProcess, waitFor, type AgentProcess } from './agent-process.js';
import type { ExecResult, NetnsHarness } from './netns.js';
import { buildTunnelNetwork, type BuiltNetwork, type NetworkSpec } from './tunnel-network.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/switchback.mjs');

export interface ControlledOptions {
  probeIntervalMs?: number;
  detectMultiplier?: number;
  holdMs?: number;
  localFailover?: boolean;
  /** Extra environment for the agent processes (say SWITCHBACK_LOG=info); by default they log warnings only. */
  env?: NodeJS.ProcessEnv;
}

export interface ControlledNetwork {
  net: BuiltNetwork;
  noc: string;
  dir: string;
  agents: Map<string, AgentProcess>;
  controller(): ChildProcess | undefined;
  /** `switchback ctl ...` inside the NOC namespace. */
  ctl(...args: string[]): Promise<ExecResult>;
  ctlJson<T>(...args: string[]): Promise<T>;
  startController(): Promise<void>;
  killController(signal?: NodeJS.Signals): Promise<void>;
  startAgent(gw: string): Promise<AgentProcess>;
  killAgent(gw: string, signal?: NodeJS.Signals): Promise<void>;
  waitInSync(ms?: number): Promise<AgentRow[]>;
  close(): void;
}

export interface AgentRow {
  gatewayId: string;
  version: number;
  ackedVersion: number;
  inSync: boolean;
  connected: boolean;
}

export async function startControlledNetwork(h: NetnsHarness, spec: NetworkSpec, opts: ControlledOptions = {}): Promise<ControlledNetwork> {
  const net = await buildTunnelNetwork(h, spec);
  const dir = mkdtempSync(join(tmpdir(), 'sb-ctlnet-'));
  const noc = await h.namespace('noc');
  const mgmt = new Map<string, string>();
  for (const g of spec.gateways) {
    await h.veth({ ns: noc, ifname: `m${g.n}`, address: `10.253.${g.n}.1/30` }, { ns: net.gwNs.get(g.id)!, ifname: 'mgmt', address: `10.253.${g.n}.2/30` });
    mgmt.set(g.id, `10.253.${g.n}.1`);
  }
  const topoFile = join(dir, 'topology.yaml');
  writeFileSync(topoFile, topologyToYaml(net.topology));

  let controller: ChildProcess | undefined;
  const agents = new Map<string, AgentProcess>();
  const ctl = (...args: string[]) => h.exec(noc, process.execPath, [bin, 'ctl', '--controller', '127.0.0.1:7600', ...args], 30_000);
  const ctlJson = async <T>(...args: string[]): Promise<T> => {
    const r = await ctl('--json', ...args);
    if (r.code !== 0) throw new Error(`ctl ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  const startController = async () => {
    controller = h.spawn(noc, process.execPath, [bin, 'controller', '--data-dir', join(dir, 'controller'), '--no-bootstrap', '--listen', '127.0.0.1:7600', '--southbound', '0.0.0.0:7601', '--insecure'], {
      cwd: root,
      env: { ...process.env, SWITCHBACK_LOG: 'warn' },
    });
    let out = '';
    controller.stdout!.on('data', (d: Buffer) => (out += d));
    controller.stderr!.on('data', (d: Buffer) => (out += d));
    await waitFor(() => /admin API/.test(out), `controller start:\n${out}`, 20_000);
  };
  const killController = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = controller;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await exited;
  };
  const startAgent = async (gw: string) => {
    const args = [
      '--id', gw, '--controller', `${mgmt.get(gw)}:7601`, '--insecure',
      '--state-dir', join(dir, `agent-${gw}`),
      '--listen', `${net.endpoint(gw)}:4789`, '--tun', 'sb0', '--metrics', `${net.endpoint(gw)}:9101`,
      '--probe-interval', String(opts.probeIntervalMs ?? 100),
      '--detect-multiplier', String(opts.detectMultiplier ?? 3),
      '--hold', String(opts.holdMs ?? 5000),
      ...(opts.localFailover === false ? ['--no-local-failover'] : []),
    ];
    const a = await startAgentProcess(h, net.gwNs.get(gw)!, args, opts.env);
    agents.set(gw, a);
    return a;
  };
  const killAgent = async (gw: string, signal: NodeJS.Signals = 'SIGKILL') => {
    const a = agents.get(gw);
    if (!a || a.child.exitCode !== null || a.child.signalCode !== null) return;
    const exited = new Promise((r) => a.child.once('exit', r));
    a.child.kill(signal);
    await exited;
  };
  const waitInSync = async (ms = 30_000) => {
    let rows: AgentRow[] = [];
    await waitFor(async () => {
      rows = (await ctlJson<{ agents: AgentRow[] }>('agents')).agents;
      return rows.length === spec.gateways.length && rows.every((r) => r.inSync && r.connected);
    }, `every agent connected and in sync: ${JSON.stringify(rows)}`, ms);
    return rows;
  };

  await startController();
  const applied = await ctl('apply', topoFile);
  if (applied.code !== 0) throw new Error(`apply: ${applied.stderr}`);
  for (const g of spec.gateways) await startAgent(g.id);
  await waitInSync();
  return {
    net, noc, dir, agents, controller: () => controller, ctl, ctlJson, startController, killController, startAgent, killAgent, waitInSync,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// Real probe traffic, as the emulator runs it.
export { pingSeries } from '../../emulate/probes.js';
