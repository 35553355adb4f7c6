// Scenario files (docs/simulator.md): a topology in exactly the format of
// `switchback ctl apply` (inline under `topology:` or by reference with
// `topology_file:`), the simulated network's per-link latency and loss,
// traffic demands, timing, routing options and timed events. Read into a
// frozen, typed Scenario; every problem is reported with file, line and
// field, and nothing runs while there is one.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar } from 'yaml';
import { SwitchbackError } from '../common/errors.js';
import type { Topology } from '../common/model.js';
import { parsePrefix, prefixContains, type Cidr, formatIp } from '../common/prefix.js';
import type { RoutingOptions } from '../controller/routing/index.js';
import { didYouMean, show } from '../controller/topology/problems.js';
import { parseTopologyYaml, readTopology } from '../controller/topology/topology-yaml.js';
import { parseYaml, type Fields, type YamlReader } from '../controller/topology/yaml-reader.js';
import type { ProbeConfig } from '../router-agent/health/index.js';

export interface LinkNet {
  /** One-way propagation delay. */
  latencyMs: number;
  /** Random loss of every packet (data and probes), percent. */
  lossPct: number;
  /** Probe settings for this link only (its agents' health monitors). */
  probe?: Partial<ProbeConfig>;
}

export interface NetworkSpec {
  defaults: LinkNet;
  /** Per link id (only links listed in the file). */
  links: ReadonlyMap<string, LinkNet>;
}

export interface Demand {
  id: string;
  /** Source site. */
  from: string;
  /** As written: a site id or a prefix/address. */
  to: string;
  vrf: string;
  vrfId: number;
  /** The announced prefix the traffic is for, and the address packets go to. */
  prefix: string;
  address: string;
  family: 4 | 6;
  /** Sites announcing the prefix in the VRF (several when anycast). */
  destSites: readonly string[];
  ratePps: number;
  /** Bytes per packet (IP), for utilisation and MTU. */
  packetBytes: number;
  line?: number;
}

export interface Timing {
  probeIntervalMs: number;
  detectMultiplier: number;
  holdMs: number;
  controlDelayMs: number;
  computeMs: number;
  durationMs: number;
  seed: number;
  localFailover: boolean;
  /** RTT/loss reports from every agent this often. */
  reportIntervalMs: number;
  packetBytes: number;
  /** Packets simulated per demand per second, at most; each stands for rate/sampled real ones. */
  maxSamplePps: number;
  /** Losses closer together than this form one disruption. */
  mergeGapMs: number;
}

export type EventAction =
  | { kind: 'link_down' | 'link_up'; link: string }
  | { kind: 'gateway_down' | 'gateway_up'; gateway: string }
  | { kind: 'site_down' | 'site_up'; site: string }
  | { kind: 'srlg_down' | 'srlg_up'; srlg: string }
  | { kind: 'controller_down' | 'controller_up' }
  | { kind: 'partition' | 'heal'; gateway: string }
  | { kind: 'latency'; link: string; ms: number }
  | { kind: 'loss'; link: string; pct: number }
  | { kind: 'gray'; link: string; dropPct: number; probeDropPct: number };

export type ScenarioEvent = EventAction & { atMs: number; line?: number };

export interface Scenario {
  name: string;
  source: string;
  /** Where the topology came from (the scenario itself or its topology_file). */
  topologySource: string;
  topology: Topology;
  network: NetworkSpec;
  demands: readonly Demand[];
  timing: Timing;
  routing: RoutingOptions;
  events: readonly ScenarioEvent[];
}

export const DEFAULT_TIMING: Readonly<Timing> = Object.freeze({
  probeIntervalMs: 100,
  detectMultiplier: 3,
  holdMs: 5000,
  controlDelayMs: 20,
  computeMs: 50,
  durationMs: 60_000,
  seed: 1,
  localFailover: true,
  reportIntervalMs: 5000,
  packetBytes: 1000,
  maxSamplePps: 200,
  mergeGapMs: 1000,
});

export const DEFAULT_LINK_NET: Readonly<LinkNet> = Object.freeze({ latencyMs: 5, lossPct: 0 });

