// A link's state change (drain, undrain, an agent's report) checks only that
// link (topology-check patchLinkState) instead of the whole model: it must
// give what the whole-model check gives, result and errors alike; and the
// LMDB store, which keeps the model it committed instead of reading it back,
// must keep exactly what a fresh read returns.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { OperState, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { LmdbStore } from '../../controller/store/lmdb-store.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { checkTopology, patchLinkState, withDefaults, type LinkStatePatch } from '../../controller/topology/topology-check.js';
import { generateTopology } from '../../sim/generate-topology.js';
import { fleetTopology } from '../helpers/fleet-topology.js';

const patchSuite = suite('link state patch');

const canonical = (seed: number): Topology => checkTopology(withDefaults(generateTopology({ gateways: 10, seed, prefixesPerSite: 1 })));

// Valid and invalid values of each field (undefined: the field is not patched).
const anyPatchArb: fc.Arbitrary<LinkStatePatch> = fc
  .record({
    adminState: fc.constantFrom(undefined, 0, 1, 2, 3, -1),
    operState: fc.constantFrom(undefined, 0, 1, 2, 3),
    rttUs: fc.constantFrom(undefined, 0, 1500, -1, 1.5, 2 ** 32),
    lossPpm: fc.constantFrom(undefined, 0, 10, 1_000_000, 1_000_001),
    changedUnixMs: fc.constantFrom(undefined, 0, 1_700_000_000_000, -5, Number.MAX_SAFE_INTEGER + 2),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as LinkStatePatch);
// Also patches that change nothing (a generated link is up, with no figures).
const patchArb = fc.oneof(
  { weight: 6, arbitrary: anyPatchArb },
  { weight: 1, arbitrary: fc.constantFrom<LinkStatePatch>({}, { adminState: 1, operState: 0 }, { rttUs: 0, lossPpm: 0, changedUnixMs: 0 }) },
);

function outcome(f: () => Topology): { ok: Topology } | { code: string; message: string; field?: string } {
  try {
    return { ok: f() };
  } catch (err) {
    assert.instance(err, SwitchbackError);
    const e = err as SwitchbackError;
    return { code: e.code, message: e.message, field: e.field };
  }
}

patchSuite('gives what the whole-model check of the patched model gives, errors included', () => {
  let failures = 0;
  let unchanged = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), patchArb, (seed, pick, patch) => {
      const t = canonical(seed);
      const id = t.links[pick % t.links.length]!.id;
      const whole = outcome(() => checkTopology(withDefaults({ ...t, links: t.links.map((l) => (l.id === id ? { ...l, ...patch } : l)) }, t)));
      const fast = outcome(() => patchLinkState(t, id, patch));
      if (!('ok' in whole) || !('ok' in fast)) {
        failures++;
        assert.equal(fast, whole);
        return;
      }
      assert.equal(JSON.stringify(fast.ok), JSON.stringify(whole.ok));
      // The same model is returned as such; a changed one is frozen throughout.
      const same = JSON.stringify(fast.ok) === JSON.stringify(t);
      if (same) unchanged++;
      assert.is(fast.ok === t, same);
      assert.ok(Object.isFrozen(fast.ok) && Object.isFrozen(fast.ok.links) && fast.ok.links.every((l) => Object.isFrozen(l)));
    }),
    { numRuns: 400 },
  );
  assert.ok(failures > 50, `invalid patches tried: ${failures}`);
  assert.ok(unchanged > 5, `patches that change nothing tried: ${unchanged}`);
});

patchSuite('an unknown link leaves the model as it is', () => {
  const t = canonical(3);
  assert.is(patchLinkState(t, 'no-such-link', { adminState: 2 }), t);
});

patchSuite('a bad report is refused with the field named and nothing journaled', () => {
  const c = new Controller({ store: new MemoryStore(), clock: new ManualClock() });
  c.applyTopology(fleetTopology(3), 'test');
  const seq = c.store.lastSeq();
  const before = c.topology();
  const err = (() => {
    try {
      c.reportLink({ gatewayId: 'dc-a', linkId: 'dc-a--dc-b', state: OperState.DOWN, rttUs: 0, lossPpm: 2_000_000 });
    } catch (e) {
      return e as SwitchbackError;
    }
  })();
  assert.instance(err, SwitchbackError);
  assert.is(err!.code, 'INVALID_ARGUMENT');
  assert.is(err!.field, 'links[0].loss_ppm');
  assert.is(c.store.lastSeq(), seq);
  assert.is(c.topology(), before);
});

const lmdbSuite = suite('LMDB store: the model and link keys kept after a commit');
let dir: string;
lmdbSuite.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-link-patch-'));
});
lmdbSuite.after.each(() => rmSync(dir, { recursive: true, force: true }));

lmdbSuite('are what a fresh read returns, through link changes, model edits and a key rotation', async () => {
  const store = new LmdbStore({ path: dir });
  const c = new Controller({ store, clock: new ManualClock() });
  c.applyTopology(fleetTopology(6), 'test');
  const steps: (() => unknown)[] = [
    () => c.drainLink('dc-a--dc-b', 'test'),
    () => c.reportLink({ gatewayId: 'o0001', linkId: 'o0001--dc-a', state: OperState.DOWN, rttUs: 900 }),
    () => c.undrainLink('dc-a--dc-b', 'test'),
    () => c.putLink({ ...c.topology().links.find((l) => l.id === 'o0002--dc-b')!, cost: 3 }, 'test'),
    () => c.deleteLink('o0003--dc-b', 'test'),
    () => c.putLink({ ...c.topology().links.find((l) => l.id === 'o0002--dc-b')!, id: 'o0003--o0002', a: 'o0003', b: 'o0002' }, 'test'),
    () => c.drainLink('o0001--dc-b', 'test'),
    () => c.commitLinkKeys('test', 'link.key-rotate', 'o0001--dc-a', 'rotated', new Map([['o0001--dc-a', { key: Buffer.alloc(32, 7), keyId: 2, createdMs: 5, previousKey: Buffer.alloc(32, 1), previousKeyId: 1 }]])),
  ];
  const keysOf = (m: Map<string, unknown>) => JSON.stringify([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
  for (const step of steps) {
    step();
    const kept = store.topology();
    const other = new LmdbStore({ path: dir });
    try {
      assert.equal(JSON.parse(JSON.stringify(kept)), JSON.parse(JSON.stringify(other.topology())));
      assert.is(keysOf(store.linkKeys()), keysOf(other.linkKeys()));
    } finally {
      await other.close();
    }
    assert.ok(Object.isFrozen(kept) && Object.isFrozen(kept.links) && kept.links.every((l) => Object.isFrozen(l)));
  }
  assert.is(c.topology().links.find((l) => l.id === 'o0001--dc-b')!.adminState, 2);
  assert.is(c.topology().links.find((l) => l.id === 'o0001--dc-a')!.operState, OperState.DOWN);
  assert.ok(!c.topology().links.some((l) => l.id === 'o0003--dc-b'));
  assert.ok(!store.linkKeys().has('o0003--dc-b') && store.linkKeys().has('o0003--o0002'));
  assert.is(store.linkKeys().get('o0001--dc-a')!.keyId, 2);
  await store.close();
});

patchSuite.run();
lmdbSuite.run();
