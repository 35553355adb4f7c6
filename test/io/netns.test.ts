import { spawn, spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejects, until } from '../helpers/async-assert.js';
import { NetnsHarness, harnessNamespaces, netnsPrerequisites, reapStaleNamespaces, requireCommand } from '../helpers/netns.js';

const netns = suite('netns harness');

const missing = netnsPrerequisites();
if (missing) {
  console.log(`SKIP netns harness: ${missing}`);
  netns.skip(`skipped: ${missing}`, () => {});
} else {
  requireCommand('ping', 'iputils-ping');

  const ping = (h: NetnsHarness, ns: string, to: string) => h.exec(ns, 'ping', ['-c', '1', '-W', '1', '-n', to]);

  netns('two namespaces joined by a veth: ping across, link down fails it, up restores it', async () => {
    const h = new NetnsHarness();
    try {
      const a = await h.namespace('a');
      const b = await h.namespace('b');
      assert.ok(a.startsWith(`sbt-${process.pid}-`), a);
      assert.is.not(a, b);
      await h.veth({ ns: a, ifname: 'sbt-a0', address: '10.98.0.1/24' }, { ns: b, ifname: 'sbt-b0', address: '10.98.0.2/24', mtu: 1400 });

      const up = await ping(h, a, '10.98.0.2');
      assert.is(up.code, 0, up.stdout + up.stderr);
      assert.match(up.stdout, /1 received/);

      const mtu = await h.exec(b, 'ip', ['-o', 'link', 'show', 'dev', 'sbt-b0']);
      assert.match(mtu.stdout, /mtu 1400/);

      await h.setLink(a, 'sbt-a0', 'down');
      const down = await ping(h, a, '10.98.0.2');
      assert.is.not(down.code, 0, 'ping must fail with the link down');

      await h.setLink(a, 'sbt-a0', 'up');
      const again = await ping(h, a, '10.98.0.2');
      assert.is(again.code, 0, again.stdout + again.stderr);

      // The veth ends live only in the namespaces, never in the caller's.
      const here = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
      assert.not.match(here.stdout, /sbt-a0|sbt-b0/);
    } finally {
      await h.cleanup();
    }
  });

  netns('cleanup stops spawned processes and deletes every namespace it made', async () => {
    const h = new NetnsHarness();
    const ns = await h.namespace('spawn');
    const sleeper = h.spawn(ns, 'sleep', ['600']);
    await new Promise((r) => sleeper.once('spawn', r));
    const pid = sleeper.pid!;
    const pids = await h.exec(ns, 'ip', ['netns', 'pids', ns]);
    assert.ok(pids.stdout.split('\n').includes(String(pid)), `sleep (pid ${pid}) runs inside ${ns}`);

    await h.cleanup();
    assert.ok(sleeper.exitCode !== null || sleeper.signalCode !== null, 'the spawned process was stopped');
    assert.equal(h.namespaces(), []);
    assert.equal(
      harnessNamespaces().filter((n) => n.startsWith(`sbt-${process.pid}-`)),
      [],
    );
  });

  netns('exec reports a failing command as a result; bad names are refused clearly', async () => {
    const h = new NetnsHarness();
    try {
      const ns = await h.namespace('exec');
      const r = await h.exec(ns, 'sh', ['-c', 'echo out; echo err >&2; exit 3']);
      assert.equal([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
      const none = await h.exec(ns, '/nonexistent/cmd');
      assert.is.not(none.code, 0);
      await rejects(() => h.veth({ ns, ifname: 'way-too-long-name0', address: '10.0.0.1/24' }, { ns, ifname: 'ok0' }), /way-too-long-name0/);
      await rejects(() => h.namespace('Bad Label'), /Bad Label/);
      await rejects(() => h.setLink(ns, 'nosuchdev0', 'up'), /nosuchdev0/);
    } finally {
      await h.cleanup();
    }
  });

  // A process that makes a namespace and a sleeper in it, prints both, then
  // either waits for a signal or just ends without calling cleanup().
  const harnessUrl = new URL('../helpers/netns.ts', import.meta.url).href;
  const script = (then: 'wait' | 'end') => `
    const { NetnsHarness } = await import(${JSON.stringify(harnessUrl)});
    const h = new NetnsHarness();
    const ns = await h.namespace('sig');
    const s = h.spawn(ns, 'sleep', ['600']);
    await new Promise((r) => s.once('spawn', r));
    console.log(ns + ' ' + s.pid);
    ${then === 'wait' ? 'setInterval(() => {}, 1000);' : 's.unref(); s.stdout.destroy(); s.stderr.destroy();'}
  `;
  const runScript = async (then: 'wait' | 'end', signal?: NodeJS.Signals) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(then)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await until(() => out.includes('\n'), 'the namespace and sleeper', 20_000);
    const [ns, pid] = out.trim().split(' ');
    if (signal) child.kill(signal);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    return { ns, pid: Number(pid), code };
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  for (const [how, then, signal, code] of [
    ['SIGTERM', 'wait', 'SIGTERM', 143],
    ['SIGINT', 'wait', 'SIGINT', 130],
    ['a plain exit without cleanup()', 'end', undefined, 0],
  ] as const) {
    netns(`${how}: the process's namespaces and processes are gone`, async () => {
      const r = await runScript(then, signal);
      assert.is(r.code, code);
      assert.not.ok(harnessNamespaces().includes(r.ns), `${r.ns} deleted`);
      await until(() => !alive(r.pid), `sleeper ${r.pid} stopped`);
    });
  }

  netns('namespaces of a harness process that died are reaped', async () => {
    const dead = spawnSync('true');
    const stale = `sbt-${dead.pid}-1-stale`;
    assert.is(spawnSync('ip', ['netns', 'add', stale]).status, 0);
    try {
      assert.ok(reapStaleNamespaces().includes(stale));
      assert.not.ok(harnessNamespaces().includes(stale));
    } finally {
      spawnSync('ip', ['netns', 'delete', stale]);
    }
  });
}

netns.run();
