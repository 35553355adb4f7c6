// The processes of an emulation: a real controller (and, for NATS, a real
// nats-server) in the NOC namespace, a real `switchback agent` in every
// gateway namespace, each gateway enrolled with its own mTLS bundle.
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { precondition, SwitchbackError } from '../common/errors.js';
import { OperState } from '../common/model.js';
import { topologyToYaml } from '../controller/topology/topology-yaml.js';
import type { ExecResult, NetnsHarness } from './netns.js';
import type { EmulatedNetwork } from './network.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/switchback.mjs');
const ADMIN = '127.0.0.1:7600';
const NATS_PORT = 4222;
/** Nice value of the agents (ip netns exec execs in place, so the child's pid is the agent's). */
const AGENT_PRIORITY = -10;

export type Transport = 'grpc' | 'nats';

export interface AgentTiming {
  probeIntervalMs: number;
  detectMultiplier: number;
  holdMs: number;
  localFailover: boolean;
}

export interface AgentRow {
  gatewayId: string;
  version: number;
  ackedVersion: number;
  inSync: boolean;
  connected: boolean;
  transport?: string;
  revoked?: boolean;
}

export interface RouteRow {
  vrf: number;
  vrfName: string;
  rule: { prefix: string; vrf: number; action: number | string; destSiteId?: string };
  primaryPaths: { gateways: string[]; cost: number }[];
}

/** Waits until `cond` holds, polling; throws a DEADLINE_EXCEEDED naming `what` after `ms`. */
export async function waitFor(cond: () => Promise<boolean> | boolean, what: string | (() => string), ms = 15_000, everyMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new SwitchbackError('UNAVAILABLE', `timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`);
}

/** Raises a process's CPU priority, and its session's under autogroup scheduling; says why not when it cannot. */
function raisePriority(pid: number, warn: (m: string) => void): void {
  try {
    setPriority(pid, AGENT_PRIORITY);
    const ag = `/proc/${pid}/autogroup`;
    if (existsSync(ag)) writeFileSync(ag, String(AGENT_PRIORITY));
  } catch (err) {
    warn(`could not raise the CPU priority: ${(err as Error).message}`);
  }
}

export function findNatsServer(): string {
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout?.trim();
  if (found.status !== 0 || !path) throw precondition('nats-server not found on PATH: install the Debian package nats-server (apt-get install -y nats-server)');
  return path;
}

export class Deployment {
  private controllerProc?: ChildProcess;
  private natsProc?: ChildProcess;
  readonly agents = new Map<string, { child: ChildProcess; output: () => string }>();
  readonly bundles = new Map<string, string>();
  /** 'mtls' unless enrolling failed, then 'insecure' (gRPC only). */
  security: 'mtls' | 'insecure' = 'mtls';

  constructor(
    readonly h: NetnsHarness,
    readonly net: EmulatedNetwork,
    readonly dir: string,
    readonly transport: Transport,
    readonly timing: AgentTiming,
    private readonly log: (line: string) => void = () => {},
  ) {}

  ctl(...args: string[]): Promise<ExecResult> {
    return this.h.exec(this.net.noc, process.execPath, [bin, 'ctl', '--controller', ADMIN, ...args], 30_000);
  }

