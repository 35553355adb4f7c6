import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock, type Clock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { HealthMonitor, PeerProbe, resolveProbeConfig, type HealthEvent } from '../../router-agent/health/index.js';
import { EchoPeers } from './echo-peer.js';

const probe = suite('health: probe state machine');

function setup(config: Parameters<typeof resolveProbeConfig>[0] = {}, statsIntervalMs = 0) {
  const clock = new ManualClock(0);
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({ clock, sendProbe: echo.send, config, statsIntervalMs });
  echo.monitor = monitor;
  const events: HealthEvent[] = [];
  monitor.on((e) => events.push(e));
  return { clock, echo, monitor, events };
}

const transitions = (events: HealthEvent[]) => events.filter((e) => e.type !== 'stats').map((e) => `${e.type}@${e.atMs}`);

for (const multiplier of [2, 3, 5]) {
  probe(`DOWN after exactly ${multiplier} intervals without a reply (not one earlier, not later)`, () => {
    const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier });
    const path = echo.path('dc1');
    monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
    clock.advanceTo(1050);
    path.up = false; // the probe of t=1000 was answered at 1010: the last reply
    const expected = 1010 + multiplier * 100;
    clock.advanceTo(expected - 0.001);
    assert.equal(transitions(events), [], 'still up just before');
    assert.is(monitor.state('dc1'), 'up');
    clock.advanceTo(expected);
    assert.equal(transitions(events), [`peer-down@${expected}`]);
    assert.is(monitor.state('dc1'), 'down');
    const down = events[0] as Extract<HealthEvent, { type: 'peer-down' }>;
    assert.is(down.linkId, 'l1');
    assert.is(down.missed, multiplier);
    clock.advanceTo(expected + 1000);
    assert.is(transitions(events).length, 1, 'declared once');
  });
}

probe('a peer that never answers is DOWN multiplier intervals after its first probe', () => {
  const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier: 3 });
  echo.path('dc1', { up: false });
  clock.advanceTo(40);
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]); // the first tick (phase 0) is at 40
  clock.advanceTo(339.999);
  assert.equal(transitions(events), []);
  clock.advanceTo(340);
  assert.equal(transitions(events), ['peer-down@340']);
});

probe('a detection timer that fires a little early, as Node timers do, still detects at the deadline, not a tick later', () => {
  const clock = new ManualClock(0);
  // Node runs timers on a millisecond loop clock: one may fire up to a
  // millisecond before performance.now() says its delay is over (never
  // sooner than 1 ms after it was set).
  const nodeLike: Clock = {
    now: () => clock.now(),
    wallMs: () => clock.wallMs(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms < 1 ? 1 : ms - 0.5),
    clearTimeout: (h) => clock.clearTimeout(h),
  };
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({ clock: nodeLike, sendProbe: echo.send, config: { intervalMs: 100, multiplier: 3 }, statsIntervalMs: 0 });
  echo.monitor = monitor;
  const events: HealthEvent[] = [];
  monitor.on((e) => events.push(e));
  const path = echo.path('dc1', { rttMs: 10 });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(1050);
  path.up = false;
  clock.advanceTo(2000);
  const downs = events.filter((e): e is Extract<HealthEvent, { type: 'peer-down' }> => e.type === 'peer-down');
  assert.is(downs.length, 1);
  assert.ok(downs[0]!.silentMs >= 300 && downs[0]!.silentMs <= 301, `down ${downs[0]!.silentMs} ms after the last reply, not 300`);
});

probe('a single lost probe among replies does not take a peer down', () => {
  const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier: 3 });
  echo.path('dc1', { drop: (p) => p.seq % 3 === 0 });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(10_000);
  assert.equal(transitions(events), []);
});

probe('UP again only after replies in every interval for the hold time', () => {
  const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier: 3, holdMs: 5000 });
  const path = echo.path('dc1');
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(1050);
  path.up = false;
  clock.advanceTo(1310);
  assert.equal(transitions(events), ['peer-down@1310']);
  clock.advanceTo(1950);
  path.up = true; // the probe of 2000 is answered at 2010: the run starts there
  clock.advanceTo(7099);
  assert.is(monitor.state('dc1'), 'down', 'held down');
  clock.advanceTo(7100); // first tick with now - 2010 >= 5000
  assert.equal(transitions(events), ['peer-down@1310', 'peer-up@7100']);
  const up = events[1] as Extract<HealthEvent, { type: 'peer-up' }>;
  assert.is(up.downForMs, 5790);
});

