// The probe state machine of one tunnel peer. Pure: it never reads a clock;
// the monitor hands in the time at every step.
//
// Liveness (as BFD's detection time):
// - UP -> DOWN when `multiplier` whole probe intervals have passed without
//   a reply: at exactly lastReply + multiplier x interval (or, before any
//   reply, that long after the first probe). Not one interval earlier, not
//   later; the monitor arms a timer for that instant. And only once at
//   least `multiplier` probes went out since the last reply: silence counts
//   against the peer only for probes it was sent. An agent that was itself
//   stalled (CPU starved, a long GC, a frozen machine) sent none while it
//   stood still; declaring every peer down when it wakes would drop its
//   traffic for the hold time although no tunnel failed. In an agent that
//   runs on time the condition already holds at the deadline (a probe per
//   interval), so the detection time does not change.
// - DOWN -> UP only once replies have been seen in every interval for
//   `holdMs`, counted from the first reply of that run; an interval without
//   a reply restarts the count. A link that flaps faster than the hold time
//   therefore stays DOWN instead of moving routes back and forth.
//   A peer that went DOWN before it ever answered (agents starting one after
//   the other, a peer not yet deployed) comes UP at the end of its first
//   answered interval: there is no flapping to damp, and holding it down
//   would leave a freshly started network without tunnels for `holdMs`.
//
// Figures: RTT and jitter are smoothed like TCP's SRTT and RTTVAR (RFC 6298,
// alpha 1/8, beta 1/4; the first sample sets SRTT = R, RTTVAR = R/2); loss
// is the share of the last `lossWindow` settled liveness probes that got no
// reply (a probe is settled when answered or older than the detection time).
//
// Path MTU (optional): a binary search with padded probes between 576 bytes
// and the peer's MTU; a padded probe that gets no reply within the detection
// time lowers the upper bound. Padded probes prove liveness when answered but
// never count as loss: a black hole for big packets is an MTU, not an outage.

import type { ProbeConfig } from './probe-config.js';
import { PMTU_MIN_BYTES } from './probe-config.js';

export type PeerState = 'up' | 'down';

/** What a probe carries (sealed inside the tunnel by the data plane) and its reply echoes. */
export interface ProbePayload {
  seq: number;
  /** The sender's clock (milliseconds) when sent; only the sender reads it. */
  sentAt: number;
  /** Padded size in bytes for a path-MTU probe; absent for a liveness probe. */
  size?: number;
}

export type Transition = 'down' | 'up';

export interface PeerFigures {
  state: PeerState;
  /** When the state last changed (monitor clock, ms). */
  changedAt: number;
  /** Smoothed RTT and its mean deviation, ms; undefined before the first reply. */
  rttMs?: number;
  jitterMs?: number;
  /** The most recent RTT sample, ms. */
  lastRttMs?: number;
  /** Share of settled liveness probes in the window without a reply, 0..1. */
  loss: number;
  /** Largest padded probe answered (bytes); 0 while unknown. */
  pathMtu: number;
  sent: number;
  received: number;
  /** Replies refused: unknown or repeated sequence number, or a send time that does not match. */
  badReplies: number;
  /** Whole probe intervals since the last reply. */
  missed: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;

interface Slot {
  seq: number;
  sentAt: number;
  replied: boolean;
  size: number;
}

export class PeerProbe {
  state: PeerState;
  changedAt: number;
  /** When the state changed before the last change (the start of the DOWN that just ended, say). */
  previousChange: number | undefined;
  private lastReplyAt: number | undefined;
  /** Liveness probes sent since the last reply (or the first probe). */
  private sentSinceReply = 0;
  private replyInInterval = false;
  private firstReplyInInterval = 0;
  /** Start of the current continuous run of answered intervals while DOWN. */
  private recoveringSince: number | undefined;
  /** The current DOWN began before the peer had ever answered: no hold on recovery. */
  private downBeforeFirstReply = false;
  /** Whether an interval has started (the first probe went out). */
  private started = false;
  private nextSeq = 1;
  private readonly ring: Slot[];
  private srtt: number | undefined;
  private rttvar: number | undefined;
  private lastRtt: number | undefined;
  private sent = 0;
  private received = 0;
  private bad = 0;
  // Path-MTU search: lo answered, hi refused (exclusive), one probe at a time.
  private mtuLo = 0;
  private mtuHi: number;
  private mtuPending: Slot | undefined;
  private mtuSettledAt: number | undefined;

