// Data-plane benchmark in network namespaces: host A - gateway A - underlay
// veth - gateway B - host B, once per tunnel, measured in ONE run side by
// side: no tunnel (plain routing), kernel VXLAN, OpenVPN 2.6 (AES-256-GCM,
// TLS mode, userspace: DCO off), wireguard-go (userspace on a TUN),
// Switchback with AEAD over UDP and Switchback in GRE mode (the real
// `switchback agent` processes). Columns: iperf3 TCP throughput with 1 and 4
// streams, UDP 64-byte packets per second delivered, ping RTT through the
// tunnel, and the CPU the tunnel processes used.
//
// Run as root: npm run bench:dataplane [-- --seconds N] [--rounds N]
//   [--only a,b] [--json FILE] [--cpu-prof DIR]
// Each round builds and measures every tunnel once (in a rotated order, so
// a change in machine load does not always hit the same tunnel); the table
// shows the median of the rounds and the per-round figures follow it.
// Missing Debian packages (iperf3, openvpn, wireguard-go, wireguard-tools)
// are installed with apt-get when run as root. Every namespace and process
// it creates is removed at the end, on errors and on SIGINT/SIGTERM.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, cpus, tmpdir, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NetnsHarness, netnsPrerequisites } from '../test/helpers/netns.js';
import { buildTunnelNetwork, type BuiltNetwork } from '../test/helpers/tunnel-network.js';
import { startAgentProcess, waitFor, type AgentProcess } from '../test/helpers/agent-process.js';
import { writeTables } from '../test/helpers/tables.js';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    // Run every tunnel's gateway processes (OpenVPN, wireguard-go, the
    // agents) at this nice value, e.g. -10 to shield the comparison from
    // unrelated load on a shared machine; the same for every tunnel.
    nice: { type: 'string', default: '0' },
    // Pause before the ping (after the TCP tests), e.g. to let a loaded
    // machine calm down; 0 pings right after them.
    'ping-settle': { type: 'string', default: '0' },
    // Pings per round. RTTs on a shared machine have a long tail (a ping
    // that meets a timer or another process waits), so the average of 100
    // moved by 30% from round to round; 1,000 (10 s) settle it.
    pings: { type: 'string', default: '1000' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (opts.help) {
  console.log('usage: npm run bench:dataplane [-- --seconds N] [--rounds N] [--only plain,vxlan,openvpn,wireguard-go,sb-aead,sb-aead-js,sb-aead-dgram,sb-gre] [--json FILE] [--cpu-prof DIR] [--ping-settle MS] [--pings N] [--nice=N]');
  process.exit(0);
}
const SECONDS = Number(opts.seconds);
if (!Number.isInteger(SECONDS) || SECONDS < 1 || SECONDS > 60) {
  console.error(`--seconds must be an integer 1-60, got '${opts.seconds}'`);
  process.exit(2);
}
const PING_SETTLE_MS = Number(opts['ping-settle']);
const PING_COUNT = Number(opts.pings);
if (!Number.isInteger(PING_COUNT) || PING_COUNT < 10 || PING_COUNT > 100_000) {
  console.error(`--pings must be an integer 10-100000, got '${opts.pings}'`);
  process.exit(2);
}
const NICE = Number(opts.nice);
if (!Number.isInteger(NICE) || NICE < -20 || NICE > 19) {
  console.error(`--nice must be an integer -20..19, got '${opts.nice}'`);
  process.exit(2);
}
if (!Number.isInteger(PING_SETTLE_MS) || PING_SETTLE_MS < 0 || PING_SETTLE_MS > 60_000) {
  console.error(`--ping-settle must be an integer 0-60000 ms, got '${opts['ping-settle']}'`);
  process.exit(2);
}
const ROUNDS = Number(opts.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 20) {
  console.error(`--rounds must be an integer 1-20, got '${opts.rounds}'`);
  process.exit(2);
}

const HOST_B = '10.2.0.10';
const SPEC = {
  sites: [
    { id: 'a', kind: 'office' as const, prefix24: '10.1.0' },
    { id: 'b', kind: 'datacenter' as const, prefix24: '10.2.0' },
  ],
  gateways: [
    { id: 'gw-a', site: 'a', n: 1 },
    { id: 'gw-b', site: 'b', n: 2 },
  ],
  links: [{ a: 'gw-a', b: 'gw-b', cost: 10 }],
};

// ---------------------------------------------------------------------------
// Packages

interface Tool {
  cmd: string;
  pkg: string;
}
const TOOLS: Tool[] = [
  { cmd: 'iperf3', pkg: 'iperf3' },
  { cmd: 'openvpn', pkg: 'openvpn' },
  { cmd: 'wireguard-go', pkg: 'wireguard-go' },
  { cmd: 'wg', pkg: 'wireguard-tools' },
];

const onPath = (cmd: string) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;
const aptCandidate = (pkg: string) =>
  /Candidate: (?!\(none\))\S+/.test(spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' }).stdout ?? '');

/** Installs the missing tools that Debian packages; returns why each still-missing one is missing. */
function ensurePackages(): Map<string, string> {
  const why = new Map<string, string>();
  let missing = TOOLS.filter((t) => !onPath(t.cmd));
  if (missing.length === 0) return why;
  if (!onPath('apt-get')) {
    for (const t of missing) why.set(t.cmd, `'${t.cmd}' not installed and there is no apt-get to install ${t.pkg}`);
    return why;
  }
  if (missing.some((t) => !aptCandidate(t.pkg))) {
    console.log('# apt-get update (a package was not found in the package lists)');
    spawnSync('apt-get', ['update'], { stdio: 'inherit', timeout: 180_000 });
  }
  const installable = missing.filter((t) => aptCandidate(t.pkg));
  for (const t of missing) if (!installable.includes(t)) why.set(t.cmd, `Debian package ${t.pkg} is not available from this machine's package sources`);
  if (installable.length) {
    const pkgs = [...new Set(installable.map((t) => t.pkg))];
    console.log(`# apt-get install -y --no-install-recommends ${pkgs.join(' ')}`);
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], {
      stdio: 'inherit',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  missing = missing.filter((t) => !onPath(t.cmd));
  for (const t of missing) if (!why.has(t.cmd)) why.set(t.cmd, `installing ${t.pkg} failed`);
  return why;
}

function version(cmd: string, args: string[], re: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const m = re.exec(`${r.stdout ?? ''}\n${r.stderr ?? ''}`);
  return m ? m[1] : '?';
}

// ---------------------------------------------------------------------------
// Measurements

interface Row {
  key: string;
  name: string;
  kernel: boolean;
  note: string[];
  tcp1?: number; // bit/s
  tcp4?: number;
  udpPps?: number;
  udpSentPps?: number;
  rttMs?: number;
  rttMinMs?: number;
  cpuTcp1?: number; // CPU seconds per second (1.0 = one core busy)
  cpuTcp4?: number;
  cpuUdp?: number;
  /** Switchback: peer-down events of the agents' health monitors during the tests. */
  peerDowns?: number;
  /** Packets dropped in the gateways during the tests: interface drops and UDP socket-buffer overflows. */
  drops?: Record<string, number>;
  error?: string;
}

function check(r: { code: number | null; stdout: string; stderr: string }, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 500)}`);
  return r.stdout;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function namespacePids(ns: string): Promise<number[]> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }, (_err, stdout) => {
      resolve((stdout ?? '').split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0));
    });
  });
}

/** utime + stime, in seconds, of every process now in the namespaces (all threads of each). */
async function cpuSeconds(nss: readonly string[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const ns of nss) {
    for (const pid of await namespacePids(ns)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // fields 14 and 15 of stat(5); f[0] is field 3
        out.set(pid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

function cpuUsed(before: Map<number, number>, after: Map<number, number>): number {
  let s = 0;
  for (const [pid, t] of after) s += t - (before.get(pid) ?? 0);
  return s;
}

const peerDowns = (log: string) => (log.match(/peer \S+ down/g) ?? []).length;

let iperfPort = 5201;
const UDP_LEN = 64;

/** The parts of iperf3's JSON report read here. */
interface IperfReport {
  error?: string;
  end?: {
    sum_sent?: { packets?: number; seconds: number };
    sum_received?: { bits_per_second: number; bytes: number; seconds: number };
  };
}

/** One iperf3 run from host A to host B with a fresh one-off server. */
async function iperf(h: NetnsHarness, net: BuiltNetwork, args: string[]): Promise<IperfReport> {
  const port = String(iperfPort++);
  const server = h.spawn(net.hostNs.get('b')!, 'iperf3', ['-s', '-1', '--forceflush', '-B', HOST_B, '-p', port]);
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d));
  server.stderr!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('Server listening') || server.exitCode !== null, 'iperf3 server', 10_000);
  try {
    const r = await h.exec(net.hostNs.get('a')!, 'iperf3', ['-c', HOST_B, '-p', port, '-J', '--connect-timeout', '5000', ...args], (SECONDS + 25) * 1000);
    if (r.signal) throw new Error(`iperf3 ${args.join(' ')} did not finish in time`);
    let j: IperfReport;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 ${args.join(' ')} printed no JSON: ${(r.stderr || r.stdout).slice(0, 300)}`);
    }
    if (j.error) throw new Error(`iperf3 ${args.join(' ')}: ${j.error}`);
    return j;
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

