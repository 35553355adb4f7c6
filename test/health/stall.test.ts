// An agent that stood still (CPU starved on a busy host, a long GC, a frozen
// machine) must not declare its peers down when it wakes: it sent no probes
// while it stood still, so the peers' silence proves nothing. Seen in the
// emulator: every agent of a loaded host woke up past its peers' deadlines,
// declared them all down and dropped traffic for the hold time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock, TimerHandle } from '../../common/clock.js';
import { HealthMonitor, type HealthEvent } from '../../router-agent/health/index.js';
import { EchoPeers } from './echo-peer.js';

/** A manual clock that can also stall: time jumps and the overdue timers then fire late, in order. */
class StallClock implements Clock {
  private t = 0;
  private seq = 0;
  private nextId = 1;
  private pending: { id: number; at: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  wallMs(): number {
    return 1_700_000_000_000 + Math.floor(this.t);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.pending.push({ id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(h: TimerHandle): void {
    this.pending = this.pending.filter((p) => p.id !== h.id);
  }

  /** The process stands still for `ms`: no timer runs. */
  stall(ms: number): void {
    this.t += ms;
  }

  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = target;
  }
}

function setup() {
  const clock = new StallClock();
  // The ManualClock-typed helper only needs setTimeout and now.
  const echo = new EchoPeers(clock as never);
  const monitor = new HealthMonitor({ clock, sendProbe: echo.send, config: { intervalMs: 100, multiplier: 3, holdMs: 1000 }, statsIntervalMs: 0 });
  echo.monitor = monitor;
  const events: HealthEvent[] = [];
  monitor.on((e) => events.push(e));
  const path = echo.path('peer', { rttMs: 1 });
  monitor.setPeers([{ gatewayId: 'peer', linkId: 'l1' }]);
  return { clock, echo, monitor, events, path };
}

const stall = suite('health: an agent that stalled');

stall('wakes past the deadline without declaring an answering peer down', () => {
  const { clock, monitor, events, path } = setup();
  clock.advance(1000);
  assert.is(monitor.state('peer'), 'up');
  // The whole host freezes right after a probe went out: the peer never
  // answered it, and no probe leaves for 600 ms (six intervals).
  clock.advance(49.5);
  path.up = false;
  clock.advance(1);
  clock.stall(600);
  path.up = true;
  clock.advance(2000);
  assert.equal(events.filter((e) => e.type === 'peer-down'), [], 'no peer-down after the stall');
  assert.is(monitor.state('peer'), 'up');
});

stall('still detects a peer that is really gone, once three probes went unanswered', () => {
  const { clock, echo, monitor, events, path } = setup();
  clock.advance(1000);
  path.up = false;
  const cutAt = clock.now();
  clock.stall(600);
  clock.advance(1000);
  const down = events.find((e) => e.type === 'peer-down');
  assert.ok(down, 'the dead peer is declared down');
  // Probes sent after the cut: down at the third, not at the wake-up.
  const after = echo.sent.filter((s) => s.at >= cutAt && s.payload.size === undefined).map((s) => s.at);
  assert.ok(after.length >= 3, `probes after the cut: ${after.join(', ')}`);
  assert.ok(down.atMs >= after[2]!, `down at ${down.atMs}, the third probe after the cut went at ${after[2]}`);
  assert.ok(down.atMs <= after[2]! + 1, `and not later than that probe's detection check: ${down.atMs}`);
  assert.is(monitor.state('peer'), 'down');
});

stall('running on time, detection is still exactly multiplier x interval after the last reply', () => {
  const { clock, events, path } = setup();
  clock.advance(1000);
  path.up = false;
  clock.advance(1000);
  const down = events.find((e) => e.type === 'peer-down');
  assert.ok(down && down.type === 'peer-down');
  assert.is(down.silentMs, 300);
});

stall.run();
