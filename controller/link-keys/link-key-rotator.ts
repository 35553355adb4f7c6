// Drives link key rotation in the controller process: starts rotations (on
// request, on a schedule), moves them on as the links' ends acknowledge
// their tables (rotation.ts decides), and replaces the keys of a revoked
// gateway's links at once. Every step is one journaled controller change,
// so the new keys reach the ends as new table versions, like any change.
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '../../common/clock.js';
import { invalid, notFound } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { AdminState } from '../../common/model.js';
import type { Controller } from '../controller.js';
import type { JournalEntry, LinkKey } from '../store/store.js';
import {
  advanceRotations,
  beginRotation,
  DEFAULT_ROTATION_POLICY,
  dueForRotation,
  KEY_LENGTH,
  nextRetireMs,
  replaceKey,
  rotating,
  type LinkEnds,
  type RotationPolicy,
  type RotationStep,
} from './rotation.js';

const log = createLogger('link-keys');

/** controller.yaml `link_key_rotation` default: once a day. */
export const DEFAULT_LINK_KEY_ROTATION_MS = 24 * 3600_000;
/** How often a running rotation is looked at when no acknowledgement arrives (overlap expiry, overdue ends). */
const ACTIVE_TICK_MS = 1_000;
/** The schedule is checked at least this often while no rotation runs. */
const IDLE_TICK_MS = 60_000;

export interface LinkKeyRotatorOptions {
  clock: Clock;
  /** Rotate every link whose key is this old (ms); 0 or none: only on request and revocation. */
  periodMs?: number;
  policy?: Partial<RotationPolicy>;
  /** Revoked gateways get no tables: a rotation does not wait for them. */
  isRevoked?: (gatewayId: string) => boolean;
  /** Key material (tests may hand in a deterministic source). */
  newKey?: () => Buffer;
}

export class LinkKeyRotator {
  readonly policy: RotationPolicy;
  private readonly periodMs: number;
  private readonly newKey: () => Buffer;
  private readonly off: () => void;
  private timer: TimerHandle | undefined;
  private soon: TimerHandle | undefined;
  /** Overdue waits already logged (link@phaseVersion), so each is logged once. */
  private readonly reported = new Set<string>();
  private closed = false;
  /** Whether a rotation may be in progress: acknowledgements matter only then. */
  private active = true;
  /** Acknowledged versions as the events tell them (the store may write acks in the background). */
  private readonly acked = new Map<string, number>();

  constructor(
    private readonly ctl: Controller,
    private readonly opts: LinkKeyRotatorOptions,
  ) {
    this.policy = Object.freeze({ ...DEFAULT_ROTATION_POLICY, ...opts.policy });
    if (!(this.policy.overlapMs >= 0) || !(this.policy.ackTimeoutMs > 0)) throw invalid('policy', 'overlap must be >= 0 and the ack timeout > 0');
    this.periodMs = opts.periodMs ?? 0;
    if (!(this.periodMs >= 0)) throw invalid('link_key_rotation', 'must be a duration >= 0');
    this.newKey = opts.newKey ?? (() => randomBytes(KEY_LENGTH));
    // An acknowledgement may let a phase move on; stepped outside the ack's
    // own call stack (the session is in the middle of handling it).
    this.off = ctl.on((e) => {
      if (e.type !== 'ack') return;
      if (e.version > (this.acked.get(e.gatewayId) ?? 0)) this.acked.set(e.gatewayId, e.version);
      if (this.active) this.kick();
    });
    this.kick();
  }

  /**
   * Starts a rotation of the given links (none: every link). Links already
   * rotating keep their rotation; the answer names the links started.
   */
  rotate(linkIds: readonly string[], actor: string): string[] {
    const links = this.ctl.topology().links;
    for (const id of linkIds) {
      if (typeof id !== 'string' || !links.some((l) => l.id === id)) throw notFound('link', String(id));
    }
    const wanted = linkIds.length > 0 ? [...new Set(linkIds)] : links.map((l) => l.id);
    const keys = this.ctl.store.linkKeys();
    const nowMs = this.opts.clock.wallMs();
    const version = this.ctl.store.lastSeq() + 1;
    const started = new Map<string, LinkKey>();
    for (const id of wanted) {
      const k = keys.get(id);
      if (k && !rotating(k)) started.set(id, beginRotation(k, this.newKey(), nowMs, version));
    }
    if (started.size === 0) return [];
    this.commit(actor, 'link.key-rotate', started, `link key rotation started on ${describe([...started].map(([id, k]) => `${id} (key ${k.keyId} -> ${k.nextKeyId})`))}`, version);
    return [...started.keys()];
  }

  /**
   * A revoked gateway's links get new keys at once on their other ends, with
   * no overlap: whatever the revoked gateway holds stops being accepted.
   */
  replaceKeysOf(gatewayId: string, actor: string): string[] {
    const links = this.ctl.topology().links.filter((l) => l.a === gatewayId || l.b === gatewayId);
    const keys = this.ctl.store.linkKeys();
    const nowMs = this.opts.clock.wallMs();
    const replaced = new Map<string, LinkKey>();
    for (const l of links) {
      const k = keys.get(l.id);
      if (k) replaced.set(l.id, replaceKey(k, this.newKey(), nowMs));
    }
    if (replaced.size === 0) return [];
    this.commit(actor, 'link.key-replace', replaced, `link keys replaced after revoking ${gatewayId}: ${describe([...replaced].map(([id, k]) => `${id} (key ${k.keyId})`))}`);
    log.warn('replaced link keys of a revoked gateway', { gateway: gatewayId, links: replaced.size });
    return [...replaced.keys()];
  }