function received(r: IperfReport): number {
  const bps = r.end?.sum_received?.bits_per_second;
  if (bps === undefined) throw new Error('iperf3 TCP report without a received rate');
  return bps;
}

async function withCpu<T>(nss: readonly string[], fn: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const before = await cpuSeconds(nss);
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = await cpuSeconds(nss);
  return { value, cpu: cpuUsed(before, after) / wall };
}

/** Drop counters of the gateway namespaces: per interface (rx+tx dropped) and UDP buffer overflows. */
async function gatewayDrops(h: NetnsHarness, net: BuiltNetwork): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const gw of GWS) {
    const ns = net.gwNs.get(gw)!;
    const links = await h.exec(ns, 'ip', ['-s', '-j', 'link', 'show']);
    try {
      for (const l of JSON.parse(links.stdout) as { ifname: string; stats64?: { rx?: { dropped?: number }; tx?: { dropped?: number } } }[]) {
        const n = (l.stats64?.rx?.dropped ?? 0) + (l.stats64?.tx?.dropped ?? 0);
        if (n > 0) out[`${gw} ${l.ifname}`] = n;
      }
    } catch {
      // no JSON from this iproute2: no interface figures
    }
    const snmp = await h.exec(ns, 'cat', ['/proc/net/snmp']);
    const udp = snmp.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    if (udp.length === 2) {
      const names = udp[0].split(/\s+/);
      const vals = udp[1].split(/\s+/).map(Number);
      for (const k of ['RcvbufErrors', 'SndbufErrors']) {
        const v = vals[names.indexOf(k)];
        if (v > 0) out[`${gw} udp ${k}`] = v;
      }
    }
  }
  return out;
}

