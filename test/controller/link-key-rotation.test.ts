// The pure link key rotation state machine (controller/link-keys/rotation.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  advanceRotations,
  beginRotation,
  checkLinkKey,
  dueForRotation,
  nextKeyId,
  replaceKey,
  type LinkEnds,
  type RotationPolicy,
} from '../../controller/link-keys/rotation.js';
import type { LinkKey } from '../../controller/store/store.js';

const rot = suite('link key rotation state machine');

const K = (n: number) => Buffer.alloc(32, n);
const policy: RotationPolicy = { overlapMs: 5_000, ackTimeoutMs: 30_000 };
const link: LinkEnds = { a: 'a1', b: 'b1', peered: true };

function view(k: LinkKey, acked: Record<string, number>, nowMs: number, nextVersion: number, ends: LinkEnds = link) {
  return advanceRotations({
    keys: new Map([['a1--b1', k]]),
    links: new Map([['a1--b1', ends]]),
    holds: (gw, v) => (acked[gw] ?? 0) >= v,
    nowMs,
    nextVersion,
    policy,
  });
}

rot('key ids count up from the current one, wrap past 255 to 1, and skip ids in use', () => {
  assert.is(nextKeyId({ keyId: 1 }), 2);
  assert.is(nextKeyId({ keyId: 255 }), 1);
  assert.is(nextKeyId({ keyId: 2, previousKeyId: 3 }), 4);
  assert.is(nextKeyId({ keyId: 255, previousKeyId: 1 }), 2);
  // Low 8 bits count: 257 is 1 on the wire.
  assert.is(nextKeyId({ keyId: 256 + 255, previousKeyId: 257 }), 2);
  assert.is(nextKeyId({ keyId: 5, nextKeyId: 6 }), 7);
});

rot('a full rotation: announce, switch once both ends hold it, retire after both hold the switch and the overlap', () => {
  const k0: LinkKey = { key: K(1), keyId: 1, createdMs: 0 };
  const k1 = beginRotation(k0, K(2), 1_000, 10);
  assert.equal({ ...k1, key: undefined, nextKey: undefined }, { key: undefined, keyId: 1, nextKey: undefined, nextKeyId: 2, createdMs: 0, phase: 'announce', phaseVersion: 10, phaseMs: 1_000 });
  assert.ok(k1.key.equals(K(1)) && k1.nextKey!.equals(K(2)));
  checkLinkKey(k1);
  // One end holds version 10, the other is behind: nothing moves.
  assert.equal(view(k1, { a1: 10, b1: 9 }, 2_000, 11).steps, []);
  assert.equal(view(k1, { a1: 12 }, 2_000, 13).steps, []);
  // Both hold it: switch (send the new key, keep the old one accepted).
  const s = view(k1, { a1: 10, b1: 11 }, 2_000, 12).steps;
  assert.is(s.length, 1);
  assert.equal([s[0]!.from, s[0]!.to], ['announce', 'switch']);
  const k2 = s[0]!.key;
  assert.ok(k2.key.equals(K(2)) && k2.previousKey!.equals(K(1)));
  assert.equal([k2.keyId, k2.previousKeyId, k2.nextKey, k2.phase, k2.phaseVersion, k2.phaseMs, k2.createdMs], [2, 1, undefined, 'switch', 12, 2_000, 2_000]);
  checkLinkKey(k2);
  // Overlap passed but one end has not acknowledged the switch: the previous key stays.
  assert.equal(view(k2, { a1: 12, b1: 11 }, 60_000, 13).steps, []);
  // Both acknowledged but the overlap has not passed.
  assert.equal(view(k2, { a1: 12, b1: 12 }, 6_999, 13).steps, []);
  const r = view(k2, { a1: 12, b1: 12 }, 7_000, 13).steps;
  assert.equal(r.map((x) => [x.from, x.to]), [['switch', 'done']]);
  const k3 = r[0]!.key;
  assert.ok(k3.key.equals(K(2)));
  assert.equal([k3.keyId, k3.previousKey, k3.nextKey, k3.phase, k3.createdMs], [2, undefined, undefined, undefined, 2_000]);
  checkLinkKey(k3);
});

rot('a rotation already running is left alone; an idle link without a rotation never steps', () => {
  const k1 = beginRotation({ key: K(1), keyId: 1, createdMs: 0 }, K(2), 1_000, 10);
  assert.is(beginRotation(k1, K(3), 2_000, 20), k1);
  assert.equal(view({ key: K(1), keyId: 1, createdMs: 0 }, {}, 1e9, 5).steps, []);
});

