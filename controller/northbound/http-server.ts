// The controller's HTTP port: Prometheus metrics, health, and the NOC
// dashboard (static page, JSON state, live journal, what-if, drain/undrain).
// Reading is open to anyone who reaches the port; drain and undrain are for
// operators, which until the security work lands means loopback clients.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { invalid, SwitchbackError, type ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { AgentState } from '../../proto/gen/switchback/v1/admin.js';
import type { Controller } from '../controller.js';
import { dashboardState, whatIfRunner } from './dashboard-api.js';
import { journalJson, parseAfter, serveEvents } from './event-stream.js';

const log = createLogger('http');

const dashboardDir = fileURLToPath(new URL('./dashboard/', import.meta.url));
/** The only files served: no path from a request ever reaches the file system. */
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};
const MAX_BODY_BYTES = 4096;

export interface HttpServerOptions {
  /** host:port; port 0 picks a free one. */
  listen: string;
  controller: Controller;
  registry: Registry;
  /** The agents as the southbound side sees them (none: no southbound). */
  agents?: () => readonly AgentState[];
}

export interface HttpListener {
  /** host:port actually bound. */
  readonly address: string;
  /** The dashboard's URL. */
  readonly url: string;
  close(): Promise<void>;
}

const httpStatus: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  RESOURCE_EXHAUSTED: 503,
  UNAVAILABLE: 503,
};

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** A Host header naming this machine's loopback (any port). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.replace(/:\d{1,5}$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpListener> {
  const ctl = opts.controller;
  const statics = new Map(Object.entries(STATIC).map(([path, s]) => [path, { body: readFileSync(join(dashboardDir, s.file)), type: s.type }]));
  const whatIf = whatIfRunner(ctl);
  const streams = new Set<() => void>();

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, err: unknown) => {
    const e = SwitchbackError.is(err) ? err : new SwitchbackError('INTERNAL', (err as Error)?.message ?? String(err));
    if (e.code === 'INTERNAL') log.warn('request failed', { error: e.message });
    if (!res.headersSent) json(res, httpStatus[e.code] ?? 500, { error: { code: e.code, message: e.message } });
    else res.end();
  };

  const operate = async (req: IncomingMessage, res: ServerResponse, id: string, verb: 'drain' | 'undrain') => {
    const peer = req.socket.remoteAddress;
    if (!isLoopback(peer)) throw new SwitchbackError('PERMISSION_DENIED', `${verb} is for operators: only loopback clients until roles exist (you are ${peer})`);
    // A page from another origin in the operator's browser must not drain
    // links: JSON bodies force a CORS preflight, which this server never grants.
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw invalid('content-type', 'must be application/json');
    // DNS rebinding: a hostile name resolved to 127.0.0.1 is same-origin to itself, not to this Host check.
    if (!isLoopbackHost(req.headers.host)) throw new SwitchbackError('PERMISSION_DENIED', `${verb} must be addressed to a loopback host (localhost, 127.0.0.1, [::1])`);
    const origin = req.headers.origin;
    if (origin && origin !== `http://${req.headers.host}`) throw new SwitchbackError('PERMISSION_DENIED', `cross-origin request from ${origin} refused`);
    const body = await readBody(req);
    let reason = '';
    if (body.length) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw invalid('body', 'is not JSON');
      }
      const r = (parsed as { reason?: unknown } | null)?.reason;
      if (r !== undefined && (typeof r !== 'string' || r.length > 200)) throw invalid('reason', 'must be a string of at most 200 characters');
      reason = (r as string | undefined) ?? '';
    }
    const actor = `dashboard@${peer}`;
    const entry = verb === 'drain' ? ctl.drainLink(id, actor, reason) : ctl.undrainLink(id, actor);
    json(res, 200, { entry: journalJson(entry) });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://controller');
    const path = url.pathname;
    const op = /^\/api\/links\/([^/]{1,128})\/(drain|undrain)$/.exec(path);
    if (op) {
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      return operate(req, res, decodeURIComponent(op[1]!), op[2] as 'drain' | 'undrain');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET');
    const s = statics.get(path);
    if (s) {
      res.writeHead(200, {
        'content-type': s.type,
        'cache-control': 'no-cache',
        'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
      });
      return res.end(s.body);
    }
    switch (path) {
      case '/metrics': {
        const text = await opts.registry.metrics();
        res.writeHead(200, { 'content-type': opts.registry.contentType });
        return res.end(text);
      }
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('ok\n');
      case '/api/state':
        return json(res, 200, dashboardState(ctl, opts.agents?.()));
      case '/api/whatif': {
        const raw = url.searchParams.get('limit') ?? '10';
        if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1) throw invalid('limit', `must be an integer 1-9999, got '${raw}'`);
        return json(res, 200, whatIf(Number(raw)));
      }
      case '/api/events': {
        const after = parseAfter(req, url, ctl.store.lastSeq());
        if (after === undefined) throw invalid('after', 'must be a journal sequence number');
        const end = serveEvents(ctl, res, after);
        streams.add(end);
        res.on('close', () => streams.delete(end));
        return;
      }
      default:
        return json(res, 404, { error: { code: 'NOT_FOUND', message: `no such page: ${path}` } });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => fail(res, err));
  });
  const i = opts.listen.lastIndexOf(':');
  const host = opts.listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(opts.listen.slice(i + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new SwitchbackError('UNAVAILABLE', `cannot serve HTTP on ${opts.listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound ? bound.port : port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const address = `${hostPart}:${boundPort}`;
  // A wildcard listener is reached through loopback from this host.
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : hostPart;
  return {
    address,
    url: `http://${urlHost}:${boundPort}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of streams) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.writeHead(405, { allow, 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 'INVALID_ARGUMENT', message: `method not allowed (use ${allow})` } }));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so the error can still be answered.
      if (size > MAX_BODY_BYTES) reject(invalid('body', `larger than ${MAX_BODY_BYTES} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