async function measure(h: NetnsHarness, net: BuiltNetwork, row: Row): Promise<void> {
  const hostA = net.hostNs.get('a')!;
  const tunnelNs = [net.gwNs.get('gw-a')!, net.gwNs.get('gw-b')!];
  // The tunnel is up when a ping gets through (TLS handshakes take a moment).
  await waitFor(async () => (await h.exec(hostA, 'ping', ['-c', '1', '-W', '1', '-n', HOST_B])).code === 0, 'the first ping through the tunnel', 40_000);
  // Warm the path (ARP, PMTU, JIT) before timing anything.
  await h.exec(hostA, 'ping', ['-c', '20', '-i', '0.01', '-W', '1', '-n', '-q', HOST_B]);

  const tcp1 = await withCpu(tunnelNs, () => iperf(h, net, ['-t', String(SECONDS), '-O', '1']));
  row.tcp1 = received(tcp1.value);
  row.cpuTcp1 = tcp1.cpu;
  const tcp4 = await withCpu(tunnelNs, () => iperf(h, net, ['-t', String(SECONDS), '-O', '1', '-P', '4']));
  row.tcp4 = received(tcp4.value);
  row.cpuTcp4 = tcp4.cpu;
  // The RTT of an idle tunnel on a warm path: after the TCP tests (agents
  // JIT-compiled; TCP leaves no backlog when it stops) and before the
  // unlimited UDP flood, which leaves socket and TUN queues to drain.
  if (PING_SETTLE_MS) await new Promise((r) => setTimeout(r, PING_SETTLE_MS));
  const ping = await h.exec(hostA, 'ping', ['-c', String(PING_COUNT), '-i', '0.01', '-W', '1', '-n', '-q', HOST_B], 30_000 + PING_COUNT * 20);
  const rtt = /= ([\d.]+)\/([\d.]+)\//.exec(ping.stdout);
  if (rtt) {
    row.rttMinMs = Number(rtt[1]);
    row.rttMs = Number(rtt[2]);
  }
  const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(ping.stdout);
  if (loss && Number(loss[1]) > 0) row.note.push(`ping loss ${loss[1]}%`);

  const udp = await withCpu(tunnelNs, () => iperf(h, net, ['-t', String(SECONDS), '-u', '-l', String(UDP_LEN), '-b', '0']));
  // Delivered = bytes the server got / datagram size: its packet and loss
  // counts come from sequence numbers and miss a tail that never arrived.
  const sent = udp.value.end?.sum_sent;
  const got = udp.value.end?.sum_received;
  if (!sent || !got || !(sent.seconds > 0)) throw new Error('iperf3 UDP report without send and receive sums');
  row.udpPps = got.bytes / UDP_LEN / (got.seconds > 0 ? got.seconds : sent.seconds);
  row.udpSentPps = (sent.packets ?? 0) / sent.seconds;
  row.cpuUdp = udp.cpu;

  row.drops = await gatewayDrops(h, net);
}

// ---------------------------------------------------------------------------
// Tunnels

interface Ctx {
  h: NetnsHarness;
  net: BuiltNetwork;
  dir: string;
  row: Row;
  agents: AgentProcess[];
}

interface Scenario {
  key: string;
  name: string;
  kernel: boolean;
  /** Why it cannot run here, or null. */
  unavailable?: () => string | null;
  setup(c: Ctx): Promise<void>;
  /** Extra cleanup beyond the namespaces. */
  teardown?(c: Ctx): void;
}

