// Link key rotation as a pure state machine (make-before-break, as IPsec
// rekeys): given the stored key states, what each gateway has acknowledged
// and the time, it returns the next key states. The controller commits them
// through its one write path, so tables get new versions like any change.
//
//   idle      key K1                          send K1, accept K1
//   announce  key K1, next K2                 send K1, accept K1 and K2
//   switch    key K2, previous K1             send K2, accept K2 and K1
//   idle      key K2                          send K2, accept K2
//
// A phase moves on only when both ends acknowledged a table version that
// carries it: an end never sends with a key its peer does not hold yet. The
// previous key goes once both ends hold the switch and the overlap passed,
// so packets sealed just before an end switched still open.
import { invalid } from '../../common/errors.js';
import type { LinkKey } from '../store/store.js';

export type RotationPhase = 'announce' | 'switch';

export interface RotationPolicy {
  /** How long the previous key stays accepted after the switch was committed (ms). */
  overlapMs: number;
  /** A phase waiting longer than this for an end's acknowledgement is reported overdue (it is kept, never forced). */
  ackTimeoutMs: number;
}

export const DEFAULT_ROTATION_POLICY: RotationPolicy = Object.freeze({ overlapMs: 5_000, ackTimeoutMs: 30_000 });

export interface LinkEnds {
  a: string;
  b: string;
  /** Whether the ends' tables carry the link as a peer (a drained link is not): nothing to wait for otherwise. */
  peered: boolean;
}

export interface RotationView {
  keys: ReadonlyMap<string, LinkKey>;
  links: ReadonlyMap<string, LinkEnds>;
  /** Whether a gateway holds (acknowledged) a table of at least this version, or need not be waited for. */
  holds(gatewayId: string, version: number): boolean;
  /** Wall-clock ms. */
  nowMs: number;
  /** The table version the commit of the returned states will carry (the next journal sequence number). */
  nextVersion: number;
  policy: RotationPolicy;
}

export interface RotationStep {
  linkId: string;
  from: RotationPhase;
  to: RotationPhase | 'done';
  key: LinkKey;
}

export interface OverdueRotation {
  linkId: string;
  phase: RotationPhase;
  /** The ends that have not acknowledged the phase. */
  waitingFor: string[];
  sinceMs: number;
}

export const KEY_LENGTH = 32;

/** Whether a rotation is in progress on this key. */
export function rotating(k: LinkKey): boolean {
  return k.phase !== undefined;
}

/**
 * The next key id after the ones in use: ids run 1..255 and wrap (0 is
 * skipped: it reads as "no key" in a table), and differ in their low 8 bits
 * from every id the link's ends still accept, because the tunnel header
 * carries 8 bits.
 */
export function nextKeyId(k: Pick<LinkKey, 'keyId' | 'previousKeyId' | 'nextKeyId'>): number {
  const used = new Set([k.keyId, k.previousKeyId, k.nextKeyId].filter((x): x is number => x !== undefined).map((x) => x & 0xff));
  let id = (k.nextKeyId ?? k.keyId) & 0xff;
  for (let i = 0; i < 256; i++) {
    id = (id % 255) + 1;
    if (!used.has(id)) return id;
  }
  throw invalid('keyId', 'no free key id'); // unreachable: at most three ids are in use
}

/** Phase 1: announce a new key (accepted, not yet sent). An ongoing rotation is left as it is. */
export function beginRotation(k: LinkKey, newKey: Buffer, nowMs: number, nextVersion: number): LinkKey {
  checkKeyBytes(newKey);
  if (rotating(k)) return k;
  return {
    key: k.key,
    keyId: k.keyId,
    nextKey: newKey,
    nextKeyId: nextKeyId({ keyId: k.keyId, previousKeyId: k.previousKeyId }),
    createdMs: k.createdMs,
    phase: 'announce',
    phaseVersion: nextVersion,
    phaseMs: nowMs,
  };
}

/**
 * A new key at once, with no overlap: nothing sealed under any earlier key
 * of the link (current, previous or announced) is accepted any more. For a
 * revoked end, whose keys must stop working now.
 */
