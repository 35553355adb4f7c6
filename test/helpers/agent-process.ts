// Starts `switchback agent` inside a network namespace and waits until it
// says it is forwarding.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { NetnsHarness } from './netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
}

export function startAgentProcess(h: NetnsHarness, ns: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const child = h.spawn(ns, process.execPath, [join(root, 'bin/switchback.mjs'), 'agent', ...args], {
    cwd: root,
    env: { ...process.env, SWITCHBACK_LOG: 'warn', ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent in ${ns} did not start within 20 s:\n${out}`)), 20_000);
    const poll = setInterval(() => {
      if (/^switchback agent /m.test(out)) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`agent in ${ns} exited (${code}):\n${out}`));
    });
  });
}

/** Waits until `cond` holds, polling; throws with `what` after `ms`. */
export async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