const ipIn = (c: Ctx, gw: string, ...args: string[]) => c.h.exec(c.net.gwNs.get(gw)!, 'ip', args).then((r) => check(r, `ip ${args.join(' ')}`));
const underlayPeer = (gw: string) => (gw === 'gw-a' ? '10.254.0.2' : '10.254.0.1');
const remoteSite = (gw: string) => (gw === 'gw-a' ? '10.2.0.0/24' : '10.1.0.0/24');
const GWS = ['gw-a', 'gw-b'] as const;
const pkgMissing = new Map<string, string>();

function ovpnCerts(dir: string): void {
  const ssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=switchback-bench-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const [name, eku] of [['server', 'serverAuth'], ['client', 'clientAuth']]) {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=${eku}\n`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

function wgKeys(): { priv: string; pub: string } {
  const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  const pub = execFileSync('wg', ['pubkey'], { input: priv + '\n', encoding: 'utf8' }).trim();
  return { priv, pub };
}

// wireguard-go's control socket is /var/run/wireguard/<ifname>.sock, shared
// by all namespaces: the names carry this process's pid.
const wgIf = (gw: string) => `sbwg${process.pid % 1_000_000}${gw === 'gw-a' ? 'a' : 'b'}`;

async function startSwitchback(c: Ctx, mode: 'udp' | 'gre', udpIo?: 'native' | 'dgram', extra: string[] = []): Promise<void> {
  const tables = await writeTables(c.net.topology, c.dir);
  // Node refuses --cpu-prof in NODE_OPTIONS: the agents' harness view adds it to their command line.
  let agentHarness = c.h;
  if (opts['cpu-prof']) {
    const d = resolve(opts['cpu-prof'], c.row.key);
    mkdirSync(d, { recursive: true });
    const h = c.h;
    agentHarness = Object.create(h) as NetnsHarness;
    agentHarness.spawn = (ns, cmd, args = [], o = {}) => h.spawn(ns, cmd, ['--cpu-prof', `--cpu-prof-dir=${d}`, ...args], o);
  }
  for (const gw of GWS) {
    const ep = c.net.endpoint(gw);
    const underlay =
      mode === 'udp' ? ['--listen', `${ep}:4789`, ...(udpIo ? ['--udp-io', udpIo] : [])] : ['--underlay', 'gre', '--gre-insecure', '--local-address', ep];
    // --no-local-failover: this measures forwarding. Under overload the
    // health probes share the data's fate (full socket buffers, a busy
    // event loop) and time out; with local failover on, the only tunnel
    // then stops for the whole --hold (5 s). The monitor still runs, and its
    // peer-down lines (info level) are counted and reported. In GRE mode
    // the probes do not come back at all in this build.
    const agent = await startAgentProcess(
      agentHarness,
      c.net.gwNs.get(gw)!,
      ['--id', gw, '--table', tables.get(gw)!, ...underlay, '--tun', 'sb0', '--metrics', 'off', '--no-local-failover', ...extra],
      { SWITCHBACK_LOG: 'info' },
    );
    c.agents.push(agent);
  }
  for (const gw of GWS) {
    const remote = remoteSite(gw);
    await waitFor(async () => (await c.h.exec(c.net.gwNs.get(gw)!, 'ip', ['route', 'show', remote])).stdout.includes('dev sb0'), `route ${remote} via sb0 on ${gw}`);
  }
}

const SCENARIOS: Scenario[] = [
  {
    key: 'plain',
    name: 'no tunnel (routed veth)',
    kernel: true,
    async setup(c) {
      for (const gw of GWS) await ipIn(c, gw, 'route', 'add', remoteSite(gw), 'via', underlayPeer(gw));
    },
  },
  {
    key: 'vxlan',
    name: 'kernel VXLAN',
    kernel: true,
    async setup(c) {
      for (const gw of GWS) {
        const me = c.net.endpoint(gw);
        const peer = c.net.endpoint(gw === 'gw-a' ? 'gw-b' : 'gw-a');
        const r = await c.h.exec(c.net.gwNs.get(gw)!, 'ip', ['link', 'add', 'sbvx0', 'type', 'vxlan', 'id', '42', 'local', me, 'remote', peer, 'dstport', '4790']);
        if (r.code !== 0) {
          throw new Error(/unknown device type|not supported/i.test(r.stderr) ? `this kernel has no VXLAN support ('ip link add type vxlan': ${r.stderr.trim()})` : r.stderr.trim());
        }
        const [mine, theirs] = gw === 'gw-a' ? ['10.253.3.1', '10.253.3.2'] : ['10.253.3.2', '10.253.3.1'];
        await ipIn(c, gw, 'address', 'add', `${mine}/30`, 'dev', 'sbvx0');
        await ipIn(c, gw, 'link', 'set', 'sbvx0', 'up');
        await ipIn(c, gw, 'route', 'add', remoteSite(gw), 'via', theirs, 'dev', 'sbvx0');
      }
      c.row.note.push('VXLAN MTU 1450, no encryption');
    },
  },
  {
    key: 'openvpn',
    name: 'OpenVPN AES-256-GCM',
    kernel: false,
    unavailable: () => pkgMissing.get('openvpn') ?? null,
    async setup(c) {
      ovpnCerts(c.dir);
      const outs: string[] = ['', ''];
      for (const [i, gw] of GWS.entries()) {
        const server = gw === 'gw-b';
        const me = c.net.endpoint(gw);
        const peer = c.net.endpoint(server ? 'gw-a' : 'gw-b');
        const [mine, theirs] = server ? ['10.253.1.2', '10.253.1.1'] : ['10.253.1.1', '10.253.1.2'];
        const [net, mask] = server ? ['10.1.0.0', '255.255.255.0'] : ['10.2.0.0', '255.255.255.0'];
        const args = [
          '--dev', 'sbov0', '--dev-type', 'tun', '--proto', 'udp',
          '--local', me, '--lport', '1194', '--remote', peer, '--rport', '1194',
          server ? '--tls-server' : '--tls-client',
          ...(server ? ['--dh', 'none'] : ['--remote-cert-tls', 'server']),
          '--ca', join(c.dir, 'ca.crt'), '--cert', join(c.dir, `${server ? 'server' : 'client'}.crt`), '--key', join(c.dir, `${server ? 'server' : 'client'}.key`),
          '--ifconfig', mine, theirs, '--route', net, mask, theirs,
          '--data-ciphers', 'AES-256-GCM',
          // Userspace data channel: this kernel has no ovpn-dco module, and the comparison is between userspace tunnels.
          '--disable-dco',
          '--verb', '3',
        ];
        const child = c.h.spawn(c.net.gwNs.get(gw)!, 'openvpn', args);
        child.stdout!.on('data', (d: Buffer) => (outs[i] += d));
        child.stderr!.on('data', (d: Buffer) => (outs[i] += d));
        child.once('exit', (code) => (outs[i] += `\n[openvpn exited ${code}]`));
      }
      try {
        await waitFor(() => outs.every((o) => /Initialization Sequence Completed/.test(o)), 'both OpenVPN ends to complete initialisation', 40_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- gw-a ---\n${outs[0].slice(-1500)}\n--- gw-b ---\n${outs[1].slice(-1500)}`);
      }
      const cipher = /Data Channel: cipher '([^']+)'/.exec(outs[0]) ?? /Outgoing Data Channel: Cipher '([^']+)'/.exec(outs[0]);
      if (!cipher || cipher[1] !== 'AES-256-GCM') throw new Error(`OpenVPN did not negotiate AES-256-GCM: ${cipher?.[1] ?? 'no cipher line in its log'}`);
      c.row.note.push(`OpenVPN ${version('openvpn', ['--version'], /OpenVPN (\S+)/)}, TLS p2p, data channel ${cipher[1]}, DCO off`);
    },
  },
  {
    key: 'wireguard-go',
    name: 'wireguard-go',
    kernel: false,
    unavailable: () => pkgMissing.get('wireguard-go') ?? pkgMissing.get('wg') ?? null,
    async setup(c) {
      const keys = { 'gw-a': wgKeys(), 'gw-b': wgKeys() };
      for (const gw of GWS) {
        const ns = c.net.gwNs.get(gw)!;
        const other = gw === 'gw-a' ? 'gw-b' : 'gw-a';
        const ifname = wgIf(gw);
        const child = c.h.spawn(ns, 'wireguard-go', ['-f', ifname]);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.stderr!.on('data', (d: Buffer) => (out += d));
        await waitFor(async () => (await c.h.exec(ns, 'ip', ['link', 'show', ifname])).code === 0 || child.exitCode !== null, `wireguard-go ${ifname}`, 10_000);
        if (child.exitCode !== null) throw new Error(`wireguard-go exited: ${out}`);
        const keyFile = join(c.dir, `${gw}.key`);
        writeFileSync(keyFile, keys[gw].priv + '\n', { mode: 0o600 });
        const [mine, theirs] = gw === 'gw-a' ? ['10.253.2.1', '10.253.2.2'] : ['10.253.2.2', '10.253.2.1'];
        check(
          await c.h.exec(ns, 'wg', ['set', ifname, 'private-key', keyFile, 'listen-port', '51820',
            'peer', keys[other].pub, 'endpoint', `${c.net.endpoint(other)}:51820`, 'allowed-ips', `${remoteSite(gw)},${theirs}/32`]),
          'wg set',
        );
        await ipIn(c, gw, 'address', 'add', `${mine}/30`, 'dev', ifname);
        await ipIn(c, gw, 'link', 'set', ifname, 'up');
        await ipIn(c, gw, 'route', 'add', remoteSite(gw), 'dev', ifname);
      }
      c.row.note.push(`wireguard-go ${version('wireguard-go', ['--version'], /wireguard-go v?(\S+)/)} (userspace, TUN MTU 1420)`);
    },
    teardown() {
      // Removed by wireguard-go on SIGTERM; a killed one leaves its socket.
      for (const gw of GWS) rmSync(`/var/run/wireguard/${wgIf(gw)}.sock`, { force: true });
    },
  },
  {
    key: 'sb-aead',
    name: 'Switchback AEAD (UDP)',
    kernel: false,
    async setup(c) {
      await startSwitchback(c, 'udp', 'native');
      c.row.note.push('Switchback UDP underlay with batched native I/O (recvmmsg/sendmmsg, UDP GSO/GRO) and the native fast path, AES-256-GCM, TUN MTU 1436, --no-local-failover');
    },
  },
  {
    // The same agent with every packet through the JS data plane, so the
    // gain of the native fast path is a ratio within one run.
    key: 'sb-aead-js',
    name: 'Switchback AEAD (UDP, no fast path)',
    kernel: false,
    async setup(c) {
      await startSwitchback(c, 'udp', 'native', ['--no-fast-path']);
      c.row.note.push('Switchback UDP underlay with batched native I/O, every packet through the JS data plane (--no-fast-path), AES-256-GCM, TUN MTU 1436, --no-local-failover');
    },
  },
  {
    // The same agent on node:dgram (one syscall and one callback per
    // datagram), so the gain of the batched I/O is a ratio within one run.
    key: 'sb-aead-dgram',
    name: 'Switchback AEAD (UDP, dgram I/O)',
    kernel: false,
    async setup(c) {
      await startSwitchback(c, 'udp', 'dgram');
      c.row.note.push('Switchback UDP underlay on node:dgram (--udp-io dgram), AES-256-GCM, TUN MTU 1436, --no-local-failover');
    },
  },
  {
    key: 'sb-gre',
    name: 'Switchback GRE',
    kernel: false,
    async setup(c) {
      await startSwitchback(c, 'gre');
      c.row.note.push('Switchback GRE (plaintext, raw socket), TUN MTU 1476, --no-local-failover');
    },
  },
];