const TOP_KEYS = ['name', 'topology', 'topology_file', 'network', 'demands', 'timing', 'routing', 'events'];
const NET_KEYS = ['defaults', 'links'];
const LINK_NET_KEYS = ['latency_ms', 'loss_pct', 'probe_interval_ms', 'detect_multiplier', 'hold_ms'];
const DEMAND_KEYS = ['id', 'from', 'to', 'vrf', 'rate_pps', 'packet_bytes'];
const TIMING_KEYS = [
  'probe_interval_ms',
  'detect_multiplier',
  'hold_ms',
  'control_delay_ms',
  'compute_ms',
  'duration_s',
  'seed',
  'local_failover',
  'report_interval_ms',
  'packet_bytes',
  'max_sample_pps',
  'merge_gap_ms',
];
const ROUTING_KEYS = ['max_ecmp', 'prefer_node_protecting'];
const EVENT_ACTIONS = [
  'link_down',
  'link_up',
  'gateway_down',
  'gateway_up',
  'site_down',
  'site_up',
  'srlg_down',
  'srlg_up',
  'controller_down',
  'controller_up',
  'partition',
  'heal',
  'latency',
  'loss',
  'gray',
] as const;

export interface ScenarioOptions {
  /** Reads a referenced topology file (default: the file system). */
  readFile?: (path: string) => string;
  /** Overrides timing.seed (the --seed option). */
  seed?: number;
}

/** Reads and validates a scenario file. */
export function loadScenario(path: string, opts: ScenarioOptions = {}): Scenario {
  return parseScenario(readText(path, 'scenario', opts.readFile), path, opts);
}

function readText(path: string, what: string, readFile?: (p: string) => string): string {
  try {
    return (readFile ?? ((p) => readFileSync(p, 'utf8')))(path);
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot read ${what} file ${path}: ${(err as Error).message}`, { field: what, source: path });
  }
}

/**
 * Parses scenario text. `source` names the file in errors and is the base
 * for a relative `topology_file`. Throws one INVALID_ARGUMENT listing every
 * problem (file:line: field: message).
 */
export function parseScenario(text: string, source: string, opts: ScenarioOptions = {}): Scenario {
  const { doc, reader } = parseYaml(text, source);
  if (doc.contents === null) {
    reader.fail('', 'the file holds no scenario; expected a mapping with topology (or topology_file), demands, timing and events', 1);
    reader.throwIfProblems();
  }
  const top = reader.object(doc.contents, '', TOP_KEYS, 'a scenario mapping', 1);
  reader.throwIfProblems();
  const f = top!;

  const name = f.string('name', 'a scenario name') ?? source;

  // The topology: inline, or a file of its own (its own problems name that file).
  let topology: Topology | undefined;
  let topologySource = source;
  if (f.has('topology') && f.has('topology_file')) {
    reader.fail('topology_file', 'give either topology or topology_file, not both', f.lineOf('topology_file'));
  } else if (f.has('topology')) {
    topology = readTopology(f.value('topology'), reader, 'topology');
  } else if (f.has('topology_file')) {
    const rel = f.string('topology_file', 'a path to a topology file (relative to this scenario)');
    if (rel !== undefined) {
      topologySource = resolve(dirname(resolve(source)), rel);
      let topoText: string | undefined;
      try {
        topoText = (opts.readFile ?? ((p) => readFileSync(p, 'utf8')))(topologySource);
      } catch (err) {
        reader.fail('topology_file', `cannot read ${show(rel)} (${topologySource}): ${(err as Error).message}`, f.lineOf('topology_file'));
      }
      if (topoText !== undefined) {
        try {
          topology = parseTopologyYaml(topoText, rel === topologySource ? rel : displayPath(source, rel));
        } catch (err) {
          if (!(err instanceof SwitchbackError)) throw err;
          // The topology file's own problems, and a pointer from the scenario to it.
          const where = err.source ? `${err.source}${err.line ? `:${err.line}` : ''}: ` : '';
          const own = err.message.startsWith(where) ? err.message.slice(where.length) : err.message;
          throw new SwitchbackError('INVALID_ARGUMENT', `${own}\n${source}:${f.lineOf('topology_file') ?? 1}: topology_file: the topology it names is invalid`, {
            field: err.field,
            source: err.source,
            line: err.line,
          });
        }
      }
    }
  } else {
    reader.fail('topology', 'is required: give the topology inline (topology:) or by reference (topology_file:)', 1);
  }

  const timing = readTiming(reader, f, opts.seed);
  const routing = readRouting(reader, f);
  const network = readNetwork(reader, f, topology);
  const demands = topology ? readDemands(reader, f, topology, timing?.packetBytes ?? DEFAULT_TIMING.packetBytes) : [];
  const events = topology && timing ? readEvents(reader, f, topology, timing.durationMs) : [];
  reader.throwIfProblems();
  if (!topology || !timing) throw new SwitchbackError('INTERNAL', 'scenario reader returned nothing without a problem');

  return deepFreeze({ name, source, topologySource, topology, network, demands, timing, routing, events });
}

function displayPath(scenario: string, rel: string): string {
  const dir = dirname(scenario);
  return dir === '.' ? rel : `${dir}/${rel}`;
}

// ---------------------------------------------------------------------------

/** A finite number (integers and decimals alike) within [min, max]. */
function num(reader: YamlReader, f: Fields, key: string, min: number, max: number, opts: { integer?: boolean; required?: boolean } = {}): number | undefined {
  if (!f.has(key)) {
    if (opts.required) reader.fail(f.path(key), `is required; expected a number ${min}..${max}`, f.lineOf(key));
    return undefined;
  }
  const node = f.value(key);
  const v = isScalar(node) ? node.value : undefined;
  const what = `${opts.integer ? 'an integer' : 'a number'} ${min}..${max}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    reader.fail(f.path(key), `expected ${what}, got ${isScalar(node) ? show(node.value) : 'a ' + (isMap(node) ? 'mapping' : 'list')}`, f.lineOf(key));
    return undefined;
  }
  if (opts.integer && !Number.isInteger(v)) {
    reader.fail(f.path(key), `expected ${what}, got ${v}`, f.lineOf(key));
    return undefined;
  }
  if (v < min || v > max) {
    const neg = v < 0 && min >= 0 ? ' (it cannot be negative)' : '';
    reader.fail(f.path(key), `expected ${what}, got ${v}${neg}`, f.lineOf(key));
    return undefined;
  }
  return v;
}

