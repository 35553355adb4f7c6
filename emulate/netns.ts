// Network-namespace harness for the emulator and the e2e tests: namespaces with
// unique names (sbt-<pid>-<n>[-label]), veth pairs with addresses, commands
// and long-running processes inside a namespace, links up/down, and cleanup
// that always runs: from an `after` hook, and on exit, SIGINT and SIGTERM.
// Namespaces left by a test process that died (SIGKILL) are removed by the
// next harness created on the machine.
//
// A process belongs to one namespace for good (Node cannot setns), so code
// that must live inside one (a TUN device, raw sockets) runs the test file
// itself again inside a fresh namespace: see runFileInNamespace() in
// test/helpers/netns.ts.

import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { invalid, precondition } from '../common/errors.js';
import { ip } from '../router-agent/io/ip-command.js';

const PREFIX = `sbt-${process.pid}-`;
const STALE_RE = /^sbt-(\d+)-/;
/** Set in the environment of a test file re-run inside a namespace. */
export const INSIDE_ENV = 'SBT_NETNS';
export const INFO_ENV = 'SBT_NETNS_INFO';

/** Why namespace tests cannot run here, or null when they can. */
export function netnsPrerequisites(): string | null {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespace tests need root';
  const found = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) return "the 'ip' command (iproute2) is missing";
  return null;
}

/** Throws a clear error when a command a test needs is not installed. */
export function requireCommand(cmd: string, debianPackage: string): void {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw precondition(`'${cmd}' not found on PATH: install the Debian package ${debianPackage} (apt-get install -y ${debianPackage})`);
  }
}

export interface VethEnd {
  ns: string;
  /** Interface name, at most 15 characters (unique within its namespace). */
  ifname: string;
  /** Address with prefix length, e.g. '10.98.0.1/24'. */
  address?: string;
  mtu?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<NetnsHarness>();
let hooksInstalled = false;
let reaped = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const h of live) h.cleanupSync();
  });
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      for (const h of live) h.cleanupSync();
      process.exit(code);
    });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  return (r.stdout ?? '').split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

/** Namespaces this harness family created, on the whole machine (for tests asserting cleanup). */
export function harnessNamespaces(): string[] {
  return listNamespaces().filter((n) => n.startsWith('sbt-'));
}

function killNamespacePidsSync(ns: string): void {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
  for (const line of (r.stdout ?? '').split('\n')) {
    const pid = Number(line.trim());
    // Every process in the namespace was started by this harness (or by what it started).
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function deleteNamespaceSync(ns: string): void {
  killNamespacePidsSync(ns);
  spawnSync('ip', ['netns', 'delete', ns], { timeout: 10_000 });
}

/** Deletes namespaces left by harness processes that no longer run; returns their names. */
export function reapStaleNamespaces(): string[] {
  const gone: string[] = [];
  for (const ns of listNamespaces()) {
    const m = STALE_RE.exec(ns);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      deleteNamespaceSync(ns);
      gone.push(ns);
    }
  }
  return gone;
}

export class NetnsHarness {
  readonly prefix = PREFIX;
  private readonly created: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private seq = 0;

  constructor() {
    live.add(this);
    installExitHooks();
    // Only the top-level test process manages namespaces; a file re-run
    // inside one sees a private mount table where `ip netns` changes do not
    // reach the rest of the machine.
    if (!reaped && !process.env[INSIDE_ENV]) {
      reaped = true;
      reapStaleNamespaces();
    }
  }

  /** Creates a namespace with its loopback up; returns its name. */
  async namespace(label = ''): Promise<string> {
    if (process.env[INSIDE_ENV]) {
      throw new Error('create namespaces in the top-level test process (runFileInNamespace setup), not inside one');
    }
    if (label && !/^[a-z0-9-]{1,16}$/.test(label)) throw invalid('label', `namespace label '${label}': use 1-16 of a-z, 0-9, '-'`);
    const name = `${PREFIX}${++this.seq}${label ? `-${label}` : ''}`;
    await ip(['netns', 'add', name]);
    this.created.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Creates a veth pair with one end in each namespace (never in the caller's), addressed and up. */
  async veth(a: VethEnd, b: VethEnd): Promise<void> {
    for (const e of [a, b]) {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(e.ifname)) throw invalid('ifname', `veth name '${e.ifname}': 1-15 of letters, digits, '_', '.', '-'`);
    }
    await ip(['link', 'add', 'dev', a.ifname, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
    for (const e of [a, b]) {
      if (e.mtu !== undefined) await ip(['-n', e.ns, 'link', 'set', 'dev', e.ifname, 'mtu', String(e.mtu)]);
      if (e.address) await ip(['-n', e.ns, 'address', 'add', e.address, 'dev', e.ifname]);
      await ip(['-n', e.ns, 'link', 'set', 'dev', e.ifname, 'up']);
    }
  }

  async setLink(ns: string, ifname: string, state: 'up' | 'down'): Promise<void> {
    await ip(['-n', ns, 'link', 'set', 'dev', ifname, state]);
  }

  /** Runs a command inside `ns` to completion (bounded); a non-zero exit is a result, not an error. */
  exec(ns: string, cmd: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'ip',
        ['netns', 'exec', ns, cmd, ...args],
        { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
        (err, stdout, stderr) => {
          this.children.delete(child);
          const e = err as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals }) | null;
          if (e && typeof e.code === 'string') return reject(new Error(`ip netns exec ${ns} ${cmd}: ${e.message}`));
          resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
        },
      );
      this.children.add(child);
    });
  }

  /** Starts a long-running process inside `ns`; cleanup() stops it. */
  spawn(ns: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  namespaces(): readonly string[] {
    return [...this.created];
  }

  /** Stops every process it started (TERM, then KILL), then deletes its namespaces. */
  async cleanup(): Promise<void> {
    const waits = [...this.children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill('SIGKILL'), 2000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    );
    await Promise.all(waits);
    this.children.clear();
    for (const ns of this.created.splice(0).reverse()) {
      killNamespacePidsSync(ns);
      await ip(['netns', 'delete', ns]).catch(() => deleteNamespaceSync(ns));
    }
    live.delete(this);
  }

  /** The synchronous last resort, for exit and signal handlers. */
  cleanupSync(): void {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    this.children.clear();
    for (const ns of this.created.splice(0).reverse()) deleteNamespaceSync(ns);
    live.delete(this);
  }
}