async function runScenario(sc: Scenario, round: number): Promise<Row> {
  const row: Row = { key: sc.key, name: sc.name, kernel: sc.kernel, note: [] };
  const why = sc.unavailable?.();
  if (why) {
    row.error = `not run: ${why}`;
    return row;
  }
  const h = new NetnsHarness();
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-${sc.key}-`));
  const t0 = Date.now();
  let c: Ctx | undefined;
  try {
    const net = await buildTunnelNetwork(h, SPEC);
    if (NICE !== 0) {
      // nice execs the command: the gateway's process is the one counted and stopped.
      const gateways = new Set(net.gwNs.values());
      const spawnInNs = h.spawn.bind(h);
      h.spawn = (ns, cmd, args = [], o = {}) => (gateways.has(ns) ? spawnInNs(ns, 'nice', ['-n', String(NICE), cmd, ...args], o) : spawnInNs(ns, cmd, args, o));
    }
    c = { h, net, dir, row, agents: [] };
    await sc.setup(c);
    const downsBefore = c.agents.map((a) => peerDowns(a.output()));
    await measure(h, net, row);
    const downs = c.agents.reduce((n, a, i) => n + peerDowns(a.output()) - downsBefore[i], 0);
    if (c.agents.length) row.peerDowns = downs;
  } catch (err) {
    row.error = (err as Error).message;
  } finally {
    await h.cleanup();
    if (c) sc.teardown?.(c);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`# round ${round} ${sc.name}: ${((Date.now() - t0) / 1000).toFixed(0)} s${row.error ? ` (error: ${row.error.split('\n')[0]})` : ''}`);
  return row;
}

