// SIGKILL the controller process at 20 random points during a stream of
// admin writes (drains, undrains, link cost changes), restart it each time on
// the same data directory and check the store at rest: the journal, the model
// and the tables agree, nothing a client was told is lost, and versions never
// go back (neither a gateway's table version nor the journal sequence after
// the restart). The kill delays come from a seeded generator: the seed is
// printed, and SWITCHBACK_FAULT_SEED=<seed> replays the same delays.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchbackError } from '../../common/errors.js';
import { createRandom } from '../../common/random.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { checkStoreInvariants } from '../helpers/store-invariants.js';

const KILLS = 20;
const root = fileURLToPath(new URL('../..', import.meta.url));
const example = join(root, 'examples/topology.yaml');
const seed = Number(process.env.SWITCHBACK_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`controller kills: seed ${seed} (SWITCHBACK_FAULT_SEED=${seed} replays it)\n`);

// One exit listener per controller started (the helper's safety net).
process.setMaxListeners(4 * KILLS);

const kills = suite('controller SIGKILL at 20 random points');
let dir: string;
let ctl: ControllerProcess | undefined;
kills.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-kills-'));
});
kills.after(async () => {
  await ctl?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<{ client: AdminClient; ms: number }> {
  const t0 = performance.now();
  ctl = await startControllerProcess(['--data-dir', dir, '--no-bootstrap', '--http', 'off']);
  return { client: new AdminClient(ctl.adminAddress, { actor: 'kill-test' }), ms: performance.now() - t0 };
}

kills(`${KILLS} kills mid-stream: the store is consistent every time, nothing acknowledged is lost, versions never go back`, async () => {
  const rnd = createRandom(seed);
  let { client } = await start();
  const applied = await client.call('applyTopology', { yaml: readFileSync(example, 'utf8'), source: example, dryRun: false });
  let seen = applied.journalSeq;
  const links = (await client.call('listLinks', {})).links;
  let lastSeq = 0;
  let versions = new Map<string, number>();
  let acknowledged = 0;
  const refused = new Map<string, number>();
  const restartMs: number[] = [];
  const delays: number[] = [];
  for (let round = 0; round < KILLS; round++) {
    const killAfterMs = rnd.int(0, 400);
    delays.push(killAfterMs);
    const floor = lastSeq;
    // The delay counts from the round's first acknowledged write: before
    // it, the client is still connecting and no commit could be cut.
    let firstAck = 0;
    let killed = false;
    const started = Date.now();
    let i = 0;
    // Four writers, each sending its next write when the last is answered,
    // so the kill lands inside a commit, a response or between the two;
    // the mix changes tables in different ways.
    const writer = async () => {
      while (!killed) {
        const link = rnd.pick(links);
        const kind = rnd.int(0, 2);
        i++;
        try {
          const r =
            kind === 0
              ? await client.call('drainLink', { id: link.id, reason: `kill round ${round}` })
              : kind === 1
                ? await client.call('undrainLink', { id: link.id })
                : await client.call('putLink', { link: { ...link, cost: rnd.int(1, 200) } });
          assert.ok(r.journalSeq > floor, `seq ${r.journalSeq} after a restart at ${floor}: a journal sequence number was reused`);
          seen = Math.max(seen, r.journalSeq);
          firstAck ||= Date.now();
          acknowledged++;
        } catch (e) {
          if (!(e instanceof SwitchbackError)) throw e;
          // A drain of a drained link; the kill itself.
          refused.set(e.code, (refused.get(e.code) ?? 0) + 1);
          if (e.code === 'UNAVAILABLE' && !killed) await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    while (firstAck === 0 ? Date.now() - started < 20_000 : Date.now() - firstAck < killAfterMs) await new Promise((r) => setTimeout(r, 1));
    await ctl!.kill('SIGKILL');
    killed = true;
    await Promise.all(writers);
    client.close();
    const facts = await checkStoreInvariants(dir, seen);
    assert.ok(facts.lastSeq >= lastSeq, `round ${round}: the journal went back from ${lastSeq} to ${facts.lastSeq}`);
    for (const [gw, v] of versions) {
      const now = facts.versions.get(gw);
      if (now !== undefined) assert.ok(now >= v, `round ${round}: ${gw} went back from version ${v} to ${now}`);
    }
    lastSeq = facts.lastSeq;
    versions = facts.versions;
    const restarted = await start();
    client = restarted.client;
    restartMs.push(restarted.ms);
    const tables = await client.call('listTables', {});
    assert.ok(tables.tables.every((t) => t.version <= lastSeq), 'a consistent store needs no recompute at restart');
    assert.ok(i > 0);
  }
  // The last restart takes writes again.
  const last = await client.call('undrainLink', { id: links[0]!.id }).catch(() => client.call('drainLink', { id: links[0]!.id, reason: 'after the last kill' }));
  assert.ok(last.journalSeq > lastSeq);
  client.close();
  const sorted = [...restartMs].sort((a, b) => a - b);
  process.stdout.write(
    `controller kills: ${KILLS} kills survived (delays ${delays.join(',')} ms), ${acknowledged} writes acknowledged, refused or cut by code ${JSON.stringify(Object.fromEntries(refused))}, ` +
      `journal at ${lastSeq}; restart to ready median ${sorted[sorted.length >> 1]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms\n`,
  );
});

kills.run();
