// The simulator's discrete-event engine: a virtual clock (it implements the
// same `Clock` the controller and the agent's health module take) over one
// event queue. The queue is a binary heap ordered by (time, insertion
// number), so two events due at the same instant run in the order they were
// scheduled and a run depends on nothing but its inputs and its seed.
// Cancelled timers stay in the heap, marked, and are skipped when they come
// up: cancelling is O(1), which matters when every probe reply re-arms one.

import type { Clock, TimerHandle } from '../common/clock.js';
import { invalid } from '../common/errors.js';
import { createRandom, type Random } from '../common/random.js';

/** Wall time reported at virtual time 0: fixed, so reports never depend on when they were made. */
export const SIM_WALL_START_MS = 1_700_000_000_000;

interface SimEvent extends TimerHandle {
  readonly id: number;
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | null;
}

export interface EngineOptions {
  seed?: number;
  wallStartMs?: number;
}

export class SimEngine implements Clock {
  readonly random: Random;
  private readonly wallStart: number;
  private t = 0;
  private seq = 0;
  private heap: SimEvent[] = [];
  private live = 0;
  private processed = 0;
  private stopped = false;

  constructor(opts: EngineOptions = {}) {
    this.random = createRandom(opts.seed ?? 1);
    this.wallStart = opts.wallStartMs ?? SIM_WALL_START_MS;
  }

  now(): number {
    return this.t;
  }

  wallMs(): number {
    return Math.floor(this.wallStart + this.t);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!Number.isFinite(ms)) throw invalid('ms', `a timer delay must be a finite number, got ${ms}`);
    return this.push(this.t + Math.max(0, ms), fn);
  }

  clearTimeout(handle: TimerHandle): void {
    const e = handle as SimEvent;
    if (e.fn !== null && e.fn !== undefined) {
      e.fn = null;
      this.live--;
    }
  }

  /** Runs `fn` at virtual time `at` (not earlier than now). */
  at(at: number, fn: () => void): TimerHandle {
    if (!Number.isFinite(at)) throw invalid('at', `an event time must be a finite number, got ${at}`);
    return this.push(Math.max(this.t, at), fn);
  }

  /** Events scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.live;
  }

  /** Events run so far. */
  get eventsRun(): number {
    return this.processed;
  }

  /** Stops `run` after the event that is running now. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Runs every event due at or before `until`, in order, then sets the
   * clock to `until`. Events scheduled while running are run too when due.
   */
  run(until: number): void {
    if (!(until >= this.t)) throw invalid('until', `cannot run to ${until}: the clock is already at ${this.t}`);
    this.stopped = false;
    const h = this.heap;
    while (h.length > 0 && !this.stopped) {
      const top = h[0]!;
      if (top.at > until) break;
      this.pop();
      const fn = top.fn;
      if (fn === null) continue;
      top.fn = null;
      this.live--;
      this.t = top.at;
      this.processed++;
      fn();
    }
    if (!this.stopped) this.t = until;
  }

  private push(at: number, fn: () => void): SimEvent {
    const e: SimEvent = { id: this.seq, at, seq: this.seq++, fn };
    this.live++;
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = h[p]!;
      if (q.at < at || (q.at === at && q.seq < e.seq)) break;
      h[i] = q;
      i = p;
    }
    h[i] = e;
    return e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && before(h[r]!, h[c]!)) c = r;
      if (!before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