function readTiming(reader: YamlReader, top: Fields, seedOverride: number | undefined): Timing | undefined {
  const before = reader.problems.length;
  const t: Timing = { ...DEFAULT_TIMING };
  if (top.has('timing')) {
    const f = reader.object(top.value('timing'), 'timing', TIMING_KEYS, 'timing settings', top.lineOf('timing'));
    if (f) {
      const set = <K extends keyof Timing>(k: K, v: Timing[K] | undefined) => {
        if (v !== undefined) t[k] = v;
      };
      set('probeIntervalMs', num(reader, f, 'probe_interval_ms', 1, 60_000));
      set('detectMultiplier', num(reader, f, 'detect_multiplier', 1, 255, { integer: true }));
      set('holdMs', num(reader, f, 'hold_ms', 0, 3_600_000));
      set('controlDelayMs', num(reader, f, 'control_delay_ms', 0, 600_000));
      set('computeMs', num(reader, f, 'compute_ms', 0, 600_000));
      const d = num(reader, f, 'duration_s', 0.001, 86_400);
      if (d !== undefined) t.durationMs = Math.round(d * 1000);
      set('seed', num(reader, f, 'seed', 0, 0xffffffff, { integer: true }));
      set('localFailover', f.boolean('local_failover'));
      set('reportIntervalMs', num(reader, f, 'report_interval_ms', 100, 3_600_000));
      set('packetBytes', num(reader, f, 'packet_bytes', 64, 9000, { integer: true }));
      set('maxSamplePps', num(reader, f, 'max_sample_pps', 1, 100_000));
      set('mergeGapMs', num(reader, f, 'merge_gap_ms', 0, 3_600_000));
    }
  }
  if (seedOverride !== undefined) {
    if (!Number.isInteger(seedOverride) || seedOverride < 0 || seedOverride > 0xffffffff) {
      reader.fail('--seed', `expected an integer 0..4294967295, got ${seedOverride}`);
    } else t.seed = seedOverride;
  }
  return reader.problems.length > before ? undefined : t;
}

