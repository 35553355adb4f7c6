// The namespace harness lives in emulate/netns.ts (the emulator is
// production code); tests import it from here, plus runFileInNamespace().
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { suite, exec as runQueuedSuites } from 'uvu';
import { INFO_ENV, INSIDE_ENV, NetnsHarness, netnsPrerequisites } from '../../emulate/netns.js';

export * from '../../emulate/netns.js';

/**
 * Runs the calling test file inside a fresh namespace. In the top-level
 * process: checks prerequisites (a missing one marks the file skipped, with
 * the reason), creates the namespace, lets `setup` add more (other
 * namespaces, veths), re-runs the file inside it with the same Node flags,
 * relays its output and exit code, cleans up and exits. Inside: returns the
 * namespace name and what `setup` returned.
 *
 *   const env = await runFileInNamespace(import.meta.url, 'tun-port');
 *   // from here on the code runs inside env.ns
 */
export async function runFileInNamespace<T extends Record<string, string> = Record<string, never>>(
  fileUrl: string,
  label: string,
  setup?: (h: NetnsHarness, ns: string) => Promise<T>,
  timeoutMs = 300_000,
): Promise<{ ns: string } & T> {
  const inside = process.env[INSIDE_ENV];
  if (inside) return { ...(JSON.parse(process.env[INFO_ENV] ?? '{}') as T), ns: inside };

  const missing = netnsPrerequisites();
  if (missing) {
    console.log(`SKIP ${label}: ${missing}`);
    const s = suite(label);
    s.skip(`skipped: ${missing}`, () => {});
    s.run();
    await runQueuedSuites();
    process.exit(process.exitCode ?? 0);
  }
  const h = new NetnsHarness();
  let code = 1;
  try {
    const ns = await h.namespace(label);
    const info = setup ? await setup(h, ns) : ({} as T);
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(fileUrl)], {
      stdio: 'inherit',
      env: { ...process.env, [INSIDE_ENV]: ns, [INFO_ENV]: JSON.stringify(info) },
    });
    code = await new Promise<number>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (c, sig) => {
        clearTimeout(t);
        resolve(c ?? (sig ? 128 : 1));
      });
    });
  } catch (err) {
    console.error(err);
  } finally {
    await h.cleanup();
  }
  process.exit(code);
}

