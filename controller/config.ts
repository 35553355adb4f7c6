// controller.yaml, validated at the edge into a frozen, typed object.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { invalid, SwitchbackError } from '../common/errors.js';
import { parseDuration } from '../common/duration.js';
import { DEFAULT_LINK_KEY_ROTATION_MS } from './link-keys/link-key-rotator.js';
import { DEFAULT_COST_POLICY, type CostPolicy } from './routing/link-cost.js';

export interface ControllerConfig {
  readonly dataDir: string;
  /** Admin gRPC API (host:port). */
  readonly adminListen: string;
  /** Topology applied when the store is empty (the example one by default). */
  readonly bootstrapTopology?: string;
  /** Southbound gRPC listener for agents (host:port); none: no gRPC sessions. */
  readonly southboundListen?: string;
  /** Plain-text southbound gRPC, gateways named by their Hello: local tests only. */
  readonly southboundInsecure?: boolean;
  /** Southbound addresses written into enrollment bundles (default: the bound one). */
  readonly southboundAdvertise?: readonly string[];
  /** Extra DNS names / IPs for the controller's southbound certificate. */
  readonly southboundNames?: readonly string[];
  /** NATS server URLs: the NATS transport runs when given. */
  readonly natsUrls?: readonly string[];
  /** Whether measured RTT moves link costs, and with what hysteresis. */
  readonly costPolicy?: CostPolicy;
  /** HTTP listener: /metrics, /healthz and the NOC dashboard (host:port); none: no HTTP. */
  readonly httpListen?: string;
  /** Rotate link keys older than this (link_key_rotation, default 24h; 0: only on request and revocation). */
  readonly linkKeyRotationMs?: number;
  /** How long the previous link key stays accepted after a rotation switched (link_key_overlap, default 5s). */
  readonly linkKeyOverlapMs?: number;
  /** Admin API transport: TLS with client certificates beyond loopback (auto), always (required), never (off: loopback only). */
  readonly adminTls?: AdminTlsMode;
  /** Extra DNS names / IPs for the admin API's server certificate. */
  readonly adminNames?: readonly string[];
  /** Validity of gateway certificates, enrolled or renewed (cert_validity_days, default 90). */
  readonly certValidityDays?: number;
  /** At most one certificate per gateway in this time (cert_renew_min_interval_s, default 60). */
  readonly certRenewMinIntervalS?: number;
}

export const DEFAULT_ADMIN_ADDRESS = '127.0.0.1:7600';
export const ADMIN_TLS_MODES = ['auto', 'required', 'off'] as const;
export type AdminTlsMode = (typeof ADMIN_TLS_MODES)[number];
/** Where the controller writes the first admin credential (in its data directory). */
export const INITIAL_ADMIN_CREDENTIAL = 'admin.credential.json';
export const DEFAULT_SOUTHBOUND_ADDRESS = '127.0.0.1:7601';
export const DEFAULT_HTTP_ADDRESS = '127.0.0.1:7680';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const defaultConfig = (): ControllerConfig =>
  Object.freeze({
    dataDir: resolve('data'),
    adminListen: DEFAULT_ADMIN_ADDRESS,
    bootstrapTopology: resolve(repoRoot, 'examples', 'topology.yaml'),
    southboundListen: DEFAULT_SOUTHBOUND_ADDRESS,
    httpListen: DEFAULT_HTTP_ADDRESS,
    linkKeyRotationMs: DEFAULT_LINK_KEY_ROTATION_MS,
  });

const keys = {
  data_dir: 'string',
  admin_listen: 'string',
  bootstrap_topology: 'string',
  southbound_listen: 'string',
  southbound_insecure: 'boolean',
  southbound_advertise: 'list',
  southbound_names: 'list',
  nats_url: 'list',
  rtt_cost: 'mapping',
  http_listen: 'string',
  link_key_rotation: 'duration',
  link_key_overlap: 'duration',
  admin_tls: 'string',
  admin_names: 'list',
  cert_validity_days: 'integer',
  cert_renew_min_interval_s: 'integer',
} as const;

/** Ranges of the integer keys. */
const integerRanges: Record<string, [number, number]> = {
  cert_validity_days: [1, 3650],
  cert_renew_min_interval_s: [0, 86_400],
};

/** rtt_cost: { enabled: true, us_per_cost_unit: 1000, hysteresis_pct: 20 } */
function parseCostPolicy(v: unknown, source: string): CostPolicy {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('rtt_cost', 'must be a mapping with enabled, us_per_cost_unit, hysteresis_pct', { source });
  const o = v as Record<string, unknown>;
  const policy = { ...DEFAULT_COST_POLICY };
  for (const [k, x] of Object.entries(o)) {
    if (k === 'enabled') {
      if (typeof x !== 'boolean') throw invalid('rtt_cost.enabled', 'must be true or false', { source });
      policy.rttCost = x;
    } else if (k === 'us_per_cost_unit' || k === 'hysteresis_pct') {
      if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0 || (k === 'hysteresis_pct' && x > 1000)) {
        throw invalid(`rtt_cost.${k}`, 'must be a positive number', { source });
      }
      if (k === 'us_per_cost_unit') policy.usPerCostUnit = x;
      else policy.hysteresisPct = x;
    } else {
      throw invalid(`rtt_cost.${k}`, 'unknown key (expected enabled, us_per_cost_unit, hysteresis_pct)', { source });
    }
  }
  return Object.freeze(policy);
}