probe('an interval without a reply during the hold restarts it', () => {
  const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier: 3, holdMs: 2000 });
  let dropSeq = -1;
  const path = echo.path('dc1', { drop: (p) => p.seq === dropSeq });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(550);
  path.up = false; // last reply 510: down at 810
  clock.advanceTo(950);
  path.up = true; // replies from 1010
  clock.advanceTo(2050);
  dropSeq = monitor.stats('dc1')!.sent + 1; // the probe of 2100 is lost: interval (2100,2200] has no reply
  clock.advanceTo(3000);
  assert.is(monitor.state('dc1'), 'down', 'not up at 1010 + 2000');
  // The run restarts with the reply of 2200 (at 2210): up at the first tick >= 4210.
  clock.advanceTo(4299);
  assert.is(monitor.state('dc1'), 'down');
  clock.advanceTo(4300);
  assert.equal(transitions(events), ['peer-down@810', 'peer-up@4300']);
});

probe('RTT and jitter are smoothed like SRTT/RTTVAR; loss is over the window of settled probes', () => {
  const clock = new ManualClock(0);
  const cfg = resolveProbeConfig({ intervalMs: 100, multiplier: 3, lossWindow: 8 });
  const p = new PeerProbe('dc1', cfg, 0);
  const rtts = [10, 20, 30, 10];
  for (let i = 0; i < rtts.length; i++) {
    const sentAt = i * 100;
    const payload = p.probe(sentAt);
    assert.ok(p.reply(payload, sentAt + rtts[i]!));
  }
  // By hand: R=10 -> srtt 10, var 5; R=20 -> var .75*5+.25*10=6.25, srtt 11.25;
  // R=30 -> var .75*6.25+.25*18.75=9.375, srtt 13.59375; R=10 -> var .75*9.375+.25*3.59375=7.9296875, srtt .875*13.59375+1.25=13.14453125
  const f = p.figures(400);
  assert.is(f.rttMs, 13.14453125);
  assert.is(f.jitterMs, 7.9296875);
  assert.is(f.lastRttMs, 10);
  assert.is(f.loss, 0);
  // Four more probes, two unanswered: 2 of 8 settled lost.
  for (let i = 4; i < 8; i++) {
    const payload = p.probe(i * 100);
    if (i % 2 === 0) p.reply(payload, i * 100 + 10);
  }
  assert.is(p.figures(700).loss, 0, 'the unanswered probes of 500 and 700 are younger than the detection time');
  assert.is(p.figures(800).loss, 1 / 7, 'the probe of 500 is settled, the one of 700 not yet');
  assert.is(p.figures(1000).loss, 2 / 8);
  // The window slides: eight answered probes later, the losses are out of it.
  for (let i = 8; i < 16; i++) p.reply(p.probe(i * 100), i * 100 + 10);
  assert.is(p.figures(2000).loss, 0);
  assert.is(p.figures(2000).sent, 16);
  assert.is(p.figures(2000).received, 14);
  void clock;
});

probe('replies that match no probe in flight are refused and counted', () => {
  const cfg = resolveProbeConfig({});
  const p = new PeerProbe('dc1', cfg, 0);
  const a = p.probe(0);
  assert.not.ok(p.reply({ seq: 99, sentAt: 0 }, 5), 'unknown seq');
  assert.not.ok(p.reply({ seq: a.seq, sentAt: 1 }, 5), 'forged send time');
  assert.ok(p.reply(a, 5));
  assert.not.ok(p.reply(a, 6), 'duplicate');
  assert.not.ok(p.reply({ seq: -1, sentAt: NaN } as never, 6), 'garbage');
  assert.not.ok(p.reply(null as never, 6), 'nothing');
  const f = p.figures(10);
  assert.is(f.badReplies, 5);
  assert.is(f.received, 1);
  assert.is(f.rttMs, 5, 'only the genuine reply is a sample');
});