rot('an end that does not acknowledge: the phase is kept and reported overdue after the timeout, and moves on when it acks', () => {
  const k1 = beginRotation({ key: K(1), keyId: 7, createdMs: 0 }, K(2), 1_000, 10);
  const early = view(k1, { a1: 10 }, 30_999, 11);
  assert.equal([early.steps, early.overdue], [[], []]);
  const late = view(k1, { a1: 10 }, 31_000, 11);
  assert.equal(late.steps, []);
  assert.equal(late.overdue, [{ linkId: 'a1--b1', phase: 'announce', waitingFor: ['b1'], sinceMs: 1_000 }]);
  // Back an hour later: its resync brought it version 40, which carries the phase.
  const back = view(k1, { a1: 10, b1: 40 }, 3_600_000, 41);
  assert.equal(back.steps.map((s) => s.to), ['switch']);
  assert.equal(back.overdue, []);
});

rot('a drained link (no peer in either table) rotates without waiting for acknowledgements', () => {
  const drained = { ...link, peered: false };
  const k1 = beginRotation({ key: K(1), keyId: 1, createdMs: 0 }, K(2), 1_000, 10);
  const s1 = view(k1, {}, 1_000, 11, drained).steps;
  assert.equal(s1.map((s) => s.to), ['switch']);
  const s2 = view(s1[0]!.key, {}, 1_000, 12, drained).steps;
  assert.equal(s2.map((s) => s.to), ['done']);
});

rot('a link no longer in the topology is skipped', () => {
  const k1 = beginRotation({ key: K(1), keyId: 1, createdMs: 0 }, K(2), 1_000, 10);
  const r = advanceRotations({ keys: new Map([['gone', k1]]), links: new Map(), holds: () => true, nowMs: 1e9, nextVersion: 11, policy });
  assert.equal(r, { steps: [], overdue: [] });
});

rot('revocation replaces the key at once: no previous, no next, an id unlike any the old ends accepted', () => {
  const idle = replaceKey({ key: K(1), keyId: 4, createdMs: 0 }, K(9), 50);
  assert.equal([idle.keyId, idle.previousKey, idle.nextKey, idle.phase, idle.createdMs], [5, undefined, undefined, undefined, 50]);
  assert.ok(idle.key.equals(K(9)));
  // Mid-rotation (switch: current 2, previous 1) and (announce: current 1, next 2).
  const sw = replaceKey({ key: K(2), keyId: 2, previousKey: K(1), previousKeyId: 1, createdMs: 0, phase: 'switch', phaseVersion: 3, phaseMs: 0 }, K(9), 50);
  assert.equal([sw.keyId, sw.previousKey, sw.phase], [3, undefined, undefined]);
  const ann = replaceKey({ key: K(1), keyId: 1, nextKey: K(2), nextKeyId: 2, createdMs: 0, phase: 'announce', phaseVersion: 3, phaseMs: 0 }, K(9), 50);
  assert.equal([ann.keyId, ann.nextKey, ann.phase], [3, undefined, undefined]);
  assert.throws(() => replaceKey(idle, Buffer.alloc(16), 1), /32 bytes/);
});

rot('the schedule picks idle keys at least one period old; period 0 disables it', () => {
  const keys = new Map<string, LinkKey>([
    ['old', { key: K(1), keyId: 1, createdMs: 0 }],
    ['young', { key: K(1), keyId: 1, createdMs: 50_000 }],
    ['busy', beginRotation({ key: K(1), keyId: 1, createdMs: 0 }, K(2), 0, 3)],
  ]);
  assert.equal(dueForRotation(keys, 100_000, 100_000), ['old']);
  assert.equal(dueForRotation(keys, 100_000, 150_000), ['old', 'young']);
  assert.equal(dueForRotation(keys, 0, 1e12), []);
});

rot('stored key invariants: ids that clash in their low 8 bits or phases without their keys are refused', () => {
  assert.throws(() => checkLinkKey({ key: K(1), keyId: 1, previousKey: K(2), previousKeyId: 257, createdMs: 0 }), /previousKeyId/);
  assert.throws(() => checkLinkKey({ key: K(1), keyId: 1, nextKey: K(2), nextKeyId: 1, createdMs: 0 }), /nextKeyId/);
  assert.throws(() => checkLinkKey({ key: K(1), keyId: 1, createdMs: 0, phase: 'announce' }), /nextKey/);
  assert.throws(() => checkLinkKey({ key: K(1), keyId: 1, createdMs: 0, phase: 'switch' }), /previousKey/);
  assert.throws(() => checkLinkKey({ key: Buffer.alloc(3), keyId: 1, createdMs: 0 }), /key/);
});

rot.run();
