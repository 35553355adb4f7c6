// Runs `switchback controller` as a real child process on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ControllerProcess {
  readonly child: ChildProcess;
  readonly adminAddress: string;
  /** The dashboard's URL (`http://host:port/`), unless started with --http off. */
  readonly dashboardUrl?: string;
  /** Everything the process printed so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startControllerProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ControllerProcess> {
  const child = spawn(process.execPath, [join(root, 'bin/switchback.mjs'), 'controller', '--listen', '127.0.0.1:0', ...args], {
    cwd: root,
    env: { ...process.env, SWITCHBACK_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`controller did not start within 20 s:\n${out}`));
    }, 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /admin API\s+(\S+)/.exec(out);
      // The dashboard line comes in the same banner, after the admin line.
      const dash = /\n  dashboard\s+(\S+)/.exec(out);
      if (m && dash) {
        clearTimeout(timer);
        resolve({
          child,
          adminAddress: m[1]!,
          dashboardUrl: dash[1] === 'off' ? undefined : dash[1],
          output: () => out,
          kill: (signal = 'SIGTERM') =>
            new Promise((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
              child.once('exit', (code) => done(code));
              child.kill(signal);
            }),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited (${code}) before it was ready:\n${out}`));
    });
  });
}
