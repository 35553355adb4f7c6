// Time is handed in, never read inside the core (routing/, dataplane/,
// health/): the simulator runs the same code on a virtual clock and tests on
// a manual one.

export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds (may be fractional); only differences are meaningful. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch, for journals and reports. */
  wallMs(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

let nextId = 1;

/** The real clock: monotonic `now()` from performance.now(). */
export class SystemClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return performance.now();
  }

  wallMs(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms));
    this.timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

interface Pending {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in (time, creation)
 * order, so runs are deterministic; a timer set while advancing fires in the
 * same advance when it falls due before the target time.
 */
export class ManualClock implements Clock {
  private t: number;
  private readonly wallOffset: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(startMs = 0, wallStartMs = 1_700_000_000_000) {
    this.t = startMs;
    this.wallOffset = wallStartMs - startMs;
  }

  now(): number {
    return this.t;
  }

  wallMs(): number {
    return Math.floor(this.t + this.wallOffset);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    this.pending.push({ id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending = this.pending.filter((p) => p.id !== handle.id);
  }

  /** Number of timers not yet fired. */
  get timerCount(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.pending) {
        if (p.at <= target && (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      }
      if (!next) break;
      this.pending = this.pending.filter((p) => p !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = Math.max(this.t, target);
  }
}
