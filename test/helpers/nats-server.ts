// Starts a real nats-server (Debian package `nats-server`) on a free loopback
// port for one suite, the way nats.js runs its own tests, and stops it after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Stops the server; `keepStore` leaves JetStream data for a restart. */
  stop(keepStore?: boolean): Promise<void>;
  /** Starts a new server on the same port and JetStream store (a restart). */
  restart(): Promise<NatsServer>;
}

export interface NatsServerOptions {
  /** Extra nats-server configuration text (e.g. an authorization block). */
  config?: string;
  jetstream?: boolean;
  port?: number;
  storeDir?: string;
}

export function findNatsServer(): string {
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error(
      'nats-server not found on PATH: install the Debian package `nats-server` (apt-get install -y nats-server); .ci/run does this',
    );
  }
  return path;
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  const port = opts.port ?? (await freePort());
  const storeDir = opts.storeDir ?? mkdtempSync(join(tmpdir(), 'sb-nats-'));
  const conf = join(storeDir, 'server.conf');
  const js = opts.jetstream ?? true;
  writeFileSync(
    conf,
    [
      `listen: "127.0.0.1:${port}"`,
      js ? `jetstream { store_dir: ${JSON.stringify(join(storeDir, 'js'))}, max_memory_store: 64MB, max_file_store: 256MB }` : '',
      opts.config ?? '',
    ].join('\n'),
  );
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitReady(child, port);
  let stopped = false;
  const stop = async (keepStore = false) => {
    if (!stopped) {
      stopped = true;
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      });
    }
    if (!keepStore) rmSync(storeDir, { recursive: true, force: true });
  };
  process.once('exit', () => child.kill('SIGKILL'));
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop,
    restart: async () => {
      await stop(true);
      return startNatsServer({ ...opts, port, storeDir });
    },
  };
}

function waitReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`nats-server on port ${port} not ready after 10 s:\n${log}`)), 10_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`nats-server exited with ${code} before it was ready:\n${log}`)));
  });
}
