// Per-component logging switched by an environment variable, as grpc-js does
// with GRPC_TRACE: SWITCHBACK_TRACE=southbound,health (or "all") turns on
// debug lines for those components; SWITCHBACK_LOG=debug|info|warn|error|silent
// sets the level for everything else (default info). Lines go to stderr so
// that a command's stdout stays machine-readable.

export type Level = 'debug' | 'info' | 'warn' | 'error';

const order: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  readonly component: string;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type Sink = (line: string) => void;

let sink: Sink = (line) => process.stderr.write(line + '\n');

/** Redirects every logger's output (tests capture lines with this). */
export function setLogSink(s: Sink): Sink {
  const old = sink;
  sink = s;
  return old;
}

function parseTrace(v: string | undefined): Set<string> {
  return new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

function threshold(component: string, env: NodeJS.ProcessEnv): number {
  const trace = parseTrace(env.SWITCHBACK_TRACE);
  if (trace.has('all') || trace.has(component)) return order.debug;
  const lvl = (env.SWITCHBACK_LOG ?? 'info') as Level | 'silent';
  return order[lvl] ?? order.info;
}

function render(fields?: Record<string, unknown>): string {
  if (!fields) return '';
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    const s = typeof v === 'string' ? (/[\s"=]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
    out += ` ${k}=${s}`;
  }
  return out;
}

export function createLogger(component: string, env: NodeJS.ProcessEnv = process.env): Logger {
  // The level is read once: logging decisions must not cost a lookup per line.
  const min = threshold(component, env);
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}${render(fields)}`);
  };
  return {
    component,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