export function replaceKey(k: LinkKey, newKey: Buffer, nowMs: number): LinkKey {
  checkKeyBytes(newKey);
  return { key: newKey, keyId: nextKeyId(k), createdMs: nowMs };
}

/** Idle links whose key is at least `periodMs` old (period 0: never). */
export function dueForRotation(keys: ReadonlyMap<string, LinkKey>, periodMs: number, nowMs: number): string[] {
  if (periodMs <= 0) return [];
  return [...keys].filter(([, k]) => !rotating(k) && nowMs - k.createdMs >= periodMs).map(([id]) => id);
}

/** The rotations that can move on now, and those overdue waiting for an end. */
export function advanceRotations(v: RotationView): { steps: RotationStep[]; overdue: OverdueRotation[] } {
  const steps: RotationStep[] = [];
  const overdue: OverdueRotation[] = [];
  for (const [linkId, k] of v.keys) {
    if (!rotating(k)) continue;
    const ends = v.links.get(linkId);
    if (!ends) continue; // the link is being deleted; its key goes with it
    const since = k.phaseVersion ?? 0;
    const waitingFor = ends.peered ? [ends.a, ends.b].filter((gw) => !v.holds(gw, since)) : [];
    if (waitingFor.length > 0) {
      if (v.nowMs - (k.phaseMs ?? 0) >= v.policy.ackTimeoutMs) overdue.push({ linkId, phase: k.phase!, waitingFor, sinceMs: k.phaseMs ?? 0 });
      continue;
    }
    if (k.phase === 'announce') {
      if (!k.nextKey || k.nextKeyId === undefined) {
        // A damaged record: settle on the current key rather than stall.
        steps.push({ linkId, from: 'announce', to: 'done', key: { key: k.key, keyId: k.keyId, createdMs: k.createdMs } });
        continue;
      }
      steps.push({
        linkId,
        from: 'announce',
        to: 'switch',
        key: {
          key: k.nextKey,
          keyId: k.nextKeyId,
          previousKey: k.key,
          previousKeyId: k.keyId,
          createdMs: v.nowMs,
          phase: 'switch',
          phaseVersion: v.nextVersion,
          phaseMs: v.nowMs,
        },
      });
    } else if (!ends.peered || v.nowMs - (k.phaseMs ?? 0) >= v.policy.overlapMs) {
      steps.push({ linkId, from: 'switch', to: 'done', key: { key: k.key, keyId: k.keyId, createdMs: k.createdMs } });
    }
  }
  return { steps, overdue };
}

/** The earliest wall time at which a switched link may retire its previous key (undefined: none waits on time). */
export function nextRetireMs(keys: ReadonlyMap<string, LinkKey>, policy: RotationPolicy): number | undefined {
  let at: number | undefined;
  for (const k of keys.values()) {
    if (k.phase !== 'switch') continue;
    const t = (k.phaseMs ?? 0) + policy.overlapMs;
    if (at === undefined || t < at) at = t;
  }
  return at;
}

/** The invariants a stored key keeps (the agent refuses a table that breaks them). */
export function checkLinkKey(k: LinkKey, field = 'linkKey'): void {
  checkKeyBytes(k.key, `${field}.key`);
  const ids: number[] = [k.keyId & 0xff];
  for (const [key, id, name] of [
    [k.previousKey, k.previousKeyId, 'previous'],
    [k.nextKey, k.nextKeyId, 'next'],
  ] as const) {
    if (key === undefined) continue;
    checkKeyBytes(key, `${field}.${name}Key`);
    if (id === undefined || ids.includes(id & 0xff)) throw invalid(`${field}.${name}KeyId`, `must differ from the link's other key ids in its low 8 bits`);
    ids.push(id & 0xff);
  }
  if (k.phase === 'announce' && !k.nextKey) throw invalid(`${field}.nextKey`, 'an announced rotation needs a next key');
  if (k.phase === 'switch' && !k.previousKey) throw invalid(`${field}.previousKey`, 'a switched rotation keeps the previous key');
}

function checkKeyBytes(key: Uint8Array, field = 'key'): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH) throw invalid(field, `must be ${KEY_LENGTH} bytes`);
}