  async ctlJson<T>(...args: string[]): Promise<T> {
    const r = await this.ctl('--json', ...args);
    if (r.code !== 0) throw precondition(`ctl ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  controllerRunning(): boolean {
    const c = this.controllerProc;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  async startController(): Promise<void> {
    const args = [
      bin, 'controller', '--data-dir', join(this.dir, 'controller'), '--no-bootstrap', '--listen', ADMIN,
      '--southbound', '0.0.0.0:7601', '--http', 'off',
      // Every management address goes into the server certificate.
      ...[...this.net.mgmt.values()].flatMap((m) => ['--advertise', `${m.noc}:7601`]),
      ...(this.security === 'insecure' ? ['--insecure'] : []),
      ...(this.natsProc ? ['--nats', `nats://127.0.0.1:${NATS_PORT}`] : []),
    ];
    const c = this.h.spawn(this.net.noc, process.execPath, args, { cwd: root, env: { ...process.env, SWITCHBACK_LOG: 'warn' } });
    this.controllerProc = c;
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d));
    c.stderr!.on('data', (d: Buffer) => (out += d));
    await waitFor(() => {
      if (c.exitCode !== null) throw precondition(`the controller exited (${c.exitCode}):\n${out}`);
      return /admin API/.test(out);
    }, `the controller to start:\n${out}`, 30_000, 50);
  }

  async killController(): Promise<void> {
    const c = this.controllerProc;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  /** Controller up, topology applied, every gateway enrolled (and nats-server up for NATS). */
  async bringUpControl(): Promise<void> {
    await this.startController();
    const topoFile = join(this.dir, 'topology.yaml');
    writeFileSync(topoFile, topologyToYaml(this.net.topology));
    const applied = await this.ctl('apply', topoFile);
    if (applied.code !== 0) throw precondition(`ctl apply: ${(applied.stderr || applied.stdout).trim()}`);
    const gws = this.net.topology.gateways;
    const enrolled = new Map<string, ExecResult>();
    for (let i = 0; i < gws.length; i += 4) {
      await Promise.all(gws.slice(i, i + 4).map(async (g) => enrolled.set(g.id, await this.ctl('enroll', g.id, '--out', join(this.dir, `${g.id}.bundle.json`)))));
    }
    for (const g of gws) {
      const file = join(this.dir, `${g.id}.bundle.json`);
      const r = enrolled.get(g.id)!;
      if (r.code !== 0) {
        if (this.transport === 'nats') throw precondition(`ctl enroll ${g.id}: ${(r.stderr || r.stdout).trim()} (NATS needs per-gateway credentials)`);
        this.log(`enrolling ${g.id} failed (${(r.stderr || r.stdout).trim()}); falling back to plain-text gRPC (--insecure)`);
        this.security = 'insecure';
        this.bundles.clear();
        await this.killController();
        await this.startController();
        break;
      }
      this.bundles.set(g.id, file);
    }
    if (this.transport === 'nats') {
      const conf = join(this.dir, 'nats-auth.conf');
      const r = await this.ctl('nats-config', '--out', conf);
      if (r.code !== 0) throw precondition(`ctl nats-config: ${(r.stderr || r.stdout).trim()}`);
      await this.startNats(conf);
      // The controller serves NATS only when started with --nats.
      await this.killController();
      await this.startController();
    }
  }

  private async startNats(authConf: string): Promise<void> {
    const natsBin = findNatsServer();
    const conf = join(this.dir, 'nats.conf');
    writeFileSync(
      conf,
      [`listen: "0.0.0.0:${NATS_PORT}"`, `jetstream { store_dir: ${JSON.stringify(join(this.dir, 'nats-js'))}, max_memory_store: 64MB, max_file_store: 256MB }`, // nats-server resolves an include relative to the including file.
      `include ${JSON.stringify(relative(this.dir, authConf))}`].join('\n'),
    );
    const c = this.h.spawn(this.net.noc, natsBin, ['-c', conf]);
    this.natsProc = c;
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d));
    c.stderr!.on('data', (d: Buffer) => (out += d));
    await waitFor(() => {
      if (c.exitCode !== null) throw precondition(`nats-server exited (${c.exitCode}):\n${out}`);
      return out.includes('Server is ready');
    }, `nats-server to start:\n${out}`, 15_000, 50);
  }

  agentRunning(gw: string): boolean {
    const a = this.agents.get(gw);
    return !!a && a.child.exitCode === null && a.child.signalCode === null;
  }

  async startAgent(gw: string): Promise<void> {
    const m = this.net.mgmt.get(gw)!;
    const siteId = this.net.topology.gateways.find((g) => g.id === gw)!.siteId;
    const host = this.net.hosts.get(siteId);
    const sitePrefixVrfs = new Set(this.net.topology.prefixes.filter((p) => p.siteId === host?.site).map((p) => p.vrf));
    // The site's further VRFs (hosts with a routing table of their own): a TUN each, in that table.
    const vrfHosts = [...this.net.hosts.values()].filter((x) => x.site === siteId && x.routeTable !== undefined);
    const bundle = this.bundles.get(gw);
    const control =
      this.transport === 'nats'
        ? ['--bundle', bundle!, '--nats', `nats://${m.noc}:${NATS_PORT}`, '--transport', 'nats']
        : bundle
          ? ['--bundle', bundle, '--controller', `${m.noc}:7601`, '--transport', 'grpc']
          : ['--id', gw, '--controller', `${m.noc}:7601`, '--insecure'];
    const ep = this.net.endpoint(gw);
    const args = [
      bin, 'agent', ...control,
      '--state-dir', join(this.dir, `agent-${gw}`),
      '--listen', `${ep}:4789`, '--tun', host?.tun ?? 'sb0', '--metrics', `${ep}:9101`,
      '--probe-interval', String(this.timing.probeIntervalMs),
      '--detect-multiplier', String(this.timing.detectMultiplier),
      '--hold', String(this.timing.holdMs),
      ...(this.timing.localFailover ? [] : ['--no-local-failover']),
      // The --tun device's VRF, when the site has several.
      ...(host && sitePrefixVrfs.size > 1 ? ['--vrf', String(host.vrfId)] : []),
      ...vrfHosts.flatMap((x) => ['--vrf-tun', `${x.vrfId}=${x.tun}:${x.routeTable}`]),
    ];
    // Every gateway is its own machine in reality; here they share the
    // host's CPUs with the controller and whatever else runs. An agent
    // starved for longer than the detection time is declared down by its
    // peers (correctly: it did not answer), which moves or drops traffic
    // for the hold time. So each agent gets a session of its own (with
    // autogroup scheduling, CPU is shared fairly between sessions first,
    // then between the processes of a session) and a higher priority for
    // both: the host's load must not read as tunnel failures.
    const child = this.h.spawn(this.net.gwNs.get(gw)!, process.execPath, args, { cwd: root, detached: true, env: { ...process.env, SWITCHBACK_LOG: 'warn' } });
    if (child.pid !== undefined) raisePriority(child.pid, (m) => this.log(`agent ${gw}: ${m}`));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    this.agents.set(gw, { child, output: () => out });
    await waitFor(() => {
      if (child.exitCode !== null || child.signalCode !== null) throw precondition(`agent ${gw} exited (${child.exitCode ?? child.signalCode}):\n${out}`);
      return /^switchback agent /m.test(out);
    }, `agent ${gw} to start:\n${out}`, 30_000, 50);
  }

  async killAgent(gw: string): Promise<void> {
    const a = this.agents.get(gw);
    if (!a || a.child.exitCode !== null || a.child.signalCode !== null) return;
    const exited = new Promise((r) => a.child.once('exit', r));
    a.child.kill('SIGKILL');
    await exited;
  }

  async startAgents(): Promise<void> {
    // A few at a time: each is a Node process, and the machine may be small.
    const gws = this.net.topology.gateways.map((g) => g.id);
    for (let i = 0; i < gws.length; i += 4) await Promise.all(gws.slice(i, i + 4).map((g) => this.startAgent(g)));
  }

  async agentRows(): Promise<AgentRow[]> {
    return (await this.ctlJson<{ agents: AgentRow[] }>('agents')).agents;
  }

  async waitInSync(ms = 60_000, only?: readonly string[]): Promise<AgentRow[]> {
    const want = new Set(only ?? this.net.topology.gateways.map((g) => g.id));
    let rows: AgentRow[] = [];
    await waitFor(async () => {
      try {
        rows = await this.agentRows();
      } catch {
        return false;
      }
      const mine = rows.filter((r) => want.has(r.gatewayId));
      return mine.length === want.size && mine.every((r) => r.inSync && r.connected);
    }, () => `every agent connected and in sync: ${JSON.stringify(rows.filter((r) => !r.inSync || !r.connected).map((r) => r.gatewayId))}`, ms, 250);
    return rows;
  }

  /** Waits until every link not in `down` is reported up by its agents (probes answered for the hold time). */
  async waitLinksUp(ms = 60_000, down: ReadonlySet<string> = new Set()): Promise<void> {
    let notUp: string[] = [];
    let lastError = '';
    await waitFor(async () => {
      try {
        const links = await this.ctlJson<{ id: string; operState: number }[]>('links');
        notUp = links.filter((l) => !down.has(l.id) && l.operState !== OperState.UP).map((l) => l.id);
        return notUp.length === 0;
      } catch (err) {
        lastError = (err as Error).message;
        return false;
      }
    }, () => `every link reported up (not yet: ${notUp.join(', ')}${lastError ? `; ${lastError}` : ''})`, ms, 250);
  }

  async routes(gw: string): Promise<RouteRow[]> {
    return (await this.ctlJson<{ routes: RouteRow[] }>('routes', gw)).routes;
  }
}