// ---------------------------------------------------------------------------
// Report

const METRICS = ['tcp1', 'tcp4', 'udpPps', 'udpSentPps', 'rttMs', 'rttMinMs', 'cpuTcp1', 'cpuTcp4', 'cpuUdp'] as const;

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One row per tunnel: the median of each figure over the rounds that produced it. */
function aggregate(runs: Row[][]): Row[] {
  const out: Row[] = [];
  for (const key of [...new Set(runs.flat().map((r) => r.key))]) {
    const mine = runs.flat().filter((r) => r.key === key);
    const row: Row = { key, name: mine[0].name, kernel: mine[0].kernel, note: [...new Set(mine.flatMap((r) => r.note))] };
    for (const m of METRICS) row[m] = median(mine.map((r) => r[m]).filter((v): v is number => v !== undefined));
    const errors = [...new Set(mine.filter((r) => r.error).map((r) => r.error!))];
    if (errors.length) row.error = errors.join(' | ');
    const downs = mine.map((r) => r.peerDowns ?? 0);
    if (downs.some((d) => d > 0)) row.note.push(`health monitors declared the peer down during the tests (probes lost or late): ${downs.join(' / ')} time(s) per round`);
    const failed = mine.filter((r) => r.error).length;
    if (failed && row.tcp1 !== undefined) row.note.push(`${failed} of ${mine.length} rounds failed`);
    out.push(row);
  }
  return out;
}