  constructor(
    readonly peerId: string,
    public config: ProbeConfig,
    now: number,
    initial: PeerState = 'up',
    private mtuMax = config.pmtuMaxBytes,
  ) {
    this.state = initial;
    this.changedAt = now;
    // Replies to probes older than the loss window (or the detection time,
    // when that is longer) are stale: room for both, plus padded probes.
    const keep = Math.max(config.lossWindow, config.multiplier + 1) * 2 + 8;
    this.ring = Array.from({ length: keep }, () => ({ seq: 0, sentAt: 0, replied: false, size: 0 }));
    this.mtuHi = mtuMax + 1;
  }

  /** A new liveness probe to send now. */
  probe(now: number): ProbePayload {
    if (!this.started) {
      this.started = true;
      // Detection runs from the first probe until there is a reply.
      this.lastReplyAt = now;
    }
    this.sentSinceReply++;
    return this.record(now, 0);
  }

  /** The last reply (or, before any, the first probe): where the detection time runs from. */
  lastHeardAt(): number | undefined {
    return this.lastReplyAt;
  }

  /** When the peer is declared DOWN if no reply comes first (undefined before the first probe). */
  deadline(): number | undefined {
    return this.lastReplyAt === undefined ? undefined : this.lastReplyAt + this.detectMs();
  }

  /** Whether the deadline has passed but fewer than `multiplier` probes went out since the last reply (this side fell behind). */
  awaitingProbes(now: number): boolean {
    const dl = this.deadline();
    return this.state === 'up' && dl !== undefined && now >= dl && this.sentSinceReply < this.config.multiplier;
  }

  /** 'down' when the detection time has run out without a reply to `multiplier` probes (the monitor calls it at the deadline). */
  checkDetection(now: number): Transition | undefined {
    const dl = this.deadline();
    if (this.state !== 'up' || dl === undefined || now < dl || this.sentSinceReply < this.config.multiplier) return undefined;
    this.downBeforeFirstReply = this.received === 0;
    return this.set('down', now);
  }

  /** A padded path-MTU probe to send now, when a search step is due. */
  mtuProbe(now: number): ProbePayload | undefined {
    if (!this.config.pmtu) return undefined;
    const pending = this.mtuPending;
    if (pending) {
      if (pending.replied) this.mtuPending = undefined;
      else if (now - pending.sentAt >= this.detectMs()) {
        this.mtuHi = Math.min(this.mtuHi, pending.size);
        this.mtuPending = undefined;
      } else return undefined;
    }
    if (this.mtuHi - this.mtuLo <= 8 || this.mtuHi <= PMTU_MIN_BYTES) {
      this.mtuSettledAt ??= now;
      if (now - this.mtuSettledAt < this.config.pmtuRefreshMs) return undefined;
      // Paths change: search again, keeping the answered size as a start.
      this.mtuHi = this.mtuMax + 1;
      this.mtuSettledAt = undefined;
    }
    const lo = Math.max(this.mtuLo, PMTU_MIN_BYTES);
    const size = this.mtuLo === 0 && this.mtuHi > this.mtuMax ? this.mtuMax : Math.floor((lo + this.mtuHi) / 2);
    const p = this.record(now, size);
    this.mtuPending = this.ring[p.seq % this.ring.length];
    return p;
  }