probe('monitor stats events carry RTT/jitter in microseconds and loss in ppm', () => {
  const { clock, echo, monitor, events } = setup({ intervalMs: 100, multiplier: 3, lossWindow: 10 }, 1000);
  echo.path('dc1', { rttMs: 12, drop: (p) => p.seq % 5 === 0 });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(2000);
  const stats = events.filter((e): e is Extract<HealthEvent, { type: 'stats' }> => e.type === 'stats');
  assert.equal(stats.map((s) => s.atMs), [1000, 2000]);
  const last = stats[1]!;
  assert.is(last.rttUs, 12000);
  assert.is(last.jitterUs, Math.round(6000 * 0.75 ** (last.received - 1)));
  assert.is(last.lossPpm, 200_000, 'every fifth probe lost');
  assert.is(last.state, 'up');
});

probe('per-link settings override the defaults', () => {
  const clock = new ManualClock(0);
  const echo = new EchoPeers(clock);
  const monitor = new HealthMonitor({
    clock,
    sendProbe: echo.send,
    config: { intervalMs: 100, multiplier: 3 },
    overrides: new Map([['fast-link', { intervalMs: 20, multiplier: 2 }]]),
    statsIntervalMs: 0,
  });
  echo.monitor = monitor;
  const events: HealthEvent[] = [];
  monitor.on((e) => events.push(e));
  const a = echo.path('dc1', { rttMs: 5 });
  const b = echo.path('dc2', { rttMs: 5 });
  monitor.setPeers([
    { gatewayId: 'dc1', linkId: 'fast-link' },
    { gatewayId: 'dc2', linkId: 'slow-link' },
  ]);
  clock.advanceTo(1007); // both answers to the probes of 1000 (at 1005) are in
  a.up = false;
  b.up = false;
  clock.advanceTo(2000);
  // Both last heard at 1005: fast is down 2 x 20 ms later, slow 3 x 100 ms later.
  assert.equal(transitions(events), ['peer-down@1045', 'peer-down@1305']);
});

probe('peers follow the table: new ones start at the next tick, removed ones stop', () => {
  const { clock, echo, monitor } = setup({ intervalMs: 100 });
  echo.path('dc1');
  echo.path('dc2');
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }]);
  clock.advanceTo(250);
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1' }, { gatewayId: 'dc2', linkId: 'l2' }]);
  clock.advanceTo(450);
  monitor.setPeers([{ gatewayId: 'dc2', linkId: 'l2' }]);
  clock.advanceTo(650);
  const at = (peer: string) => echo.sent.filter((s) => s.peerId === peer).map((s) => s.at);
  assert.equal(at('dc1'), [0, 100, 200, 300, 400]);
  assert.equal(at('dc2'), [300, 400, 500, 600]);
  assert.is(monitor.state('dc1'), undefined);
  assert.is(monitor.stats('dc2')!.linkId, 'l2');
});

probe('a path-MTU search finds the largest padded probe that gets through', () => {
  const { clock, echo, monitor } = setup({ intervalMs: 100, pmtu: true });
  echo.path('dc1', { mtu: 1400 });
  monitor.setPeers([{ gatewayId: 'dc1', linkId: 'l1', mtu: 1500 }]);
  clock.advanceTo(5000);
  const s = monitor.stats('dc1')!;
  assert.ok(s.pathMtu <= 1400 && s.pathMtu > 1392, `pathMtu ${s.pathMtu}`);
  assert.is(s.lossPpm, 0, 'lost padded probes are not loss');
  assert.is(monitor.state('dc1'), 'up');
});

probe('bad settings are refused with the field named', () => {
  const clock = new ManualClock(0);
  const mk = (config: object) => () => new HealthMonitor({ clock, sendProbe: () => {}, config: config as never });
  for (const [config, field] of [
    [{ intervalMs: 0 }, 'health.intervalMs'],
    [{ multiplier: 2.5 }, 'health.multiplier'],
    [{ holdMs: -1 }, 'health.holdMs'],
    [{ intervalMs: 'fast' }, 'health.intervalMs'],
    [{ interval: 100 }, 'health.interval'],
  ] as const) {
    try {
      mk(config)();
      assert.unreachable(`accepted ${JSON.stringify(config)}`);
    } catch (err) {
      assert.ok(SwitchbackError.is(err, 'INVALID_ARGUMENT'), String(err));
      assert.is((err as SwitchbackError).field, field);
    }
  }
});

probe.run();