function perRound(runs: Row[][]): string {
  const head = ['tunnel', 'TCP x1 Gbit/s', 'TCP x4 Gbit/s', 'UDP 64B kpps', 'ping avg ms'];
  const keys = [...new Set(runs.flat().map((r) => r.key))];
  const body = keys.map((key) => {
    const mine = runs.map((round) => round.find((r) => r.key === key));
    const col = (f: (r: Row) => string) => mine.map((r) => (r ? f(r) : '-')).join(' / ');
    return [mine.find(Boolean)!.name, col((r) => gbit(r.tcp1)), col((r) => gbit(r.tcp4)), col((r) => kpps(r.udpPps)), col((r) => ms(r.rttMs))];
  });
  return [head, head.map(() => '---'), ...body].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

const gbit = (bps?: number) => (bps === undefined ? '-' : (bps / 1e9).toFixed(2));
const kpps = (pps?: number) => (pps === undefined ? '-' : (pps / 1e3).toFixed(0));
const ms = (v?: number) => (v === undefined ? '-' : v.toFixed(3));
const rttText = (r: Row) => (r.rttMs === undefined ? '-' : `${ms(r.rttMs)} (${ms(r.rttMinMs)})`);
const cpu = (r: Row, v?: number) => (r.kernel ? 'kernel' : v === undefined ? '-' : v.toFixed(2));
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);

function table(rows: Row[]): string {
  const head = ['tunnel', 'TCP x1 Gbit/s', 'TCP x4 Gbit/s', 'UDP 64B kpps', 'ping RTT avg (min) ms', 'CPU TCP x1', 'CPU TCP x4', 'CPU UDP'];
  const body = rows.map((r) =>
    r.error && r.tcp1 === undefined
      ? [r.name, r.error.split('\n')[0], '', '', '', '', '', '']
      : [r.name, gbit(r.tcp1), gbit(r.tcp4), kpps(r.udpPps), rttText(r), cpu(r, r.cpuTcp1), cpu(r, r.cpuTcp4), cpu(r, r.cpuUdp)],
  );
  const lines = [head, head.map(() => '---'), ...body];
  return lines.map((l) => `| ${l.join(' | ')} |`).join('\n');
}

function ratios(rows: Row[]): string {
  const ovpn = rows.find((r) => r.key === 'openvpn');
  if (!ovpn || ovpn.tcp1 === undefined) return 'No OpenVPN figures in this run: no ratios.';
  const head = ['tunnel', 'TCP x1 vs OpenVPN', 'TCP x4 vs OpenVPN', 'UDP pps vs OpenVPN', 'RTT vs OpenVPN'];
  const body = rows
    .filter((r) => r.tcp1 !== undefined && r.key !== 'openvpn')
    .map((r) => [r.name, ratio(r.tcp1, ovpn.tcp1), ratio(r.tcp4, ovpn.tcp4), ratio(r.udpPps, ovpn.udpPps), ratio(r.rttMs, ovpn.rttMs)]);
  return [head, head.map(() => '---'), ...body].map((l) => `| ${l.join(' | ')} |`).join('\n');
}

function verdict(rows: Row[]): string {
  const ovpn = rows.find((r) => r.key === 'openvpn');
  const sb = rows.find((r) => r.key === 'sb-aead');
  if (!ovpn?.tcp1 || !sb?.tcp1 || ovpn.rttMs === undefined || sb.rttMs === undefined) return 'Target not evaluated: OpenVPN or Switchback AEAD has no figures.';
  const tput = sb.tcp1 / ovpn.tcp1;
  const tput4 = sb.tcp4 !== undefined && ovpn.tcp4 ? sb.tcp4 / ovpn.tcp4 : undefined;
  const js = rows.find((r) => r.key === 'sb-aead-js');
  const fast = js?.tcp1
    ? [`Native fast path vs the JS data plane alone (same agent): TCP x1 ${ratio(sb.tcp1, js.tcp1)}, TCP x4 ${ratio(sb.tcp4, js.tcp4)}, UDP pps ${ratio(sb.udpPps, js.udpPps)}, RTT ${ratio(sb.rttMs, js.rttMs)}`]
    : [];
  const dg = rows.find((r) => r.key === 'sb-aead-dgram');
  const io = dg?.tcp1
    ? [`Batched native UDP I/O vs dgram (same agent): TCP x1 ${ratio(sb.tcp1, dg.tcp1)}, TCP x4 ${ratio(sb.tcp4, dg.tcp4)}, UDP pps ${ratio(sb.udpPps, dg.udpPps)}, RTT ${ratio(sb.rttMs, dg.rttMs)}`]
    : [];
  return [
    ...fast,
    ...io,
    `Target: Switchback AEAD TCP >= 2x OpenVPN: 1 stream ${tput.toFixed(2)}x (${tput >= 2 ? 'met' : 'NOT met'})` +
      (tput4 === undefined ? '' : `, 4 streams ${tput4.toFixed(2)}x (${tput4 >= 2 ? 'met' : 'NOT met'})`),
    `Target: RTT no worse than OpenVPN: ${sb.rttMs.toFixed(3)} ms vs ${ovpn.rttMs.toFixed(3)} ms (${sb.rttMs <= ovpn.rttMs ? 'met' : 'NOT met'})`,
  ].join('\n');
}