  /** Handles a reply; false (and counted) when it matches no probe in flight. */
  reply(p: ProbePayload, now: number): boolean {
    if (!p || !Number.isInteger(p.seq) || p.seq <= 0 || typeof p.sentAt !== 'number') {
      this.bad++;
      return false;
    }
    const slot = this.ring[p.seq % this.ring.length]!;
    if (slot.seq !== p.seq || slot.sentAt !== p.sentAt || slot.replied || (slot.size || undefined) !== (p.size || undefined)) {
      this.bad++;
      return false;
    }
    slot.replied = true;
    this.received++;
    this.sentSinceReply = 0;
    if (this.lastReplyAt === undefined || now > this.lastReplyAt) this.lastReplyAt = now;
    if (!this.replyInInterval) {
      this.replyInInterval = true;
      this.firstReplyInInterval = now;
    }
    if (slot.size > 0) {
      if (slot.size > this.mtuLo) this.mtuLo = slot.size;
      return true;
    }
    const r = Math.max(0, now - p.sentAt);
    this.lastRtt = r;
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    return true;
  }

  /**
   * Ends the current probe interval. While DOWN, it counts the run of
   * answered intervals and returns 'up' once it has lasted the hold time.
   */
  tick(now: number): Transition | undefined {
    if (!this.started) return undefined;
    const replied = this.replyInInterval;
    const firstReply = this.firstReplyInInterval;
    this.replyInInterval = false;
    if (this.state === 'up') return undefined;
    if (!replied) {
      this.recoveringSince = undefined;
      return undefined;
    }
    if (this.downBeforeFirstReply) return this.set('up', now);
    this.recoveringSince ??= firstReply;
    return now - this.recoveringSince >= this.config.holdMs ? this.set('up', now) : undefined;
  }

  /** Whole probe intervals since the last reply. */
  missedIntervals(now: number): number {
    return this.lastReplyAt === undefined ? 0 : Math.floor((now - this.lastReplyAt) / this.config.intervalMs);
  }

  /** The time without replies after which the peer is declared DOWN. */
  detectMs(): number {
    return this.config.intervalMs * this.config.multiplier;
  }

  figures(now: number): PeerFigures {
    return {
      state: this.state,
      changedAt: this.changedAt,
      rttMs: this.srtt,
      jitterMs: this.rttvar,
      lastRttMs: this.lastRtt,
      loss: this.loss(now),
      pathMtu: this.mtuLo,
      sent: this.sent,
      received: this.received,
      badReplies: this.bad,
      missed: this.missedIntervals(now),
    };
  }

  setMtuMax(bytes: number): void {
    if (bytes === this.mtuMax || !(bytes >= PMTU_MIN_BYTES)) return;
    this.mtuMax = bytes;
    this.mtuLo = Math.min(this.mtuLo, bytes);
    this.mtuHi = bytes + 1;
    this.mtuSettledAt = undefined;
  }

  private loss(now: number): number {
    const timeout = this.detectMs();
    let settled = 0;
    let lost = 0;
    const n = this.ring.length;
    for (let seq = this.nextSeq - 1; seq > 0 && seq > this.nextSeq - 1 - n && settled < this.config.lossWindow; seq--) {
      const s = this.ring[seq % n]!;
      if (s.seq !== seq || s.size > 0) continue;
      if (s.replied) settled++;
      else if (now - s.sentAt >= timeout) {
        settled++;
        lost++;
      }
    }
    return settled === 0 ? 0 : lost / settled;
  }

  private record(now: number, size: number): ProbePayload {
    const seq = this.nextSeq++;
    const slot = this.ring[seq % this.ring.length]!;
    slot.seq = seq;
    slot.sentAt = now;
    slot.replied = false;
    slot.size = size;
    this.sent++;
    return size > 0 ? { seq, sentAt: now, size } : { seq, sentAt: now };
  }

  private set(state: PeerState, now: number): Transition {
    this.state = state;
    this.previousChange = this.changedAt;
    this.changedAt = now;
    this.recoveringSince = undefined;
    return state;
  }
}