function readRouting(reader: YamlReader, top: Fields): RoutingOptions {
  if (!top.has('routing')) return {};
  const f = reader.object(top.value('routing'), 'routing', ROUTING_KEYS, 'routing options', top.lineOf('routing'));
  if (!f) return {};
  const out: RoutingOptions = {};
  const maxEcmp = num(reader, f, 'max_ecmp', 1, 64, { integer: true });
  if (maxEcmp !== undefined) out.maxEcmp = maxEcmp;
  const pnp = f.boolean('prefer_node_protecting');
  if (pnp !== undefined) out.preferNodeProtecting = pnp;
  return out;
}

function readLinkNet(reader: YamlReader, f: Fields, base: LinkNet): LinkNet {
  const out: LinkNet = { ...base };
  const lat = num(reader, f, 'latency_ms', 0, 60_000);
  if (lat !== undefined) out.latencyMs = lat;
  const loss = num(reader, f, 'loss_pct', 0, 100);
  if (loss !== undefined) out.lossPct = loss;
  const probe: Partial<ProbeConfig> = {};
  const pi = num(reader, f, 'probe_interval_ms', 1, 60_000);
  if (pi !== undefined) probe.intervalMs = pi;
  const dm = num(reader, f, 'detect_multiplier', 1, 255, { integer: true });
  if (dm !== undefined) probe.multiplier = dm;
  const hold = num(reader, f, 'hold_ms', 0, 3_600_000);
  if (hold !== undefined) probe.holdMs = hold;
  if (Object.keys(probe).length > 0) out.probe = probe;
  return out;
}

function readNetwork(reader: YamlReader, top: Fields, topology: Topology | undefined): NetworkSpec {
  let defaults: LinkNet = { ...DEFAULT_LINK_NET };
  const links = new Map<string, LinkNet>();
  if (!top.has('network')) return { defaults, links };
  const f = reader.object(top.value('network'), 'network', NET_KEYS, 'network settings { defaults, links }', top.lineOf('network'));
  if (!f) return { defaults, links };
  if (f.has('defaults')) {
    const d = reader.object(f.value('defaults'), 'network.defaults', LINK_NET_KEYS.slice(0, 2), 'link defaults { latency_ms, loss_pct }', f.lineOf('defaults'));
    if (d) defaults = readLinkNet(reader, d, defaults);
  }
  if (f.has('links')) {
    const lf = f.value('links');
    if (!isMap(lf)) {
      reader.fail('network.links', 'expected a mapping from link id to { latency_ms, loss_pct, ... }', f.lineOf('links'));
    } else {
      const ids = new Set(topology?.links.map((l) => l.id) ?? []);
      for (const pair of lf.items) {
        const key = isScalar(pair.key) ? pair.key.value : undefined;
        const line = reader.lineOf(pair.key);
        if (typeof key !== 'string') {
          reader.fail('network.links', 'keys must be link ids', line);
          continue;
        }
        const field = `network.links.${key}`;
        if (topology && !ids.has(key)) {
          reader.fail(field, `unknown link ${show(key)}${didYouMean(key, ids)}; the topology has: ${listSome(ids)}`, line);
          continue;
        }
        const lnf = reader.object(pair.value, field, LINK_NET_KEYS, 'link settings { latency_ms, loss_pct, probe_interval_ms, detect_multiplier, hold_ms }', line);
        if (lnf) links.set(key, readLinkNet(reader, lnf, defaults));
      }
    }
  }
  // Links listed before defaults were read use the final defaults for what they leave out.
  return { defaults, links };
}

function listSome(ids: Iterable<string>, n = 8): string {
  const all = [...ids].sort();
  return all.length <= n ? all.join(', ') : `${all.slice(0, n).join(', ')}, ... (${all.length} in all)`;
}