// ---------------------------------------------------------------------------

async function main(): Promise<number> {
  const missing = netnsPrerequisites();
  if (missing) {
    console.error(`bench:dataplane needs root and iproute2: ${missing}`);
    return 2;
  }
  for (const [cmd, why] of ensurePackages()) pkgMissing.set(cmd, why);
  if (pkgMissing.has('iperf3')) {
    console.error(`bench:dataplane needs iperf3: ${pkgMissing.get('iperf3')}`);
    return 2;
  }
  const only = opts.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((k) => !SCENARIOS.some((s) => s.key === k));
  if (unknown?.length) {
    console.error(`--only: unknown ${unknown.join(', ')} (known: ${SCENARIOS.map((s) => s.key).join(', ')})`);
    return 2;
  }
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.key));

  const load0 = loadavg();
  const started = new Date();
  console.log(`# bench:dataplane ${started.toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), kernel ${release()}, node ${process.version}, iperf3 ${version('iperf3', ['--version'], /iperf (\S+)/)}`);
  console.log(`# load average before: ${load0.map((l) => l.toFixed(2)).join(' ')}; ${ROUNDS} rounds; ${SECONDS} s per iperf3 test (TCP with 1 s omitted), ping -c ${PING_COUNT} -i 0.01 between the TCP and UDP tests${NICE ? `; gateway processes at nice ${NICE}` : ''}`);
  const runs: Row[][] = [];
  const loads: number[] = [load0[0]];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = chosen.map((_, i) => chosen[(i + round - 1) % chosen.length]);
    const rows: Row[] = [];
    for (const sc of order) {
      rows.push(await runScenario(sc, round));
      loads.push(loadavg()[0]);
    }
    runs.push(rows);
  }
  const rows = aggregate(runs);
  const load1 = loadavg();

  console.log('');
  console.log(`Median of ${ROUNDS} round(s):`);
  console.log('');
  console.log(table(rows));
  console.log('');
  if (ROUNDS > 1) {
    console.log('Per round (round 1 / 2 / ...):');
    console.log('');
    console.log(perRound(runs));
    console.log('');
  }
  console.log(ratios(rows));
  console.log('');
  console.log(verdict(rows));
  console.log('');
  for (const r of rows) {
    if (r.note.length) console.log(`- ${r.name}: ${r.note.join('; ')}${r.udpSentPps ? `; UDP offered ${kpps(r.udpSentPps)} kpps` : ''}`);
    if (r.error && r.tcp1 !== undefined) console.log(`- ${r.name}: error after partial results: ${r.error}`);
  }
  for (const key of [...new Set(runs.flat().map((r) => r.key))]) {
    const per = runs.map((round) => round.find((r) => r.key === key)?.drops);
    if (per.some((d) => d && Object.keys(d).length)) {
      const text = per.map((d, i) => `round ${i + 1}: ${d ? Object.entries(d).map(([k, v]) => `${k} ${v}`).join(', ') || 'none' : '-'}`).join('; ');
      console.log(`- drops in the gateways, ${runs.flat().find((r) => r.key === key)!.name}: ${text}`);
    }
  }
  console.log(`- CPU: seconds of CPU per second of test used by every process in the two gateway namespaces (1.00 = one core); 'kernel' = in softirq, not attributed`);
  console.log(`# load average after: ${load1.map((l) => l.toFixed(2)).join(' ')}; 1-minute load during the run ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)} on ${cpus().length} CPUs; total ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s`);
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ started: started.toISOString(), seconds: SECONDS, rounds: ROUNDS, cpus: cpus().length, loadBefore: load0, loadAfter: load1, loads, rows, runs }, null, 2));
  }
  return runs.flat().some((r) => r.error && !r.error.startsWith('not run')) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