  /** Moves rotations on and starts scheduled ones; the change committed, if any. */
  step(): JournalEntry | undefined {
    if (this.closed) return undefined;
    const keys = this.ctl.store.linkKeys();
    const nowMs = this.opts.clock.wallMs();
    const version = this.ctl.store.lastSeq() + 1;
    const acks = this.ctl.store.acks();
    const isRevoked = this.opts.isRevoked ?? (() => false);
    const links = new Map<string, LinkEnds>(this.ctl.topology().links.map((l) => [l.id, { a: l.a, b: l.b, peered: l.adminState !== AdminState.DRAINED }]));
    const { steps, overdue } = advanceRotations({
      keys,
      links,
      holds: (gw, v) => Math.max(acks.get(gw)?.version ?? 0, this.acked.get(gw) ?? 0) >= v || isRevoked(gw),
      nowMs,
      nextVersion: version,
      policy: this.policy,
    });
    for (const o of overdue) {
      const id = `${o.linkId}@${keys.get(o.linkId)?.phaseVersion ?? 0}`;
      if (this.reported.has(id)) continue;
      this.reported.add(id);
      // Kept, not forced: the end's table resync brings it the phase when it
      // is back, and its acknowledgement moves the rotation on.
      log.warn('link key rotation waits for an acknowledgement', { link: o.linkId, phase: o.phase, waitingFor: o.waitingFor.join(','), sinceMs: nowMs - o.sinceMs });
    }
    const next = new Map<string, LinkKey>(steps.map((s) => [s.linkId, s.key]));
    const due = dueForRotation(keys, this.periodMs, nowMs).filter((id) => links.has(id) && !next.has(id));
    for (const id of due) next.set(id, beginRotation(keys.get(id)!, this.newKey(), nowMs, version));
    let entry: JournalEntry | undefined;
    if (next.size > 0) {
      const parts = [...steps.map(stepText), ...due.map((id) => `${id} scheduled (key ${keys.get(id)!.keyId} -> ${next.get(id)!.nextKeyId})`)];
      entry = this.commit('controller', 'link.key-rotate', next, `link key rotation: ${describe(parts)}`, version);
    }
    for (const s of steps) this.reported.delete(`${s.linkId}@${keys.get(s.linkId)?.phaseVersion ?? 0}`);
    this.arm();
    return entry;
  }

  close(): void {
    this.closed = true;
    this.off();
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    if (this.soon) this.opts.clock.clearTimeout(this.soon);
    this.timer = this.soon = undefined;
  }

  private commit(actor: string, action: string, keys: Map<string, LinkKey>, summary: string, version?: number): JournalEntry {
    const subject = keys.size === 1 ? [...keys.keys()][0]! : 'links';
    const entry = this.ctl.commitLinkKeys(actor, action, subject, summary, keys);
    if (version !== undefined && entry.seq !== version) {
      // The phase names the version its tables carry; a mismatch would let a
      // phase move on before the ends hold it.
      log.error('link key phase committed under an unexpected version', { expected: version, got: entry.seq });
    }
    this.kick();
    return entry;
  }

  /** A step soon, coalesced. */
  private kick(): void {
    if (this.closed || this.soon) return;
    this.soon = this.opts.clock.setTimeout(() => {
      this.soon = undefined;
      try {
        this.step();
      } catch (err) {
        log.error('link key rotation step failed', { reason: (err as Error).message });
        this.arm();
      }
    }, 0);
  }

  /** The next look: soon while rotations run, else when the schedule may be due. */
  private arm(): void {
    if (this.closed) return;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const keys = this.ctl.store.linkKeys();
    const nowMs = this.opts.clock.wallMs();
    let wait: number | undefined;
    this.active = [...keys.values()].some(rotating);
    if (this.active) {
      const retire = nextRetireMs(keys, this.policy);
      wait = Math.min(ACTIVE_TICK_MS, retire === undefined ? ACTIVE_TICK_MS : Math.max(0, retire - nowMs));
    } else if (this.periodMs > 0) {
      let due = nowMs + IDLE_TICK_MS;
      for (const k of keys.values()) due = Math.min(due, k.createdMs + this.periodMs);
      wait = Math.max(0, due - nowMs);
    }
    if (wait === undefined) return;
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, wait);
  }
}

function stepText(s: RotationStep): string {
  if (s.to === 'switch') return `${s.linkId} switched to key ${s.key.keyId}`;
  return s.from === 'switch' ? `${s.linkId} dropped the previous key (key ${s.key.keyId} alone)` : `${s.linkId} dropped the announced key (key ${s.key.keyId} alone)`;
}

function describe(parts: string[]): string {
  return parts.length <= 6 ? parts.join(', ') : `${parts.slice(0, 6).join(', ')} and ${parts.length - 6} more`;
}