function readDemands(reader: YamlReader, top: Fields, t: Topology, defaultBytes: number): Demand[] {
  const out: Demand[] = [];
  const siteIds = new Set(t.sites.map((s) => s.id));
  const vrfIds = new Map(t.vrfs.map((v) => [v.name, v.id]));
  const seen = new Set<string>();
  const gatewaysOf = new Set(t.gateways.map((g) => g.siteId));
  for (const item of top.list('demands', 'demands { from, to, rate_pps }')) {
    const f = reader.object(item.node, item.field, DEMAND_KEYS, 'a demand { id, from, to, vrf, rate_pps, packet_bytes }', item.line);
    if (!f) continue;
    const from = f.string('from', 'a site id', { required: true });
    const to = f.string('to', 'a site id or a prefix like 10.10.0.0/16', { required: true });
    const rate = num(reader, f, 'rate_pps', 0.001, 10_000_000, { required: true });
    const bytes = num(reader, f, 'packet_bytes', 64, 9000, { integer: true }) ?? defaultBytes;
    const vrfName = f.string('vrf', 'a VRF name');
    if (from === undefined || to === undefined || rate === undefined) continue;
    if (!siteIds.has(from)) {
      reader.fail(f.path('from'), `unknown site ${show(from)}${didYouMean(from, siteIds)}`, f.lineOf('from'));
      continue;
    }
    if (!gatewaysOf.has(from)) {
      reader.fail(f.path('from'), `site ${show(from)} has no gateway: traffic cannot leave it`, f.lineOf('from'));
      continue;
    }
    if (vrfName !== undefined && !vrfIds.has(vrfName)) {
      reader.fail(f.path('vrf'), `unknown VRF ${show(vrfName)}${didYouMean(vrfName, vrfIds.keys())}`, f.lineOf('vrf'));
      continue;
    }
    const target = resolveTarget(t, from, to, vrfName);
    if (typeof target === 'string') {
      reader.fail(f.path('to'), target, f.lineOf('to'));
      continue;
    }
    const id = f.string('id', 'a demand id') ?? `${from}->${to}`;
    if (seen.has(id)) {
      reader.fail(f.path('id'), `demand id ${show(id)} is used twice; give each demand its own id`, f.lineOf('id') ?? item.line);
      continue;
    }
    seen.add(id);
    out.push({
      id,
      from,
      to,
      vrf: target.vrf,
      vrfId: vrfIds.get(target.vrf)!,
      prefix: target.prefix.text,
      address: target.address,
      family: target.prefix.family,
      destSites: target.sites,
      ratePps: rate,
      packetBytes: bytes,
      line: item.line,
    });
  }
  return out;
}

interface Target {
  vrf: string;
  prefix: Cidr;
  address: string;
  sites: string[];
}

/** The announced prefix a demand goes to, or a message saying why there is none. */
function resolveTarget(t: Topology, from: string, to: string, vrf: string | undefined): Target | string {
  const siteIds = t.sites.map((s) => s.id);
  const sourceVrfs = t.prefixes.filter((p) => p.siteId === from).map((p) => p.vrf);
  const looksLikeAddress = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(to) && (to.includes('.') || to.includes(':'));
  if (!looksLikeAddress) {
    if (!siteIds.includes(to)) return `unknown site ${show(to)}${didYouMean(to, siteIds)}; expected a site id or a prefix`;
    if (to === from) return `the demand goes from site ${show(from)} to itself`;
    const own = t.prefixes.filter((p) => p.siteId === to && (vrf === undefined || p.vrf === vrf));
    if (own.length === 0) return `site ${show(to)} announces no prefix${vrf ? ` in VRF ${show(vrf)}` : ''}`;
    // Prefer a VRF the source site also uses, then IPv4.
    const pick =
      own.find((p) => sourceVrfs.includes(p.vrf) && !p.cidr.includes(':')) ??
      own.find((p) => sourceVrfs.includes(p.vrf)) ??
      own.find((p) => !p.cidr.includes(':')) ??
      own[0]!;
    const prefix = parsePrefix(pick.cidr);
    const sites = t.prefixes.filter((p) => p.vrf === pick.vrf && p.cidr === pick.cidr).map((p) => p.siteId);
    return { vrf: pick.vrf, prefix, address: firstHost(prefix), sites: [...new Set(sites)].sort() };
  }
  let want: Cidr;
  try {
    want = to.includes('/') ? parsePrefix(to, 'to') : parsePrefix(`${to}/${to.includes(':') ? 128 : 32}`, 'to');
  } catch (err) {
    return (err as Error).message.replace(/^to: /, '');
  }
  // The longest announced prefix containing it, in the given VRF (or any VRF the source uses, or any).
  const candidates = t.prefixes
    .map((p) => ({ p, c: parsePrefix(p.cidr) }))
    .filter(({ c }) => c.family === want.family && c.length <= want.length && prefixContains(c, want.bytes));
  const inVrf = (v: string) => candidates.filter(({ p }) => p.vrf === v);
  let pool = vrf !== undefined ? inVrf(vrf) : candidates.filter(({ p }) => sourceVrfs.includes(p.vrf));
  if (vrf === undefined && pool.length === 0) pool = candidates;
  if (pool.length === 0) return `no site announces a prefix containing ${show(to)}${vrf ? ` in VRF ${show(vrf)}` : ''}`;
  const vrfsHit = [...new Set(pool.map(({ p }) => p.vrf))];
  if (vrf === undefined && vrfsHit.length > 1) return `${show(to)} is announced in several VRFs (${vrfsHit.join(', ')}); say which with vrf:`;
  const longest = Math.max(...pool.map(({ c }) => c.length));
  const best = pool.filter(({ c }) => c.length === longest);
  const prefix = best[0]!.c;
  const sites = [...new Set(best.map(({ p }) => p.siteId))].sort();
  if (sites.length === 1 && sites[0] === from) return `${show(to)} is announced by the source site ${show(from)} itself`;
  const address = want.length === (want.family === 4 ? 32 : 128) ? formatIp(want.family, want.bytes) : firstHost(want);
  return { vrf: best[0]!.p.vrf, prefix, address, sites };
}

