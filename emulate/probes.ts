// Demand traffic as real probes: `ping` every interval from the source
// site's host namespace to the demand's address. Each reply is timestamped
// (ping -D) and carries its RTT, so every answered probe's send time is
// known: outages are measured in wall time, not as lost x interval (on a
// loaded machine ping sends less often than asked, and a count of lost
// probes then undercounts the time they stood for). Runs of lost probes
// are the episodes.
import type { NetnsHarness } from './netns.js';

export interface PingRun {
  /** Probes sent (from ping's summary; the count asked for if it gave none). */
  sent: number;
  answered: Set<number>;
  /** Per answered probe, when it was sent (Unix ms): reply time less RTT. */
  sentAtMs: Map<number, number>;
  /** Replies that came from somewhere else (an ICMP error names the sender). */
  errors: number;
  /**
   * Probes left out of `sent`: the last ones, unanswered, sent less than the
   * reply timeout before ping was stopped (by its deadline or stop()). Their
   * replies could not have been waited for, so they are neither answered nor lost.
   */
  unjudged: number;
}

export interface LossRun {
  /** Sequence numbers (1-based) of the first and last lost probe. */
  first: number;
  last: number;
}

export interface PingOptions {
  /** Stop after this long (ping -w) instead of after `count` probes. */
  deadlineMs?: number;
}

/** How long ping waits for a reply before it counts a probe as lost (-W). */
export const REPLY_TIMEOUT_MS = 1000;

/** Starts `count` pings every `intervalMs` (or as many as fit before the deadline); resolves when ping exits. */
export function pingSeries(h: NetnsHarness, ns: string, dst: string, count: number, intervalMs: number, opts: PingOptions = {}): { done: Promise<PingRun>; stop(): void } {
  const deadline = opts.deadlineMs === undefined ? [] : ['-w', String(Math.max(1, Math.ceil(opts.deadlineMs / 1000)))];
  const child = h.spawn(ns, 'ping', ['-n', '-D', '-i', String(intervalMs / 1000), '-c', String(count), '-W', String(REPLY_TIMEOUT_MS / 1000), ...deadline, dst]);
  const answered = new Set<number>();
  const sentAtMs = new Map<number, number>();
  let errors = 0;
  let transmitted: number | undefined;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /^\[(\d+\.\d+)\].*icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms/.exec(line);
      if (m) {
        const seq = Number(m[2]);
        answered.add(seq);
        sentAtMs.set(seq, Number(m[1]) * 1000 - Number(m[3]));
        continue;
      }
      const t = /^(\d+) packets transmitted/.exec(line);
      if (t) transmitted = Number(t[1]);
      else if (/icmp_seq=\d+ /.test(line)) errors++;
    }
  });
  child.stderr!.resume();
  // 'close', not 'exit': the summary line may still be in the pipe when ping exits.
  const done = new Promise<PingRun>((resolve) =>
    child.once('close', () => {
      const run = { sent: transmitted ?? count, answered, sentAtMs, errors, unjudged: 0 };
      // Ping that sent all `count` probes waited for their replies itself;
      // one stopped early (deadline, SIGINT) did not.
      resolve(run.sent < count ? withoutUnjudgedTail(run, Date.now()) : run);
    }),
  );
  return { done, stop: () => child.kill('SIGINT') };
}

/**
 * Leaves out of `sent` the trailing unanswered probes that were sent less
 * than `replyTimeoutMs` before ping stopped at `stoppedAtMs`: they are spread
 * evenly between the last answered probe and the stop, the same assumption
 * timedLossRuns makes. A real outage at the end still counts, up to its last
 * `replyTimeoutMs`.
 */
export function withoutUnjudgedTail(run: PingRun, stoppedAtMs: number, replyTimeoutMs = REPLY_TIMEOUT_MS): PingRun {
  let last = run.sent;
  while (last > 0 && !run.answered.has(last)) last--;
  const trailing = run.sent - last;
  if (trailing === 0) return run;
  const fromMs = last > 0 ? run.sentAtMs.get(last)! : undefined;
  if (fromMs === undefined) return run; // nothing answered: no time to place them by
  const step = (stoppedAtMs - fromMs) / (trailing + 1);
  let judged = 0;
  while (judged < trailing && fromMs + (judged + 1) * step <= stoppedAtMs - replyTimeoutMs) judged++;
  const unjudged = trailing - judged;
  return { ...run, sent: run.sent - unjudged, unjudged: run.unjudged + unjudged };
}

