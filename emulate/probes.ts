// Demand traffic as real probes: `ping` every interval from the source
// site's host namespace to the demand's address; a lost reply is interval
// milliseconds of outage. Runs of lost probes are the episodes.
import type { NetnsHarness } from './netns.js';

export interface PingRun {
  sent: number;
  answered: Set<number>;
  /** Replies that came from somewhere else (an ICMP error names the sender). */
  errors: number;
}

export interface LossRun {
  /** Sequence numbers (1-based) of the first and last lost probe. */
  first: number;
  last: number;
}

/** Starts `count` pings every `intervalMs`; resolves when ping exits. */
export function pingSeries(h: NetnsHarness, ns: string, dst: string, count: number, intervalMs: number): { done: Promise<PingRun>; stop(): void } {
  const child = h.spawn(ns, 'ping', ['-n', '-i', String(intervalMs / 1000), '-c', String(count), '-W', '1', dst]);
  const answered = new Set<number>();
  let errors = 0;
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /icmp_seq=(\d+) ttl=/.exec(line);
      if (m) answered.add(Number(m[1]));
      else if (/icmp_seq=\d+ /.test(line)) errors++;
    }
  });
  child.stderr!.resume();
  const done = new Promise<PingRun>((resolve) => child.once('exit', () => resolve({ sent: count, answered, errors })));
  return { done, stop: () => child.kill('SIGINT') };
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

/** Pings `count` times, quickly; true when at least `need` answered. */
export async function reaches(h: NetnsHarness, ns: string, dst: string, count = 3, need = 1): Promise<boolean> {
  const r = await h.exec(ns, 'ping', ['-n', '-q', '-i', '0.05', '-c', String(count), '-W', '1', dst], 10_000);
  const m = /(\d+) received/.exec(r.stdout);
  return !!m && Number(m[1]) >= need;
}