/** The first host address of a prefix (network + 1; the address itself for a /32 or /128). */
function firstHost(c: Cidr): string {
  const b = Uint8Array.from(c.bytes);
  if (c.length < b.length * 8) {
    for (let i = b.length - 1; i >= 0; i--) {
      b[i] = (b[i]! + 1) & 0xff;
      if (b[i] !== 0) break;
    }
  }
  return formatIp(c.family, b);
}

function readEvents(reader: YamlReader, top: Fields, t: Topology, durationMs: number): ScenarioEvent[] {
  const out: ScenarioEvent[] = [];
  const links = new Set(t.links.map((l) => l.id));
  const gateways = new Set(t.gateways.map((g) => g.id));
  const sites = new Set(t.sites.map((s) => s.id));
  const srlgs = new Set(t.links.flatMap((l) => l.srlgs));
  let last = -Infinity;
  let lastLine: number | undefined;
  for (const item of top.list('events', 'events { at_ms, <action> }')) {
    const f = reader.object(item.node, item.field, ['at_ms', ...EVENT_ACTIONS], `an event { at_ms, and one of: ${EVENT_ACTIONS.join(', ')} }`, item.line);
    if (!f) continue;
    const at = num(reader, f, 'at_ms', -Infinity, Infinity, { required: true });
    const actions = EVENT_ACTIONS.filter((a) => f.has(a));
    if (actions.length !== 1) {
      reader.fail(item.field, actions.length === 0 ? `says nothing happens; add one of: ${EVENT_ACTIONS.join(', ')}` : `has ${actions.length} actions (${actions.join(', ')}); give one per event`, item.line);
      continue;
    }
    if (at === undefined) continue;
    if (at < 0) {
      reader.fail(f.path('at_ms'), `is in the past: ${at} ms is before the start of the simulation (0)`, f.lineOf('at_ms'));
      continue;
    }
    if (at > durationMs) {
      reader.fail(f.path('at_ms'), `is after the end of the simulation (${at} ms > duration ${durationMs} ms); raise timing.duration_s or drop the event`, f.lineOf('at_ms'));
      continue;
    }
    if (at < last) {
      reader.fail(f.path('at_ms'), `events are out of order: ${at} ms comes after an event at ${last} ms${lastLine ? ` (line ${lastLine})` : ''}; list events in time order`, f.lineOf('at_ms'));
      continue;
    }
    last = at;
    lastLine = item.line;
    const kind = actions[0]!;
    const action = readAction(reader, f, kind, { links, gateways, sites, srlgs });
    if (action) out.push({ ...action, atMs: at, line: item.line });
  }
  return out;
}

interface Known {
  links: Set<string>;
  gateways: Set<string>;
  sites: Set<string>;
  srlgs: Set<string>;
}