/** Consecutive lost probes, merged when fewer than `mergeGap` answered probes separate them. */
export function lossRuns(run: PingRun, mergeGap = 0): LossRun[] {
  const out: LossRun[] = [];
  for (let s = 1; s <= run.sent; s++) {
    if (run.answered.has(s)) continue;
    const last = out[out.length - 1];
    if (last && s - last.last - 1 <= mergeGap) last.last = s;
    else out.push({ first: s, last: s });
  }
  return out;
}

/** A cut in wall time (Unix ms): it happened at some moment between `fromMs` and `toMs`. */
export interface CutWindow {
  fromMs: number;
  toMs: number;
}

export interface TimedLossRun extends LossRun {
  /** When the loss began (Unix ms): inside the cause's window when one overlaps, else half a probe spacing after the last answered probe. */
  startMs: number;
  /** Send time of the first answered probe after the run (Unix ms); undefined when none was answered after it. */
  restoredMs?: number;
  /** restoredMs - startMs (until the last answered probe's time when not restored). */
  durationMs: number;
  /** The cause window used, if one overlapped. */
  cause?: number;
}

/**
 * Loss runs placed in wall time. The cut behind a run lies after the last
 * probe answered before it (that one got through) and, when a scenario
 * event overlaps, inside the event's window; it is taken at the middle of
 * what is left. The outage ends at the send time of the first probe
 * answered again, as in the simulator.
 */
export function timedLossRuns(run: PingRun, mergeGap: number, causes: readonly CutWindow[] = [], endMs?: number): TimedLossRun[] {
  const times = [...run.sentAtMs.entries()].sort((a, b) => a[0] - b[0]);
  const sentAt = (seq: number) => run.sentAtMs.get(seq);
  const out: TimedLossRun[] = [];
  for (const r of lossRuns(run, mergeGap)) {
    const prev = r.first > 1 ? sentAt(r.first - 1) : undefined;
    const next = sentAt(r.last + 1);
    // The run's probes were spread evenly between the two answered ones, as far as anyone knows.
    const lo = prev ?? (times.length ? times[0]![1] - (times[0]![0] - r.first + 1) * spacing(times) : 0);
    const hi = next ?? endMs ?? lo + (r.last - r.first + 1) * spacing(times);
    const step = (hi - lo) / (r.last - r.first + 2);
    let startMs = lo + step / 2;
    let cause: number | undefined;
    causes.forEach((c, i) => {
      if (cause !== undefined || c.toMs < lo || c.fromMs > hi) return;
      cause = i;
      const a = Math.max(lo, c.fromMs);
      const b = Math.min(hi, c.toMs);
      startMs = (a + b) / 2;
    });
    const end = next ?? endMs ?? hi;
    out.push({ ...r, startMs, ...(next !== undefined ? { restoredMs: next } : {}), durationMs: Math.max(0, end - startMs), ...(cause !== undefined ? { cause } : {}) });
  }
  return out;
}

/** The mean spacing of answered probes (ms per sequence number). */
function spacing(times: readonly [number, number][]): number {
  if (times.length < 2) return 0;
  const [s0, t0] = times[0]!;
  const [s1, t1] = times[times.length - 1]!;
  return (t1 - t0) / (s1 - s0);
}

/** Pings `count` times, quickly; true when at least `need` answered. */
export async function reaches(h: NetnsHarness, ns: string, dst: string, count = 3, need = 1): Promise<boolean> {
  const r = await h.exec(ns, 'ping', ['-n', '-q', '-i', '0.05', '-c', String(count), '-W', '1', dst], 10_000);
  const m = /(\d+) received/.exec(r.stdout);
  return !!m && Number(m[1]) >= need;
}