export function parseControllerConfig(text: string, source: string): ControllerConfig {
  const doc = parseDocument(text);
  if (doc.errors.length) throw invalid('config', doc.errors[0]!.message, { source });
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid('config', 'must be a mapping', { source });
  const base = dirname(resolve(source));
  const out: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  let insecure = false;
  let costPolicy: CostPolicy | undefined;
  const durations: Record<string, number> = {};
  const ints: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(k in keys)) throw invalid(k, `unknown key (expected one of ${Object.keys(keys).join(', ')})`, { source });
    const kind = keys[k as keyof typeof keys];
    if (kind === 'duration') {
      durations[k] = parseDuration(v, k, source);
      continue;
    }
    if (kind === 'integer') {
      const [lo, hi] = integerRanges[k]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw invalid(k, `must be a whole number in ${lo}..${hi}`, { source });
      ints[k] = v;
    } else if (kind === 'mapping') {
      costPolicy = parseCostPolicy(v, source);
    } else if (kind === 'boolean') {
      if (typeof v !== 'boolean') throw invalid(k, 'must be true or false', { source });
      insecure = v;
    } else if (kind === 'list') {
      // One string (comma-separated allowed) or a list of strings.
      const items = typeof v === 'string' ? v.split(',').map((x) => x.trim()) : v;
      if (!Array.isArray(items) || items.length === 0 || items.some((x) => typeof x !== 'string' || !x)) {
        throw invalid(k, 'must be a non-empty string or a list of non-empty strings', { source });
      }
      lists[k] = items as string[];
    } else {
      if (typeof v !== 'string' || !v) throw invalid(k, 'must be a non-empty string', { source });
      out[k] = v;
    }
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const d = defaultConfig();
  const cfg = {
    dataDir: out.data_dir ? abs(out.data_dir) : d.dataDir,
    adminListen: out.admin_listen ?? d.adminListen,
    bootstrapTopology: out.bootstrap_topology ? abs(out.bootstrap_topology) : d.bootstrapTopology,
    southboundListen: out.southbound_listen ?? d.southboundListen,
    southboundInsecure: insecure,
    southboundAdvertise: lists.southbound_advertise,
    southboundNames: lists.southbound_names,
    natsUrls: lists.nats_url,
    costPolicy,
    httpListen: out.http_listen === 'off' ? undefined : (out.http_listen ?? d.httpListen),
    linkKeyRotationMs: durations.link_key_rotation ?? d.linkKeyRotationMs,
    linkKeyOverlapMs: durations.link_key_overlap,
    adminTls: parseAdminTls(out.admin_tls ?? 'auto', 'admin_tls', source),
    adminNames: lists.admin_names,
    certValidityDays: ints.cert_validity_days,
    certRenewMinIntervalS: ints.cert_renew_min_interval_s,
  };
  checkAddress(cfg.adminListen, 'admin_listen', source);
  adminUsesTls(cfg.adminListen, cfg.adminTls, source);
  checkAddress(cfg.southboundListen!, 'southbound_listen', source);
  if (cfg.httpListen) checkAddress(cfg.httpListen, 'http_listen', source);
  for (const a of cfg.southboundAdvertise ?? []) checkAddress(a, 'southbound_advertise', source);
  for (const u of cfg.natsUrls ?? []) checkNatsUrl(u, 'nats_url', source);
  return Object.freeze(cfg);
}

export function loadControllerConfig(path: string): ControllerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SwitchbackError('INVALID_ARGUMENT', `cannot read config ${path}: ${(err as Error).message}`, { field: 'config' });
  }
  return parseControllerConfig(text, path);
}

export function parseAdminTls(v: string, field: string, source?: string): AdminTlsMode {
  if (!(ADMIN_TLS_MODES as readonly string[]).includes(v)) throw invalid(field, `must be one of ${ADMIN_TLS_MODES.join(', ')}, got '${v}'`, { source });
  return v as AdminTlsMode;
}

/**
 * Whether the admin API on `listen` runs TLS with client certificates.
 * Plain text is for loopback only: anything else refuses to start.
 */
export function adminUsesTls(listen: string, mode: AdminTlsMode = 'auto', source?: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (mode === 'off' && !loopback) {
    throw invalid('admin_tls', `the admin API on ${listen} is beyond loopback and must use TLS with client certificates: set admin_tls to auto or required (or listen on 127.0.0.1)`, { source });
  }
  return mode === 'required' || (mode === 'auto' && !loopback);
}

/** host:port with a port in range; IPv6 hosts in brackets. */
export function checkAddress(addr: string, field: string, source?: string): void {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw invalid(field, `'${addr}' is not host:port`, { source });
}

/** nats://host:port (or tls://, or a bare host:port as nats.js accepts). */
export function checkNatsUrl(url: string, field: string, source?: string): void {
  if (!/^((nats|tls|ws|wss):\/\/)?([^\s/@]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(url)) {
    throw invalid(field, `'${url}' is not a NATS URL (nats://host:port)`, { source });
  }
}