function readAction(reader: YamlReader, f: Fields, kind: (typeof EVENT_ACTIONS)[number], k: Known): EventAction | undefined {
  const ref = (set: Set<string>, what: string, key: string = kind, node?: Fields): string | undefined => {
    const src = node ?? f;
    const v = src.string(key, `the id of a ${what}`, { required: true });
    if (v === undefined) return undefined;
    if (!set.has(v)) {
      const hint = set.size === 0 ? ` (the topology has no ${what}s)` : didYouMean(v, set) || `; known: ${listSome(set)}`;
      reader.fail(src.path(key), `unknown ${what} ${show(v)}${hint}`, src.lineOf(key));
      return undefined;
    }
    return v;
  };
  switch (kind) {
    case 'link_down':
    case 'link_up': {
      const link = ref(k.links, 'link');
      return link === undefined ? undefined : { kind, link };
    }
    case 'gateway_down':
    case 'gateway_up':
    case 'partition':
    case 'heal': {
      const gateway = ref(k.gateways, 'gateway');
      return gateway === undefined ? undefined : { kind, gateway };
    }
    case 'site_down':
    case 'site_up': {
      const site = ref(k.sites, 'site');
      return site === undefined ? undefined : { kind, site };
    }
    case 'srlg_down':
    case 'srlg_up': {
      const srlg = ref(k.srlgs, 'shared-risk group');
      return srlg === undefined ? undefined : { kind, srlg };
    }
    case 'controller_down':
    case 'controller_up': {
      const v = f.boolean(kind);
      if (v !== true) {
        if (v === false) reader.fail(f.path(kind), `write ${kind}: true (false means nothing)`, f.lineOf(kind));
        return undefined;
      }
      return { kind };
    }
    case 'latency': {
      const g = reader.object(f.value(kind), f.path(kind), ['link', 'ms'], 'latency { link, ms }', f.lineOf(kind));
      if (!g) return undefined;
      const link = ref(k.links, 'link', 'link', g);
      const ms = num(reader, g, 'ms', 0, 60_000, { required: true });
      return link === undefined || ms === undefined ? undefined : { kind, link, ms };
    }
    case 'loss': {
      const g = reader.object(f.value(kind), f.path(kind), ['link', 'pct'], 'loss { link, pct }', f.lineOf(kind));
      if (!g) return undefined;
      const link = ref(k.links, 'link', 'link', g);
      const pct = num(reader, g, 'pct', 0, 100, { required: true });
      return link === undefined || pct === undefined ? undefined : { kind, link, pct };
    }
    case 'gray': {
      const g = reader.object(f.value(kind), f.path(kind), ['link', 'drop_pct', 'probe_drop_pct'], 'gray { link, drop_pct, probe_drop_pct }', f.lineOf(kind));
      if (!g) return undefined;
      const link = ref(k.links, 'link', 'link', g);
      const dropPct = num(reader, g, 'drop_pct', 0, 100, { required: true });
      const probeDropPct = num(reader, g, 'probe_drop_pct', 0, 100) ?? 0;
      return link === undefined || dropPct === undefined ? undefined : { kind, link, dropPct, probeDropPct };
    }
  }
}

/** The link settings the simulation uses for a link. */
export function linkNet(n: NetworkSpec, linkId: string): LinkNet {
  return n.links.get(linkId) ?? n.defaults;
}

/** One line describing an event, for timelines. */
export function describeEvent(e: EventAction): string {
  switch (e.kind) {
    case 'link_down':
    case 'link_up':
      return `${e.kind} ${e.link}`;
    case 'gateway_down':
    case 'gateway_up':
    case 'partition':
    case 'heal':
      return `${e.kind} ${e.gateway}`;
    case 'site_down':
    case 'site_up':
      return `${e.kind} ${e.site}`;
    case 'srlg_down':
    case 'srlg_up':
      return `${e.kind} ${e.srlg}`;
    case 'controller_down':
    case 'controller_up':
      return e.kind;
    case 'latency':
      return `latency ${e.link} ${e.ms} ms`;
    case 'loss':
      return `loss ${e.link} ${e.pct}%`;
    case 'gray':
      return `gray ${e.link} drops ${e.dropPct}% of data, ${e.probeDropPct}% of probes`;
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    if (o instanceof Map) for (const v of o.values()) deepFreeze(v);
    else for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
